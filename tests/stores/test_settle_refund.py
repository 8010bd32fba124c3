"""One store operation per decision (`settle`), `refund` once per call id, exact sums through a
guard, and stores written before `settle`/`refund` (they keep working)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrail import BudgetStore, Charge, DenialCode, Guard, MemoryStore, Overrun
from guardrail._stores._protocol import Revoked, refunder, settler
from guardrail.testing import task_id
from tests.stores.support import RedisServer, code

LATER = time.time() + 3600


def test_settle_answers_revoked_before_anything_and_charges_nothing(store: BudgetStore) -> None:
    t, parent = task_id(), task_id()
    charges = [Charge(t, "calls", 1, 5), Charge(parent, "calls", 1, 5)]
    settle = settler(store)
    assert settle([t, parent], charges, expires_at=LATER, commit=True) is None
    store.revoke(parent, "incident")
    assert settle([t, parent], charges, expires_at=LATER, commit=True) == Revoked("incident")
    assert settle([t, parent], charges, expires_at=LATER, commit=False) == Revoked("incident")
    assert settle([t], charges[:1], expires_at=LATER, commit=True) is None
    assert store.used([(t, "calls"), (parent, "calls")]) == [2.0, 1.0]


def test_settle_without_commit_is_a_read_only_check(store: BudgetStore) -> None:
    t = task_id()
    settle = settler(store)
    charge = Charge(t, "sum.amount", 20, 50)
    assert settle([t], [charge, charge], expires_at=LATER, commit=False) is None
    assert store.usage(t) == {}
    assert settle([t], [charge, charge, charge], expires_at=LATER, commit=False) == Overrun(charge, 40.0)
    assert settle([t], [charge], expires_at=LATER, commit=True) is None
    assert settle([t], [charge], expires_at=LATER, commit=False) is None
    assert settle([t], [charge, charge], expires_at=LATER, commit=False) == Overrun(charge, 40.0)
    assert store.usage(t) == {"sum.amount": 20.0}


def test_refund_gives_back_once_per_call_id(store: BudgetStore) -> None:
    t = task_id()
    charges = [Charge(t, "calls", 1, 3), Charge(t, "sum.amount", 0.1, 1)]
    refund = refunder(store)
    call = [task_id("call") for _ in range(6)]  # call ids are unique per store, as the guard's
    for _ in range(3):
        assert store.consume(charges, expires_at=LATER) is None
    assert refund(charges, call[1]) is True
    assert refund(charges, call[1]) is False  # once, however often asked
    assert store.usage(t) == {"calls": 2.0, "sum.amount": 0.2}
    assert refund(charges, call[2]) is True
    assert refund(charges, call[3]) is True
    assert refund(charges, call[4]) is True  # never below zero
    assert store.usage(t) == {"calls": 0.0, "sum.amount": 0.0}
    assert refund([Charge(task_id(), "calls", 1, 3)], call[5]) is True  # nothing to give back


def test_concurrent_refunds_of_one_call_refund_once(store: BudgetStore) -> None:
    t = task_id()
    charge = Charge(t, "calls", 1, 100)
    for _ in range(50):
        assert store.consume([charge], expires_at=LATER) is None
    refund = refunder(store)
    calls = [task_id("call") for _ in range(10)]
    results: list[bool] = []
    lock = threading.Lock()
    go = threading.Barrier(8)

    def worker(i: int) -> None:
        go.wait(10)
        for n in range(10):
            done = refund([charge], calls[n])  # every thread refunds the same 10 calls
            with lock:
                results.append(done)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results.count(True) == 10 and len(results) == 80
    assert store.used([(t, "calls")]) == [40.0]


# -- through a guard ----------------------------------------------------------------------


class FailingAudit:
    def __init__(self) -> None:
        self.failures = 0

    def record(self, decision: Any, guard: Any, args: Mapping[str, Any] | None) -> None:
        self.failures += 1
        raise OSError("disk full")


def manifest(task: str, **budget: Any) -> dict[str, Any]:
    return {
        "task": task, "ttl": "1h",
        "tools": {"pay": {"args": {"amount": {"type": "number", "min": 0}}, "budget": budget}},
    }  # fmt: skip


def test_failed_audit_writes_leave_the_budget_untouched(store: BudgetStore) -> None:
    t = task_id()
    audit = FailingAudit()
    broken = Guard(manifest(t, calls=3, sum={"amount": 10}), store=store, audit=audit)
    for _ in range(3):
        decision = broken.authorize("pay", {"amount": 2})
        assert code(decision) == DenialCode.INTERNAL_ERROR
    assert audit.failures == 3
    assert store.usage(t) == {"tools.pay.calls": 0.0, "tools.pay.sum.amount": 0.0}
    working = Guard(manifest(t, calls=3, sum={"amount": 10}), store=store)
    assert [working.authorize("pay", {"amount": 2}).allowed for _ in range(4)] == [True] * 3 + [False]


def test_exact_sums_through_a_guard(store: BudgetStore) -> None:
    t = task_id()
    big = Guard(manifest(t, sum={"amount": 1e16}), store=store)
    assert big.authorize("pay", {"amount": 1e16}).allowed
    assert not any(big.authorize("pay", {"amount": 1}).allowed for _ in range(100))
    t2 = task_id()
    exact = Guard(manifest(t2, sum={"amount": 2**53}), store=store)
    assert code(exact.authorize("pay", {"amount": 2**53 + 1})) == DenialCode.BUDGET_EXHAUSTED
    assert code(exact.check("pay", {"amount": 2**53 + 1})) == DenialCode.BUDGET_EXHAUSTED
    assert exact.authorize("pay", {"amount": 2**53}).allowed
    assert not exact.authorize("pay", {"amount": 1}).allowed


@settings(
    max_examples=40, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(
    limit=st.integers(min_value=0, max_value=2**80),
    amounts=st.lists(st.integers(min_value=0, max_value=2**70), min_size=1, max_size=8),
)
def test_integer_sums_are_exact_at_any_size(store: BudgetStore, limit: int, amounts: list[int]) -> None:
    t = task_id()
    spent = 0
    for amount in amounts:
        fits = spent + amount <= limit
        overrun = store.consume([Charge(t, "sum.n", amount, limit)], expires_at=LATER)
        assert (overrun is None) == fits
        if fits:
            spent += amount


@settings(
    max_examples=40, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(
    limit=st.floats(min_value=0, max_value=1e18, allow_nan=False),
    amounts=st.lists(st.floats(min_value=0, max_value=1e17, allow_nan=False), min_size=1, max_size=8),
)
def test_rounding_only_makes_a_budget_stricter(
    store: BudgetStore, limit: float, amounts: list[float]
) -> None:
    from fractions import Fraction

    t = task_id()
    spent = Fraction(0)
    for amount in amounts:
        overrun = store.consume([Charge(t, "sum.f", amount, limit)], expires_at=LATER)
        if overrun is None:
            spent += Fraction(amount)
        assert spent <= Fraction(limit)  # what the floats say was allowed never passes the limit


# -- one round trip -----------------------------------------------------------------------


def test_a_redis_decision_is_one_round_trip(own_redis_server: RedisServer) -> None:
    from guardrail._stores._redis import RedisStore

    client = own_redis_server.client()  # a server of its own: no other client adds commands
    t = task_id()
    with RedisStore(own_redis_server.url) as store:
        guard = Guard(
            {"task": t, "ttl": "1h", "budget": {"calls": 100},
             "tools": {"pay": {"args": {"amount": {}}, "budget": {"calls": 50, "sum": {"amount": 500}}}}},
            store=store,
        )  # fmt: skip
        assert guard.authorize("pay", {"amount": 1}).allowed  # loads the script
        client.config_resetstat()
        assert guard.authorize("pay", {"amount": 1}).allowed  # 3 budgets: revocation and charge
        assert guard.check("pay", {"amount": 1}).allowed
        assert code(guard.check("pay", {"amount": 1000})) == DenialCode.BUDGET_EXHAUSTED
        stats = {name[len("cmdstat_"):]: int(v["calls"]) for name, v in client.info("commandstats").items()}
    # one EVALSHA per decision; the revocation read (MGET) runs inside it, never as a trip of its own
    assert stats.pop("evalsha") == 3 and stats.pop("mget") == 3
    assert set(stats) <= {"hget", "hset", "time", "pttl", "pexpireat", "config|resetstat"}, stats


# -- a store written before settle and refund ---------------------------------------------


class OldStore:
    """Only the required methods, as a user's own store written before `settle`/`refund`."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.calls: list[str] = []

    def consume(self, charges: Sequence[Charge], *, expires_at: float) -> Overrun | None:
        self.calls.append("consume")
        used = self.inner.used([(c.task, c.scope) for c in charges])
        for charge, before in zip(charges, used, strict=True):
            if before + float(charge.amount) > float(charge.limit):
                return Overrun(charge, before)
        return self.inner.consume(charges, expires_at=expires_at)

    def used(self, keys: Sequence[tuple[str, str]]) -> list[float]:
        self.calls.append("used")
        return self.inner.used(keys)

    def usage(self, task: str) -> dict[str, float]:
        return self.inner.usage(task)

    def revoke(self, task: str, reason: str = "", *, expires_at: float | None = None) -> None:
        self.inner.revoke(task, reason, expires_at=expires_at)

    def revoked(self, tasks: Sequence[str]) -> str | None:
        self.calls.append("revoked")
        return self.inner.revoked(tasks)

    def close(self) -> None:
        pass


def test_a_store_without_settle_or_refund_keeps_working() -> None:
    store = OldStore()
    assert isinstance(store, BudgetStore)
    t = task_id()
    guard = Guard(manifest(t, calls=2), store=store)
    assert guard.authorize("pay", {"amount": 1}).allowed
    assert store.calls == ["revoked", "consume"]
    assert guard.check("pay", {"amount": 1}).allowed
    assert store.calls[2:] == ["revoked", "used"]
    assert guard.authorize("pay", {"amount": 1}).allowed
    assert code(guard.authorize("pay", {"amount": 1})) == DenialCode.BUDGET_EXHAUSTED
    guard.revoke("stop")
    assert code(guard.check("pay", {"amount": 1})) == DenialCode.REVOKED
    # without refund() a failed audit write leaves the call charged: stricter, never looser
    t2 = task_id()
    broken = Guard(manifest(t2, calls=2), store=store, audit=FailingAudit())
    assert code(broken.authorize("pay", {"amount": 1})) == DenialCode.INTERNAL_ERROR
    assert store.usage(t2) == {"tools.pay.calls": 1.0}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1])
def test_amounts_that_cannot_count_never_fit(store: BudgetStore, value: float) -> None:
    t = task_id()
    assert store.consume([Charge(t, "sum.x", value, 10)], expires_at=LATER) is not None
    assert store.usage(t) == {}
