"""An MCP server that forwards to an upstream MCP server through a :class:`guardrail.Guard`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Final, cast

import anyio
import anyio.abc
from mcp import Client, StdioServerParameters, types
from mcp.client import Transport
from mcp.server import MCPServer, Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from guardrail import DelegationDenied, Denial, Guard, json_schema_defaults

__all__ = ["DENIAL_META_KEY", "GuardedServer", "Upstream", "UpstreamClosed", "denial_result"]

logger = logging.getLogger("guardrail_mcp")

DENIAL_META_KEY: Final = "task-guardrail/denial"
"""Key under a denied result's ``_meta`` holding the full denial record (for hosts, not models)."""

_MAX_LIST_PAGES: Final = 1000
"""Upper bound on upstream ``tools/list`` pages, so a paginator that never ends cannot hang a listing."""

Upstream = Client | StdioServerParameters | str | Server[Any] | MCPServer | Transport
"""What :class:`GuardedServer` forwards to: anything ``mcp.Client`` connects to, or an un-entered
``Client``."""


class UpstreamClosed(RuntimeError):
    """Raised for a call the guard allowed after access to the upstream had already ended."""


def denial_result(denial: Denial) -> types.CallToolResult:
    """The ``tools/call`` result for a denied call.

    ``isError`` is true; the text content is the denial's one-sentence message; the
    structured content is ``denial.for_model()`` (what a model may see); the complete
    denial record (task, principal, manifest digest, budget use, call id, time) is under
    ``_meta[DENIAL_META_KEY]`` for the host application.
    """
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=denial.message)],
        structured_content=denial.for_model(),
        is_error=True,
        _meta={DENIAL_META_KEY: denial.model_dump(mode="json")},
    )


class GuardedServer:
    """A low-level MCP ``Server`` exposing an upstream server's tools through a guard.

    * ``tools/list`` returns the upstream's tools that the manifest grants, their
      definitions unchanged (in ``shadow`` mode every upstream tool is listed, since
      shadow mode never blocks).
    * ``tools/call`` runs through ``guard.ainvoke`` so the ``execute_tool`` span wraps the
      forwarded call; an allowed call's upstream result is returned unchanged, a denied
      call never reaches the upstream and returns :func:`denial_result`.
    * Progress the upstream reports for a forwarded call is relayed to the caller.
    * Resources, prompts and completions are not exposed. Sampling and elicitation requests
      from the upstream are not relayed to the client (the upstream gets the SDK's default
      answer).
    * Access ends when the manifest expires (by the guard's clock) or when the
      context exits: the upstream connection is closed (a subprocess upstream is shut
      down) and every later call is denied by the guard or fails with ``UpstreamClosed``.
      A manifest that is already expired never connects to the upstream at all.

    Use it as an async context manager, then serve :attr:`server` on any MCP transport::

        async with GuardedServer(StdioServerParameters(command="upstream"), guard) as proxy:
            async with Client(proxy.server) as client:  # in-process, e.g. in tests
                ...
            # or: await proxy.serve_stdio()

    ``upstream`` is anything ``mcp.Client`` accepts (``StdioServerParameters``, a URL, an
    in-process ``Server``/``MCPServer``, a ``Transport``) or an un-entered ``mcp.Client``
    configured by the caller; either way this object enters and closes it.
    """

    def __init__(
        self,
        upstream: Upstream,
        guard: Guard,
        *,
        name: str = "task-guardrail",
        version: str | None = None,
        instructions: str | None = None,
    ) -> None:
        self.guard = guard
        self._upstream_target = upstream
        self._client: Client | None = None
        self._defaults: dict[str, dict[str, Any]] = {}  # tool -> defaults from its inputSchema
        self._ended = anyio.Event()
        self._stop = anyio.Event()
        self._exit_stack: AsyncExitStack | None = None
        self.server: Server[Any] = Server(
            name,
            version=version if version is not None else _package_version(),
            instructions=instructions,
            on_list_tools=self._on_list_tools,
            on_call_tool=self._on_call_tool,
        )

    # -- lifecycle -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether calls can currently reach the upstream."""
        return self._client is not None

    async def wait_ended(self) -> None:
        """Wait until access to the upstream has ended (expiry or :meth:`end_access`)."""
        await self._ended.wait()

    def end_access(self) -> None:
        """End access now: the upstream is disconnected (and a subprocess shut down)."""
        self._stop.set()

    async def __aenter__(self) -> GuardedServer:
        if self._exit_stack is not None or self._ended.is_set():
            raise RuntimeError("a GuardedServer can be entered once")
        async with AsyncExitStack() as stack:
            task_group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._stop.set)  # runs first on exit: lets the owner task close the upstream
            await task_group.start(self._own_upstream)
            self._exit_stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._exit_stack = self._exit_stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)

    async def _own_upstream(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Enter, hold and close the upstream client in one task (anyio scopes require it).

        A failure to connect propagates (out of ``__aenter__``); a failure while closing is
        logged, since access has ended either way.
        """
        started = False
        try:
            remaining = _seconds_left(self.guard)
            if remaining is not None and remaining <= 0:
                logger.warning("the manifest for task %r has expired: upstream not started", self.guard.task)
                task_status.started()
                return
            client = self._make_client()
            async with client:
                self._client = client
                task_status.started()
                started = True
                with anyio.move_on_after(remaining):
                    await self._stop.wait()
                self._client = None
                if not self._stop.is_set():
                    logger.warning("the manifest for task %r expired: upstream disconnected", self.guard.task)
        except Exception:
            if not started:
                raise
            logger.exception("closing the upstream MCP connection failed")
        finally:
            self._client = None
            self._ended.set()

    def _make_client(self) -> Client:
        target = self._upstream_target
        if isinstance(target, Client):
            return target
        # No response cache: every listing must reflect the upstream as it is now.
        return Client(target, cache=None)

    async def serve_stdio(self) -> None:
        """Serve :attr:`server` on this process's stdin/stdout until the client disconnects."""
        from guardrail_mcp._stdio import stdio_streams

        async with stdio_streams() as (read_stream, write_stream):
            await self.server.run(read_stream, write_stream, self.server.create_initialization_options())

    # -- handlers --------------------------------------------------------------------

    async def _on_list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        client = self._client
        if client is None:
            return types.ListToolsResult(tools=[])
        tools: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(_MAX_LIST_PAGES):
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        for tool in tools:
            self._defaults[tool.name] = json_schema_defaults(tool.input_schema)
        if self.guard.mode != "shadow":
            granted: Mapping[str, Any] = self.guard.manifest.tools
            tools = [tool for tool in tools if tool.name in granted]
        return types.ListToolsResult(tools=tools)

    async def _on_call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        name = params.name
        sent = params.arguments
        call_id = None if ctx.request_id is None else str(ctx.request_id)

        async def relay_progress(progress: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(progress, total, message)  # no-op unless the caller asked

        async def forward(**arguments: Any) -> types.CallToolResult:
            client = self._client
            if client is None:
                raise UpstreamClosed(f"access to the upstream MCP server has ended; {name!r} was not called")
            # Forward exactly what the guard checked; keep an absent `arguments` absent.
            return await client.call_tool(
                name,
                arguments if (arguments or sent is not None) else None,
                progress_callback=relay_progress,
            )

        if name not in self._defaults and name in self.guard.manifest.tools:
            await self._on_list_tools(ctx, None)  # learn the tool's defaults before deciding
        try:
            result = cast(
                types.CallToolResult,
                await self.guard.ainvoke(
                    name, forward, sent or {}, call_id=call_id, defaults=self._defaults.get(name)
                ),
            )
        except DelegationDenied as denied:
            return denial_result(denied.denial)
        except UpstreamClosed as closed:
            raise MCPError(code=types.INTERNAL_ERROR, message=str(closed)) from closed
        return _without_upstream_stamp(result)


def _seconds_left(guard: Guard) -> float | None:
    """Seconds until the manifest expires, by the guard's clock (a delegated guard's manifest
    never outlives its parent's)."""
    clock: Callable[[], float] = getattr(guard, "clock", time.time)
    expires_at = guard.manifest.expires_at  # always set once loaded; typed optional
    return None if expires_at is None else expires_at.timestamp() - clock()


def _without_upstream_stamp(result: types.CallToolResult) -> types.CallToolResult:
    """Drop the upstream's ``serverInfo`` stamp: it names the hop, and this server is the hop now.

    Everything else (content, structured content, ``isError``, other ``_meta``) is untouched.
    """
    meta = result.meta
    if not meta or types.SERVER_INFO_META_KEY not in meta:
        return result
    rest = {key: value for key, value in meta.items() if key != types.SERVER_INFO_META_KEY}
    return result.model_copy(update={"meta": rest or None})


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("task-guardrail")
    except PackageNotFoundError:
        return "0"
