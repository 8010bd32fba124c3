"""Adversarial: budgets a call must not overrun."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from guardrail import BudgetExhausted, Guard, MemoryStore
from guardrail.testing import task_id

FIX = (
    "a default the tool runs with bypasses a sum budget on an argument that `args` does not name "
    "(allow_other_args: true). Fix in guardrail/_guard.py Guard.constrained_defaults: also keep "
    "defaults whose name is summed by a budget that applies to the tool (grant.budget.sum, or the "
    "task budget.sum when allow_other_args), i.e. every `arg` of "
    "self._root.tools[tool].sum_scopes (and of each ancestor link's)."
)


def _manifest(tool_budget: bool) -> dict[str, Any]:
    grant: dict[str, Any] = {"allow_other_args": True, "args": {"order_id": {}}}
    manifest: dict[str, Any] = {"task": task_id("adv"), "ttl": "5m", "tools": {"refund": grant}}
    if tool_budget:
        grant["budget"] = {"sum": {"amount": 80}}
    else:
        manifest["budget"] = {"sum": {"amount": 80}}
    return manifest


@pytest.mark.parametrize("tool_budget", [True, False], ids=["tool sum", "task sum"])
def test_a_default_cannot_overrun_a_sum_budget_through_wrap(tool_budget: bool) -> None:
    refunded: list[float] = []

    def refund(order_id: str, amount: float = 1000.0) -> None:
        refunded.append(amount)

    guard = Guard(_manifest(tool_budget), store=MemoryStore())
    wrapped = guard.wrap(refund)
    with contextlib.suppress(BudgetExhausted):
        wrapped("ORD-1")  # runs with amount=1000 against a sum budget of 80
    assert sum(refunded) <= 80, FIX + f" (refunded {refunded}, usage {guard.usage()})"


def test_a_default_cannot_overrun_a_sum_budget_through_invoke() -> None:
    refunded: list[float] = []

    def refund(order_id: str, amount: float = 1000.0) -> None:
        refunded.append(amount)

    guard = Guard(_manifest(True), store=MemoryStore())
    with contextlib.suppress(BudgetExhausted):
        guard.invoke("refund", refund, {"order_id": "ORD-1"}, defaults={"amount": 1000.0})
    assert sum(refunded) <= 80, FIX + f" (refunded {refunded})"
