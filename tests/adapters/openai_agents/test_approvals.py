"""Approvals (`ask`) under a real Runner: the guard decides which calls interrupt the run
(`needs_approval`), the SDK's RunState.approve / reject resolve them, and an approved call runs
once, with the guard's approval bound to that exact call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agents import (
    Agent,
    FunctionTool,
    ModelBehaviorError,
    RunContextWrapper,
    RunHooks,
    Runner,
    RunResult,
    RunState,
    ToolApprovalItem,
    function_tool,
)
from agents.tool_context import ToolContext
from guardrail_openai_agents import delegation_input_guardrail, guard_function_tools
from openai.types.responses import ResponseFunctionToolCall

from guardrail import ApprovalRequired, AuditLog, Guard, MemoryStore
from guardrail.testing import task_id
from tests.adapters.openai_agents.support import (
    RUN_CONFIG,
    ScriptModel,
    assistant_message,
    call,
    run,
    tool_outputs,
)

REJECTED_BY_SDK = "Payment refused by the account owner."


def manifest(task: str | None = None, ask: Any = "args.amount > 50.0") -> dict[str, Any]:
    return {
        "manifest": 1,
        "task": task or task_id(),
        "ttl": "15m",
        "tools": {
            "pay": {
                "args": {
                    "payee": {"type": "string", "pattern": "^[a-z]+$"},
                    "amount": {"type": "number", "min": 0, "max": 500},
                },
                "ask": ask,
                "budget": {"calls": 2},
            },
            "lookup": {"args": {"name": {"type": "string"}}},
        },
    }


class Kit:
    """`pay` (async, asks above 50) and `lookup` (sync, never asks), recording when they run."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []

        @function_tool
        async def pay(payee: str, amount: float) -> str:
            """Pay an amount to a payee."""
            self.ran.append(("pay", {"payee": payee, "amount": amount}))
            return f"paid {amount:.2f} to {payee}"

        @function_tool
        def lookup(name: str) -> str:
            """Look a payee up."""
            self.ran.append(("lookup", {"name": name}))
            return f"{name}: known"

        self.tools: list[FunctionTool] = [pay, lookup]


def agent_with(tools: list[FunctionTool], model: ScriptModel) -> Agent[Any]:
    return Agent(name="payments", instructions="Pay.", tools=tools, model=model)


def denial(output: Any) -> dict[str, Any]:
    assert isinstance(output, str)
    value = json.loads(output)
    assert isinstance(value, dict) and value["denied"] is True
    return value


def calls_used(guard: Guard) -> float:
    return guard.usage()["tools.pay.calls"]["used"]


async def resume(agent: Agent[Any], state: RunState[Any]) -> RunResult:
    return await Runner.run(agent, state, run_config=RUN_CONFIG)


# -- which tools ask ------------------------------------------------------------------------------


def test_only_tools_with_an_ask_rule_get_the_guards_needs_approval() -> None:
    kit = Kit()
    pay, lookup = guard_function_tools(kit.tools, Guard(manifest(), store=MemoryStore()))
    assert callable(pay.needs_approval)
    assert lookup.needs_approval is False  # the SDK's fast path: never asked about
    assert kit.tools[0].needs_approval is False  # the original is left alone

    # A parent's ask rule applies to a sub-agent's tools, even when the child drops it.
    parent = Guard(manifest(), store=MemoryStore())
    child = parent.delegate(manifest(ask=None))
    assert callable(guard_function_tools(Kit().tools, child)[0].needs_approval)
    # No rule anywhere: the tool keeps its own setting.
    none = Guard(manifest(ask=None), store=MemoryStore())
    own = function_tool(lambda payee, amount: "x", name_override="pay", needs_approval=True)
    assert guard_function_tools([own], none)[0].needs_approval is True


# -- interrupt, approve, reject ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_call_that_asks_interrupts_the_run_and_nothing_runs_or_is_charged() -> None:
    kit = Kit()
    guard = Guard(manifest(), store=MemoryStore())
    model = ScriptModel(
        [
            [
                call("pay", {"payee": "landlord", "amount": 950 / 2}, "c1"),
                call("pay", {"payee": "shop", "amount": 20}, "c2"),
                call("lookup", {"name": "landlord"}, "c3"),
            ],
            [assistant_message("done")],
        ]
    )
    result = await run(agent_with(guard_function_tools(kit.tools, guard), model))

    interrupted = [(i.tool_name, i.call_id, json.loads(i.arguments or "")) for i in result.interruptions]
    assert interrupted == [("pay", "c1", {"payee": "landlord", "amount": 475})]
    # The calls that do not ask ran; the one that asks did not, and the dry run stored nothing.
    assert kit.ran == [("pay", {"payee": "shop", "amount": 20.0}), ("lookup", {"name": "landlord"})]
    assert calls_used(guard) == 1
    assert guard.pending() == []
    assert "c1" not in tool_outputs(model)


@pytest.mark.asyncio
async def test_approve_and_resume_runs_the_call_once_and_charges_once(tmp_path: Path) -> None:
    kit = Kit()
    audit = AuditLog(tmp_path / "audit.jsonl")
    guard = Guard(manifest(), store=MemoryStore(), audit=audit)
    model = ScriptModel(
        [[call("pay", {"payee": "landlord", "amount": 400}, "c1")], [assistant_message("paid")]]
    )
    agent = agent_with(guard_function_tools(kit.tools, guard), model)
    result = await run(agent)
    assert [item.call_id for item in result.interruptions] == ["c1"]

    state = result.to_state()
    state.approve(result.interruptions[0])
    resumed = await resume(agent, state)

    assert resumed.final_output == "paid"
    assert resumed.interruptions == []
    assert kit.ran == [("pay", {"payee": "landlord", "amount": 400.0})]
    assert tool_outputs(model)["c1"] == "paid 400.00 to landlord"
    assert calls_used(guard) == 1
    # The decision log: the asking was a dry run (no line); the call ran approved, by the
    # person who approved it in the SDK (nameless to the guard), under the rule that asked.
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(line["outcome"], line["call_id"]) for line in lines] == [("allow", "c1")]
    approval = lines[0]["approval"]
    assert approval["outcome"] == "approved"
    assert (approval["reason"], approval["by"]) == ("args.amount > 50.0", None)


@pytest.mark.asyncio
async def test_reject_and_resume_never_runs_the_call() -> None:
    kit = Kit()
    guard = Guard(manifest(), store=MemoryStore())
    model = ScriptModel(
        [[call("pay", {"payee": "attacker", "amount": 490}, "c1")], [assistant_message("not paid")]]
    )
    agent = agent_with(guard_function_tools(kit.tools, guard), model)
    result = await run(agent)

    state = result.to_state()
    state.reject(result.interruptions[0], rejection_message=REJECTED_BY_SDK)
    resumed = await resume(agent, state)

    assert resumed.final_output == "not paid"
    assert tool_outputs(model)["c1"] == REJECTED_BY_SDK  # the SDK's own rejection
    assert kit.ran == []
    assert calls_used(guard) == 0
    assert guard.pending() == []


@pytest.mark.asyncio
async def test_an_approval_is_used_once_the_same_arguments_later_ask_again() -> None:
    kit = Kit()
    guard = Guard(manifest(), store=MemoryStore())
    same = {"payee": "landlord", "amount": 300}
    model = ScriptModel(
        [[call("pay", same, "c1")], [call("pay", same, "c2")], [assistant_message("twice")]]
    )
    agent = agent_with(guard_function_tools(kit.tools, guard), model)
    first = await run(agent)
    state = first.to_state()
    state.approve(first.interruptions[0])
    second = await resume(agent, state)

    assert [item.call_id for item in second.interruptions] == ["c2"]
    assert len(kit.ran) == 1 and calls_used(guard) == 1
    state = second.to_state()
    state.approve(second.interruptions[0])
    assert (await resume(agent, state)).final_output == "twice"
    assert len(kit.ran) == 2 and calls_used(guard) == 2


# -- what is never put to a person ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_tool_without_ask_never_interrupts() -> None:
    kit = Kit()
    guard = Guard(manifest(ask=None), store=MemoryStore())
    model = ScriptModel(
        [
            [call("pay", {"payee": "landlord", "amount": 400}, "c1"), call("lookup", {"name": "x"}, "c2")],
            [assistant_message("ok")],
        ]
    )
    result = await run(agent_with(guard_function_tools(kit.tools, guard), model))
    assert result.interruptions == []
    assert result.final_output == "ok"
    assert [name for name, _ in kit.ran] == ["pay", "lookup"]


@pytest.mark.asyncio
async def test_calls_the_guard_would_deny_are_denied_not_put_to_a_person() -> None:
    kit = Kit()
    guard = Guard(manifest(), store=MemoryStore())
    model = ScriptModel(
        [
            [
                call("pay", {"payee": "landlord", "amount": 900}, "c1"),  # above max: 500
                call("pay", {"payee": "Land Lord", "amount": 60}, "c2"),  # fails the pattern
                call("pay", {"payee": "landlord", "amount": 60, "memo": "x"}, "c3"),  # not granted
            ],
            [assistant_message("no")],
        ]
    )
    result = await run(agent_with(guard_function_tools(kit.tools, guard), model))

    assert result.interruptions == []
    outputs = tool_outputs(model)
    assert [denial(outputs[c])["code"] for c in ("c1", "c2", "c3")] == [
        "argument_invalid", "argument_invalid", "argument_not_allowed",
    ]
    assert kit.ran == [] and calls_used(guard) == 0


@pytest.mark.asyncio
async def test_an_exhausted_budget_is_denied_not_put_to_a_person() -> None:
    kit = Kit()
    guard = Guard(manifest(), store=MemoryStore())
    # Two calls below the threshold use the budget (calls: 2); the third would ask.
    model = ScriptModel(
        [
            [call("pay", {"payee": "a", "amount": 1}, "c1"), call("pay", {"payee": "b", "amount": 2}, "c2")],
            [call("pay", {"payee": "c", "amount": 300}, "c3")],
            [assistant_message("no budget")],
        ]
    )
    result = await run(agent_with(guard_function_tools(kit.tools, guard), model))
    assert result.interruptions == []
    assert denial(tool_outputs(model)["c3"])["code"] == "budget_exhausted"
    assert len(kit.ran) == 2


@pytest.mark.asyncio
async def test_shadow_mode_never_interrupts() -> None:
    kit = Kit()
    guard = Guard(manifest(), store=MemoryStore(), mode="shadow")
    model = ScriptModel([[call("pay", {"payee": "a", "amount": 300}, "c1")], [assistant_message("ok")]])
    result = await run(agent_with(guard_function_tools(kit.tools, guard), model))
    assert result.interruptions == []
    assert kit.ran == [("pay", {"payee": "a", "amount": 300.0})]


@pytest.mark.asyncio
async def test_a_guard_with_an_approver_answers_itself_without_interrupting() -> None:
    kit = Kit()
    asked: list[str] = []

    def approver(request: Any) -> bool:
        asked.append(request.args["payee"])
        return request.args["payee"] == "landlord"

    guard = Guard(manifest(), store=MemoryStore(), approver=approver)
    model = ScriptModel(
        [
            [
                call("pay", {"payee": "landlord", "amount": 300}, "c1"),
                call("pay", {"payee": "x", "amount": 300}, "c2"),
            ],
            [assistant_message("ok")],
        ]
    )
    result = await run(agent_with(guard_function_tools(kit.tools, guard), model))
    assert result.interruptions == []
    assert sorted(asked) == ["landlord", "x"]
    assert kit.ran == [("pay", {"payee": "landlord", "amount": 300.0})]
    assert denial(tool_outputs(model)["c2"])["code"] == "approval_denied"


# -- what an approval does not cover ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_always_approve_approves_only_the_call_the_person_saw() -> None:
    kit = Kit()
    guard = Guard(manifest(), store=MemoryStore())
    model = ScriptModel(
        [
            [call("pay", {"payee": "landlord", "amount": 300}, "c1")],
            [call("pay", {"payee": "attacker", "amount": 499}, "c2")],
            [assistant_message("done")],
        ]
    )
    agent = agent_with(guard_function_tools(kit.tools, guard), model)
    result = await run(agent)
    state = result.to_state()
    state.approve(result.interruptions[0], always_approve=True)
    resumed = await resume(agent, state)

    # The SDK lets c2 through on the standing approval without asking; the guard does not: the
    # person saw only c1. c2 waits for a person in the guard (approve it, and the model's
    # identical retry runs).
    assert resumed.interruptions == []
    assert kit.ran == [("pay", {"payee": "landlord", "amount": 300.0})]
    assert denial(tool_outputs(model)["c2"])["code"] == "approval_required"
    assert [(r.tool, r.args) for r in guard.pending()] == [("pay", {"payee": "attacker", "amount": 499})]
    assert calls_used(guard) == 1


@pytest.mark.asyncio
async def test_with_on_denial_raise_a_call_the_sdk_did_not_ask_about_raises_approval_required() -> None:
    kit = Kit()
    guard = Guard(manifest(), store=MemoryStore())
    model = ScriptModel(
        [
            [call("pay", {"payee": "a", "amount": 300}, "c1")],
            [call("pay", {"payee": "b", "amount": 301}, "c2")],
        ]
    )
    agent = agent_with(guard_function_tools(kit.tools, guard, on_denial="raise"), model)
    result = await run(agent)
    state = result.to_state()
    state.approve(result.interruptions[0], always_approve=True)
    with pytest.raises(ApprovalRequired) as raised:
        await resume(agent, state)
    assert raised.value.request is not None and raised.value.request.args["payee"] == "b"
    assert kit.ran == [("pay", {"payee": "a", "amount": 300.0})]


@pytest.mark.asyncio
async def test_changed_arguments_are_not_approved() -> None:
    kit = Kit()
    guard = Guard(manifest(), store=MemoryStore())
    seen = {"payee": "landlord", "amount": 100}
    model = ScriptModel([[call("pay", seen, "c1")], [assistant_message("paid")]])
    agent = agent_with(guard_function_tools(kit.tools, guard), model)
    result = await run(agent)

    # In a run, the SDK itself binds an approval to the call's arguments: a run state whose
    # pending call was edited after the person saw it cannot be approved.
    def edited(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: edited(v) for k, v in value.items()}
        if isinstance(value, list):
            return [edited(v) for v in value]
        return value.replace('"amount":100', '"amount":400') if isinstance(value, str) else value

    state = await RunState.from_json(agent, edited(result.to_state().to_json()))
    item = state.get_interruptions()[0]
    assert json.loads(item.arguments or "") == {"payee": "landlord", "amount": 400}
    with pytest.raises(ModelBehaviorError):
        state.approve(item)
    assert kit.ran == []

    # And the guarded tool binds it too: the call the person approved (SDK approval of c2 with
    # the arguments they saw) does not approve the same call id with other arguments.
    pay = guard_function_tools(kit.tools, guard)[0]
    context: RunContextWrapper[Any] = RunContextWrapper(context=None)
    assert callable(pay.needs_approval)
    assert await pay.needs_approval(context, seen, "c2") is True
    shown = ResponseFunctionToolCall(
        type="function_call", name="pay", call_id="c2", arguments=json.dumps(seen)
    )
    context.approve_tool(ToolApprovalItem(agent=agent, raw_item=shown, tool_name="pay"))
    other = json.dumps({"payee": "landlord", "amount": 450})
    tool_context = ToolContext.from_agent_context(context, "c2", tool_name="pay", tool_arguments=other)
    assert tool_context.is_tool_approved("pay", "c2") is True  # the SDK's view
    output = await pay.on_invoke_tool(tool_context, other)
    assert denial(output)["code"] == "approval_required"
    assert kit.ran == [] and calls_used(guard) == 0


# -- a run state resumed elsewhere ------------------------------------------------------------------


async def interrupted_elsewhere(model: ScriptModel) -> tuple[Kit, Guard, Agent[Any], RunState[Any]]:
    """A run interrupted by a call that asks, its state saved as JSON and restored in "another
    process": a new guard for the same task on the shared store, new guarded tools."""
    store = MemoryStore()  # shared, as a fleet shares SQLite or Redis
    task = task_id()
    first = Guard(manifest(task), store=store)
    result = await run(agent_with(guard_function_tools(Kit().tools, first), model))
    saved = json.dumps(result.to_state().to_json())
    kit = Kit()
    guard = Guard(manifest(task), store=store)
    agent = agent_with(guard_function_tools(kit.tools, guard), model)
    return kit, guard, agent, await RunState.from_json(agent, json.loads(saved))


@pytest.mark.asyncio
async def test_a_serialized_state_resumed_with_new_tools_runs_the_approved_call_once() -> None:
    model = ScriptModel(
        [[call("pay", {"payee": "landlord", "amount": 400}, "c1")], [assistant_message("paid")]]
    )
    kit, guard, agent, state = await interrupted_elsewhere(model)
    state.approve(state.get_interruptions()[0])
    resumed = await resume(agent, state)

    assert resumed.final_output == "paid"
    assert kit.ran == [("pay", {"payee": "landlord", "amount": 400.0})]
    assert calls_used(guard) == 1


@pytest.mark.asyncio
async def test_a_standing_approval_in_a_resumed_state_approves_nothing_the_guard_asks() -> None:
    model = ScriptModel(
        [[call("pay", {"payee": "landlord", "amount": 400}, "c1")], [assistant_message("paid")]]
    )
    kit, guard, agent, state = await interrupted_elsewhere(model)
    state.approve(state.get_interruptions()[0], always_approve=True)
    await resume(agent, state)

    # Nothing tells the new tools which call the person saw: the guard asks, fail closed.
    assert denial(tool_outputs(model)["c1"])["code"] == "approval_required"
    assert kit.ran == [] and calls_used(guard) == 0


# -- synchronous runner -----------------------------------------------------------------------------


def test_run_sync_interrupts_and_resumes_with_a_sync_tool() -> None:
    ran: list[str] = []

    @function_tool
    def pay(payee: str, amount: float) -> str:
        """Pay an amount to a payee."""
        ran.append(payee)
        return "paid"

    guard = Guard(manifest(ask=True), store=MemoryStore())
    model = ScriptModel([[call("pay", {"payee": "a", "amount": 1}, "c1")], [assistant_message("ok")]])
    agent = agent_with(guard_function_tools([pay], guard), model)
    result = Runner.run_sync(agent, "go", run_config=RUN_CONFIG)
    assert [item.call_id for item in result.interruptions] == ["c1"] and ran == []
    state = result.to_state()
    state.approve(result.interruptions[0])
    assert Runner.run_sync(agent, state, run_config=RUN_CONFIG).final_output == "ok"
    assert ran == ["a"] and calls_used(guard) == 1


# -- next to the tool's own setting, the SDK's limits, the guardrail form ---------------------------


@pytest.mark.asyncio
async def test_the_tools_own_needs_approval_still_asks_except_for_calls_the_guard_denies() -> None:
    ran: list[str] = []

    async def own_rule(ctx: RunContextWrapper[Any], params: dict[str, Any], call_id: str) -> bool:
        return params.get("payee") == "boss"

    @function_tool(needs_approval=own_rule)
    def pay(payee: str, amount: float) -> str:
        """Pay an amount to a payee."""
        ran.append(payee)
        return "paid"

    guard = Guard(manifest(), store=MemoryStore())
    model = ScriptModel(
        [
            [
                call("pay", {"payee": "boss", "amount": 10}, "c1"),  # the tool's rule asks
                call("pay", {"payee": "boss", "amount": 900}, "c2"),  # the guard denies it
                call("pay", {"payee": "shop", "amount": 10}, "c3"),  # nobody asks
            ],
            [assistant_message("ok")],
        ]
    )
    agent = agent_with(guard_function_tools([pay], guard), model)
    result = await run(agent)
    assert [item.call_id for item in result.interruptions] == ["c1"]
    assert ran == ["shop"]
    state = result.to_state()
    state.approve(result.interruptions[0])
    await resume(agent, state)
    assert denial(tool_outputs(model)["c2"])["code"] == "argument_invalid"
    assert ran == ["shop", "boss"] and calls_used(guard) == 2


@pytest.mark.asyncio
async def test_arguments_that_are_not_an_object_are_asked_by_the_sdk_and_still_denied() -> None:
    # The SDK puts arguments it cannot parse to a person without calling needs_approval; once
    # approved they reach the guard, which denies them.
    kit = Kit()
    guard = Guard(manifest(), store=MemoryStore())
    model = ScriptModel([[call("pay", "{not json", "c1")], [assistant_message("no")]])
    agent = agent_with(guard_function_tools(kit.tools, guard), model)
    result = await run(agent)
    assert [item.call_id for item in result.interruptions] == ["c1"]
    state = result.to_state()
    state.approve(result.interruptions[0])
    await resume(agent, state)
    assert denial(tool_outputs(model)["c1"])["code"] == "argument_invalid"
    assert kit.ran == [] and calls_used(guard) == 0


@pytest.mark.asyncio
async def test_the_input_guardrail_form_rejects_an_asking_call_until_the_guard_has_an_answer() -> None:
    guard = Guard(manifest(), store=MemoryStore())
    ran: list[str] = []

    @function_tool(tool_input_guardrails=[delegation_input_guardrail(guard)])
    def pay(payee: str, amount: float) -> str:
        """Pay an amount to a payee."""
        ran.append(payee)
        return "paid"

    same = {"payee": "landlord", "amount": 300}
    model = ScriptModel([[call("pay", same, "c1")], [call("pay", same, "c2")], [assistant_message("ok")]])

    class Approving(RunHooks[Any]):
        """Answers the guard's pending request before the model's next turn, out of band."""

        async def on_llm_start(self, context: Any, agent: Any, prompt: Any, items: Any) -> None:
            for request in guard.pending():
                guard.approve(request, by="ann")

    result = await Runner.run(agent_with([pay], model), "go", run_config=RUN_CONFIG, hooks=Approving())
    assert result.interruptions == []
    assert denial(tool_outputs(model)["c1"])["code"] == "approval_required"
    assert tool_outputs(model)["c2"] == "paid"
    assert ran == ["landlord"] and calls_used(guard) == 1
