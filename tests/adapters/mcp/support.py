"""Helpers for the MCP adapter tests: manifests, the example upstream, a process-owning transport."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import mcp.types as types
import pytest
from anyio.streams.text import TextReceiveStream
from mcp import StdioServerParameters
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.shared.message import SessionMessage

ROOT = Path(__file__).resolve().parents[3]
UPSTREAM_SCRIPT = ROOT / "examples" / "mcp_upstream.py"
RECORD_ENV = "GUARDRAIL_UPSTREAM_RECORD"



def _proxy_entry() -> list[str]:
    """How the tests start the proxy: the `guardrail mcp-proxy` subcommand once the core CLI
    has it, else the adapter's own `python -m guardrail_mcp` (the same code behind both)."""
    try:
        from guardrail._cli._main import build_parser

        commands = next(
            action.choices
            for action in build_parser()._actions
            if isinstance(action.choices, dict) and "validate" in action.choices
        )
    except Exception:
        commands = {}
    if "mcp-proxy" in commands:
        return [sys.executable, "-m", "guardrail", "mcp-proxy"]
    return [sys.executable, "-m", "guardrail_mcp"]


PROXY_ENTRY = _proxy_entry()

TIMEOUT = 60  # seconds any one subprocess test may take before it fails (never a timing assertion)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python: this one, with the repo and the adapters importable."""
    path = [str(ROOT), str(ROOT / "adapters")]
    if os.environ.get("PYTHONPATH"):
        path.insert(0, os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path), **extra}


def write_manifest(directory: Path, manifest: dict[str, Any], name: str = "manifest.yaml") -> Path:
    path = directory / name
    path.write_text(json.dumps(manifest, indent=2))  # JSON is YAML
    return path


def upstream_argv() -> list[str]:
    return [sys.executable, str(UPSTREAM_SCRIPT)]


def proxy_argv(manifest: Path, *, mode: str | None = None) -> list[str]:
    argv = [*PROXY_ENTRY, "--manifest", str(manifest)]
    if mode is not None:
        argv += ["--mode", mode]
    return [*argv, "--", *upstream_argv()]


def proxy_params(manifest: Path, record: Path, *, mode: str | None = None) -> StdioServerParameters:
    command, *args = proxy_argv(manifest, mode=mode)
    return StdioServerParameters(command=command, args=args, env=child_env(**{RECORD_ENV: str(record)}))


def upstream_params(record: Path) -> StdioServerParameters:
    command, *args = upstream_argv()
    return StdioServerParameters(command=command, args=args, env=child_env(**{RECORD_ENV: str(record)}))


def read_record(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def tool_calls(path: Path) -> list[tuple[str, Any]]:
    """(tool, arguments) of every tools/call the upstream received, in order."""
    return [
        (event["tool"], event["arguments"])
        for event in read_record(path)
        if event.get("method") == "tools/call"
    ]


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll until `predicate()` holds; fail (not a timing assertion: a bounded wait) otherwise."""
    try:
        with anyio.fail_after(timeout):
            while not predicate():
                await anyio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"gave up waiting for {what}")


def make_upstream(calls: list[tuple[str, dict[str, Any]]]) -> MCPServer:
    """A fresh in-process upstream whose tools append (tool, arguments) to `calls` when they run."""
    server = MCPServer("in-process-upstream")

    @server.tool()
    def read_ticket(ticket_id: str, queue: str = "support-eu") -> dict[str, str]:
        """Read a support ticket."""
        calls.append(("read_ticket", {"ticket_id": ticket_id, "queue": queue}))
        return {"ticket_id": ticket_id, "queue": queue, "subject": "Refund"}

    @server.tool()
    def send_refund(order_id: str, amount: float, currency: str = "EUR") -> str:
        """Refund an amount on an order."""
        calls.append(("send_refund", {"order_id": order_id, "amount": amount, "currency": currency}))
        return f"refunded {amount:.2f} {currency} on {order_id}"

    @server.tool()
    def delete_account(user_id: str) -> str:
        """Delete a customer account."""
        calls.append(("delete_account", {"user_id": user_id}))
        return f"deleted {user_id}"

    @server.tool()
    async def export_tickets(destination: str, ctx: Context) -> str:
        """Export tickets, reporting progress."""
        calls.append(("export_tickets", {"destination": destination}))
        for done in (1, 2):
            await ctx.report_progress(done, 2, f"batch {done}")
        return f"exported to {destination}"

    @server.resource("tickets://{ticket_id}")
    def ticket(ticket_id: str) -> str:
        """A ticket."""
        return ticket_id

    @server.prompt()
    def triage(ticket_id: str) -> str:
        """Triage a ticket."""
        return f"Triage {ticket_id}"

    return server


class ProcessTransport:
    """An MCP client transport over a child process this test owns (so it can signal it and
    read its exit status), speaking newline-delimited JSON-RPC on its stdin/stdout."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv = argv
        self.env = env
        self.process: anyio.abc.Process | None = None
        self._cm: Any = None

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[Any]:
        process = await anyio.open_process(self.argv, env=self.env, stderr=None)
        self.process = process
        assert process.stdin is not None and process.stdout is not None
        stdin, stdout = process.stdin, process.stdout
        to_client_send, to_client_recv = anyio.create_memory_object_stream[SessionMessage | Exception](16)
        to_server_send, to_server_recv = anyio.create_memory_object_stream[SessionMessage](16)

        async def pump_out() -> None:
            buffer = ""
            async with to_client_send:
                async for chunk in TextReceiveStream(stdout):
                    *lines, buffer = (buffer + chunk).split("\n")
                    for line in lines:
                        if line.strip():
                            message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                            await to_client_send.send(SessionMessage(message))

        async def pump_in() -> None:
            async with to_server_recv:
                async for session_message in to_server_recv:
                    data = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await stdin.send((data + "\n").encode())

        try:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(pump_out)
                task_group.start_soon(pump_in)
                try:
                    yield to_client_recv, to_server_send
                finally:
                    task_group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)

    async def __aenter__(self) -> Any:
        self._cm = self._connect()
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        await self._cm.__aexit__(*exc)


async def _stop(process: anyio.abc.Process) -> None:
    """Close stdin, wait a bounded while, then kill: never leave a child behind."""
    if process.stdin is not None:
        with anyio.move_on_after(1):
            await process.stdin.aclose()
    with anyio.move_on_after(10):
        await process.wait()
    if process.returncode is None:
        process.kill()
        await process.wait()
