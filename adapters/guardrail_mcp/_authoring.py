"""`guardrail init --mcp -- CMD ARGS...`: the tool specs an MCP server lists (`tools/list` over
stdio, every page). Registered in the entry point group `guardrail.tool_sources`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

__all__ = ["tool_specs"]

_MAX_PAGES = 1000
_TIMEOUT_SECONDS = 60.0


def tool_specs(argv: Sequence[str], where: str) -> list[dict[str, Any]]:
    """`{"name", "description", "parameters"}` for each tool the server started by `argv` lists.
    A server that cannot be started or does not answer in time is a ValueError naming it."""
    if isinstance(argv, str) or not argv:
        raise TypeError(f"{where}: the MCP server command must be a non-empty list of arguments")
    params = StdioServerParameters(command=argv[0], args=list(argv[1:]), env=dict(os.environ))
    try:
        return anyio.run(_list_tools, params, backend="asyncio")
    except TimeoutError:
        raise ValueError(f"the MCP server {where!r} did not list its tools within "
                         f"{_TIMEOUT_SECONDS:g} s") from None
    except OSError as exc:
        raise ValueError(f"cannot start the MCP server {where!r}: {exc.strerror or exc}") from None
    except Exception as exc:  # the SDK's errors (a server that exits, a protocol error), grouped
        raise ValueError(f"cannot list the tools of the MCP server {where!r}: {_reason(exc)}") from None


async def _list_tools(params: StdioServerParameters) -> list[dict[str, Any]]:
    with anyio.fail_after(_TIMEOUT_SECONDS):
        async with Client(params, cache=None) as client:
            specs: list[dict[str, Any]] = []
            cursor: str | None = None
            for _ in range(_MAX_PAGES):
                page = await client.list_tools(cursor=cursor)
                specs.extend(
                    {"name": tool.name, "description": tool.description or "",
                     "parameters": tool.input_schema}
                    for tool in page.tools
                )
                cursor = page.next_cursor
                if cursor is None:
                    break
            return specs


def _reason(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
