"""`guardrail mcp-proxy` with every option the guard has (issue 12, item 3): a shared store that
`guardrail revoke` reaches, traces, a decision log, signed manifests, recorded values; an upstream
that cannot start ends in one line; spans follow the MCP semantic conventions.

Real components throughout: the proxy and the example upstream are processes, the client is
`mcp.Client`, spans come from the OpenTelemetry SDK (in-memory exporter or the JSONL file).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from guardrail_mcp import GuardedServer
from mcp import Client, StdioServerParameters
from opentelemetry.trace import SpanKind

from guardrail import Guard, Manifest, MemoryStore
from guardrail.cli import ExitCode
from guardrail.testing import CapturedSpans, task_id
from tests.adapters.mcp.support import (
    PROXY_ENTRY,
    RECORD_ENV,
    TIMEOUT,
    child_env,
    tool_calls,
    upstream_argv,
    upstream_params,
    write_manifest,
)

READ = {"ticket_id": "T-1001", "queue": "support-eu"}


def manifest_data(task: str) -> dict[str, Any]:
    return {
        "task": task, "ttl": "15m",
        "tools": {
            "read_ticket": {"args": {"ticket_id": {"pattern": "^T-[0-9]+$"}, "queue": "support-eu"},
                            "budget": {"calls": 5}},
        },
    }


def proxy(manifest: Path, record: Path, *options: str, upstream: list[str] | None = None
          ) -> StdioServerParameters:
    command, *args = [*PROXY_ENTRY, "--manifest", str(manifest), *options, "--",
                      *(upstream or upstream_argv())]
    return StdioServerParameters(command=command, args=args, env=child_env(**{RECORD_ENV: str(record)}))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "guardrail", *args], env=child_env(),
                          capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                          check=False)


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


# -- an upstream that cannot serve -----------------------------------------------------------


@pytest.mark.parametrize(
    ("upstream", "says"),
    [
        (["/no/such/binary"], "cannot start the upstream '/no/such/binary': No such file or directory"),
        ([sys.executable, "-c", "pass"], "ended before it answered"),  # exits at once
    ],
)
def test_an_upstream_that_cannot_serve_ends_in_one_line(
    upstream: list[str], says: str, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path, manifest_data(task_id()))
    done = run_cli("mcp-proxy", "--manifest", str(manifest), "--", *upstream)
    assert done.returncode == ExitCode.UNAVAILABLE
    line = one_line(done.stderr)
    assert line.startswith("guardrail mcp-proxy: ") and says in line


def test_bad_options_end_in_one_line(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, manifest_data(task_id()))
    cases = [
        (["--store", "ftp://x"], ExitCode.USAGE, "--store: "),
        (["--store", "sqlite:////no/dir/x.db"], ExitCode.UNAVAILABLE, "--store: store unavailable"),
        (["--audit", str(tmp_path / "no" / "audit.jsonl")], ExitCode.USAGE, "no such directory"),
        (["--trace", "jsonl:/proc/x.jsonl"], ExitCode.USAGE, "cannot open /proc/x.jsonl"),
        (["--trusted-key", str(tmp_path / "none.pub")], ExitCode.USAGE,
         f"--trusted-key {tmp_path / 'none.pub'}: cannot read public key"),
    ]
    for options, code, says in cases:
        done = run_cli("mcp-proxy", "--manifest", str(manifest), *options, "--", *upstream_argv())
        assert done.returncode == code, (options, done.stderr)
        assert says in one_line(done.stderr), options
    assert not (tmp_path / "no").exists()


# -- signed manifests --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_trusted_keys_refuse_unsigned_and_foreign_manifests(tmp_path: Path, record: Path) -> None:
    for name in ("ops", "other"):
        assert run_cli("keygen", "--out", str(tmp_path / name)).returncode == 0
    manifest = write_manifest(tmp_path, manifest_data(task_id()))
    trust = ["--trusted-key", str(tmp_path / "ops.pub")]

    unsigned = run_cli("mcp-proxy", "--manifest", str(manifest), *trust, "--", *upstream_argv())
    assert unsigned.returncode == ExitCode.USAGE
    assert "is not signed, and trusted keys are required" in one_line(unsigned.stderr)

    foreign = tmp_path / "foreign.yaml"
    assert run_cli("sign", str(manifest), "--key", str(tmp_path / "other.key"), "-o",
                   str(foreign)).returncode == 0
    done = run_cli("mcp-proxy", "--manifest", str(foreign), *trust, "--", *upstream_argv())
    assert done.returncode == ExitCode.USAGE
    assert "which is not a trusted key" in one_line(done.stderr)

    signed = tmp_path / "signed.yaml"
    assert run_cli("sign", str(manifest), "--key", str(tmp_path / "ops.key"), "-o",
                   str(signed)).returncode == 0
    tampered = tmp_path / "tampered.yaml"
    tampered.write_text(signed.read_text().replace("calls: 5", "calls: 500"))
    done = run_cli("mcp-proxy", "--manifest", str(tampered), *trust, "--", *upstream_argv())
    assert done.returncode == ExitCode.USAGE and "does not match" in one_line(done.stderr)
    assert tool_calls(record) == []

    with anyio.fail_after(TIMEOUT):
        async with Client(proxy(signed, record, *trust), read_timeout_seconds=30) as client:
            result = await client.call_tool("read_ticket", READ)
    assert result.is_error is False
    assert tool_calls(record) == [("read_ticket", READ)]


# -- store, audit, trace, recorded values -----------------------------------------------------


@pytest.mark.asyncio
async def test_a_running_proxy_shares_its_store_and_writes_its_logs(tmp_path: Path, record: Path) -> None:
    task = task_id()
    manifest = write_manifest(tmp_path, manifest_data(task))
    store = f"sqlite:///{tmp_path / 'budgets.db'}"
    assert run_cli("store", "init", store).returncode == 0  # a SQLite store is created explicitly
    audit = tmp_path / "audit.jsonl"
    spans = tmp_path / "spans.jsonl"
    options = ["--store", store, "--audit", str(audit), "--trace", f"jsonl:{spans}", "--record-values"]
    with anyio.fail_after(TIMEOUT):
        async with Client(proxy(manifest, record, *options), read_timeout_seconds=30) as client:
            first = await client.call_tool("read_ticket", READ)
            # Another process sees what this proxy spent, and its revocation reaches the proxy.
            usage = await anyio.to_thread.run_sync(run_cli, "usage", "--store", store, task, "--json")
            revoke = await anyio.to_thread.run_sync(run_cli, "revoke", "--store", store, task,
                                                    "--reason", "case closed")
            after = await client.call_tool("read_ticket", READ)

    assert first.is_error is False
    assert usage.returncode == 0 and json.loads(usage.stdout)["usage"]["tools.read_ticket.calls"] == 1
    assert revoke.returncode == 0, revoke.stderr
    assert after.is_error is True and after.structured_content is not None
    assert after.structured_content["code"] == "revoked"
    assert tool_calls(record) == [("read_ticket", READ)]

    verified = run_cli("audit", "verify", str(audit))
    assert verified.returncode == ExitCode.OK, verified.stdout
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [e["outcome"] for e in entries] == ["allow", "deny"]
    assert entries[0]["args"] == READ  # --record-values: the values, not only the names

    lines = [json.loads(line) for line in spans.read_text().splitlines()]
    server = [s for s in lines if s["kind"] == "SERVER" and s["name"] == "tools/call read_ticket"]
    assert len(server) == 2
    assert server[0]["attributes"]["network.transport"] == "pipe"
    tools = [s for s in lines if s["name"] == "execute_tool read_ticket"]
    assert [s["parent_span_id"] for s in tools] == [s["span_id"] for s in server]
    assert json.loads(tools[0]["attributes"]["gen_ai.tool.call.arguments"]) == READ
    report = run_cli("report", str(spans), "--json")
    assert report.returncode == 0 and json.loads(report.stdout)["decisions"] == 2


# -- MCP semantic conventions, with the SDK's in-memory exporter ------------------------------


@pytest.mark.asyncio
async def test_spans_follow_the_mcp_semantic_conventions(tmp_path: Path, record: Path) -> None:
    task = task_id()
    manifest = Manifest.model_validate(manifest_data(task))
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with CapturedSpans() as captured:
        guard = Guard(manifest, store=MemoryStore(), tracer_provider=captured.provider)
        with anyio.fail_after(TIMEOUT):
            async with GuardedServer(upstream_params(record), guard) as guarded, \
                    Client(guarded.server) as client:
                await client.list_tools()
                allowed = await client.call_tool(
                    "read_ticket", READ, meta={"traceparent": f"00-{trace_id}-{parent_id}-01"})
                denied = await client.call_tool("delete_account", {"user_id": "u-1"})
        spans = captured.spans()

    assert allowed.is_error is False and denied.is_error is True
    by_name = {s.name: s for s in spans}
    listing = by_name["tools/list"]
    assert listing.kind is SpanKind.SERVER
    assert listing.attributes is not None and listing.attributes["mcp.method.name"] == "tools/list"

    call = by_name["tools/call read_ticket"]
    assert call.kind is SpanKind.SERVER
    attrs = dict(call.attributes or {})
    assert attrs["mcp.method.name"] == "tools/call"
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.name"] == "read_ticket"
    assert attrs["jsonrpc.request.id"].isdigit()
    assert attrs["mcp.protocol.version"]
    assert "error.type" not in attrs
    # The client's trace context is the parent; the guard's span is the child.
    assert call.parent is not None and call.parent.is_remote
    assert format(call.context.trace_id, "032x") == trace_id
    assert format(call.parent.span_id, "016x") == parent_id
    tool = by_name["execute_tool read_ticket"]
    assert tool.kind is SpanKind.INTERNAL
    assert tool.parent is not None and tool.parent.span_id == call.context.span_id
    assert tool.attributes is not None and tool.attributes["guardrail.decision"] == "allow"

    refused = by_name["tools/call delete_account"]
    assert refused.attributes is not None and refused.attributes["error.type"] == "tool_error"
    assert refused.status.status_code.name == "ERROR"
    assert by_name["execute_tool delete_account"].parent.span_id == refused.context.span_id  # type: ignore[union-attr]
    assert tool_calls(record) == [("read_ticket", READ)]
