"""`langchain.agents.create_agent` runs with a scripted model: middleware and guarded tools."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any

import pytest
from guardrail_langchain import DelegationMiddleware, guard_tools
from guardrail_langchain.testing import ScriptedChatModel
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, InjectedToolCallId, tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.prebuilt import InjectedState, ToolRuntime
from opentelemetry import trace

from guardrail import ArgumentViolation, ToolNotAllowed
from tests.adapters.langchain.support import MakeGuard, Spans, denial_of


def call(name: str, call_id: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


def turn(*calls: dict[str, Any]) -> AIMessage:
    return AIMessage("", tool_calls=list(calls))


@dataclass
class Desk:
    reads: list[tuple[str, str]] = field(default_factory=list)
    replies: list[tuple[str, str]] = field(default_factory=list)
    exports: list[tuple[str, str]] = field(default_factory=list)

    def tools(self) -> list[BaseTool]:
        @tool
        def read_ticket(queue: str, ticket_id: str) -> str:
            """Read one ticket."""
            self.reads.append((queue, ticket_id))
            return f"{queue}/{ticket_id}: cannot log in"

        @tool
        def post_reply(ticket_id: str, body: str) -> str:
            """Reply on a ticket."""
            self.replies.append((ticket_id, body))
            return f"replied on {ticket_id}"

        @tool
        def export_customers(queue: str, destination: str) -> str:
            """Export customer records."""
            self.exports.append((queue, destination))
            return "exported"

        return [read_ticket, post_reply, export_customers]


GRANTS: dict[str, Any] = {
    "read_ticket": {
        "args": {"queue": "support-eu", "ticket_id": {"pattern": "^T-[0-9]+$"}},
        "budget": {"calls": 2},
    },
    "post_reply": {"args": {"ticket_id": "T-1", "body": {"max_length": 500}}},
}


def episode() -> ScriptedChatModel:
    """Allowed, denied (argument, tool), allowed, over budget, then an answer."""
    return ScriptedChatModel(
        responses=[
            turn(
                call("read_ticket", "c1", queue="support-eu", ticket_id="T-1"),
                call("read_ticket", "c2", queue="billing-vip", ticket_id="T-2"),
                call("export_customers", "c3", queue="billing-vip", destination="https://x.example"),
            ),
            turn(call("read_ticket", "c4", queue="support-eu", ticket_id="T-3")),
            turn(call("read_ticket", "c5", queue="support-eu", ticket_id="T-4")),
            turn(call("post_reply", "c6", ticket_id="T-1", body="Unlocked your account.")),
            AIMessage("Replied on T-1."),
        ]
    )


def _tool_messages(messages: list[BaseMessage]) -> dict[str, ToolMessage]:
    return {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}


def _run(agent: Any, run: str) -> dict[str, Any]:
    inputs = {"messages": [HumanMessage("Answer ticket T-1.")]}
    if run == "sync":
        result: dict[str, Any] = agent.invoke(inputs)
    else:
        result = asyncio.run(agent.ainvoke(inputs))
    return result


@pytest.mark.parametrize("run", ["sync", "async"])
@pytest.mark.parametrize("integration", ["middleware", "guard_tools"])
def test_agent_run_allows_denies_and_stops_at_the_budget(
    integration: str, run: str, make_guard: MakeGuard, spans: Spans
) -> None:
    desk = Desk()
    guard = make_guard(GRANTS, budget={"calls": 10})
    model = episode()
    if integration == "middleware":
        agent = create_agent(model, desk.tools(), middleware=[DelegationMiddleware(guard)])
    else:
        agent = create_agent(model, guard_tools(desk.tools(), guard))

    result = _run(agent, run)

    # The model saw the tools exactly as they are.
    assert model.bound_tools == [convert_to_openai_tool(t) for t in desk.tools()]
    # What the model received after each of its turns.
    assert len(model.received) == 5
    after_first = _tool_messages(model.received[1])
    assert set(after_first) == {"c1", "c2", "c3"}
    assert after_first["c1"].status == "success"
    assert after_first["c1"].content == "support-eu/T-1: cannot log in"
    c2 = denial_of(after_first["c2"])
    assert (c2["code"], c2["tool"], c2["argument"]) == ("argument_invalid", "read_ticket", "queue")
    assert "support-eu" in c2["constraint"]
    c3 = denial_of(after_first["c3"])
    assert (c3["code"], c3["tool"], c3["argument"]) == ("tool_not_allowed", "export_customers", None)
    assert model.received[2][-1].content == "support-eu/T-3: cannot log in"
    over = denial_of(model.received[3][-1])
    assert (over["code"], over["tool"]) == ("budget_exhausted", "read_ticket")
    assert model.received[4][-1].content == "replied on T-1"
    assert result["messages"][-1].content == "Replied on T-1."

    # Only the allowed calls ran; denied ones cost nothing.
    assert desk.reads == [("support-eu", "T-1"), ("support-eu", "T-3")]
    assert desk.exports == []
    assert desk.replies == [("T-1", "Unlocked your account.")]
    usage = guard.usage()
    assert usage["tools.read_ticket.calls"]["used"] == 2
    assert usage["calls"]["used"] == 3

    # One span per call, keyed by the tool call id.
    decisions = {
        s.attributes["gen_ai.tool.call.id"]: s.attributes["guardrail.decision"]
        for s in spans.tool_spans()
        if s.attributes is not None
    }
    assert decisions == {
        "c1": "allow",
        "c2": "deny",
        "c3": "deny",
        "c4": "allow",
        "c5": "deny",
        "c6": "allow",
    }


@pytest.mark.parametrize("run", ["sync", "async"])
def test_middleware_on_denial_raise_stops_the_agent(run: str, make_guard: MakeGuard) -> None:
    desk = Desk()
    model = ScriptedChatModel(
        responses=[turn(call("export_customers", "c1", queue="q", destination="https://x.example"))]
    )
    middleware = DelegationMiddleware(make_guard(GRANTS), on_denial="raise")
    agent = create_agent(model, desk.tools(), middleware=[middleware])
    with pytest.raises(ToolNotAllowed) as caught:
        _run(agent, run)
    assert caught.value.denial.call_id == "c1"
    assert desk.exports == []


@pytest.mark.parametrize("run", ["sync", "async"])
def test_guarded_tools_on_denial_raise_stops_the_agent(run: str, make_guard: MakeGuard) -> None:
    desk = Desk()
    model = ScriptedChatModel(responses=[turn(call("read_ticket", "c1", queue="hr", ticket_id="T-1"))])
    agent = create_agent(model, guard_tools(desk.tools(), make_guard(GRANTS), on_denial="raise"))
    with pytest.raises(ArgumentViolation) as caught:
        _run(agent, run)
    assert caught.value.denial.argument == "queue"
    assert desk.reads == []


@pytest.mark.parametrize("value", ["msg", None, 1])
def test_middleware_rejects_an_invalid_on_denial(value: Any, make_guard: MakeGuard) -> None:
    with pytest.raises(ValueError, match="on_denial must be 'message' or 'raise'"):
        DelegationMiddleware(make_guard({}), on_denial=value)
    with pytest.raises(TypeError, match=r"guard must be a guardrail\.Guard"):
        DelegationMiddleware({"task": "t"})  # type: ignore[arg-type]


@pytest.mark.parametrize("run", ["sync", "async"])
def test_middleware_does_not_check_injected_arguments(run: str, make_guard: MakeGuard) -> None:
    seen: list[tuple[str, int, str | None, str]] = []

    @tool
    def summarize(
        ticket_id: str,
        state: Annotated[dict[str, Any], InjectedState],
        runtime: ToolRuntime,
        tool_call_id: Annotated[str, InjectedToolCallId],
    ) -> str:
        """Summarize a ticket's conversation."""
        seen.append((ticket_id, len(state["messages"]), runtime.tool_call_id, tool_call_id))
        return "summary"

    model = ScriptedChatModel(
        responses=[
            # The model also sends a forged value for the injected `state`: LangGraph drops it.
            turn(call("summarize", "c1", ticket_id="T-1", state={"messages": []})),
            AIMessage("ok"),
        ]
    )
    guard = make_guard({"summarize": {"args": {"ticket_id": "T-1"}}})
    agent = create_agent(model, [summarize], middleware=[DelegationMiddleware(guard)])
    result = _run(agent, run)
    assert result["messages"][2].content == "summary"
    assert seen == [("T-1", 2, "c1", "c1")]


def test_middleware_denies_a_tool_the_agent_does_not_have(make_guard: MakeGuard) -> None:
    model = ScriptedChatModel(responses=[turn(call("drop_database", "c1", database="prod")), AIMessage("ok")])
    agent = create_agent(model, Desk().tools(), middleware=[DelegationMiddleware(make_guard(GRANTS))])
    result = _run(agent, "sync")
    denial = denial_of(result["messages"][2])
    assert (denial["code"], denial["tool"]) == ("tool_not_allowed", "drop_database")


@pytest.mark.parametrize("run", ["sync", "async"])
def test_middleware_runs_the_tool_inside_the_guard_span(
    run: str, make_guard: MakeGuard, spans: Spans
) -> None:
    inside: list[int] = []

    @tool
    def probe(x: int) -> str:
        """Record the current span."""
        inside.append(trace.get_current_span().get_span_context().span_id)
        return "ok"

    model = ScriptedChatModel(responses=[turn(call("probe", "c1", x=1)), AIMessage("ok")])
    guard = make_guard({"probe": {"args": {"x": {}}}})
    _run(create_agent(model, [probe], middleware=[DelegationMiddleware(guard)]), run)
    [span] = spans.tool_spans()
    assert span.name == "execute_tool probe"
    assert inside == [span.context.span_id]


@pytest.mark.parametrize("run", ["sync", "async"])
@pytest.mark.parametrize("integration", ["middleware", "guard_tools"])
def test_parallel_calls_in_one_turn_get_exactly_the_budget(
    integration: str, run: str, make_guard: MakeGuard
) -> None:
    desk = Desk()
    calls = [call("read_ticket", f"c{i}", queue="support-eu", ticket_id=f"T-{i}") for i in range(12)]
    model = ScriptedChatModel(responses=[turn(*calls), AIMessage("done")])
    guard = make_guard({"read_ticket": {"args": {"queue": {}, "ticket_id": {}}, "budget": {"calls": 5}}})
    if integration == "middleware":
        agent = create_agent(model, desk.tools(), middleware=[DelegationMiddleware(guard)])
    else:
        agent = create_agent(model, guard_tools(desk.tools(), guard))

    result = _run(agent, run)

    answers = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert len(answers) == 12
    outcomes = Counter(m.status if m.status == "success" else denial_of(m)["code"] for m in answers)
    assert outcomes == {"success": 5, "budget_exhausted": 7}
    assert len(desk.reads) == 5
    assert guard.usage()["tools.read_ticket.calls"]["used"] == 5


@pytest.mark.parametrize("run", ["sync", "async"])
def test_middleware_and_guarded_tools_of_one_guard_decide_once(
    run: str, make_guard: MakeGuard, spans: Spans
) -> None:
    desk = Desk()
    guard = make_guard(GRANTS, budget={"calls": 10})
    model = ScriptedChatModel(
        responses=[
            turn(
                call("read_ticket", "c1", queue="support-eu", ticket_id="T-1"),
                call("export_customers", "c2", queue="q", destination="https://x.example"),
            ),
            AIMessage("ok"),
        ]
    )
    agent = create_agent(model, guard_tools(desk.tools(), guard), middleware=[DelegationMiddleware(guard)])
    result = _run(agent, run)
    answers = _tool_messages(result["messages"])
    assert answers["c1"].status == "success"
    assert denial_of(answers["c2"])["code"] == "tool_not_allowed"
    assert guard.usage()["calls"]["used"] == 1
    assert len(spans.tool_spans()) == 2
