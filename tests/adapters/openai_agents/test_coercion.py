"""The tool runs with exactly what the guard checked (issue 11, items 1 and 11; issue 12, item 5).

The Agents SDK validates a function tool's arguments with the tool's own parameter model, which
coerces (`"0"` to `0` for an `int`). The guard decides on the arguments as that model parses them,
so a value a constraint denies cannot reach the tool in another JSON form; a null for a parameter
with a default counts as left out; a manifest that constrains a parameter the tool does not have
is refused when guarding. Real `FunctionTool`s under a real `Runner` with a scripted model.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from agents import Agent, FunctionTool, UserError, function_tool
from guardrail_openai_agents import delegation_input_guardrail, guard_function_tools
from hypothesis import HealthCheck, given, settings

from guardrail import DelegationDenied, Guard, ManifestError, MemoryStore
from guardrail.testing import task_id
from tests.adapters.coercion import DENIED_FORMS, FORMS, GOOD, GRANT, never_denied
from tests.adapters.openai_agents.support import ScriptModel, assistant_message, call, run, tool_outputs


def guard_for(grants: dict[str, Any]) -> Guard:
    return Guard({"task": task_id("coerce"), "ttl": "5m", "tools": grants}, store=MemoryStore())


def act_tool(received: list[dict[str, Any]], **options: Any) -> FunctionTool:
    @function_tool(**options)
    def act(user_id: int, flag: bool, amount: float) -> str:
        """Act on a user's account."""
        received.append({"user_id": user_id, "flag": flag, "amount": amount})
        return f"acted on {user_id}"

    return act


async def run_calls(tools: list[FunctionTool], calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """One model turn making `calls` (tool, arguments), then an answer: each call's output."""
    model = ScriptModel([
        [call(name, args, f"c{i}") for i, (name, args) in enumerate(calls)], [assistant_message("done")],
    ])
    await run(Agent(name="a", instructions="Help.", tools=list(tools), model=model))
    outputs = tool_outputs(model)
    return [outputs[f"c{i}"] for i in range(len(calls))]


def argument_of(output: Any) -> str:
    payload = json.loads(output)
    assert payload["denied"] is True
    return str(payload["argument"])


# --- item 1: the guard decides on the values the tool receives ----------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "non-strict"])
async def test_a_denied_value_in_any_json_form_is_denied_and_never_runs(strict: bool) -> None:
    received: list[dict[str, Any]] = []
    tools = guard_function_tools([act_tool(received, strict_mode=strict)], guard_for({"act": GRANT}))
    calls = [("act", {**GOOD, argument: form}) for argument, form in DENIED_FORMS]
    outputs = await run_calls(tools, [*calls, ("act", {"user_id": " 8 ", "flag": "no", "amount": "99.5"})])
    assert [argument_of(out) for out in outputs[:-1]] == [argument for argument, _ in DENIED_FORMS]
    assert outputs[-1] == "acted on 8"
    assert received == [{"user_id": 8, "flag": False, "amount": 99.5}]
    assert type(received[0]["user_id"]) is int


@pytest.mark.asyncio
async def test_the_input_guardrail_decides_on_the_coerced_values_too() -> None:
    received: list[dict[str, Any]] = []
    guard = guard_for({"act": GRANT})
    tool = act_tool(received, tool_input_guardrails=[delegation_input_guardrail(guard)])
    outputs = await run_calls([tool], [("act", {**GOOD, "user_id": "0"}), ("act", {**GOOD, "user_id": "9"})])
    assert argument_of(outputs[0]) == "user_id"
    assert outputs[1] == "acted on 9"
    assert received == [{**GOOD, "user_id": 9, "amount": 5.0}]


@pytest.mark.asyncio
async def test_arguments_the_tools_model_rejects_get_the_tools_own_error() -> None:
    received: list[dict[str, Any]] = []
    tools = guard_function_tools([act_tool(received)], guard_for({"act": GRANT}))
    [output] = await run_calls(tools, [("act", {**GOOD, "user_id": "seven"})])
    [unguarded] = await run_calls([act_tool(received)], [("act", {**GOOD, "user_id": "seven"})])
    assert output == unguarded == "An error occurred while running the tool. Please try again."
    assert received == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user_id=FORMS, flag=FORMS, amount=FORMS)
def test_property_a_guarded_function_tool_never_runs_with_a_denied_value(
    user_id: Any, flag: Any, amount: Any
) -> None:
    received: list[dict[str, Any]] = []
    tools = guard_function_tools([act_tool(received)], guard_for({"act": GRANT}))
    [output] = asyncio.run(run_calls(tools, [("act", {"user_id": user_id, "flag": flag, "amount": amount})]))
    assert (output == f"acted on {received[0]['user_id']}") if received else output != "acted"
    for values in received:
        never_denied(values)


# --- item 11: a null for a parameter with a default is left out -------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "non-strict"])
async def test_a_null_for_a_parameter_with_a_default_is_left_out(strict: bool) -> None:
    received: list[Any] = []

    @function_tool(strict_mode=strict)
    def search(query: str, limit: int | None = 10) -> str:
        """Search the knowledge base."""
        received.append(limit)
        return f"{limit} results"

    grants = {"search": {"args": {"query": {}, "limit": {"max": 20}}}}
    tools = guard_function_tools([search], guard_for(grants))
    outputs = await run_calls(tools, [("search", {"query": "vpn", "limit": None}),
                                      ("search", {"query": "vpn", "limit": 5})])
    assert outputs == ["10 results", "5 results"]
    assert received == [10, 5]  # the default, never None


# --- issue 12, item 5: the manifest is checked against the tools' schemas -----------------------


def test_guarding_refuses_a_constraint_on_a_parameter_the_tool_does_not_have() -> None:
    grants = {"act": {"args": {"user_id": {}, "flag": {}, "amout": {"max": 50}}}}
    with pytest.raises(ManifestError) as raised:
        guard_function_tools([act_tool([])], guard_for(grants))
    assert raised.value.problems == [
        "tools.act.args.amout: tool 'act' has no argument 'amout' (it takes: amount, flag, user_id)"
    ]
    assert len(guard_function_tools([act_tool([])], guard_for({"act": GRANT}))) == 1


@pytest.mark.asyncio
async def test_the_input_guardrail_refuses_a_misfit_manifest_at_the_first_call() -> None:
    guard = guard_for({"act": {"args": {"amout": {"max": 50}}, "allow_other_args": True}})
    tool = act_tool([], tool_input_guardrails=[delegation_input_guardrail(guard)])
    with pytest.raises(UserError) as raised:  # the SDK wraps what a guardrail raises
        await run_calls([tool], [("act", GOOD)])
    assert isinstance(raised.value.__cause__, ManifestError)
    assert raised.value.__cause__.problems == [
        "tools.act.args.amout: tool 'act' has no argument 'amout' (it takes: amount, flag, user_id)"
    ]


# --- issue 10, item 3: a DelegationDenied the tool raises is the tool's error -------------------


def delegating_tool(other: Guard, **options: Any) -> FunctionTool:
    @function_tool(**options)
    def delegate(task: str) -> str:
        """Runs a step through another guarded function, which is denied."""
        return str(other.invoke("anything", lambda: "never"))

    return delegate


@pytest.mark.asyncio
async def test_a_denial_the_tool_raises_goes_to_the_sdks_error_handling() -> None:
    other = guard_for({})
    guard = guard_for({"delegate": {"args": {"task": {}}}})
    # The SDK's default failure handling: the model reads the SDK's error text, not our denial.
    handling = guard_function_tools([delegating_tool(other)], guard)
    [handled] = await run_calls(handling, [("delegate", {"task": "x"})])
    assert "An error occurred while running the tool" in handled
    assert '"denied": true' not in handled
    # Without a failure handler the run fails with the tool's error, as for any tool error.
    unhandled = guard_function_tools([delegating_tool(other, failure_error_function=None)], guard)
    with pytest.raises(UserError) as raised:
        await run_calls(unhandled, [("delegate", {"task": "x"})])
    assert isinstance(raised.value.__cause__, DelegationDenied)
    assert raised.value.__cause__.denial.task == other.task
