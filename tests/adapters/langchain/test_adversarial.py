"""Adversarial: a single-input LangChain `Tool` runs with the one value of its input whatever
key the model sends it under, so that value must be checked under `__arg1` (what the model sees)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from guardrail_langchain import DelegationMiddleware, guard_tools
from guardrail_langchain.testing import ScriptedChatModel
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import Tool
from pydantic import BaseModel

from guardrail import Guard, MemoryStore
from guardrail.testing import task_id


def _guard() -> Guard:
    manifest = {
        "task": task_id("adv"),
        "ttl": "5m",
        "tools": {"shout": {"args": {"__arg1": {"max_length": 5}}, "allow_other_args": True}},
    }
    return Guard(manifest, store=MemoryStore())


def _shout(ran: list[str]) -> Tool:
    def run(text: str) -> str:
        ran.append(text)
        return text.upper()

    return Tool(name="shout", func=run, description="Upper-case a text.")


@pytest.mark.parametrize("key", ["__arg1", "tool_input", "anything"])
def test_guarded_single_input_tool_checks_the_value_under_any_key(key: str) -> None:
    ran: list[str] = []
    [guarded] = guard_tools([_shout(ran)], _guard())
    call = {"type": "tool_call", "name": "shout", "args": {key: "far too long"}, "id": "c1"}
    result = guarded.invoke(call)
    assert isinstance(result, ToolMessage) and result.status == "error", result
    assert json.loads(str(result.content))["argument"] == "__arg1"
    assert ran == [], "the over-long value reached the tool under another key"
    assert guarded.invoke({**call, "args": {key: "hey"}}).content == "HEY"


@pytest.mark.parametrize("key", ["__arg1", "anything"])
def test_middleware_checks_a_single_input_tool_the_same_way(key: str) -> None:
    ran: list[str] = []
    model = ScriptedChatModel(responses=[
        AIMessage("", tool_calls=[{"name": "shout", "args": {key: "far too long"}, "id": "c1"}]),
        AIMessage("done"),
    ])
    agent: Any = create_agent(model, [_shout(ran)], middleware=[DelegationMiddleware(_guard())])
    result = agent.invoke({"messages": [HumanMessage("go")]})
    [message] = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert message.status == "error" and ran == [], (message.content, ran)


class Options(BaseModel):
    limit: int = 1000


def test_a_nested_default_cannot_slip_past_a_fields_constraint() -> None:
    from langchain_core.tools import tool

    ran: list[int] = []

    @tool
    def export(queue: str, options: Options) -> str:
        """Export rows of a queue."""
        ran.append(options.limit)
        return "exported"

    manifest = {
        "task": task_id("adv"),
        "ttl": "5m",
        "tools": {"export": {"args": {
            "queue": {}, "options": {"fields": {"limit": {"type": "integer", "max": 50}}},
        }}},
    }
    guard = Guard(manifest, store=MemoryStore())
    [guarded] = guard_tools([export], guard)
    denied = guarded.invoke(
        {"type": "tool_call", "name": "export", "args": {"queue": "q", "options": {}}, "id": "c1"}
    )
    assert ran == [], "the tool ran with the nested default limit=1000 past `fields: {limit: {max: 50}}`"
    assert json.loads(str(denied.content))["argument"] == "options.limit"
    sent = guarded.invoke(
        {"type": "tool_call", "name": "export", "args": {"queue": "q", "options": {"limit": 7}},
         "id": "c2"}
    )
    assert sent.content == "exported" and ran == [7]
    # The middleware sees the same nested default.
    model = ScriptedChatModel(responses=[
        AIMessage("", tool_calls=[{"name": "export", "args": {"queue": "q", "options": {}}, "id": "c3"}]),
        AIMessage("done"),
    ])
    agent: Any = create_agent(model, [export], middleware=[DelegationMiddleware(guard)])
    result = agent.invoke({"messages": [HumanMessage("go")]})
    [message] = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert message.status == "error" and ran == [7], (message.content, ran)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_middleware_checks_the_defaults_a_tool_runs_with(use_async: bool) -> None:
    import asyncio

    from langchain_core.tools import tool

    ran: list[float] = []

    @tool
    def send_refund(order_id: str, amount: float = 1000.0) -> str:
        """Refund an order."""
        ran.append(amount)
        return "refunded"

    manifest = {
        "task": task_id("adv"),
        "ttl": "5m",
        "tools": {"send_refund": {"args": {"order_id": {}, "amount": {"type": "number", "max": 50}}}},
    }
    guard = Guard(manifest, store=MemoryStore())
    model = ScriptedChatModel(responses=[
        AIMessage("", tool_calls=[{"name": "send_refund", "args": {"order_id": "O-1"}, "id": "c1"}]),
        AIMessage("", tool_calls=[{"name": "send_refund", "args": {"order_id": "O-1", "amount": 20},
                                   "id": "c2"}]),
        AIMessage("done"),
    ])
    agent: Any = create_agent(model, [send_refund], middleware=[DelegationMiddleware(guard)])
    state = {"messages": [HumanMessage("go")]}
    result = asyncio.run(agent.ainvoke(state)) if use_async else agent.invoke(state)
    first, second = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    # Was: the middleware passed no defaults to the guard, so send_refund ran with amount=1000.
    assert first.status == "error" and json.loads(str(first.content))["constraint"] == "max: 50"
    assert second.status == "success" and ran == [20.0], ran


def test_an_inner_guarded_tool_still_checks_its_own_defaults() -> None:
    from langchain_core.tools import tool

    ran: list[float] = []

    @tool
    def send_refund(order_id: str, amount: float = 1000.0) -> str:
        """Refund an order."""
        ran.append(amount)
        return "refunded"

    inner_guard = Guard({
        "task": task_id("adv"), "ttl": "5m",
        "tools": {"send_refund": {"args": {"order_id": {}, "amount": {"type": "number", "max": 50}}}},
    }, store=MemoryStore())
    outer_guard = Guard({
        "task": task_id("adv"), "ttl": "5m",
        "tools": {"send_refund": {"args": {"order_id": {}}, "allow_other_args": True}},
    }, store=MemoryStore())
    [inner] = guard_tools([send_refund], inner_guard)
    [outer] = guard_tools([inner], outer_guard)
    call = {"type": "tool_call", "name": "send_refund", "args": {"order_id": "O-1"}, "id": "c1"}
    # Was: the outer tool handed the inner one its own checked arguments (without the inner
    # manifest's constrained default), so amount=1000 ran past the inner `max: 50`.
    result = outer.invoke(call)
    assert isinstance(result, ToolMessage) and result.status == "error", result
    assert ran == []
    assert outer.invoke({**call, "args": {"order_id": "O-1", "amount": 20}}).content == "refunded"
    assert ran == [20.0]
