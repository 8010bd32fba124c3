"""guard_function_tools and delegation_input_guardrail under a real Runner and a scripted model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agents import (
    Agent,
    AgentsException,
    FunctionTool,
    Runner,
    ToolInputGuardrail,
    ToolInputGuardrailTripwireTriggered,
    WebSearchTool,
    function_tool,
)
from guardrail_openai_agents import delegation_input_guardrail, denial_output, guard_function_tools
from opentelemetry import trace

from guardrail import ArgumentViolation, Denial, Guard, MemoryStore, ToolNotAllowed
from guardrail.testing import CapturedSpans, task_id
from tests.adapters.openai_agents.support import (
    RUN_CONFIG,
    ScriptModel,
    assistant_message,
    call,
    run,
    tool_outputs,
)

MODEL_KEYS = {"denied", "code", "tool", "argument", "constraint", "message"}


def manifest() -> dict[str, Any]:
    return {
        "manifest": 1,
        "task": task_id(),
        "principal": "agent:support-bot",
        "ttl": "15m",
        "tools": {
            "read_ticket": {"args": {"ticket_id": {"pattern": "^T-[0-9]+$"}}},
            "send_refund": {
                "args": {"order_id": {"equals": "ORD-1"}, "amount": {"type": "number", "max": 50}},
                "budget": {"calls": 1},
            },
        },
    }


class Toolkit:
    """Three tools that record when they actually run; one sync, two async."""

    def __init__(self, guardrails: list[ToolInputGuardrail[Any]] | None = None) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []
        self.spans: list[int] = []

        @function_tool(tool_input_guardrails=guardrails)
        def read_ticket(ticket_id: str) -> str:
            """Read a support ticket."""
            self.ran.append(("read_ticket", {"ticket_id": ticket_id}))
            self.spans.append(trace.get_current_span().get_span_context().span_id)
            return f"ticket {ticket_id}: refund please"

        @function_tool(tool_input_guardrails=guardrails)
        async def send_refund(order_id: str, amount: float) -> str:
            """Refund an amount on an order."""
            self.ran.append(("send_refund", {"order_id": order_id, "amount": amount}))
            return f"refunded {amount:.2f} on {order_id}"

        @function_tool(tool_input_guardrails=guardrails)
        async def delete_account(user_id: str) -> str:
            """Delete a customer account."""
            self.ran.append(("delete_account", {"user_id": user_id}))
            return f"deleted {user_id}"

        self.tools: list[FunctionTool] = [read_ticket, send_refund, delete_account]


def agent_with(tools: list[Any], model: ScriptModel) -> Agent[Any]:
    return Agent(name="support", instructions="Help.", tools=tools, model=model)


def as_denial(output: Any) -> dict[str, Any]:
    assert isinstance(output, str)
    value = json.loads(output)
    assert isinstance(value, dict)
    assert set(value) == MODEL_KEYS
    assert value["denied"] is True
    return value


def test_guarded_tools_keep_name_description_and_schema_and_leave_originals_alone() -> None:
    kit = Toolkit()
    originals = [(tool.on_invoke_tool, dict(tool.params_json_schema)) for tool in kit.tools]
    guarded = guard_function_tools(kit.tools, Guard(manifest(), store=MemoryStore()))

    assert len(guarded) == 3
    for tool, copy, (invoker, schema) in zip(kit.tools, guarded, originals, strict=True):
        assert copy is not tool
        assert copy.name == tool.name
        assert copy.description == tool.description
        assert copy.params_json_schema == tool.params_json_schema == schema
        assert copy.strict_json_schema == tool.strict_json_schema
        assert copy.on_invoke_tool is not invoker
        assert tool.on_invoke_tool is invoker


@pytest.mark.asyncio
async def test_allowed_denied_and_over_budget_calls_with_denials_as_messages() -> None:
    kit = Toolkit()
    guard = Guard(manifest(), store=MemoryStore())
    model = ScriptModel(
        [
            [call("read_ticket", {"ticket_id": "T-1"}, "c1")],
            [call("send_refund", {"order_id": "ORD-1", "amount": 20}, "c2")],
            [call("send_refund", {"order_id": "ORD-1", "amount": 20}, "c3")],
            [
                call("delete_account", {"user_id": "u-1"}, "c4"),
                call("send_refund", {"order_id": "ORD-1", "amount": 500}, "c5"),
                call("read_ticket", {"ticket_id": "T-1", "verbose": True}, "c6"),
            ],
            [assistant_message("done")],
        ]
    )
    result = await run(agent_with(guard_function_tools(kit.tools, guard), model))

    assert result.final_output == "done"
    outputs = tool_outputs(model)
    assert outputs["c1"] == "ticket T-1: refund please"
    assert outputs["c2"] == "refunded 20.00 on ORD-1"
    over_budget = as_denial(outputs["c3"])
    assert over_budget["code"] == "budget_exhausted"
    assert as_denial(outputs["c4"])["code"] == "tool_not_allowed"
    too_much = as_denial(outputs["c5"])
    assert (too_much["code"], too_much["argument"], too_much["constraint"]) == (
        "argument_invalid", "amount", "max: 50",
    )
    extra = as_denial(outputs["c6"])
    assert (extra["code"], extra["argument"]) == ("argument_not_allowed", "verbose")
    assert kit.ran == [
        ("read_ticket", {"ticket_id": "T-1"}),
        ("send_refund", {"order_id": "ORD-1", "amount": 20.0}),
    ]
    assert guard.usage()["tools.send_refund.calls"]["used"] == 1


@pytest.mark.asyncio
async def test_raise_mode_stops_the_run_with_the_matching_exception() -> None:
    kit = Toolkit()
    guard = Guard(manifest(), store=MemoryStore())
    model = ScriptModel([[call("delete_account", {"user_id": "u-1"}, "c1")], [assistant_message("no")]])

    with pytest.raises(ToolNotAllowed) as raised:
        await run(agent_with(guard_function_tools(kit.tools, guard, on_denial="raise"), model))

    assert raised.value.denial.code.value == "tool_not_allowed"
    assert isinstance(raised.value, AgentsException)  # so the SDK did not wrap it in UserError
    assert raised.value.denial.call_id == "c1"
    assert kit.ran == []

    model = ScriptModel([[call("send_refund", {"order_id": "ORD-2", "amount": 1}, "c2")]])
    with pytest.raises(ArgumentViolation) as violated:
        await run(agent_with(guard_function_tools(kit.tools, guard, on_denial="raise"), model))
    assert violated.value.denial.argument == "order_id"
    assert kit.ran == []


@pytest.mark.asyncio
async def test_raise_mode_lets_allowed_calls_run() -> None:
    kit = Toolkit()
    guard = Guard(manifest(), store=MemoryStore())
    model = ScriptModel([[call("read_ticket", {"ticket_id": "T-9"}, "c1")], [assistant_message("ok")]])
    result = await run(agent_with(guard_function_tools(kit.tools, guard, on_denial="raise"), model))
    assert result.final_output == "ok"
    assert tool_outputs(model)["c1"] == "ticket T-9: refund please"
    assert kit.ran == [("read_ticket", {"ticket_id": "T-9"})]


@pytest.mark.asyncio
async def test_arguments_that_are_not_a_json_object_are_denied_not_run() -> None:
    kit = Toolkit()
    guard = Guard(manifest(), store=MemoryStore())
    model = ScriptModel(
        [
            [call("read_ticket", "[1, 2]", "c1"), call("read_ticket", "{not json", "c2")],
            [assistant_message("ok")],
        ]
    )
    await run(agent_with(guard_function_tools(kit.tools, guard), model))
    outputs = tool_outputs(model)
    assert as_denial(outputs["c1"])["code"] == "argument_invalid"
    assert as_denial(outputs["c2"])["code"] == "argument_invalid"
    assert kit.ran == []


@pytest.mark.asyncio
async def test_the_guard_span_wraps_the_tool_run_and_carries_the_sdk_call_id() -> None:
    kit = Toolkit()
    captured = CapturedSpans()
    guard = Guard(manifest(), store=MemoryStore(), tracer_provider=captured.provider)
    model = ScriptModel(
        [
            [call("read_ticket", {"ticket_id": "T-1"}, "call-abc")],
            [call("delete_account", {"user_id": "u"}, "call-d")],
            [assistant_message("ok")],
        ]
    )
    await run(agent_with(guard_function_tools(kit.tools, guard), model))

    spans = {span.name: span for span in captured.spans()}
    allowed = spans["execute_tool read_ticket"]
    denied = spans["execute_tool delete_account"]
    assert (allowed.attributes or {})["gen_ai.tool.call.id"] == "call-abc"
    assert (allowed.attributes or {})["guardrail.decision"] == "allow"
    assert kit.spans == [allowed.context.span_id]  # the tool ran inside the guard's span
    assert (denied.attributes or {})["gen_ai.tool.call.id"] == "call-d"
    assert (denied.attributes or {})["guardrail.denial.code"] == "tool_not_allowed"


def test_sync_runner_works_too() -> None:
    kit = Toolkit()
    guard = Guard(manifest(), store=MemoryStore())
    model = ScriptModel(
        [[call("read_ticket", {"ticket_id": "T-2"}, "c1"), call("delete_account", {"user_id": "u"}, "c2")],
         [assistant_message("ok")]]
    )
    agent = agent_with(guard_function_tools(kit.tools, guard), model)
    result = Runner.run_sync(agent, "go", run_config=RUN_CONFIG)
    assert result.final_output == "ok"
    assert as_denial(tool_outputs(model)["c2"])["code"] == "tool_not_allowed"
    assert kit.ran == [("read_ticket", {"ticket_id": "T-2"})]


def test_only_function_tools_can_be_guarded_and_options_are_checked() -> None:
    guard = Guard(manifest(), store=MemoryStore())
    with pytest.raises(TypeError, match="WebSearchTool"):
        guard_function_tools([WebSearchTool()], guard)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="on_denial"):
        guard_function_tools(Toolkit().tools, guard, on_denial="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_denial"):
        delegation_input_guardrail(guard, on_denial="message")  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_input_guardrail_rejects_content_with_the_denial_and_charges_allowed_calls() -> None:
    guard = Guard(manifest(), store=MemoryStore())
    kit = Toolkit([delegation_input_guardrail(guard)])
    model = ScriptModel(
        [
            [call("send_refund", {"order_id": "ORD-1", "amount": 10}, "c1")],
            [call("send_refund", {"order_id": "ORD-1", "amount": 10}, "c2")],
            [call("delete_account", {"user_id": "u-1"}, "c3")],
            [assistant_message("done")],
        ]
    )
    result = await run(agent_with(kit.tools, model))

    outputs = tool_outputs(model)
    assert outputs["c1"] == "refunded 10.00 on ORD-1"
    assert as_denial(outputs["c2"])["code"] == "budget_exhausted"
    assert as_denial(outputs["c3"])["code"] == "tool_not_allowed"
    assert kit.ran == [("send_refund", {"order_id": "ORD-1", "amount": 10.0})]
    infos = [r.output.output_info for r in result.tool_input_guardrail_results]
    assert infos[0] is None
    assert [info.code.value for info in infos[1:]] == ["budget_exhausted", "tool_not_allowed"]
    assert all(isinstance(info, Denial) for info in infos[1:])
    assert outputs["c3"] == denial_output(infos[2])


@pytest.mark.asyncio
async def test_input_guardrail_can_raise_the_sdk_tripwire() -> None:
    guard = Guard(manifest(), store=MemoryStore())
    kit = Toolkit([delegation_input_guardrail(guard, on_denial="raise_exception")])
    model = ScriptModel([[call("delete_account", {"user_id": "u-1"}, "c1")], [assistant_message("no")]])

    with pytest.raises(ToolInputGuardrailTripwireTriggered) as raised:
        await run(agent_with(kit.tools, model))

    denial = raised.value.output.output_info
    assert isinstance(denial, Denial)
    assert denial.code.value == "tool_not_allowed"
    assert denial.call_id == "c1"
    assert kit.ran == []


def test_importing_the_adapter_without_the_sdk_names_the_extra() -> None:
    root = Path(__file__).resolve().parents[3]
    code = "import sys; sys.modules['agents'] = None; import guardrail_openai_agents"
    path = [p for p in (os.environ.get("PYTHONPATH"), str(root), str(root / "adapters")) if p]
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "ImportError" in done.stderr
    assert "task-guardrail[openai-agents]" in done.stderr


@pytest.mark.asyncio
async def test_a_default_the_sdk_fills_in_cannot_slip_past_a_constraint() -> None:
    paid: list[float] = []

    @function_tool
    def pay(order: str, amount: float = 1000.0) -> str:
        """Pay an amount on an order."""
        paid.append(amount)
        return f"paid {amount}"

    guard = Guard(
        {"task": task_id("defaults"), "ttl": "5m",
         "tools": {"pay": {"args": {"order": {}, "amount": {"max": 50}}}}},
        store=MemoryStore(),
    )
    model = ScriptModel([
        [call("pay", {"order": "A-1"}, "c1")],
        [call("pay", {"order": "A-1", "amount": 20}, "c2")],
        [assistant_message("done")],
    ])
    await run(agent_with(guard_function_tools([pay], guard), model))
    outputs = tool_outputs(model)
    left_out = as_denial(outputs["c1"])
    assert (left_out["code"], left_out["argument"]) == ("argument_invalid", "amount")
    assert outputs["c2"] == "paid 20.0"
    assert paid == [20.0]
