"""An example upstream MCP server (stdio) for trying and testing ``guardrail mcp-proxy``.

It offers a small support-desk toolkit, deliberately wider than any one task needs
(``delete_account``, ``export_customers``), plus a resource and a prompt, which the
proxy never exposes. ``enable_beta_tools`` registers one more tool at runtime, to show
that a tool the upstream adds later is still denied unless the manifest grants it.

If the environment variable ``GUARDRAIL_UPSTREAM_RECORD`` names a file, the server
appends one JSON line per event to it: ``start`` (with its pid and parent pid), every
request it receives (``method``, and for ``tools/call`` the ``tool`` and ``arguments``),
and ``stop`` when it shuts down cleanly (its stdin closed). Tests read that record to
prove that a denied call never reached the upstream.

Run it behind the proxy::

    guardrail mcp-proxy --manifest examples/mcp_manifest.yaml -- python examples/mcp_upstream.py
"""

from __future__ import annotations

import json
import os
from typing import Any

from mcp.server import MCPServer, ServerRequestContext
from mcp.server.context import CallNext, HandlerResult

RECORD_ENV = "GUARDRAIL_UPSTREAM_RECORD"


def record(event: dict[str, Any]) -> None:
    path = os.environ.get(RECORD_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as file:
        file.write(json.dumps(event, sort_keys=True) + "\n")


async def record_requests(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Server middleware: record each request as it arrives, before the tool runs."""
    if ctx.request_id is not None:
        event: dict[str, Any] = {"event": "request", "method": ctx.method}
        if ctx.method == "tools/call" and ctx.params is not None:
            event["tool"] = ctx.params.get("name")
            event["arguments"] = ctx.params.get("arguments")
            meta = ctx.params.get("_meta") or {}
            event["traceparent"] = meta.get("traceparent")
        record(event)
    return await call_next(ctx)


server = MCPServer("support-desk", version="1.0", middleware=[record_requests])

TICKETS = {
    "T-1001": {"ticket_id": "T-1001", "queue": "support-eu", "subject": "Refund for order ORD-004711"},
    "T-1002": {"ticket_id": "T-1002", "queue": "billing", "subject": "Invoice address"},
}


@server.tool()
def read_ticket(ticket_id: str, queue: str = "support-eu") -> dict[str, str]:
    """Read a support ticket."""
    ticket = TICKETS.get(ticket_id)
    if ticket is None or ticket["queue"] != queue:
        raise ValueError(f"no ticket {ticket_id} in queue {queue}")
    return ticket


@server.tool()
def send_refund(order_id: str, amount: float, currency: str = "EUR") -> str:
    """Refund an amount on an order."""
    return f"refunded {amount:.2f} {currency} on {order_id}"


@server.tool()
def delete_account(user_id: str) -> str:
    """Delete a customer account and all its data."""
    return f"deleted {user_id}"


@server.tool()
def export_customers(destination: str) -> str:
    """Export the whole customer database to a URL."""
    return f"exported to {destination}"


def export_all_tickets(destination: str) -> str:
    """Export every ticket to a URL (a beta tool, registered at runtime)."""
    return f"exported tickets to {destination}"


@server.tool()
def enable_beta_tools() -> str:
    """Register the beta tools (adds `export_all_tickets` to this server's tools)."""
    server.add_tool(export_all_tickets)
    return "beta tools enabled"


@server.resource("tickets://{ticket_id}")
def ticket_resource(ticket_id: str) -> str:
    """A ticket as a resource."""
    return json.dumps(TICKETS.get(ticket_id))


@server.prompt()
def triage(ticket_id: str) -> str:
    """Prompt: triage a ticket."""
    return f"Triage ticket {ticket_id}."


def main() -> None:
    record({"event": "start", "pid": os.getpid(), "ppid": os.getppid()})
    server.run("stdio")
    record({"event": "stop", "pid": os.getpid()})


if __name__ == "__main__":
    main()
