"""Guards in several processes sharing one store (SQLite, Redis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from guardrail import BudgetStore, DenialCode, Guard
from guardrail.testing import task_id
from tests.stores.support import Workers, code
from tests.stores.support import guard_manifest as manifest


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
