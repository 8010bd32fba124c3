"""The tool runs with exactly what the guard checked (issue 11, items 1 and 11; issue 12, item 5).

LangChain validates a tool call with the tool's own schema, which coerces (`"0"` to `0` for an
`int`). The guard decides on the arguments as that schema made them, so a value a constraint
denies cannot reach the tool in another JSON form; a null for an optional argument counts as left
out; a manifest that constrains an argument the tool does not take is refused when guarding.
Real tools, a real `create_agent` agent with the scripted model, a real `ToolNode`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from guardrail_langchain import DelegationMiddleware, guard_tools
from guardrail_langchain.testing import ScriptedChatModel
from hypothesis import HealthCheck, given, settings
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool, Tool, tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from guardrail import DelegationDenied, Guard, ManifestError, MemoryStore
from guardrail.testing import task_id
from tests.adapters.coercion import DENIED_FORMS, FORMS, GOOD, GRANT, never_denied


def guard_for(grants: dict[str, Any], **kwargs: Any) -> Guard:
    manifest = {"task": task_id("coerce"), "ttl": "5m", "tools": grants}
    return Guard(manifest, store=MemoryStore(), **kwargs)


def act_tool(received: list[dict[str, Any]]) -> BaseTool:
    @tool
    def act(user_id: int, flag: bool, amount: float) -> str:
        """Act on a user's account."""
        received.append({"user_id": user_id, "flag": flag, "amount": amount})
        return f"acted on {user_id}"

    return act


def call(args: dict[str, Any], call_id: str = "c1", name: str = "act") -> dict[str, Any]:
    return {"type": "tool_call", "name": name, "args": args, "id": call_id}


def denial(message: Any) -> dict[str, Any]:
    assert isinstance(message, ToolMessage) and message.status == "error", message
    payload: dict[str, Any] = json.loads(str(message.content))
    assert payload["denied"] is True
    return payload


def run_agent(tools: list[BaseTool], guard: Guard, calls: list[dict[str, Any]], *, middleware: bool,
              run: str = "sync") -> list[ToolMessage]:
    model = ScriptedChatModel(responses=[
        AIMessage("", tool_calls=[{**c, "type": "tool_call"} for c in calls]), AIMessage("done"),
    ])
    agent: Any = (
        create_agent(model, tools, middleware=[DelegationMiddleware(guard)]) if middleware
        else create_agent(model, guard_tools(tools, guard))
    )
    inputs = {"messages": [HumanMessage("go")]}
    result = agent.invoke(inputs) if run == "sync" else asyncio.run(agent.ainvoke(inputs))
    by_id = {m.tool_call_id: m for m in result["messages"] if isinstance(m, ToolMessage)}
    return [by_id[c["id"]] for c in calls]


# --- item 1: the guard decides on the values the tool receives ----------------------------------


@pytest.mark.parametrize(("argument", "form"), DENIED_FORMS)
def test_a_denied_value_in_any_json_form_is_denied_and_never_runs(argument: str, form: Any) -> None:
    received: list[dict[str, Any]] = []
    [guarded] = guard_tools([act_tool(received)], guard_for({"act": GRANT}))
    result = guarded.invoke(call({**GOOD, argument: form}))
    assert denial(result)["argument"] == argument
    assert received == []


def test_the_tool_receives_the_coerced_values_the_guard_allowed() -> None:
    received: list[dict[str, Any]] = []
    [guarded] = guard_tools([act_tool(received)], guard_for({"act": GRANT}))
    result = guarded.invoke(call({"user_id": " 7 ", "flag": "no", "amount": "99.5"}))
    assert result.content == "acted on 7"
    assert received == [{"user_id": 7, "flag": False, "amount": 99.5}]
    assert type(received[0]["user_id"]) is int


@pytest.mark.parametrize("run", ["sync", "async"])
@pytest.mark.parametrize("middleware", [True, False], ids=["middleware", "guard_tools"])
def test_an_agent_run_denies_every_form_of_a_denied_value(middleware: bool, run: str) -> None:
    received: list[dict[str, Any]] = []
    calls = [{"name": "act", "args": {**GOOD, arg: form}, "id": f"c{i}"} for i, (arg, form) in
             enumerate(DENIED_FORMS)]
    calls.append({"name": "act", "args": {**GOOD, "user_id": "8"}, "id": "ok"})
    messages = run_agent([act_tool(received)], guard_for({"act": GRANT}), calls, middleware=middleware,
                         run=run)
    for (argument, _), message in zip(DENIED_FORMS, messages, strict=False):
        assert denial(message)["argument"] == argument
    assert messages[-1].content == "acted on 8"
    assert received == [{**GOOD, "user_id": 8, "amount": 5.0}]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user_id=FORMS, flag=FORMS, amount=FORMS)
def test_property_guarded_tool_never_runs_with_a_denied_value(user_id: Any, flag: Any, amount: Any) -> None:
    received: list[dict[str, Any]] = []
    [guarded] = guard_tools([act_tool(received)], guard_for({"act": GRANT}))
    try:
        guarded.invoke(call({"user_id": user_id, "flag": flag, "amount": amount}))
    except ValueError:  # the tool's own validation error (pydantic's ValidationError)
        assert received == []
    for values in received:
        never_denied(values)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user_id=FORMS, flag=FORMS, amount=FORMS)
def test_property_middleware_never_runs_a_tool_with_a_denied_value(
    user_id: Any, flag: Any, amount: Any
) -> None:
    received: list[dict[str, Any]] = []
    args = {"user_id": user_id, "flag": flag, "amount": amount}
    [message] = run_agent([act_tool(received)], guard_for({"act": GRANT}),
                          [{"name": "act", "args": args, "id": "c1"}], middleware=True)
    assert message.status == ("success" if received else "error")
    for values in received:
        never_denied(values)


# --- item 11: a null for an optional argument is left out -----------------------------------------


def search_tools(received: list[Any]) -> list[BaseTool]:
    @tool
    def search(query: str, limit: int | None = 10) -> str:
        """Search the knowledge base."""
        received.append(limit)
        return f"{limit} results"

    def lookup(query: str, units: str = "metric") -> str:
        received.append(units)
        return units

    schema = {"type": "object", "properties": {"query": {"type": "string"},
              "units": {"type": "string", "default": "metric"}}, "required": ["query"]}
    by_json = StructuredTool(name="lookup", description="Look up.", args_schema=schema, func=lookup)
    return [search, by_json]


NULL_GRANTS: dict[str, Any] = {
    "search": {"args": {"query": {}, "limit": {"max": 20}}},
    "lookup": {"args": {"query": {}, "units": {}}},
}


@pytest.mark.parametrize("middleware", [True, False], ids=["middleware", "guard_tools"])
def test_a_null_for_an_optional_argument_is_left_out(middleware: bool) -> None:
    received: list[Any] = []
    calls = [
        {"name": "search", "args": {"query": "vpn", "limit": None}, "id": "c1"},
        {"name": "lookup", "args": {"query": "Lyon", "units": None}, "id": "c2"},
        {"name": "search", "args": {"query": "vpn", "limit": 5}, "id": "c3"},
    ]
    messages = run_agent(search_tools(received), guard_for(NULL_GRANTS), calls, middleware=middleware)
    assert [m.content for m in messages] == ["10 results", "metric", "5 results"]
    assert sorted(map(repr, received)) == ["'metric'", "10", "5"]  # the defaults, never None


def test_a_null_for_an_optional_argument_still_meets_the_constraint_on_its_default() -> None:
    received: list[Any] = []
    grants = {"search": {"args": {"query": {}, "limit": {"max": 5}}}}  # the default 10 is too many
    [search, _] = guard_tools(search_tools(received), guard_for({**NULL_GRANTS, **grants}))
    assert denial(search.invoke(call({"query": "vpn", "limit": None}, name="search")))["argument"] == "limit"
    assert received == []


# --- issue 12, item 5: the manifest is checked against the tools' schemas -----------------------


def refund_tools() -> list[BaseTool]:
    @tool
    def send_refund(order_id: str, amount: float) -> str:
        """Refund an order."""
        return "refunded"

    shout = Tool(name="shout", func=lambda text: text.upper(), description="Upper-case a text.")
    return [send_refund, *search_tools([]), shout]


@pytest.mark.parametrize(("tool_name", "grant", "argument"), [
    ("send_refund", {"args": {"order_id": {}, "amout": {"max": 50}}}, "amout"),
    ("lookup", {"args": {"query": {}, "unit": {}}}, "unit"),
    ("shout", {"args": {"text": {"max_length": 5}}}, "text"),
])
def test_guard_tools_refuses_a_constraint_on_an_argument_the_tool_does_not_take(
    tool_name: str, grant: dict[str, Any], argument: str
) -> None:
    with pytest.raises(ManifestError) as raised:
        guard_tools(refund_tools(), guard_for({tool_name: grant}))
    assert raised.value.problems == [
        f"tools.{tool_name}.args.{argument}: tool {tool_name!r} has no argument {argument!r} "
        f"(it takes: {', '.join(sorted(_takes(tool_name)))})"
    ]


def _takes(tool_name: str) -> set[str]:
    takes = {"send_refund": {"order_id", "amount"}, "lookup": {"query", "units"}, "shout": {"__arg1"}}
    return takes[tool_name]


def test_guard_tools_accepts_every_argument_the_tools_take() -> None:
    grants = {"send_refund": {"args": {"order_id": {}, "amount": {}}}, "shout": {"args": {"__arg1": {}}},
              **NULL_GRANTS}
    assert len(guard_tools(refund_tools(), guard_for(grants))) == 4


@pytest.mark.parametrize("run", ["sync", "async"])
def test_the_middleware_refuses_a_misfit_manifest_before_the_model_runs(run: str) -> None:
    model = ScriptedChatModel(responses=[AIMessage("done")])
    guard = guard_for({"send_refund": {"args": {"order_id": {}, "amout": {"max": 50}}}})
    agent: Any = create_agent(model, refund_tools(), middleware=[DelegationMiddleware(guard)])
    inputs = {"messages": [HumanMessage("go")]}
    with pytest.raises(ManifestError, match=r"tools\.send_refund\.args\.amout: tool 'send_refund' has no"):
        agent.invoke(inputs) if run == "sync" else asyncio.run(agent.ainvoke(inputs))
    assert model.received == []


# --- issue 10, item 3: a DelegationDenied the tool raises is the tool's error -------------------


def delegating_tool(other: Guard) -> BaseTool:
    @tool
    def delegate(task: str) -> str:
        """Runs a step through another guarded tool, which is denied."""
        return other.invoke("anything", lambda: "never")

    return delegate


@pytest.mark.parametrize("run", ["sync", "async"])
def test_the_middleware_leaves_a_denial_the_tool_raised_to_the_framework(run: str) -> None:
    other = guard_for({})
    guard = guard_for({"delegate": {"args": {"task": {}}}})
    model = ScriptedChatModel(responses=[
        AIMessage("", tool_calls=[{"name": "delegate", "args": {"task": "x"}, "id": "c1"}]),
        AIMessage("done"),
    ])
    agent: Any = create_agent(model, [delegating_tool(other)], middleware=[DelegationMiddleware(guard)])
    inputs = {"messages": [HumanMessage("go")]}
    # create_agent's ToolNode handles only invalid arguments: any other tool error propagates.
    with pytest.raises(DelegationDenied) as raised:
        agent.invoke(inputs) if run == "sync" else asyncio.run(agent.ainvoke(inputs))
    assert raised.value.denial.task == other.task
    assert not guard.owns(raised.value)


@pytest.mark.parametrize("run", ["sync", "async"])
def test_a_toolnode_that_handles_tool_errors_renders_the_tools_denial_as_its_error(run: str) -> None:
    other = guard_for({})
    [guarded] = guard_tools([delegating_tool(other)], guard_for({"delegate": {"args": {"task": {}}}}))
    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode([guarded], handle_tool_errors=True))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    app: Any = graph.compile()
    inputs = {"messages": [AIMessage("", tool_calls=[call({"task": "x"}, name="delegate")])]}
    result = app.invoke(inputs) if run == "sync" else asyncio.run(app.ainvoke(inputs))
    message = result["messages"][-1]
    assert isinstance(message, ToolMessage) and message.status == "error"
    # The framework's rendering of a tool error, not the guard's denial object.
    assert str(message.content).startswith("Error: ")
    assert other.task in str(message.content)
    assert '"denied": true' not in str(message.content)


# --- issue 11: a denial from the same guard inside the tool is the tool's error; private copies ---


@pytest.mark.parametrize("run", ["sync", "async"])
def test_a_denial_the_tool_got_from_the_same_guard_is_the_tools_error(run: str) -> None:
    guard = guard_for({"delegate": {"args": {"task": ["x"]}}, "inner": {"args": {"x": {"max": 1}}}})

    @tool
    def delegate(task: str) -> str:
        """Runs a step through the same guard, which denies it."""
        return guard.invoke("inner", lambda x: "never", {"x": 2})

    [guarded] = guard_tools([delegate], guard)  # on_denial="message": only its own denials
    with pytest.raises(DelegationDenied) as raised:
        if run == "sync":
            guarded.invoke(call({"task": "x"}, name="delegate"))
        else:
            asyncio.run(guarded.ainvoke(call({"task": "x"}, name="delegate")))
    assert raised.value.denial.tool == "inner" and not guard.owns(raised.value)
    own = guarded.invoke(call({"task": "y"}, name="delegate"))  # the guard's own denial: a message
    assert isinstance(own, ToolMessage)


def test_the_tool_runs_with_values_parsed_from_a_private_copy_of_the_arguments() -> None:
    received: list[Any] = []

    @tool
    def collect(items: Any) -> str:
        """Collects items."""
        received.append(items)
        return "ok"

    [guarded] = guard_tools([collect], guard_for({"collect": {"args": {"items": {"each": {"max": 5}}}}}))
    items = [1, (2, 3)[0]]
    guarded.invoke(call({"items": items}, name="collect"))
    assert received == [[1, 2]] and received[0] is not items  # nobody else holds what was checked
    denied = guarded.invoke(call({"items": [1, 9]}, name="collect"))
    assert isinstance(denied, ToolMessage) and denied.status == "error" and len(received) == 1
