"""Per-value, distinct and windowed budgets in every store: the same decisions, exactly, with the
guard's clock; refunds of each kind; usage reports hold digests, never values."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrail import BudgetStore, Guard
from guardrail._stores import Charge
from guardrail._stores._protocol import settler


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def manifest(**tools: Any) -> dict[str, Any]:
    return {"task": f"budget-kinds-{uuid.uuid4().hex[:8]}", "ttl": "1d", "issued_at": "2026-01-01T00:00:00Z",
            "tools": tools}


def guard_for(store: BudgetStore, clock: Clock, **tools: Any) -> Guard:
    m = manifest(**tools)
    return Guard(m, store=store, clock=clock)


@pytest.fixture
def clock() -> Clock:
    # within the manifest's day
    return Clock(datetime(2026, 1, 1, 1, tzinfo=UTC).timestamp())


def allowed(guard: Guard, tool: str, calls: list[dict[str, Any]]) -> list[bool]:
    return [guard.authorize(tool, args).allowed for args in calls]


def test_calls_per_value(store: BudgetStore, clock: Clock) -> None:
    guard = guard_for(store, clock, pay={"args": {"to": {}, "amount": {}},
                                         "budget": {"calls": 1, "per": "to"}})
    calls = [{"to": "landlord", "amount": 1}, {"to": "mallory", "amount": 1},
             {"to": "landlord", "amount": 2}, {"to": "mallory", "amount": 3},
             {"to": "bob", "amount": 1}]
    assert allowed(guard, "pay", calls) == [True, True, False, False, True]
    # 1 and 1.0 are one value
    assert allowed(guard, "pay", [{"to": 1, "amount": 1}, {"to": 1.0, "amount": 1}]) == [True, False]


def test_sum_per_value(store: BudgetStore, clock: Clock) -> None:
    guard = guard_for(store, clock, pay={"args": {"to": {}, "amount": {}},
                                         "budget": {"sum": {"amount": 100}, "per": "to"}})
    calls = [{"to": "a", "amount": 60}, {"to": "b", "amount": 60}, {"to": "a", "amount": 41},
             {"to": "a", "amount": 40}, {"to": "a", "amount": 0.5}]
    assert allowed(guard, "pay", calls) == [True, True, False, True, False]


def test_distinct(store: BudgetStore, clock: Clock) -> None:
    guard = guard_for(store, clock, mail={"args": {"to": {}}, "budget": {"distinct": {"to": 2}}})
    calls = [{"to": t} for t in ["a", "b", "a", "c", "b", "b", "d"]]
    assert allowed(guard, "mail", calls) == [True, True, True, False, True, True, False]
    denial = guard.authorize("mail", {"to": "c"}).denial
    assert denial is not None and denial.budget is not None
    assert denial.budget.used == 2 and denial.budget.limit == 2
    assert "distinct" in denial.message


def test_window_calls(store: BudgetStore, clock: Clock) -> None:
    guard = guard_for(store, clock, search={"args": {"q": {}},
                                            "budget": {"calls": 2, "window": "1m"}})
    q = {"q": "x"}
    assert allowed(guard, "search", [q, q, q]) == [True, True, False]
    clock.now += 30
    assert allowed(guard, "search", [q]) == [False]
    clock.now += 30  # the first two are exactly 60 s old: out of the window
    assert allowed(guard, "search", [q, q, q]) == [True, True, False]
    clock.now += 59.5
    assert allowed(guard, "search", [q]) == [False]
    clock.now += 0.5
    assert allowed(guard, "search", [q]) == [True]


def test_window_sum_and_distinct(store: BudgetStore, clock: Clock) -> None:
    guard = guard_for(store, clock, pay={
        "args": {"to": {}, "amount": {}},
        "budget": {"sum": {"amount": 10}, "distinct": {"to": 2}, "window": "1h"}})
    assert allowed(guard, "pay", [{"to": "a", "amount": 6}, {"to": "b", "amount": 4},
                                  {"to": "a", "amount": 1}]) == [True, True, False]
    clock.now += 1800
    assert allowed(guard, "pay", [{"to": "c", "amount": 1}]) == [False]  # 3rd value, 10 used
    clock.now += 1800
    assert allowed(guard, "pay", [{"to": "c", "amount": 5}, {"to": "d", "amount": 5},
                                  {"to": "a", "amount": 1}]) == [True, True, False]


def test_window_with_per(store: BudgetStore, clock: Clock) -> None:
    guard = guard_for(store, clock, pay={
        "args": {"to": {}}, "budget": {"calls": 1, "per": "to", "window": "10m"}})
    assert allowed(guard, "pay", [{"to": "a"}, {"to": "b"}, {"to": "a"}]) == [True, True, False]
    clock.now += 600
    assert allowed(guard, "pay", [{"to": "a"}, {"to": "a"}]) == [True, False]


def test_check_charges_nothing(store: BudgetStore, clock: Clock) -> None:
    guard = guard_for(store, clock, pay={
        "args": {"to": {}}, "budget": {"calls": 1, "distinct": {"to": 1}, "window": "10m"}})
    for _ in range(3):
        assert guard.check("pay", {"to": "a"}).allowed
    assert guard.authorize("pay", {"to": "a"}).allowed
    assert not guard.check("pay", {"to": "a"}).allowed


def test_refund_each_kind(store: BudgetStore, clock: Clock) -> None:
    settle = settler(store)
    refund = store.refund  # type: ignore[attr-defined]
    at = clock.now
    t = uuid.uuid4().hex
    charges = [
        Charge(t, "tools.x.calls[to=ab]", 1, 1, 60.0, at, "", "e1.0"),
        Charge(t, "tools.x.distinct.to", 1, 1, 0.0, at, "m1", ""),
        Charge(t, "tools.x.distinct.to2", 1, 1, 60.0, at, "m1", "e1.2"),
    ]
    assert settle([], charges, expires_at=at + 3600, commit=True) is None
    again = [c._replace(event=c.event.replace("e1", "e2"), member=c.member and "m2")
             for c in charges]
    assert settle([], again[:1], expires_at=at + 3600, commit=True) is not None
    assert settle([], again[1:2], expires_at=at + 3600, commit=True) is not None
    assert settle([], again[2:], expires_at=at + 3600, commit=True) is not None
    assert refund(charges, call_id=t) is True
    assert refund(charges, call_id=t) is False  # once per call id
    assert settle([], again, expires_at=at + 3600, commit=True) is None


def test_usage_holds_digests(store: BudgetStore, clock: Clock) -> None:
    guard = guard_for(store, clock, pay={
        "args": {"to": {}}, "budget": {"calls": 2, "per": "to", "distinct": {"iban": 3}},
        "allow_other_args": True})
    guard.authorize("pay", {"to": "secret-landlord", "iban": "GB00SECRET"})
    usage = store.usage(guard.task)
    text = repr(usage) + repr(guard.usage())
    assert "secret" not in text and "SECRET" not in text
    # per applies to every limit of the budget: the distinct ibans are counted per payee
    (distinct,) = [s for s in usage if s.startswith("tools.pay.distinct.iban[to=")]
    assert usage[distinct] == 1.0
    assert any(scope.startswith("tools.pay.calls[to=") for scope in usage)


# -- many processes, many threads ---------------------------------------------------------------

RACE_MANIFEST = {
    "task": "kinds-race", "ttl": "1d", "issued_at": "2026-01-01T00:00:00Z",
    "tools": {
        "pay": {"args": {"to": {}}, "budget": {"calls": 2, "per": "to"}},
        "mail": {"args": {"to": {}}, "budget": {"distinct": {"to": 3}}},
        "search": {"args": {"to": {}}, "budget": {"calls": 5, "window": "10s"}},
    },
}


def check_race(allowed: list[list[Any]], window: float = 10.0) -> None:
    """No budget allowed more than its limit."""
    pays: dict[str, int] = {}
    for tool, value, _ in allowed:
        if tool == "pay":
            pays[value] = pays.get(value, 0) + 1
    assert pays and max(pays.values()) <= 2
    assert 0 < len({v for tool, v, _ in allowed if tool == "mail"}) <= 3
    times = sorted(t for tool, _, t in allowed if tool == "search")
    assert times
    for t in times:
        assert sum(1 for u in times if t - window < u <= t) <= 5


def test_processes_never_overrun_new_budget_kinds(
    shared_url: str, workers: Any, tmp_path: Any
) -> None:
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(3)]
    task = f"kinds-race-{uuid.uuid4().hex[:8]}"
    procs = [
        workers.spawn(
            "kinds_race", url=shared_url, manifest={**RACE_MANIFEST, "task": task},
            base=datetime(2026, 1, 1, 1, tzinfo=UTC).timestamp(), speed=100.0, attempts=100,
            pause=0.002,
            values=6, threads=4, seed=i, ready=str(ready[i]), go=str(go),
        )
        for i in range(3)
    ]
    workers.wait_for_files(ready)
    go.touch()
    results = [workers.result(proc, timeout=120) for proc in procs]
    assert [r["errors"] for r in results] == [[]] * 3
    assert [r["alive"] for r in results] == [0] * 3
    allowed = [call for r in results for call in r["allowed"]]
    check_race(allowed)
    # contended to the end: the distinct budget was used up
    assert len({v for tool, v, _ in allowed if tool == "mail"}) == 3
    searches = sorted(t for tool, _, t in allowed if tool == "search")
    assert searches[-1] - searches[0] > 20  # the window rolled on (and more were allowed)
    assert len(searches) > 5


# -- properties: never more than the limit, under threads ----------------------------------------

def within(events: list[tuple[float, str]], kind: str, limit: int, window: float) -> None:
    """The invariant of each budget kind over the allowed (time, value) events."""
    span = window or float("inf")
    for t, v in events:
        inside = [(u, w) for u, w in events if t - span < u <= t]
        if kind == "per":
            assert sum(1 for _, w in inside if w == v) <= limit, (t, v)
        elif kind == "distinct":
            assert len({w for _, w in inside}) <= limit, t
        else:
            assert len(inside) <= limit, t


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    kind=st.sampled_from(["per", "distinct", "calls"]),
    limit=st.integers(1, 4),
    window=st.sampled_from([0, 5, 30]),
    steps=st.lists(st.tuples(st.sampled_from([0.0, 1.0, 4.0, 5.0, 10.0]),
                             st.lists(st.integers(0, 5), min_size=1, max_size=12)),
                   min_size=1, max_size=6),
)
def test_threads_never_overrun(
    store: BudgetStore, kind: str, limit: int, window: int,
    steps: list[tuple[float, list[int]]],
) -> None:
    budget: dict[str, Any] = {"per": "to", "calls": limit} if kind == "per" else (
        {"distinct": {"to": limit}} if kind == "distinct" else {"calls": limit})
    if window:
        budget["window"] = window
    clock = Clock(datetime(2026, 1, 1, 1, tzinfo=UTC).timestamp())
    guard = guard_for(store, clock, t={"args": {"to": {}}, "budget": budget})
    events: list[tuple[float, str]] = []
    lock = threading.Lock()
    for advance, values in steps:
        clock.now += advance
        barrier = threading.Barrier(len(values))

        def call(value: int, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            if guard.authorize("t", {"to": f"v{value}"}).allowed:
                with lock:
                    events.append((clock.now, f"v{value}"))

        threads = [threading.Thread(target=call, args=(v,)) for v in values]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    within(events, kind, limit, window)
    assert events  # the first call always fits


# -- refund_on_error ------------------------------------------------------------------------------

REFUNDED = {
    "args": {"q": {}, "n": {}}, "refund_on_error": True,
    "budget": {"calls": 2, "sum": {"n": 3}, "per": "q", "distinct": {"n": 2}, "window": "1h"},
}


class Upstream(Exception):
    pass


def failing(q: str, n: int) -> str:
    raise Upstream(q)


async def afailing(q: str, n: int) -> str:
    raise Upstream(q)


def run_each(guard: Guard, how: str, q: str, fn: Any) -> None:
    import asyncio

    n = int(q[1:]) if q[1:] else 1
    q = q[:1]
    if how == "invoke":
        guard.invoke("search", fn, {"q": q, "n": n})
    elif how == "ainvoke":
        asyncio.run(guard.ainvoke("search", fn, {"q": q, "n": n}))
    elif how == "wrap":
        guard.wrap(fn, name="search")(q, n)
    else:
        asyncio.run(guard.wrap(fn, name="search")(q, n=n))


@pytest.mark.parametrize("how", ["invoke", "ainvoke", "wrap", "awrap"])
def test_refund_on_error_gives_every_charge_back(store: BudgetStore, clock: Clock, how: str) -> None:
    guard = guard_for(store, clock, search={**REFUNDED, "budget": {**REFUNDED["budget"]}},
                      plain={"args": {"q": {}}, "budget": {"calls": 1}})
    fn = afailing if how in ("ainvoke", "awrap") else failing
    for q in ["a2"] * 5 + ["b1", "b2", "b3"]:  # past every limit, had they stayed charged
        with pytest.raises(Upstream):
            run_each(guard, how, q, fn)
    assert all(v == 0 for v in store.usage(guard.task).values())
    # calls that succeed are charged as ever
    ok: Any = _echo if fn is failing else _aecho
    run_each(guard, how, "a1", ok)
    run_each(guard, how, "a2", ok)
    with pytest.raises(Exception, match=r"exceeded|exhausted"):
        run_each(guard, how, "a3", ok)  # a third distinct n


def _echo(q: str, n: int) -> str:
    return q


async def _aecho(q: str, n: int) -> str:
    return q


def test_without_refund_on_error_a_failed_call_stays_charged(store: BudgetStore, clock: Clock) -> None:
    guard = guard_for(store, clock, search={"args": {"q": {}, "n": {}}, "budget": {"calls": 1}})
    with pytest.raises(Upstream):
        guard.invoke("search", failing, {"q": "a", "n": 1})
    assert not guard.authorize("search", {"q": "a", "n": 1}).allowed


def test_a_child_cannot_refund_its_parents_charges(store: BudgetStore, clock: Clock) -> None:
    parent = guard_for(store, clock, search={"args": {"q": {}, "n": {}}, "budget": {"calls": 2}})
    child = parent.delegate({"task": f"{parent.task}-child", "ttl": "1h",
                             "tools": {"search": {"args": {"q": {}, "n": {}}, "refund_on_error": True,
                                                  "budget": {"calls": 2}}}})
    for _ in range(2):
        with pytest.raises(Upstream):
            child.invoke("search", failing, {"q": "a", "n": 1})
    assert store.usage(child.task) == {"tools.search.calls": 0.0}
    assert store.usage(parent.task) == {"tools.search.calls": 2.0}
    assert not child.authorize("search", {"q": "a", "n": 1}).allowed  # the parent's budget is spent


# -- Redis: one round trip, the async store on the same script -----------------------------------

def test_a_redis_decision_with_the_new_kinds_is_one_round_trip(own_redis_server: Any, clock: Clock) -> None:
    from guardrail._stores._redis import RedisStore

    client = own_redis_server.client()
    with RedisStore(own_redis_server.url) as store:
        guard = guard_for(store, clock, pay={
            "args": {"to": {}, "amount": {}},
            "budget": {"calls": 5, "sum": {"amount": 50}, "per": "to", "distinct": {"amount": 3},
                       "window": "1h"}},
            mail={"args": {"to": {}}, "budget": {"distinct": {"to": 2}}})
        assert guard.authorize("pay", {"to": "a", "amount": 1}).allowed  # loads the script
        client.config_resetstat()
        assert guard.authorize("pay", {"to": "a", "amount": 2}).allowed
        assert guard.authorize("mail", {"to": "x"}).allowed
        assert guard.check("pay", {"to": "b", "amount": 1}).allowed
        stats = {name[len("cmdstat_"):]: int(v["calls"])
                 for name, v in client.info("commandstats").items()}
    assert stats.pop("evalsha") == 3 and stats.pop("mget") == 3
    assert set(stats) <= {"hget", "hset", "hkeys", "hlen", "hincrby", "zrangebyscore",
                          "zremrangebyscore", "zadd", "time", "pttl", "pexpireat",
                          "config|resetstat"}, stats


def test_async_redis_keeps_the_new_kinds(redis_server: Any, clock: Clock) -> None:
    import asyncio

    from guardrail import AsyncRedisStore
    from guardrail._stores._url import open_store
    from tests.stores.support import unique_prefix

    store = open_store(f"{redis_server.url}?prefix={unique_prefix()}", asynchronous=True)
    assert isinstance(store, AsyncRedisStore)
    guard = guard_for(store, clock, search={"args": {"q": {}},
                                            "budget": {"calls": 2, "per": "q", "window": "1m"}},
                      mail={"args": {"to": {}}, "budget": {"distinct": {"to": 1}}})

    async def run() -> list[bool]:
        calls = [guard.aauthorize("search", {"q": "x"}) for _ in range(5)]
        calls += [guard.aauthorize("mail", {"to": t}) for t in ("a", "b", "a")]
        return [d.allowed for d in await asyncio.gather(*calls)]

    try:
        results = asyncio.run(run())
        assert results[:5].count(True) == 2
        # The three mail calls race: whichever recipient is charged first owns the one
        # distinct slot, so either "a" twice (and "b" denied) or "b" alone.
        allowed_to = {t for t, ok in zip(("a", "b", "a"), results[5:], strict=True) if ok}
        assert len(allowed_to) == 1
        assert results[5:] == ([True, False, True] if allowed_to == {"a"} else [False, True, False])
        clock.now += 60
        assert asyncio.run(guard.aauthorize("search", {"q": "x"})).allowed
    finally:
        store.close()


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    kind=st.sampled_from(["per", "distinct", "calls"]),
    limit=st.integers(1, 3),
    window=st.sampled_from([0, 5]),
    values=st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=6),
)
def test_processes_never_overrun(
    shared_url: str, workers: Any, tmp_path: Any, kind: str, limit: int, window: int,
    values: list[str],
) -> None:
    budget: dict[str, Any] = {"per": "to", "calls": limit} if kind == "per" else (
        {"distinct": {"to": limit}} if kind == "distinct" else {"calls": limit})
    if window:
        budget["window"] = window
    run = uuid.uuid4().hex[:8]
    go = tmp_path / f"go-{run}"
    ready = [tmp_path / f"ready-{run}-{i}" for i in range(2)]
    m = {**manifest(t={"args": {"to": {}}, "budget": budget})}
    procs = [
        workers.spawn(
            "rule_race", url=shared_url, manifest=m,
            base=datetime(2026, 1, 1, 1, tzinfo=UTC).timestamp(), speed=100.0, attempts=25,
            pause=0.002, values=values, offset=i, threads=3, ready=str(ready[i]), go=str(go),
        )
        for i in range(2)
    ]
    workers.wait_for_files(ready)
    go.touch()
    results = [workers.result(proc, timeout=120) for proc in procs]
    assert [r["errors"] for r in results] == [[], []]
    events = [(t, v) for r in results for t, v in r["allowed"]]
    within(events, kind, limit, window)
    assert events
