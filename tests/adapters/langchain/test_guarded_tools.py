"""`guard_tools` / `GuardedTool` on real LangChain tools of every shape, called directly."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from guardrail_langchain import GuardedTool, guard_tools
from langchain_core.callbacks import BaseCallbackHandler, CallbackManagerForToolRun
from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import (
    BaseTool,
    BaseToolkit,
    InjectedToolCallId,
    StructuredTool,
    Tool,
    ToolException,
    tool,
)
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.pydantic import get_fields
from langgraph.prebuilt import InjectedState, ToolRuntime
from opentelemetry import trace
from pydantic import BaseModel, Field, ValidationError

from guardrail import ArgumentViolation, DelegationDenied, ToolNotAllowed
from tests.adapters.langchain.support import MakeGuard, Spans, denial_of, tool_call

# --- tools of every shape -------------------------------------------------------------------


@tool
def read_ticket(queue: str, ticket_id: str) -> str:
    """Read one ticket from a helpdesk queue."""
    return f"{queue}/{ticket_id}: cannot log in"


@tool
async def fetch_page(url: str, max_bytes: int = 1000) -> str:
    """Fetch a web page (async only)."""
    await asyncio.sleep(0)
    return f"<html>{url}</html>"[:max_bytes]


class RefundInput(BaseModel):
    order_id: str = Field(description="The order to refund, e.g. ORD-004711")
    amount: float = Field(description="Amount in the order's currency", ge=0)
    currency: str = Field(default="EUR", description="ISO currency code")


def _refund(order_id: str, amount: float, currency: str = "EUR") -> str:
    return f"refunded {amount} {currency} on {order_id}"


async def _arefund(order_id: str, amount: float, currency: str = "EUR") -> str:
    return f"refunded {amount} {currency} on {order_id} (async)"


def make_refund_tool() -> StructuredTool:
    return StructuredTool.from_function(
        func=_refund,
        coroutine=_arefund,
        name="send_refund",
        description="Refund an order.",
        args_schema=RefundInput,
    )


class SearchInput(BaseModel):
    query: str = Field(description="What to look for")
    limit: int = Field(default=5, description="How many results")


class SearchTool(BaseTool):
    """A custom BaseTool subclass with an args_schema and both sync and async code."""

    name: str = "search_kb"
    description: str = "Search the knowledge base."
    args_schema: type[BaseModel] = SearchInput

    def _run(self, query: str, limit: int = 5) -> str:
        return f"{limit} results for {query!r}"

    async def _arun(self, query: str, limit: int = 5) -> str:
        return f"{limit} results for {query!r} (async)"


class WordCountTool(BaseTool):
    """A custom BaseTool subclass without args_schema: LangChain reads the schema off `_run`."""

    name: str = "word_count"
    description: str = "Count the words of a text."

    def _run(self, text: str, run_manager: CallbackManagerForToolRun | None = None) -> str:
        return str(len(text.split()))


@tool(response_format="content_and_artifact")
def list_orders(customer: str) -> tuple[str, list[dict[str, Any]]]:
    """List a customer's orders."""
    orders = [{"id": "ORD-1", "total": 12.5}, {"id": "ORD-2", "total": 40.0}]
    return f"{len(orders)} orders for {customer}", orders


@tool
def tag_ticket(ticket_id: str, tag: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> str:
    """Tag a ticket."""
    return f"tagged {ticket_id} with {tag} (call {tool_call_id})"


@tool
def summarize_thread(
    ticket_id: str, state: Annotated[dict[str, Any], InjectedState], runtime: ToolRuntime
) -> str:
    """Summarize the conversation about a ticket."""
    return f"{ticket_id}: {len(state['messages'])} messages"


JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "units": {"type": "string", "enum": ["metric", "imperial"]},
    },
    "required": ["city"],
}


def make_weather_tool() -> StructuredTool:
    return StructuredTool(
        name="weather",
        description="Current weather for a city.",
        args_schema=JSON_SCHEMA,
        func=lambda city, units="metric": f"sunny in {city} ({units})",
    )


def make_legacy_tool() -> Tool:
    return Tool(name="shout", func=lambda text: text.upper(), description="Upper-case a text.")


class HelpdeskToolkit(BaseToolkit):
    def get_tools(self) -> list[BaseTool]:
        return [read_ticket, make_refund_tool(), SearchTool()]


SHAPES: dict[str, Callable[[], BaseTool]] = {
    "@tool": lambda: read_ticket,
    "@tool async": lambda: fetch_page,
    "StructuredTool": make_refund_tool,
    "BaseTool subclass": SearchTool,
    "BaseTool subclass, schema from _run": WordCountTool,
    "content_and_artifact": lambda: list_orders,
    "InjectedToolCallId": lambda: tag_ticket,
    "InjectedState and ToolRuntime": lambda: summarize_thread,
    "JSON schema args": make_weather_tool,
    "legacy Tool": make_legacy_tool,
}

# Each shape, a call the manifest below allows, and what the tool returns for it.
RUNNABLE: dict[str, tuple[dict[str, Any], str]] = {
    "@tool": ({"queue": "eu", "ticket_id": "T-1"}, "eu/T-1: cannot log in"),
    "StructuredTool": ({"order_id": "ORD-1", "amount": 5}, "refunded 5.0 EUR on ORD-1"),
    "BaseTool subclass": ({"query": "vpn"}, "5 results for 'vpn'"),
    "BaseTool subclass, schema from _run": ({"text": "a b c"}, "3"),
    "content_and_artifact": ({"customer": "sam"}, "2 orders for sam"),
    "InjectedToolCallId": ({"ticket_id": "T-1", "tag": "vip"}, "tagged T-1 with vip (call call-1)"),
    "JSON schema args": ({"city": "Lyon"}, "sunny in Lyon (metric)"),
    "legacy Tool": ({"__arg1": "hi"}, "HI"),
}

OPEN_GRANTS: dict[str, Any] = {
    "read_ticket": {"args": {"queue": {}, "ticket_id": {}}},
    "fetch_page": {"args": {"url": {}, "max_bytes": {}}},
    "send_refund": {"args": {"order_id": {}, "amount": {}, "currency": {}}},
    "search_kb": {"args": {"query": {}, "limit": {}}},
    "word_count": {"args": {"text": {}}},
    "list_orders": {"args": {"customer": {}}},
    "tag_ticket": {"args": {"ticket_id": {}, "tag": {}}},
    "summarize_thread": {"args": {"ticket_id": {}}},
    "weather": {"args": {"city": {}, "units": {}}},
    "shout": {"args": {"__arg1": {}}},
}


def _schema_json(schema: Any) -> Any:
    return schema if isinstance(schema, dict) else schema.model_json_schema()


def _field_names(schema: Any) -> set[str]:
    return set(schema["properties"]) if isinstance(schema, dict) else set(get_fields(schema))


# --- the guarded tool is the same tool to LangChain and to the model ------------------------


@pytest.mark.parametrize("shape", list(SHAPES))
def test_guarded_tool_has_the_same_schema(shape: str, make_guard: MakeGuard) -> None:
    original = SHAPES[shape]()
    [guarded] = guard_tools([original], make_guard(OPEN_GRANTS))

    assert isinstance(guarded, GuardedTool)
    assert guarded.wrapped is original
    assert guarded.name == original.name
    assert guarded.description == original.description
    assert guarded.args_schema is original.args_schema
    assert guarded.response_format == original.response_format
    assert guarded.return_direct == original.return_direct
    assert guarded.args == original.args
    assert _schema_json(guarded.tool_call_schema) == _schema_json(original.tool_call_schema)
    assert _field_names(guarded.get_input_schema()) == _field_names(original.get_input_schema())
    assert convert_to_openai_tool(guarded) == convert_to_openai_tool(original)
    assert convert_to_openai_tool(guarded, strict=True) == convert_to_openai_tool(original, strict=True)


def test_toolkit_and_its_get_tools_are_guarded_in_order(make_guard: MakeGuard) -> None:
    guard = make_guard(OPEN_GRANTS)
    kit = HelpdeskToolkit()
    from_kit = guard_tools(kit, guard)
    from_list = guard_tools(kit.get_tools(), guard)
    expected = [convert_to_openai_tool(t) for t in kit.get_tools()]
    assert [convert_to_openai_tool(t) for t in from_kit] == expected
    assert [convert_to_openai_tool(t) for t in from_list] == expected
    assert all(isinstance(t, GuardedTool) and t.guard is guard for t in from_kit + from_list)


def test_plain_function_is_made_a_tool_first(make_guard: MakeGuard) -> None:
    def close_ticket(ticket_id: str) -> str:
        """Close a ticket."""
        return f"closed {ticket_id}"

    guard = make_guard({"close_ticket": {"args": {"ticket_id": {"pattern": "^T-[0-9]+$"}}}})
    [guarded] = guard_tools([close_ticket], guard)
    assert convert_to_openai_tool(guarded) == convert_to_openai_tool(tool(close_ticket))
    assert guarded.invoke(tool_call("close_ticket", {"ticket_id": "T-9"})).content == "closed T-9"
    denial = denial_of(guarded.invoke(tool_call("close_ticket", {"ticket_id": "all"})))
    assert denial["code"] == "argument_invalid"


# --- an allowed call runs the tool and returns exactly what the tool returns ----------------


@pytest.mark.parametrize("shape", list(RUNNABLE))
def test_allowed_call_returns_what_the_tool_returns(shape: str, make_guard: MakeGuard) -> None:
    original = SHAPES[shape]()
    args, content = RUNNABLE[shape]
    [guarded] = guard_tools([original], make_guard(OPEN_GRANTS))

    got = guarded.invoke(tool_call(original.name, args))
    want = original.invoke(tool_call(original.name, args))
    assert isinstance(got, ToolMessage)
    assert got.content == want.content == content
    assert got.artifact == want.artifact
    assert (got.status, got.name, got.tool_call_id) == ("success", original.name, "call-1")


@pytest.mark.parametrize("shape", [s for s in RUNNABLE if s != "legacy Tool"] + ["@tool async"])
def test_allowed_async_call_returns_what_the_tool_returns(shape: str, make_guard: MakeGuard) -> None:
    original = SHAPES[shape]()
    args, _ = RUNNABLE.get(shape, ({"url": "https://example.org"}, ""))
    [guarded] = guard_tools([original], make_guard(OPEN_GRANTS))

    got = asyncio.run(guarded.ainvoke(tool_call(original.name, args)))
    want = asyncio.run(original.ainvoke(tool_call(original.name, args)))
    assert isinstance(got, ToolMessage)
    assert (got.content, got.artifact, got.status) == (want.content, want.artifact, "success")


def test_content_and_artifact_tool_keeps_its_artifact(make_guard: MakeGuard) -> None:
    [guarded] = guard_tools([list_orders], make_guard({"list_orders": {"args": {"customer": "sam"}}}))
    call = tool_call("list_orders", {"customer": "sam"}, "call-a")
    for message in (guarded.invoke(call), asyncio.run(guarded.ainvoke(call))):
        assert message.content == "2 orders for sam"
        assert message.artifact == [{"id": "ORD-1", "total": 12.5}, {"id": "ORD-2", "total": 40.0}]
    # Called without a tool call id, LangChain returns the content only; the tool still ran.
    assert guarded.invoke({"customer": "sam"}) == "2 orders for sam"
    # A denial of such a tool is still an error ToolMessage (not a broken tuple).
    denied = guarded.invoke(tool_call("list_orders", {"customer": "eve"}, "call-b"))
    assert denial_of(denied)["argument"] == "customer"
    assert denied.tool_call_id == "call-b"


# --- a denied call does not run -------------------------------------------------------------


def _counting_tool(calls: list[dict[str, Any]]) -> BaseTool:
    @tool
    def delete_ticket(ticket_id: str, reason: str = "") -> str:
        """Delete a ticket."""
        calls.append({"ticket_id": ticket_id, "reason": reason})
        return f"deleted {ticket_id}"

    return delete_ticket


@pytest.mark.parametrize("run", ["sync", "async"])
def test_denied_call_answers_the_model_and_does_not_run(run: str, make_guard: MakeGuard) -> None:
    calls: list[dict[str, Any]] = []
    guard = make_guard({"delete_ticket": {"args": {"ticket_id": {"starts_with": "T-"}}}})
    [guarded] = guard_tools([_counting_tool(calls)], guard)
    call = tool_call("delete_ticket", {"ticket_id": "ALL"}, "call-9")

    result = guarded.invoke(call) if run == "sync" else asyncio.run(guarded.ainvoke(call))

    assert calls == []
    assert isinstance(result, ToolMessage)
    assert result.tool_call_id == "call-9"
    assert result.name == "delete_ticket"
    assert denial_of(result) == {
        "denied": True,
        "code": "argument_invalid",
        "tool": "delete_ticket",
        "argument": "ticket_id",
        "constraint": result.artifact["constraint"],
        "message": result.artifact["message"],
    }
    assert result.artifact["call_id"] == "call-9"
    assert result.artifact["task"] == guard.task
    assert "starts_with" in result.artifact["constraint"]
    assert guard.usage() == {}


def test_denial_answer_is_json_text_without_a_tool_call_id(make_guard: MakeGuard) -> None:
    calls: list[dict[str, Any]] = []
    [guarded] = guard_tools([_counting_tool(calls)], make_guard({}))
    out = guarded.invoke({"ticket_id": "T-1"})
    assert isinstance(out, str)
    payload = json.loads(out)
    assert payload["code"] == "tool_not_allowed"
    assert payload["tool"] == "delete_ticket"
    assert calls == []


@pytest.mark.parametrize("run", ["sync", "async"])
def test_on_denial_raise_propagates_the_denial(run: str, make_guard: MakeGuard) -> None:
    calls: list[dict[str, Any]] = []
    guard = make_guard({"delete_ticket": {"args": {"ticket_id": {"starts_with": "T-"}}}})
    [guarded] = guard_tools([_counting_tool(calls)], guard, on_denial="raise")
    call = tool_call("delete_ticket", {"ticket_id": "ALL"}, "call-3")

    with pytest.raises(ArgumentViolation) as caught:
        if run == "sync":
            guarded.invoke(call)
        else:
            asyncio.run(guarded.ainvoke(call))
    assert caught.value.denial.argument == "ticket_id"
    assert caught.value.denial.call_id == "call-3"
    assert calls == []
    # An allowed call still runs.
    assert guarded.invoke(tool_call("delete_ticket", {"ticket_id": "T-2"})).content == "deleted T-2"
    assert calls == [{"ticket_id": "T-2", "reason": ""}]


def test_tool_not_in_manifest_raises_tool_not_allowed(make_guard: MakeGuard) -> None:
    [guarded] = guard_tools([read_ticket], make_guard({}), on_denial="raise")
    with pytest.raises(ToolNotAllowed):
        guarded.invoke(tool_call("read_ticket", {"queue": "eu", "ticket_id": "T-1"}))


def test_budget_charges_allowed_calls_only(make_guard: MakeGuard) -> None:
    calls: list[dict[str, Any]] = []
    guard = make_guard(
        {"delete_ticket": {"args": {"ticket_id": {"starts_with": "T-"}}, "budget": {"calls": 2}}}
    )
    [guarded] = guard_tools([_counting_tool(calls)], guard)
    outcomes = []
    for i, ticket in enumerate(["T-1", "nope", "T-2", "T-3"]):
        message = guarded.invoke(tool_call("delete_ticket", {"ticket_id": ticket}, f"c{i}"))
        outcomes.append(message.status if message.status == "success" else denial_of(message)["code"])
    assert outcomes == ["success", "argument_invalid", "success", "budget_exhausted"]
    assert [c["ticket_id"] for c in calls] == ["T-1", "T-2"]
    assert guard.usage()["tools.delete_ticket.calls"]["used"] == 2


# --- what the guard sees: the model's arguments, the tool call id ---------------------------


def test_injected_tool_call_id_is_not_checked_and_reaches_the_tool(make_guard: MakeGuard) -> None:
    guard = make_guard({"tag_ticket": {"args": {"ticket_id": "T-1", "tag": ["vip", "bug"]}}})
    [guarded] = guard_tools([tag_ticket], guard)
    ok = guarded.invoke(tool_call("tag_ticket", {"ticket_id": "T-1", "tag": "vip"}, "call-77"))
    assert ok.content == "tagged T-1 with vip (call call-77)"
    # A forged value for the injected argument is neither checked nor used.
    forged = {"ticket_id": "T-1", "tag": "bug", "tool_call_id": "forged"}
    assert guarded.invoke(tool_call("tag_ticket", forged, "call-78")).content == (
        "tagged T-1 with bug (call call-78)"
    )
    denied = guarded.invoke(tool_call("tag_ticket", {"ticket_id": "T-2", "tag": "vip"}, "call-79"))
    assert denial_of(denied)["argument"] == "ticket_id"


def test_manifest_sees_what_the_model_sent_not_defaults(make_guard: MakeGuard) -> None:
    # `limit` has a default the model did not send: the manifest need not name it.
    [guarded] = guard_tools([SearchTool()], make_guard({"search_kb": {"args": {"query": {}}}}))
    assert guarded.invoke(tool_call("search_kb", {"query": "vpn"})).content == "5 results for 'vpn'"
    # Sent by the model, it is an argument the manifest does not grant.
    denied = guarded.invoke(tool_call("search_kb", {"query": "vpn", "limit": 500}))
    assert denial_of(denied)["code"] == "argument_not_allowed"
    assert denial_of(denied)["argument"] == "limit"


def test_arguments_are_checked_as_the_tool_receives_them(make_guard: MakeGuard, spans: Spans) -> None:
    # LangChain coerces "40" to 40.0 for the tool: the manifest checks 40.0, what the tool gets.
    guard = make_guard({"send_refund": {"args": {"order_id": {}, "amount": {"type": "number", "max": 50}}}})
    [guarded] = guard_tools([make_refund_tool()], guard)
    ok = guarded.invoke(tool_call("send_refund", {"order_id": "ORD-1", "amount": "40"}))
    assert ok.content == "refunded 40.0 EUR on ORD-1"
    denied = guarded.invoke(tool_call("send_refund", {"order_id": "ORD-1", "amount": "60"}))
    assert denial_of(denied)["argument"] == "amount"
    assert denial_of(denied)["constraint"] == "max: 50"
    ok = guarded.invoke(tool_call("send_refund", {"order_id": "ORD-1", "amount": 40}))
    assert ok.content == "refunded 40.0 EUR on ORD-1"
    # What the schema rejects is the tool's own validation error, as without a guard.
    with pytest.raises(ValidationError):
        guarded.invoke(tool_call("send_refund", {"order_id": "ORD-1", "amount": "forty"}))
    assert [s.attributes["guardrail.decision"] for s in spans.tool_spans() if s.attributes] == [
        "allow", "deny", "allow"
    ]


def test_legacy_string_tool_is_checked_on_its_single_argument(make_guard: MakeGuard) -> None:
    guard = make_guard({"shout": {"args": {"__arg1": {"max_length": 5}}}})
    [guarded] = guard_tools([make_legacy_tool()], guard)
    assert isinstance(guarded, Tool)
    assert guarded.invoke("hello") == "HELLO"
    assert guarded.invoke(tool_call("shout", {"__arg1": "hey"})).content == "HEY"
    assert json.loads(guarded.invoke("far too long"))["argument"] == "__arg1"


@pytest.mark.parametrize("run", ["sync", "async"])
def test_tool_runs_inside_the_guard_span(run: str, make_guard: MakeGuard, spans: Spans) -> None:
    seen: list[Any] = []

    @tool
    def probe(x: int) -> str:
        """Record the current span."""
        seen.append(trace.get_current_span())
        return "ok"

    [guarded] = guard_tools([probe], make_guard({"probe": {"args": {"x": {"type": "integer"}}}}))
    call = tool_call("probe", {"x": 1}, "call-span")
    if run == "sync":
        guarded.invoke(call)
    else:
        asyncio.run(guarded.ainvoke(call))

    [span] = spans.tool_spans()
    assert span.name == "execute_tool probe"
    assert span.attributes is not None
    assert span.attributes["gen_ai.tool.call.id"] == "call-span"
    assert span.attributes["guardrail.decision"] == "allow"
    assert len(seen) == 1
    assert seen[0].get_span_context().span_id == span.context.span_id


def test_denied_call_is_traced_with_its_call_id(make_guard: MakeGuard, spans: Spans) -> None:
    [guarded] = guard_tools([read_ticket], make_guard({}))
    guarded.invoke(tool_call("read_ticket", {"queue": "eu", "ticket_id": "T-1"}, "call-d"))
    [span] = spans.tool_spans()
    assert span.attributes is not None
    assert span.attributes["gen_ai.tool.call.id"] == "call-d"
    assert span.attributes["guardrail.decision"] == "deny"
    assert span.attributes["guardrail.denial.code"] == "tool_not_allowed"


def test_shadow_mode_runs_a_denied_call(make_guard: MakeGuard, spans: Spans) -> None:
    calls: list[dict[str, Any]] = []
    guard = make_guard({}, mode="shadow")
    [guarded] = guard_tools([_counting_tool(calls)], guard)
    result = guarded.invoke(tool_call("delete_ticket", {"ticket_id": "T-1"}))
    assert result.status == "success"
    assert result.content == "deleted T-1"
    assert len(calls) == 1
    [span] = spans.tool_spans()
    assert span.attributes is not None
    assert span.attributes["guardrail.decision"] == "shadow_deny"


# --- LangChain plumbing reaches the tool, once ----------------------------------------------


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_tool_start(self, serialized: dict[str, Any], input_str: str, **kwargs: Any) -> None:
        self.events.append(("start", serialized["name"]))

    def on_tool_end(self, output: Any, **kwargs: Any) -> None:
        self.events.append(("end", getattr(output, "content", output)))


class ConfiguredTool(BaseTool):
    name: str = "configured"
    description: str = "Reports its config and run manager."

    def _run(
        self, text: str, *, config: RunnableConfig, run_manager: CallbackManagerForToolRun | None = None
    ) -> str:
        return f"{text}|{config.get('metadata', {}).get('who')}|{run_manager is not None}"


def test_config_run_manager_and_callbacks_reach_the_wrapped_tool(make_guard: MakeGuard) -> None:
    [guarded] = guard_tools([ConfiguredTool()], make_guard({"configured": {"args": {"text": {}}}}))
    recorder = Recorder()
    out = guarded.invoke(
        tool_call("configured", {"text": "hi"}),
        config={"metadata": {"who": "tester"}, "callbacks": [recorder]},
    )
    assert out.content == "hi|tester|True"
    assert recorder.events == [("start", "configured"), ("end", "hi|tester|True")]
    got = asyncio.run(
        guarded.ainvoke(tool_call("configured", {"text": "yo"}), config={"metadata": {"who": "a"}})
    )
    assert got.content == "yo|a|True"


def test_tool_errors_are_the_tools_own(make_guard: MakeGuard) -> None:
    @tool
    def flaky(x: int) -> str:
        """Fails."""
        raise ToolException(f"backend down for {x}")

    handled = flaky.model_copy(update={"handle_tool_error": True})
    guard = make_guard({"flaky": {"args": {"x": {}}, "budget": {"calls": 5}}})
    [raising, handling] = guard_tools([flaky, handled], guard)
    with pytest.raises(ToolException, match="backend down"):
        raising.invoke(tool_call("flaky", {"x": 1}))
    message = handling.invoke(tool_call("flaky", {"x": 2}))
    assert (message.status, message.content) == ("error", "backend down for 2")
    # Both calls were allowed, so both were charged before the tool ran.
    assert guard.usage()["tools.flaky.calls"]["used"] == 2


def test_a_denial_raised_inside_the_tool_is_not_turned_into_a_message(make_guard: MakeGuard) -> None:
    inner_guard = make_guard({})

    @tool
    def delegate(task: str) -> str:
        """Runs a sub-agent that is denied."""
        return inner_guard.invoke("anything", lambda: "never", {})

    [guarded] = guard_tools([delegate], make_guard({"delegate": {"args": {"task": {}}}}))
    with pytest.raises(DelegationDenied) as caught:
        guarded.invoke(tool_call("delegate", {"task": "x"}))
    assert caught.value.denial.task == inner_guard.task


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["messages", "RAISE", "", None, True])
def test_invalid_on_denial_is_a_value_error(value: Any, make_guard: MakeGuard) -> None:
    guard = make_guard({})
    with pytest.raises(ValueError, match="on_denial must be 'message' or 'raise'"):
        guard_tools([read_ticket], guard, on_denial=value)
    with pytest.raises(ValueError, match="on_denial"):
        GuardedTool(read_ticket, guard, on_denial=value)


def test_bad_arguments_are_clear_errors(make_guard: MakeGuard) -> None:
    guard = make_guard({})
    with pytest.raises(TypeError, match=r"guard_tools\(\[tool\], guard\)"):
        guard_tools(read_ticket, guard)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a tool: 42"):
        guard_tools([42], guard)  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"guard must be a guardrail\.Guard, not str"):
        guard_tools([read_ticket], "examples/helpdesk.yaml")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="wraps a LangChain BaseTool, not function"):
        GuardedTool(lambda: None, guard)  # type: ignore[arg-type]
    [once] = guard_tools([read_ticket], guard)
    with pytest.raises(ValueError, match="already guarded by this guard"):
        guard_tools([once], guard)


# --- copies and nesting ---------------------------------------------------------------------


def test_copies_share_the_guard_and_its_budget(make_guard: MakeGuard) -> None:
    guard = make_guard({"read_ticket": {"args": {"queue": {}, "ticket_id": {}}, "budget": {"calls": 1}}})
    [guarded] = guard_tools([read_ticket], guard)
    deep = copy.deepcopy(guarded)
    shallow = guarded.model_copy()
    assert isinstance(deep, GuardedTool) and isinstance(shallow, GuardedTool)
    assert deep.guard is guard and shallow.guard is guard
    args = {"queue": "eu", "ticket_id": "T-1"}
    assert deep.invoke(tool_call("read_ticket", args, "c1")).status == "success"
    assert denial_of(shallow.invoke(tool_call("read_ticket", args, "c2")))["code"] == "budget_exhausted"


def test_a_tool_guarded_twice_by_two_guards_needs_both(make_guard: MakeGuard, spans: Spans) -> None:
    # The outer guard grants any ticket; the inner one (a narrower delegation) only T-1.
    outer = make_guard({"tag_ticket": {"args": {"ticket_id": {}, "tag": {}}}})
    inner = make_guard({"tag_ticket": {"args": {"ticket_id": "T-1", "tag": {}}}})
    [twice] = guard_tools(guard_tools([tag_ticket], inner), outer)
    ok = twice.invoke(tool_call("tag_ticket", {"ticket_id": "T-1", "tag": "vip"}, "c1"))
    assert ok.content == "tagged T-1 with vip (call c1)"
    denied = twice.invoke(tool_call("tag_ticket", {"ticket_id": "T-2", "tag": "vip"}, "c2"))
    assert denial_of(denied)["argument"] == "ticket_id"
    assert denied.artifact["task"] == inner.task
    # Both guards saw the model's arguments and the tool call id.
    ids = sorted(
        (str(s.attributes["guardrail.task"]), str(s.attributes["gen_ai.tool.call.id"]))
        for s in spans.tool_spans()
        if s.attributes is not None
    )
    assert ids == sorted([(outer.task, "c1"), (inner.task, "c1"), (outer.task, "c2"), (inner.task, "c2")])
