"""`guardrail mcp-proxy`: this adapter's command, added to the `guardrail` CLI through the entry
point group `guardrail.cli` (name `mcp-proxy`).

The MCP SDK is imported only when the command runs, so registering the command needs nothing of
it; without it the command says which extra to install.
"""

from __future__ import annotations

import argparse
from typing import Any

from guardrail.cli import CommandError, ExitCode

__all__ = ["register"]

_EXTRA = "pip install 'task-guardrail[mcp]'"


def register(subparsers: Any) -> None:
    """Add `mcp-proxy` to the `guardrail` command's subparsers."""
    p = subparsers.add_parser(
        "mcp-proxy",
        help="serve MCP on stdio in front of an upstream MCP server, exposing only what the "
        "manifest grants",
        description=(
            "Start UPSTREAM_COMMAND as an MCP server over stdio and serve MCP on this process's "
            "stdio: tools/list shows only the granted tools, every tools/call is authorized "
            "against the manifest before it is forwarded, and a denied call returns an error "
            f"result with the structured denial. Needs: {_EXTRA}."
        ),
    )
    p.add_argument("--manifest", "-m", required=True, metavar="FILE", help="the delegation manifest")
    p.add_argument(
        "--mode", choices=("enforce", "shadow"), default="enforce",
        help="shadow: list every tool, trace denials, block nothing (default: enforce)",
    )
    p.add_argument("upstream", nargs=argparse.REMAINDER, metavar="-- UPSTREAM_COMMAND [ARGS...]",
                   help="the upstream MCP server command and its arguments, after --")
    p.set_defaults(func=_cmd_mcp_proxy)


def _cmd_mcp_proxy(ns: argparse.Namespace) -> int:
    try:
        from guardrail_mcp._proxy import command
    except ImportError as exc:
        raise CommandError(f"needs the MCP Python SDK, which is not installed: {_EXTRA} ({exc})",
                           ExitCode.USAGE) from None
    return command(ns.manifest, ns.upstream, mode=ns.mode, prog="guardrail mcp-proxy")
