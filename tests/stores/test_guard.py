"""Guards in several processes sharing one store; a guard whose store goes away."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from guardrail import BudgetStore, Decision, DelegationDenied, DenialCode, Guard, RetryPolicy
from guardrail.testing import task_id
from tests.stores.support import REDIS_EXTRA, RedisServer, Workers


def manifest(task: str) -> dict[str, Any]:
    return {
        "manifest": 1,
        "task": task,
        "principal": "agent:support-bot",
        "ttl": "15m",
        "budget": {"calls": 10},
        "tools": {
            "send_refund": {
                "args": {"amount": {"type": "number", "min": 0, "max": 50}},
                "budget": {"calls": 5, "sum": {"amount": 80}},
            },
            "read_ticket": {"args": {"ticket_id": {}}},
        },
    }


def code(decision: Decision) -> DenialCode | None:
    return None if decision.denial is None else decision.denial.code


def in_worker(
    workers: Workers,
    url: str,
    m: dict[str, Any],
    tool: str,
    args: dict[str, Any],
    calls: int,
    revoke: str | None = None,
) -> list[str]:
    """What a Guard in another process decides for `calls` identical calls."""
    result = workers.run("guard", url=url, manifest=m, tool=tool, args=args, calls=calls, revoke=revoke)
    codes: list[str] = result["codes"]
    return codes


def test_budgets_are_shared_by_guards_in_every_process(
    shared_url: str, opener: Callable[[str], BudgetStore], workers: Workers
) -> None:
    task = task_id("refund")
    m = manifest(task)
    # another process refunds 30 + 30 of the 80
    first = in_worker(workers, shared_url, m, "send_refund", {"amount": 30}, 2)
    assert first == ["allow", "allow"]

    guard = Guard(m, store=opener(shared_url))
    over = guard.authorize("send_refund", {"amount": 25})
    assert over.denial is not None and over.denial.code is DenialCode.BUDGET_EXHAUSTED
    assert (over.denial.budget.scope, over.denial.budget.limit, over.denial.budget.used) == (
        "tools.send_refund.sum.amount",
        80.0,
        60.0,
    )
    assert guard.check("send_refund", {"amount": 20}).allowed
    assert guard.authorize("send_refund", {"amount": 20}).allowed
    # the fleet's spending, seen from here
    assert guard.usage()["tools.send_refund.sum.amount"]["used"] == 80.0
    assert guard.usage()["calls"]["used"] == 3.0

    # and seen from a third process: the sum is spent for everyone
    third = in_worker(workers, shared_url, m, "send_refund", {"amount": 1}, 1)
    assert third == ["budget_exhausted"]
    # calls that charge no sum still draw on the task's 10 calls: 3 used, 7 left
    rest = in_worker(workers, shared_url, m, "read_ticket", {"ticket_id": "T-1"}, 9)
    assert rest == ["allow"] * 7 + ["budget_exhausted"] * 2
    assert code(guard.authorize("read_ticket", {"ticket_id": "T-2"})) is DenialCode.BUDGET_EXHAUSTED


def test_a_guard_revoked_in_one_process_denies_in_every_other(
    shared_url: str, opener: Callable[[str], BudgetStore], workers: Workers
) -> None:
    task = task_id("refund")
    m = manifest(task)
    guard = Guard(m, store=opener(shared_url))
    assert guard.authorize("read_ticket", {"ticket_id": "T-1"}).allowed
    # a worker makes one call, then revokes the task (as `with guard:` does when the task ends)
    reason = "injection suspected"
    made = in_worker(workers, shared_url, m, "read_ticket", {"ticket_id": "T-2"}, 1, revoke=reason)
    assert made == ["allow"]
    denied = guard.authorize("read_ticket", {"ticket_id": "T-3"})
    assert denied.denial is not None and denied.denial.code is DenialCode.REVOKED
    assert "injection suspected" in denied.denial.message
    # a guard created afterwards, anywhere, cannot undo it
    again = in_worker(workers, shared_url, m, "read_ticket", {"ticket_id": "T-4"}, 1)
    assert again == ["revoked"]
    fresh = Guard(m, store=opener(shared_url))
    assert code(fresh.authorize("read_ticket", {"ticket_id": "T-5"})) is DenialCode.REVOKED


def test_a_guard_denies_while_its_store_is_down_and_resumes_after(own_redis_server: RedisServer) -> None:
    from guardrail._stores._redis import RedisStore

    server = own_redis_server
    store = RedisStore(server.url, retry=RetryPolicy(attempts=2, deadline=0.5))
    guard = Guard(manifest(task_id("refund")), store=store)
    for _ in range(3):
        assert guard.authorize("send_refund", {"amount": 10}).allowed

    server.kill()
    ran: list[float] = []

    def refund(amount: float) -> str:
        ran.append(amount)
        return "refunded"

    for _ in range(3):
        decision = guard.authorize("send_refund", {"amount": 10})
        assert not decision.allowed
        assert decision.denial is not None and decision.denial.code is DenialCode.STORE_UNAVAILABLE
        assert decision.denial.budget is None
        # every call needs the store, if only to learn whether the task was revoked
        assert code(guard.authorize("read_ticket", {"ticket_id": "T-1"})) is DenialCode.STORE_UNAVAILABLE
        assert code(guard.check("send_refund", {"amount": 10})) is DenialCode.STORE_UNAVAILABLE
        with pytest.raises(DelegationDenied) as caught:
            guard.invoke("send_refund", refund, {"amount": 10})
        assert caught.value.denial.code is DenialCode.STORE_UNAVAILABLE
    assert ran == []  # the tool never ran

    server.start()
    assert guard.invoke("send_refund", refund, {"amount": 10}) == "refunded"
    assert ran == [10]
    # the budget was not reset: 3 + 1 of 5 calls and 40 of 80 used
    assert guard.usage()["tools.send_refund.calls"]["used"] == 4.0
    assert guard.usage()["tools.send_refund.sum.amount"]["used"] == 40.0
    assert guard.authorize("send_refund", {"amount": 10}).allowed
    assert code(guard.authorize("send_refund", {"amount": 10})) is DenialCode.BUDGET_EXHAUSTED
    store.close()


def test_a_guard_on_a_store_that_was_never_there() -> None:
    pytest.importorskip("redis", reason=REDIS_EXTRA)
    from guardrail._stores._redis import RedisStore
    from tests.stores.support import free_port

    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", retry=RetryPolicy(attempts=2, deadline=0.3))
    guard = Guard(manifest("t"), store=store)
    decision = guard.authorize("read_ticket", {"ticket_id": "T-1"})
    assert decision.denial is not None and decision.denial.code is DenialCode.STORE_UNAVAILABLE
    assert "unavailable" in decision.denial.message
    store.close()
