"""A default the tool runs with cannot slip past a constraint by the model leaving it out."""

from __future__ import annotations

import pytest
from guardrail_langchain import guard_tools
from langchain_core.messages import ToolMessage
from langchain_core.tools import tool

from guardrail import ArgumentViolation, Guard, MemoryStore
from guardrail.testing import task_id

PAID: list[float] = []


@tool
def pay(order: str, amount: float = 1000.0, note: str = "") -> str:
    """Pay an amount on an order."""
    PAID.append(amount)
    return f"paid {amount}"


def _guard() -> Guard:
    manifest = {"task": task_id("defaults"), "ttl": "1h",
                "tools": {"pay": {"args": {"order": {}, "amount": {"max": 50}, "note": {}},
                                  "budget": {"sum": {"amount": 60}}}}}
    return Guard(manifest, store=MemoryStore())


def _call(args: dict[str, object], call_id: str) -> dict[str, object]:
    return {"type": "tool_call", "name": "pay", "args": args, "id": call_id}


def test_a_default_outside_the_constraint_is_denied_and_never_runs() -> None:
    PAID.clear()
    [guarded] = guard_tools([pay], _guard())
    message = guarded.invoke(_call({"order": "A-1"}, "c1"))
    assert isinstance(message, ToolMessage) and message.status == "error"
    assert '"argument": "amount"' in message.content and '"constraint": "max: 50"' in message.content
    assert PAID == []


def test_a_passed_value_is_checked_and_charged_as_usual() -> None:
    PAID.clear()
    guard = _guard()
    [guarded] = guard_tools([pay], guard)
    assert guarded.invoke(_call({"order": "A-1", "amount": 40}, "c1")).content == "paid 40.0"
    assert guard.usage()["tools.pay.sum.amount"]["used"] == 40.0
    denied = guarded.invoke(_call({"order": "A-1", "amount": 30}, "c2"))
    assert denied.status == "error" and "budget_exhausted" in denied.content
    assert PAID == [40.0]


def test_invoke_checks_the_defaults_it_is_given() -> None:
    guard = _guard()
    ran: list[dict[str, object]] = []
    with pytest.raises(ArgumentViolation) as info:
        guard.invoke("pay", lambda **kw: ran.append(kw), {"order": "A-1"},
                     defaults={"amount": 1000.0, "note": ""})
    assert info.value.denial.argument == "amount"
    assert ran == []
    guard.invoke("pay", lambda **kw: ran.append(kw), {"order": "A-1"}, defaults={"amount": 10})
    assert ran == [{"order": "A-1", "amount": 10}]
