"""Guarded tools in LangGraph: a `ToolNode` inside a `StateGraph`, sync and async."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Annotated, Any

import pytest
from guardrail_langchain import guard_tools
from guardrail_langchain.testing import ScriptedChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import BaseTool, InjectedToolCallId, tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import InjectedState, ToolNode, ToolRuntime, tools_condition

from guardrail import BudgetExhausted
from tests.adapters.langchain.support import MakeGuard, Spans, denial_of


def call(name: str, call_id: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


def agent_graph(model: ScriptedChatModel, tools: list[BaseTool]) -> Any:
    """The classic loop: the model node, then a ToolNode while the model calls tools."""
    bound = model.bind_tools(tools)

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [bound.invoke(state["messages"])]}

    async def aagent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await bound.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", RunnableLambda(agent, afunc=aagent))
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile()


def tools_only_graph(tools: list[BaseTool], **node_kwargs: Any) -> Any:
    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode(tools, **node_kwargs))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    return graph.compile()


def run_graph(graph: Any, messages: list[Any], run: str) -> list[Any]:
    inputs = {"messages": messages}
    result = graph.invoke(inputs) if run == "sync" else asyncio.run(graph.ainvoke(inputs))
    out: list[Any] = result["messages"]
    return out


def make_tools(log: list[str]) -> list[BaseTool]:
    @tool
    def read_ticket(queue: str, ticket_id: str) -> str:
        """Read one ticket."""
        log.append(f"read {queue}/{ticket_id}")
        return f"{ticket_id}: printer on fire"

    @tool
    async def close_ticket(ticket_id: str) -> str:
        """Close a ticket (async tool)."""
        log.append(f"close {ticket_id}")
        return f"closed {ticket_id}"

    @tool(response_format="content_and_artifact")
    def ticket_history(ticket_id: str) -> tuple[str, list[str]]:
        """A ticket's history."""
        log.append(f"history {ticket_id}")
        return "2 events", ["opened", "assigned"]

    return [read_ticket, close_ticket, ticket_history]


GRANTS: dict[str, Any] = {
    "read_ticket": {"args": {"queue": "it", "ticket_id": {}}, "budget": {"calls": 1}},
    "close_ticket": {"args": {"ticket_id": "T-1"}},
    "ticket_history": {"args": {"ticket_id": {}}},
}


@pytest.mark.parametrize("run", ["sync", "async"])
def test_toolnode_in_a_state_graph(run: str, make_guard: MakeGuard, spans: Spans) -> None:
    log: list[str] = []
    guard = make_guard(GRANTS)
    second_turn = [call("read_ticket", "c3", queue="it", ticket_id="T-2")]
    if run == "async":
        # The async-only tool runs in an async graph (a sync one cannot run it, guarded or not).
        second_turn += [
            call("close_ticket", "c4", ticket_id="T-2"),
            call("close_ticket", "c5", ticket_id="T-1"),
        ]
    model = ScriptedChatModel(
        responses=[
            AIMessage(
                "",
                tool_calls=[
                    call("read_ticket", "c1", queue="it", ticket_id="T-1"),
                    call("ticket_history", "c2", ticket_id="T-1"),
                ],
            ),
            AIMessage("", tool_calls=second_turn),
            AIMessage("Closed T-1."),
        ]
    )
    graph = agent_graph(model, guard_tools(make_tools(log), guard))

    messages = run_graph(graph, [HumanMessage("Close T-1 if it is done.")], run)

    by_id = {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}
    assert by_id["c1"].content == "T-1: printer on fire"
    assert (by_id["c2"].content, by_id["c2"].artifact) == ("2 events", ["opened", "assigned"])
    assert denial_of(by_id["c3"])["code"] == "budget_exhausted"
    # The model received the answers to its second turn, the denial among them.
    assert model.received[2][-len(second_turn) :] == [by_id[c["id"]] for c in second_turn]
    if run == "async":
        assert denial_of(by_id["c4"])["argument"] == "ticket_id"
        assert by_id["c5"].content == "closed T-1"
        assert sorted(log) == ["close T-1", "history T-1", "read it/T-1"]
    else:
        assert sorted(log) == ["history T-1", "read it/T-1"]
    assert messages[-1].content == "Closed T-1."
    assert len(spans.tool_spans()) == len(by_id)


@pytest.mark.parametrize("run", ["sync", "async"])
def test_toolnode_injects_state_runtime_and_call_id_unchecked(run: str, make_guard: MakeGuard) -> None:
    seen: list[tuple[str, int, str | None, str]] = []

    @tool
    def summarize(
        ticket_id: str,
        state: Annotated[dict[str, Any], InjectedState],
        runtime: ToolRuntime,
        tool_call_id: Annotated[str, InjectedToolCallId],
    ) -> str:
        """Summarize the conversation about a ticket."""
        seen.append((ticket_id, len(state["messages"]), runtime.tool_call_id, tool_call_id))
        return "summary"

    guard = make_guard({"summarize": {"args": {"ticket_id": {"pattern": "^T-[0-9]+$"}}}})
    graph = tools_only_graph(guard_tools([summarize], guard))
    ai = AIMessage(
        "",
        tool_calls=[
            call("summarize", "c1", ticket_id="T-1"),
            # A forged injected value: LangGraph replaces it, and the guard does not see it.
            call("summarize", "c2", ticket_id="T-2", state={"messages": []}),
            call("summarize", "c3", ticket_id="everything"),
        ],
    )
    messages = run_graph(graph, [HumanMessage("hi"), ai], run)
    answers = {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}
    assert answers["c1"].content == answers["c2"].content == "summary"
    assert denial_of(answers["c3"])["argument"] == "ticket_id"
    assert sorted(seen) == [("T-1", 2, "c1", "c1"), ("T-2", 2, "c2", "c2")]


@pytest.mark.parametrize("run", ["sync", "async"])
def test_toolnode_on_denial_raise(run: str, make_guard: MakeGuard) -> None:
    log: list[str] = []
    guard = make_guard({"read_ticket": {"args": {"queue": {}, "ticket_id": {}}, "budget": {"calls": 0}}})
    graph = tools_only_graph(guard_tools(make_tools(log), guard, on_denial="raise"))
    ai = AIMessage("", tool_calls=[call("read_ticket", "c1", queue="it", ticket_id="T-1")])
    with pytest.raises(BudgetExhausted) as caught:
        run_graph(graph, [ai], run)
    assert caught.value.denial.budget is not None
    assert caught.value.denial.budget.limit == 0
    assert log == []


@pytest.mark.parametrize("run", ["sync", "async"])
def test_parallel_tool_calls_race_for_exactly_the_budget(run: str, make_guard: MakeGuard) -> None:
    log: list[str] = []
    guard = make_guard(
        {"read_ticket": {"args": {"queue": {}, "ticket_id": {}}, "budget": {"calls": 7}}},
        budget={"calls": 9},
    )
    graph = tools_only_graph(guard_tools(make_tools(log), guard))
    ai = AIMessage(
        "", tool_calls=[call("read_ticket", f"c{i}", queue="it", ticket_id=f"T-{i}") for i in range(40)]
    )

    messages = run_graph(graph, [ai], run)

    answers = [m for m in messages if isinstance(m, ToolMessage)]
    assert len(answers) == 40
    outcomes = Counter(m.status if m.status == "success" else denial_of(m)["code"] for m in answers)
    assert outcomes == {"success": 7, "budget_exhausted": 33}
    assert len(log) == 7
    assert guard.usage()["tools.read_ticket.calls"]["used"] == 7
    assert guard.usage()["calls"]["used"] == 7
