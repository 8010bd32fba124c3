"""An upstream MCP server whose tools take typed arguments, which it coerces as Python MCP servers
do (`"0"` becomes `0` for an `int`). Each tool reports what it actually received: in process to
the function given to `make_server`; run as a script (stdio), to the file named by
`GUARDRAIL_UPSTREAM_RECORD`, one JSON line a call."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from mcp.server import MCPServer

Received = Callable[[dict[str, Any]], None]


def make_server(received: Received) -> MCPServer:
    server = MCPServer("typed")

    @server.tool()
    def act(user_id: int, flag: bool, amount: float, limit: int | None = 10) -> str:
        """Act on a user's account."""
        received({"user_id": user_id, "flag": flag, "amount": amount, "limit": limit})
        return f"acted on {user_id}"

    return server


def _to_file(values: dict[str, Any]) -> None:
    path = os.environ.get("GUARDRAIL_UPSTREAM_RECORD")
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps(values) + "\n")


if __name__ == "__main__":
    make_server(_to_file).run("stdio")
