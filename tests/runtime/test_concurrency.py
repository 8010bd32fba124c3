"""Budgets under concurrency: parallel threads and asyncio tasks never overrun a budget; denied
calls never consume budget; shadow mode never blocks and charges nothing for a denied call."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from guardrail import (
    BudgetExhausted,
    Charge,
    DelegationDenied,
    DenialCode,
    Guard,
    MemoryStore,
)
from tests.support.decisions import manifest

THREADS = 32
TASKS = 200


def race_threads(fn: Any, n: int = THREADS, per_thread: int = 4) -> list[Any]:
    barrier = threading.Barrier(n)

    def worker(i: int) -> list[Any]:
        barrier.wait()
        return [fn(i * per_thread + k) for k in range(per_thread)]

    with ThreadPoolExecutor(max_workers=n) as pool:
        return [r for rs in pool.map(worker, range(n)) for r in rs]


def test_threads_race_a_call_budget() -> None:
    guard = Guard(manifest({"f": {"budget": {"calls": 10}}}), store=MemoryStore())
    decisions = race_threads(lambda i: guard.authorize("f", {}))
    allowed = [d for d in decisions if d.allowed]
    assert len(decisions) == THREADS * 4
    assert len(allowed) == 10
    assert all(d.denial.code is DenialCode.BUDGET_EXHAUSTED for d in decisions if not d.allowed)
    assert guard.usage()["tools.f.calls"]["used"] == 10


def test_threads_race_a_task_budget_across_tools() -> None:
    guard = Guard(manifest({"a": None, "b": None}, budget={"calls": 10}), store=MemoryStore())
    decisions = race_threads(lambda i: guard.authorize("ab"[i % 2], {}))
    assert sum(d.allowed for d in decisions) == 10
    assert guard.usage()["calls"]["used"] == 10


def test_threads_race_a_sum_budget() -> None:
    data = manifest({"pay": {"args": {"amount": {"type": "integer", "min": 1, "max": 7}},
                             "budget": {"sum": {"amount": 100}}}})
    guard = Guard(data, store=MemoryStore())
    amounts = {i: 1 + i % 7 for i in range(THREADS * 4)}
    decisions = race_threads(lambda i: (amounts[i], guard.authorize("pay", {"amount": amounts[i]})))
    spent = sum(a for a, d in decisions if d.allowed)
    assert spent <= 100
    assert guard.usage()["tools.pay.sum.amount"]["used"] == spent
    # as many calls as fit: every denied amount would have overrun what was spent when it was denied
    for _, d in decisions:
        if not d.allowed:
            assert d.denial.code is DenialCode.BUDGET_EXHAUSTED
            assert d.denial.budget.used + 1 > 100 - 7
    assert spent > 100 - 7


def test_threads_race_a_sum_budget_exactly() -> None:
    data = manifest({"pay": {"args": {"amount": {"type": "number"}}, "budget": {"sum": {"amount": 25}}}},
                    budget={"sum": {"amount": 1000}})
    guard = Guard(data, store=MemoryStore())
    decisions = race_threads(lambda i: guard.authorize("pay", {"amount": 2.5}))
    assert sum(d.allowed for d in decisions) == 10
    usage = guard.usage()
    assert usage["tools.pay.sum.amount"]["used"] == 25
    assert usage["sum.amount"]["used"] == 25  # the task's sum is charged with the tool's, atomically
    for d in decisions:
        if not d.allowed:
            assert d.denial.budget.scope == "tools.pay.sum.amount"
            assert d.denial.budget.used == 25 and d.denial.budget.limit == 25


def test_threads_race_through_invoke() -> None:
    guard = Guard(manifest({"f": {"args": {"x": {}}, "budget": {"calls": 10}}}), store=MemoryStore())
    ran: list[int] = []
    lock = threading.Lock()

    def tool(x: int) -> int:
        with lock:
            ran.append(x)
        return x

    def call(i: int) -> str:
        try:
            guard.invoke("f", tool, {"x": i})
            return "ran"
        except BudgetExhausted:
            return "denied"

    results = race_threads(call)
    assert results.count("ran") == 10 == len(ran)
    assert results.count("denied") == THREADS * 4 - 10


def test_asyncio_tasks_race_a_call_budget() -> None:
    guard = Guard(manifest({"f": {"args": {"i": {}}, "budget": {"calls": 10}}}), store=MemoryStore())
    ran: list[int] = []

    async def tool(i: int) -> int:
        await asyncio.sleep(0)
        ran.append(i)
        return i

    async def call(i: int) -> bool:
        await asyncio.sleep(0)
        try:
            await guard.ainvoke("f", tool, {"i": i})
            return True
        except BudgetExhausted:
            return False

    async def main() -> list[bool]:
        return await asyncio.gather(*(call(i) for i in range(TASKS)))

    results = asyncio.run(main())
    assert sum(results) == 10 == len(ran)
    assert guard.usage()["tools.f.calls"]["used"] == 10


def test_asyncio_tasks_race_a_sum_budget_with_wrapped_tool() -> None:
    guard = Guard(manifest({"pay": {"args": {"amount": {"type": "number", "min": 0, "max": 10}},
                                    "budget": {"sum": {"amount": 50}, "calls": 100}}}), store=MemoryStore())

    async def pay(amount: float) -> float:
        await asyncio.sleep(0)
        return amount

    guarded = guard.wrap(pay)

    async def call(i: int) -> float:
        try:
            return await guarded(amount=2.5)
        except BudgetExhausted:
            return 0.0

    async def main() -> list[float]:
        return await asyncio.gather(*(call(i) for i in range(TASKS)))

    results = asyncio.run(main())
    assert sum(results) == 50
    assert sum(1 for r in results if r) == 20
    assert guard.usage()["tools.pay.sum.amount"]["used"] == 50
    assert guard.usage()["tools.pay.calls"]["used"] == 20


def test_threads_and_guards_sharing_one_store() -> None:
    store = MemoryStore()
    data = manifest({"f": {"budget": {"calls": 10}}})
    guards = [Guard(data, store=store) for _ in range(4)]
    decisions = race_threads(lambda i: guards[i % 4].authorize("f"))
    assert sum(d.allowed for d in decisions) == 10


def test_denials_never_consume_budget() -> None:
    data = manifest({"pay": {"args": {"amount": {"type": "number", "max": 10}, "to": ["alice"]},
                             "budget": {"calls": 3, "sum": {"amount": 20}}},
                     "other": None},
                    budget={"calls": 5})
    guard = Guard(data, store=MemoryStore())
    denied_calls = [
        ("pay", {"amount": 11, "to": "alice"}),  # argument_invalid
        ("pay", {"amount": 5, "to": "mallory"}),
        ("pay", {"amount": 5, "to": "alice", "memo": "x"}),  # argument_not_allowed
        ("pay", {"amount": "5", "to": "alice"}),
        ("nope", {}),  # tool_not_allowed
    ]
    for _ in range(5):
        for tool, args in denied_calls:
            assert not guard.authorize(tool, args).allowed
    assert all(u["used"] == 0 for u in guard.usage().values()), guard.usage()
    # a budget denial charges nothing either: not the call budget, not the task budget
    assert guard.authorize("pay", {"amount": 10, "to": "alice"}).allowed
    assert guard.authorize("pay", {"amount": 10, "to": "alice"}).allowed
    denial = guard.authorize("pay", {"amount": 1, "to": "alice"}).denial
    assert denial is not None and denial.budget is not None and denial.budget.scope == "tools.pay.sum.amount"
    usage = guard.usage()
    assert usage["tools.pay.calls"]["used"] == 2
    assert usage["calls"]["used"] == 2
    assert usage["tools.pay.sum.amount"]["used"] == 20
    # and check() never charges at all
    for _ in range(10):
        guard.check("other")
    assert guard.usage()["calls"]["used"] == 2
    # the calls left are still there for a call that fits
    assert guard.authorize("other").allowed
    assert guard.usage()["calls"]["used"] == 3


def test_parallel_denials_do_not_consume_budget() -> None:
    guard = Guard(manifest({"f": {"args": {"x": {"max": 0}}, "budget": {"calls": 1}}}), store=MemoryStore())
    decisions = race_threads(lambda i: guard.authorize("f", {"x": 1}))
    assert not any(d.allowed for d in decisions)
    assert guard.usage()["tools.f.calls"]["used"] == 0
    assert guard.authorize("f", {"x": 0}).allowed


def test_shadow_mode_never_blocks_and_charges_nothing_for_denied_calls() -> None:
    data = manifest({"pay": {"args": {"amount": {"type": "number", "max": 10}},
                             "budget": {"calls": 2, "sum": {"amount": 15}}}})
    guard = Guard(data, store=MemoryStore(), mode="shadow")
    ran: list[Any] = []

    def pay(amount: Any) -> str:
        ran.append(amount)
        return "paid"

    # allowed: charged
    assert guard.invoke("pay", pay, {"amount": 10}) == "paid"
    # argument_invalid: runs (shadow), charged nothing
    assert guard.invoke("pay", pay, {"amount": 100}) == "paid"
    # budget would be exceeded (10 + 6 > 15): runs, charged nothing
    decision = guard.authorize("pay", {"amount": 6})
    assert decision.outcome == "shadow_deny" and not decision.blocks
    assert decision.denial is not None and decision.denial.code is DenialCode.BUDGET_EXHAUSTED
    assert guard.invoke("pay", pay, {"amount": 6}) == "paid"
    usage = guard.usage()
    assert usage["tools.pay.calls"]["used"] == 1
    assert usage["tools.pay.sum.amount"]["used"] == 10
    # an allowed call that fits is still charged, so budgets show what enforce would have allowed
    assert guard.authorize("pay", {"amount": 5}).allowed
    assert guard.usage()["tools.pay.sum.amount"]["used"] == 15
    assert guard.invoke("pay", pay, {"amount": 1}) == "paid"  # calls budget now exhausted: not blocked
    assert guard.usage()["tools.pay.calls"]["used"] == 2
    assert ran == [10, 100, 6, 1]
    # shadow mode on an unknown tool and after expiry or revocation still runs the tool
    assert guard.invoke("unknown", lambda: "ran") == "ran"
    guard.revoke("done")
    assert guard.invoke("pay", pay, {"amount": 1}) == "paid"


def test_shadow_mode_under_threads_charges_exactly_the_allowed_calls() -> None:
    guard = Guard(manifest({"f": {"budget": {"calls": 10}}}), store=MemoryStore(), mode="shadow")
    ran = []
    lock = threading.Lock()

    def tool() -> None:
        with lock:
            ran.append(1)

    race_threads(lambda i: guard.invoke("f", tool))
    assert len(ran) == THREADS * 4  # never blocks
    assert guard.usage()["tools.f.calls"]["used"] == 10


def test_memory_store_consume_is_all_or_nothing() -> None:
    store = MemoryStore()
    ok = [Charge("t", "calls", 1, 2), Charge("t", "sum.x", 5, 10)]
    assert store.consume(ok, expires_at=2e9) is None
    over = store.consume([Charge("t", "calls", 1, 2), Charge("t", "sum.x", 6, 10)], expires_at=2e9)
    assert over is not None and over.charge.scope == "sum.x" and over.used == 5
    assert store.usage("t") == {"calls": 1.0, "sum.x": 5.0}
    # the same budget twice in one call adds up, as the shared stores do
    over = store.consume([Charge("t", "calls", 1, 2), Charge("t", "calls", 1, 2)], expires_at=2e9)
    assert over is not None and over.used == 2
    assert store.usage("t") == {"calls": 1.0, "sum.x": 5.0}
    assert store.consume([Charge("t", "sum.x", float("nan"), 10)], expires_at=2e9) is not None
    assert store.used([("t", "calls"), ("t", "nope"), ("u", "calls")]) == [1.0, 0.0, 0.0]


def test_memory_store_revocation() -> None:
    store = MemoryStore()
    assert store.revoked(["a", "b"]) is None
    store.revoke("b", "why", expires_at=2e9)
    store.revoke("b", "second reason is ignored")
    assert store.revoked(["a", "b"]) == "why"
    assert store.revoked(["a"]) is None


@pytest.mark.parametrize("mode", ["enforce", "shadow"])
def test_denied_invoke_in_enforce_raises_before_the_tool(mode: str) -> None:
    guard = Guard(manifest({"f": {"args": {"x": {"max": 1}}}}), store=MemoryStore(), mode=mode)  # type: ignore[arg-type]
    ran = []
    if mode == "enforce":
        with pytest.raises(DelegationDenied):
            guard.invoke("f", lambda x: ran.append(x), {"x": 2})
        assert ran == []
    else:
        guard.invoke("f", lambda x: ran.append(x), {"x": 2})
        assert ran == [2]
