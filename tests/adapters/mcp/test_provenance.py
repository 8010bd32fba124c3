"""Provenance through the MCP proxy (a real in-process upstream and client): what the upstream
returns (text and structured content) is recorded, so a value copied from it is refused."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from guardrail_mcp import GuardedServer
from mcp import Client, types

from guardrail import Guard, MemoryStore
from guardrail.testing import task_id
from tests.adapters.mcp.support import TIMEOUT, make_upstream


def code_of(result: types.CallToolResult) -> str | None:
    content = result.structured_content
    return content.get("code") if result.is_error and isinstance(content, dict) else None


@pytest.mark.asyncio
async def test_values_copied_from_upstream_results_are_refused() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    guard = Guard({
        "task": task_id("mcp-prov"), "ttl": "15m",
        "tools": {
            "read_ticket": {"args": {"ticket_id": {}, "queue": {}}},
            "send_refund": {"args": {"order_id": {"provenance": "trusted"}, "amount": {},
                                     "currency": {}}},
            "delete_account": {"args": {"user_id": {"from_results": "send_refund"}}},
        },
    }, store=MemoryStore())
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard) as proxy, \
                Client(proxy.server) as client:
            await client.call_tool("read_ticket", {"ticket_id": "ORDER-4711", "queue": "vip-desk"})
            copied = await client.call_tool("send_refund", {"order_id": "order-4711", "amount": 5})
            typed = await client.call_tool("send_refund", {"order_id": "ORD-555", "amount": 5})
            from_text = await client.call_tool("delete_account", {"user_id": "refunded 5.00 eur"})
            not_there = await client.call_tool("delete_account", {"user_id": "vip-desk"})
    assert code_of(copied) == "argument_untrusted"
    assert isinstance(copied.structured_content, dict)
    assert copied.structured_content["argument"] == "order_id"
    assert typed.is_error is False
    assert from_text.is_error is False  # the refund's text content was recorded
    assert code_of(not_there) == "argument_untrusted"  # a result of another tool
    assert [name for name, _ in calls] == ["read_ticket", "send_refund", "delete_account"]
