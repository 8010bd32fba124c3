"""GuardedServer in-process: an mcp.Client connected to the guarded server, which forwards to a
real upstream (an in-process MCPServer, or the example server as a subprocess for tracing)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from guardrail_mcp import DENIAL_META_KEY, GuardedServer, denial_result
from mcp import Client, MCPError, types

from guardrail import Guard, MemoryStore
from guardrail.testing import CapturedSpans, task_id
from tests.adapters.mcp.support import (
    TIMEOUT,
    make_upstream,
    read_record,
    tool_calls,
    upstream_params,
)

Calls = list[tuple[str, dict[str, Any]]]


def manifest(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "manifest": 1,
        "task": task_id("inproc"),
        "principal": "agent:test",
        "ttl": "15m",
        "tools": {
            "read_ticket": {"args": {"ticket_id": {"required": True}, "queue": {}}},
            "send_refund": {
                "args": {"order_id": {}, "amount": {"type": "number", "max": 50}, "currency": {}},
                "budget": {"calls": 1},
            },
        },
    }
    base.update(changes)
    return base


def code_of(result: types.CallToolResult) -> str | None:
    if not result.is_error or not isinstance(result.structured_content, dict):
        return None
    code = result.structured_content.get("code")
    return code if isinstance(code, str) else None


@pytest.mark.asyncio
async def test_lists_granted_tools_and_forwards_only_allowed_calls() -> None:
    calls: Calls = []
    upstream = make_upstream(calls)
    guard = Guard(manifest(), store=MemoryStore())
    with anyio.fail_after(TIMEOUT):
        async with Client(upstream) as direct:
            reference = {tool.name: tool for tool in (await direct.list_tools()).tools}
        async with GuardedServer(upstream, guard) as proxy, Client(proxy.server) as client:
            assert proxy.connected
            listed = (await client.list_tools()).tools
            allowed = await client.call_tool("read_ticket", {"ticket_id": "T-1"})
            refund = await client.call_tool("send_refund", {"order_id": "O-1", "amount": 5})
            over_budget = await client.call_tool("send_refund", {"order_id": "O-1", "amount": 5})
            too_much = await client.call_tool("send_refund", {"order_id": "O-1", "amount": 500})
            not_granted = await client.call_tool("delete_account", {"user_id": "u-1"})

    assert sorted(tool.name for tool in listed) == ["read_ticket", "send_refund"]
    for tool in listed:
        assert tool == reference[tool.name]
    assert allowed.is_error is False
    assert allowed.structured_content == {"ticket_id": "T-1", "queue": "support-eu", "subject": "Refund"}
    assert refund.is_error is False
    assert code_of(over_budget) == "budget_exhausted"
    assert code_of(too_much) == "argument_invalid"
    assert code_of(not_granted) == "tool_not_allowed"
    assert calls == [
        ("read_ticket", {"ticket_id": "T-1", "queue": "support-eu"}),
        ("send_refund", {"order_id": "O-1", "amount": 5.0, "currency": "EUR"}),
    ]
    assert guard.usage()["tools.send_refund.calls"]["used"] == 1


@pytest.mark.asyncio
async def test_progress_from_the_upstream_reaches_the_caller() -> None:
    calls: Calls = []
    spec = manifest()
    spec["tools"]["export_tickets"] = {"args": {"destination": {"starts_with": "https://backup.example/"}}}
    guard = Guard(spec, store=MemoryStore())
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard) as proxy, Client(proxy.server) as client:
            result = await client.call_tool(
                "export_tickets", {"destination": "https://backup.example/t"}, progress_callback=on_progress
            )

    assert result.is_error is False
    assert seen == [(1, 2, "batch 1"), (2, 2, "batch 2")]
    assert calls == [("export_tickets", {"destination": "https://backup.example/t"})]


@pytest.mark.asyncio
async def test_parallel_calls_never_overrun_a_budget() -> None:
    calls: Calls = []
    spec = manifest()
    spec["tools"]["send_refund"]["budget"] = {"calls": 3}
    guard = Guard(spec, store=MemoryStore())
    results: list[types.CallToolResult] = []
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard) as proxy, Client(proxy.server) as client:

            async def refund(n: int) -> None:
                results.append(await client.call_tool("send_refund", {"order_id": f"O-{n}", "amount": 1}))

            async with anyio.create_task_group() as task_group:
                for n in range(12):
                    task_group.start_soon(refund, n)

    assert sorted(code_of(result) or "ok" for result in results) == ["budget_exhausted"] * 9 + ["ok"] * 3
    assert len(calls) == 3


@pytest.mark.asyncio
async def test_a_tool_added_to_the_upstream_later_is_not_listed_and_is_denied() -> None:
    calls: Calls = []
    upstream = make_upstream(calls)
    guard = Guard(manifest(), store=MemoryStore())

    def export_all_tickets(destination: str) -> str:
        """Export every ticket."""
        calls.append(("export_all_tickets", {"destination": destination}))
        return "exported"

    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(upstream, guard) as proxy, Client(proxy.server) as client:
            before = sorted(tool.name for tool in (await client.list_tools()).tools)
            upstream.add_tool(export_all_tickets)
            async with Client(upstream) as direct:
                upstream_now = {tool.name for tool in (await direct.list_tools()).tools}
            after = sorted(tool.name for tool in (await client.list_tools()).tools)
            result = await client.call_tool("export_all_tickets", {"destination": "https://evil.example"})

    assert "export_all_tickets" in upstream_now
    assert before == after == ["read_ticket", "send_refund"]
    assert code_of(result) == "tool_not_allowed"
    assert calls == []


@pytest.mark.asyncio
async def test_shadow_mode_lists_everything_forwards_denied_calls_and_traces_them() -> None:
    calls: Calls = []
    captured = CapturedSpans()
    guard = Guard(manifest(), store=MemoryStore(), mode="shadow", tracer_provider=captured.provider)
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard) as proxy, Client(proxy.server) as client:
            listed = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("delete_account", {"user_id": "u-1"})

    assert listed == {"read_ticket", "send_refund", "delete_account", "export_tickets"}
    assert result.is_error is False
    assert result.structured_content == {"result": "deleted u-1"}
    assert calls == [("delete_account", {"user_id": "u-1"})]
    spans = [span for span in captured.spans() if span.name == "execute_tool delete_account"]
    assert len(spans) == 1
    attributes = spans[0].attributes or {}
    assert attributes["guardrail.decision"] == "shadow_deny"
    assert attributes["guardrail.denial.code"] == "tool_not_allowed"


@pytest.mark.asyncio
async def test_the_guard_span_wraps_the_forwarded_call(tmp_path: Path, record: Path) -> None:
    captured = CapturedSpans()
    guard = Guard(manifest(), store=MemoryStore(), tracer_provider=captured.provider)
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(upstream_params(record), guard) as proxy, Client(proxy.server) as client:
            allowed = await client.call_tool("read_ticket", {"ticket_id": "T-1001"})
            denied = await client.call_tool("delete_account", {"user_id": "u-1"})

    assert allowed.is_error is False
    assert code_of(denied) == "tool_not_allowed"
    spans = {span.name: span for span in captured.spans()}
    allow_span = spans["execute_tool read_ticket"]
    deny_span = spans["execute_tool delete_account"]
    assert (allow_span.attributes or {})["guardrail.decision"] == "allow"
    assert (allow_span.attributes or {})["gen_ai.tool.call.id"]
    assert (deny_span.attributes or {})["guardrail.decision"] == "deny"
    # The upstream received the call with the guard span's trace context: it ran inside that span.
    (event,) = [e for e in read_record(record) if e.get("method") == "tools/call"]
    assert event["tool"] == "read_ticket"
    traceparent = event["traceparent"]
    assert isinstance(traceparent, str)
    assert traceparent.split("-")[1] == format(allow_span.context.trace_id, "032x")
    denied_call_id = (denied.meta or {})[DENIAL_META_KEY]["call_id"]
    assert denied_call_id == (deny_span.attributes or {})["gen_ai.tool.call.id"]


@pytest.mark.asyncio
async def test_an_expired_manifest_never_connects_to_the_upstream() -> None:
    calls: Calls = []
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    spec = manifest()
    del spec["ttl"]
    guard = Guard({**spec, "expires_at": past}, store=MemoryStore())
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard) as proxy, Client(proxy.server) as client:
            connected = proxy.connected
            listed = (await client.list_tools()).tools
            result = await client.call_tool("read_ticket", {"ticket_id": "T-1"})

    assert connected is False
    assert listed == []
    assert code_of(result) == "expired"
    assert calls == []


@pytest.mark.asyncio
async def test_access_ends_at_expiry(record: Path) -> None:
    guard = Guard(manifest(ttl="5s"), store=MemoryStore())
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(upstream_params(record), guard) as proxy, Client(proxy.server) as client:
            await proxy.wait_ended()
            connected = proxy.connected
            listed = (await client.list_tools()).tools
            result = await client.call_tool("read_ticket", {"ticket_id": "T-1"})

    assert connected is False
    assert listed == []
    assert code_of(result) == "expired"
    events = [e["event"] for e in read_record(record) if e["event"] != "request"]
    assert events == ["start", "stop"]  # the upstream process was shut down cleanly
    assert tool_calls(record) == []


@pytest.mark.asyncio
async def test_end_access_disconnects_the_upstream_even_if_the_guard_would_allow() -> None:
    calls: Calls = []
    guard = Guard(manifest(), store=MemoryStore())
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard) as proxy, Client(proxy.server) as client:
            proxy.end_access()
            await proxy.wait_ended()
            listed = (await client.list_tools()).tools
            with pytest.raises(MCPError, match="access to the upstream MCP server has ended"):
                await client.call_tool("read_ticket", {"ticket_id": "T-1"})

    assert listed == []
    assert calls == []


def test_denial_result_carries_the_model_view_and_the_full_record() -> None:
    guard = Guard(manifest(), store=MemoryStore())
    denial = guard.authorize("send_refund", {"amount": 51}).denial
    assert denial is not None
    result = denial_result(denial)
    wire = result.model_dump(by_alias=True, exclude_none=True)
    assert wire["isError"] is True
    # The text a model reads is the one denial rendering every adapter uses.
    assert wire["content"] == [{"type": "text", "text": denial.to_model_json()}]
    assert json.loads(wire["content"][0]["text"]) == denial.for_model()
    assert wire["structuredContent"] == denial.for_model()
    assert wire["_meta"][DENIAL_META_KEY] == denial.model_dump(mode="json")
    assert wire["structuredContent"]["code"] == "argument_invalid"


@pytest.mark.asyncio
async def test_an_upstream_default_cannot_slip_past_a_constraint() -> None:
    from mcp.server import MCPServer

    paid: list[float] = []
    upstream = MCPServer("payments")

    @upstream.tool()
    def pay(order: str, amount: float = 1000.0) -> str:
        paid.append(amount)
        return f"paid {amount}"

    guard = Guard(
        {"task": task_id("defaults"), "ttl": "5m",
         "tools": {"pay": {"args": {"order": {}, "amount": {"max": 50}}}}},
        store=MemoryStore(),
    )
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(upstream, guard) as proxy, Client(proxy.server) as client:
            left_out = await client.call_tool("pay", {"order": "A-1"})  # no tools/list first
            passed = await client.call_tool("pay", {"order": "A-1", "amount": 20})
    assert code_of(left_out) == "argument_invalid"
    assert isinstance(left_out.structured_content, dict)
    assert left_out.structured_content["argument"] == "amount"
    assert passed.is_error is False
    assert paid == [20.0]
