"""`guardrail mcp-proxy`: registered here, implemented by the `guardrail_mcp` adapter.

The adapter needs the MCP SDK (`task-guardrail[mcp]`), so it is imported only when the command
runs: the rest of the CLI works without it, and without it this command says what to install.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "mcp-proxy",
        help="serve MCP on stdio in front of an upstream MCP server, exposing only what the "
        "manifest grants",
        description=(
            "Start UPSTREAM_COMMAND as an MCP server over stdio and serve MCP on this process's "
            "stdio: tools/list shows only the granted tools, every tools/call is authorized "
            "against the manifest before it is forwarded, and a denied call returns an error "
            "result with the structured denial. Needs: pip install 'task-guardrail[mcp]'."
        ),
    )
    p.add_argument("--manifest", "-m", required=True, metavar="FILE", help="the delegation manifest")
    p.add_argument(
        "--mode", choices=("enforce", "shadow"), default="enforce",
        help="shadow: list every tool, trace denials, block nothing (default: enforce)",
    )
    p.add_argument("upstream", nargs=argparse.REMAINDER, metavar="-- UPSTREAM_COMMAND [ARGS...]")
    p.set_defaults(func=_cmd_mcp_proxy)


def _cmd_mcp_proxy(ns: argparse.Namespace) -> int:
    try:
        adapter = importlib.import_module("guardrail_mcp")
    except ImportError as exc:
        print(f"guardrail mcp-proxy: {exc}", file=sys.stderr)
        return 2
    return int(adapter.command(ns.manifest, ns.upstream, mode=ns.mode, prog="guardrail mcp-proxy"))
