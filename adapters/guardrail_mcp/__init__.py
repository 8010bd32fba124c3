"""Guard an MCP server's tools with a delegation manifest.

Two ways in:

* :class:`GuardedServer` wraps an upstream MCP server (a subprocess command, a URL, an
  in-process ``Server``/``MCPServer`` or an ``mcp.Client``) in a low-level MCP ``Server``
  that lists only the granted tools and authorizes every ``tools/call`` with a
  :class:`guardrail.Guard` before forwarding it.
* :func:`run_proxy` / :func:`main` run that as a stdio MCP server in front of an upstream
  command (``guardrail mcp-proxy --manifest M.yaml -- UPSTREAM_COMMAND [ARGS...]``).

The adapter holds no policy: every decision is the guard's.
"""

from __future__ import annotations

try:
    import mcp as _mcp  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "guardrail_mcp needs the MCP Python SDK (mcp>=2). Install it with: pip install 'task-guardrail[mcp]'"
    ) from exc

from guardrail_mcp._proxy import build_parser, command, main, run_proxy
from guardrail_mcp._server import (
    APPROVAL_SCHEMA,
    DENIAL_META_KEY,
    ELICITED_BY,
    GuardedServer,
    UpstreamClosed,
    denial_result,
    invalid_arguments_result,
)

__all__ = [
    "APPROVAL_SCHEMA",
    "DENIAL_META_KEY",
    "ELICITED_BY",
    "GuardedServer",
    "UpstreamClosed",
    "build_parser",
    "command",
    "denial_result",
    "invalid_arguments_result",
    "main",
    "run_proxy",
]
