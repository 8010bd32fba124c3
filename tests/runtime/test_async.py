"""The async decision path: `aauthorize` / `acheck` decide as `authorize` / `check` do, and a
blocking store or audit sink never stalls the event loop (the loop's ticks are counted)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest

from guardrail import (
    BudgetExhausted,
    Charge,
    Decision,
    DenialCode,
    Guard,
    MemoryStore,
    Overrun,
)
from guardrail.testing import FakeClock
from tests.support.decisions import manifest

GATE_WAIT = 20.0  # how long a gated store waits before giving up (only if the loop is blocked)
TICKS = 50  # ticks of the event loop that must happen while a store call is blocked


def refunds(**extra: Any) -> dict[str, Any]:
    return manifest(
        {
            "send_refund": {
                "args": {"amount": {"type": "number", "min": 0, "max": 50}},
                "budget": {"calls": 5, "sum": {"amount": 80}},
            },
            "read_ticket": {"args": {"ticket_id": {"pattern": "^T-[0-9]+$"}}},
        },
        budget={"calls": 10},
        **extra,
    )


CALLS: list[tuple[Any, Any]] = [
    ("read_ticket", {"ticket_id": "T-1"}),
    ("read_ticket", {"ticket_id": "nope"}),
    ("read_ticket", ["T-1"]),
    ("read_ticket", None),
    ("delete_all", {}),
    (42, {}),
    ("send_refund", {"amount": 30}),
    ("send_refund", {"amount": 60}),
    ("send_refund", {"amount": -1}),
    ("send_refund", {"amount": "30"}),
    ("send_refund", {"amount": 30}),
    ("send_refund", {"amount": 30}),  # over the sum of 80
    ("send_refund", {"amount": 20}),
    ("send_refund", {"amount": 0}),
    ("send_refund", {"amount": 0}),  # the sixth call: over calls 5
]


def outcome(decision: Decision) -> tuple[bool, DenialCode | None, str | None]:
    denial = decision.denial
    if denial is None:
        return decision.allowed, None, None
    return decision.allowed, denial.code, denial.message


def test_aauthorize_and_acheck_decide_as_the_sync_methods() -> None:
    clock = FakeClock()
    data = refunds()
    sync_guard = Guard(data, store=MemoryStore(), clock=clock)
    async_guard = Guard(dict(data), store=MemoryStore(), clock=clock)

    async def run() -> list[tuple[Any, ...]]:
        out = []
        for tool, args in CALLS:
            checked = outcome(await async_guard.acheck(tool, args))
            out.append((checked, outcome(await async_guard.aauthorize(tool, args))))
        return out

    expected = [(outcome(sync_guard.check(t, a)), outcome(sync_guard.authorize(t, a))) for t, a in CALLS]
    assert asyncio.run(run()) == expected
    assert async_guard.usage() == sync_guard.usage()
    assert async_guard.usage()["tools.send_refund.sum.amount"]["used"] == 80
    # acheck charges nothing, and reports the exhausted budget as check does
    assert outcome(asyncio.run(async_guard.acheck("send_refund", {"amount": 1}))) == outcome(
        sync_guard.check("send_refund", {"amount": 1})
    )
    # and after the window: the same expiry denial
    clock.advance(3600)
    assert outcome(asyncio.run(async_guard.acheck("read_ticket", {"ticket_id": "T-1"}))) == outcome(
        sync_guard.check("read_ticket", {"ticket_id": "T-1"})
    )


def test_aauthorize_keeps_call_ids_and_denies_after_revoke() -> None:
    guard = Guard(refunds(), store=MemoryStore())

    async def run() -> tuple[Decision, Decision]:
        first = await guard.aauthorize("read_ticket", {"ticket_id": "T-1"}, call_id="c-1")
        guard.revoke("incident")
        return first, await guard.aauthorize("read_ticket", {"ticket_id": "T-1"})

    first, second = asyncio.run(run())
    assert first.allowed and first.call_id == "c-1"
    assert second.denial is not None and second.denial.code is DenialCode.REVOKED
    assert second.call_id  # aauthorize gives each call an id, as authorize does


def test_aauthorize_under_gather_never_overruns_a_budget() -> None:
    guard = Guard(refunds(), store=MemoryStore())

    async def run() -> list[Decision]:
        return await asyncio.gather(*(guard.aauthorize("send_refund", {"amount": 20}) for _ in range(30)))

    decisions = asyncio.run(run())
    assert sum(d.allowed for d in decisions) == 4  # sum 80 in steps of 20
    assert guard.usage()["tools.send_refund.sum.amount"]["used"] == 80


# -- never blocking the loop ---------------------------------------------------------------


class Gate:
    """An event the ticker opens after TICKS ticks; whatever waits on it records whether it was
    opened (it cannot be, unless the event loop kept running while the wait went on)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.waits: list[bool] = []

    def wait(self) -> None:
        self.waits.append(self.event.wait(GATE_WAIT))


class GatedStore:
    """A user's own `BudgetStore` whose every call blocks until the gate opens."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.inner = MemoryStore()

    def consume(self, charges: Sequence[Charge], *, expires_at: float) -> Overrun | None:
        self.gate.wait()
        return self.inner.consume(charges, expires_at=expires_at)

    def used(self, keys: Sequence[tuple[str, str]]) -> list[float]:
        self.gate.wait()
        return self.inner.used(keys)

    def usage(self, task: str) -> dict[str, float]:
        return self.inner.usage(task)

    def revoke(self, task: str, reason: str = "", *, expires_at: float | None = None) -> None:
        self.inner.revoke(task, reason, expires_at=expires_at)

    def revoked(self, tasks: Sequence[str]) -> str | None:
        self.gate.wait()
        return self.inner.revoked(tasks)

    def close(self) -> None:
        pass


async def while_ticking(gate: Gate, work: Callable[[], Awaitable[Decision]]) -> tuple[Decision, int]:
    """Run `work` while a task counts the loop's ticks; the gate opens after TICKS of them.
    Returns the decision and the ticks counted while `work` was pending."""
    done = False
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            if ticks == TICKS:
                gate.event.set()
            await asyncio.sleep(0.001)

    ticking = asyncio.create_task(ticker())
    try:
        decision = await work()
    finally:
        done = True
        await ticking
    return decision, ticks


@pytest.mark.parametrize(
    ("method", "tool", "args"),
    [
        ("aauthorize", "send_refund", {"amount": 10}),  # revoked, then consume
        ("acheck", "send_refund", {"amount": 10}),  # revoked, then used
        ("aauthorize", "read_ticket", {"ticket_id": "T-1"}),  # the fast path: revoked only
    ],
)
def test_a_blocking_user_store_runs_off_the_event_loop(method: str, tool: str, args: dict[str, Any]) -> None:
    gate = Gate()
    guard = Guard(refunds(), store=GatedStore(gate))
    decision, ticks = asyncio.run(while_ticking(gate, lambda: getattr(guard, method)(tool, args)))
    assert decision.allowed
    assert gate.waits and all(gate.waits)  # every store call saw the gate opened by the ticker
    assert ticks >= TICKS


class GatedAudit:
    """An audit sink whose write blocks until the gate opens (a slow disk, fsync)."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.records: list[tuple[str, bool]] = []

    def record(self, decision: Decision, guard: Guard, args: Mapping[str, Any] | None) -> None:
        self.gate.wait()
        self.records.append((decision.tool, decision.allowed))


def test_a_blocking_audit_write_runs_off_the_event_loop() -> None:
    gate = Gate()
    audit = GatedAudit(gate)
    guard = Guard(refunds(), store=MemoryStore(), audit=audit)
    decision, ticks = asyncio.run(
        while_ticking(gate, lambda: guard.aauthorize("send_refund", {"amount": 10}))
    )
    assert decision.allowed and ticks >= TICKS
    assert gate.waits == [True] and audit.records == [("send_refund", True)]


def test_ainvoke_and_async_wrap_decide_off_the_loop() -> None:
    gate = Gate()
    guard = Guard(refunds(), store=GatedStore(gate))
    ran: list[float] = []

    async def send_refund(amount: float) -> str:
        ran.append(amount)
        return f"refunded {amount}"

    result, ticks = asyncio.run(
        while_ticking(gate, lambda: guard.ainvoke("send_refund", send_refund, {"amount": 5}))
    )
    assert result == "refunded 5" and ticks >= TICKS and all(gate.waits)

    gate2 = Gate()
    guard2 = Guard(refunds(), store=GatedStore(gate2))
    wrapped = guard2.wrap(send_refund)
    result, ticks = asyncio.run(while_ticking(gate2, lambda: wrapped(7)))
    assert result == "refunded 7" and ticks >= TICKS and all(gate2.waits)
    assert ran == [5, 7]

    # a denial from the async path raises as the sync one does, and the tool does not run
    guard3 = Guard(refunds(), store=MemoryStore())
    with pytest.raises(BudgetExhausted):
        asyncio.run(guard3.ainvoke("send_refund", send_refund, {"amount": 50}))
        asyncio.run(guard3.ainvoke("send_refund", send_refund, {"amount": 50}))
    assert ran == [5, 7, 50]


def test_an_error_in_a_users_store_denies_on_the_async_path_too() -> None:
    class Broken(GatedStore):
        def revoked(self, tasks: Sequence[str]) -> str | None:
            raise RuntimeError("disk on fire")

    gate = Gate()
    gate.event.set()
    guard = Guard(refunds(), store=Broken(gate))
    decision = asyncio.run(guard.aauthorize("read_ticket", {"ticket_id": "T-1"}))
    assert decision.denial is not None and decision.denial.code is DenialCode.INTERNAL_ERROR
