"""An MCP server that forwards to an upstream MCP server through a :class:`guardrail.Guard`."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from types import TracebackType
from typing import Any, Final, cast

import anyio
import anyio.abc
from mcp import Client, StdioServerParameters, types
from mcp.client import Transport
from mcp.server import MCPServer, Server, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types.version import is_version_at_least
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, StatusCode

from guardrail import (
    Approval,
    ApprovalRequest,
    ApprovalRequired,
    DelegationDenied,
    Denial,
    Guard,
    ManifestError,
    json_schema_defaults,
)

__all__ = [
    "APPROVAL_SCHEMA",
    "DENIAL_META_KEY",
    "ELICITED_BY",
    "GuardedServer",
    "Upstream",
    "UpstreamClosed",
    "denial_result",
    "invalid_arguments_result",
]

logger = logging.getLogger("guardrail_mcp")

DENIAL_META_KEY: Final = "task-guardrail/denial"
"""Key under a denied result's ``_meta`` holding the full denial record (for hosts, not models)."""

APPROVAL_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "approve": {"type": "boolean", "title": "Approve",
                    "description": "Run this call, with exactly these arguments, once"},
        "reason": {"type": "string", "title": "Reason", "description": "Why (optional; recorded)"},
    },
    "required": ["approve"],
}
"""The ``requestedSchema`` of the elicitation that puts a call to the client's user: the call runs
only for the action ``accept`` with ``approve`` true."""

ELICITED_BY: Final = "mcp-elicitation"
"""Who answered, as the guard records an answer given through the client's elicitation (the
client's user; MCP does not say who they are)."""

_INPUT_REQUIRED_VERSION: Final = "2026-07-28"
"""From this protocol revision a server asks inside an ``input_required`` result of the
``tools/call`` (answered on the client's retry), no longer by a request of its own mid-call."""

_MAX_LIST_PAGES: Final = 1000
"""Upper bound on upstream ``tools/list`` pages, so a paginator that never ends cannot hang a listing."""

Upstream = Client | StdioServerParameters | str | Server[Any] | MCPServer | Transport
"""What :class:`GuardedServer` forwards to: anything ``mcp.Client`` connects to, or an un-entered
``Client``."""


class UpstreamClosed(RuntimeError):
    """Raised for a call the guard allowed after access to the upstream had already ended."""


def denial_result(denial: Denial) -> types.CallToolResult:
    """The ``tools/call`` result for a denied call.

    ``isError`` is true; the text content is ``denial.to_model_json()`` (what every adapter
    shows a model) and the structured content the same object, ``denial.for_model()``; the
    complete denial record (task, principal, manifest digest, budget use, call id, time) is
    under ``_meta[DENIAL_META_KEY]`` for the host application.
    """
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=denial.to_model_json())],
        structured_content=denial.for_model(),
        is_error=True,
        _meta={DENIAL_META_KEY: denial.model_dump(mode="json")},
    )


class _ToolSchema:
    """What the proxy takes from an upstream tool's ``inputSchema`` (read at each listing)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.source = schema
        properties = schema.get("properties")
        self.names = frozenset(properties) if isinstance(properties, Mapping) else frozenset()
        required = schema.get("required")
        self.optional = self.names - frozenset(required if isinstance(required, list) else ())
        self.open = schema.get("additionalProperties", False) is not False
        self.defaults = json_schema_defaults(schema)
        self._validate = _strict_validator(schema)

    def arguments(self, sent: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments without a null for an optional one: models send null for the optional
        parameters they do not use, which means "left out" (the upstream uses its default)."""
        return {k: v for k, v in sent.items() if v is not None or k not in self.optional}

    def problem(self, arguments: Mapping[str, Any]) -> str | None:
        """Why the arguments do not match the schema, or None when they do."""
        return self._validate(arguments)


def _strict_validator(schema: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], str | None]:
    """A check of arguments against ``schema`` in which every value must have the JSON type the
    schema gives it (an integer is an ``int``, never ``1.0``).

    The upstream coerces what it receives by rules the proxy cannot see (``"0"`` becomes ``0``
    for a Python server, not for others): a value of another JSON type could pass the guard as a
    string and reach the tool as the number a constraint denies. So arguments the guard allowed
    are forwarded only when every value has the schema's JSON type, which the upstream takes as
    it is; others are refused as invalid, as a validating upstream would refuse them. (Rather
    than guess each upstream's coercion rules: a guess that is wrong once lets a value through.)
    A schema that is not valid JSON Schema refuses every call (fail closed).
    """
    from jsonschema import exceptions, validators  # type: ignore[import-untyped]  # no stubs installed

    base = validators.validator_for(schema, default=validators.Draft202012Validator)
    strict = _STRICT.get(base)
    if strict is None:
        checker = base.TYPE_CHECKER.redefine("integer", lambda _, v: type(v) is int)
        strict = _STRICT[base] = validators.extend(base, type_checker=checker)
    try:
        strict.check_schema(schema)
    except exceptions.SchemaError as bad:
        reason = f"its inputSchema is not valid JSON Schema ({bad.message})"
        return lambda _: reason
    validator = strict(schema)

    def problem(arguments: Mapping[str, Any]) -> str | None:
        try:
            error = exceptions.best_match(validator.iter_errors(arguments))
        except Exception as failed:  # e.g. a $ref it cannot resolve: refuse, never forward unchecked
            return f"its inputSchema cannot be applied ({type(failed).__name__})"
        if error is None:
            return None
        where = f" at {error.json_path}" if error.absolute_path else ""
        return f"{error.message}{where}"

    return problem


_STRICT: dict[type[Any], type[Any]] = {}


def invalid_arguments_result(tool: str, problem: str) -> types.CallToolResult:
    """The ``tools/call`` result for arguments that do not match the upstream tool's schema."""
    text = f"Invalid arguments for tool {tool!r}: {problem}"
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


class GuardedServer:
    """A low-level MCP ``Server`` exposing an upstream server's tools through a guard.

    * ``tools/list`` returns the upstream's tools that the manifest grants, their
      definitions unchanged (in ``shadow`` mode every upstream tool is listed, since
      shadow mode never blocks).
    * ``tools/call`` runs through ``guard.ainvoke`` so the ``execute_tool`` span wraps the
      forwarded call; an allowed call's upstream result is returned unchanged, a denied
      call never reaches the upstream and returns :func:`denial_result`. A null for an
      argument the tool's ``inputSchema`` does not require counts as left out (the upstream
      uses its default); the upstream receives exactly the arguments the guard checked, and
      only when each value has the JSON type the ``inputSchema`` gives it (the upstream would
      coerce others, after the check): otherwise the result is :func:`invalid_arguments_result`.
    * A call the guard asks about (a grant's ``ask``) is put to the client's user by
      elicitation when the client declared it (``elicitation/create`` with
      :data:`APPROVAL_SCHEMA`; from protocol 2026-07-28 inside an ``input_required`` result,
      keyed by the approval request id): only ``accept`` with ``approve`` true runs it, as an
      approval of the guard's request; any other answer is recorded as a refusal and returns the
      ``approval_denied`` denial. A client that cannot be asked gets the ``approval_required``
      denial, whose ``structuredContent`` carries the request id (``approval_id``) for an
      operator to approve before the identical retry. ``elicitation=False`` never asks the
      client (every ask is answered out of band): for a client whose elicitations may be
      answered by the agent it serves rather than by a person.
    * Entering checks the manifest against the upstream's ``tools/list``: a constraint on an
      argument a tool does not take is a :class:`guardrail.ManifestError`.
    * Progress the upstream reports for a forwarded call is relayed to the caller.
    * Each ``tools/list`` and ``tools/call`` is a SERVER span following the MCP semantic
      conventions (``tools/call {name}``, ``mcp.method.name``, ``jsonrpc.request.id``,
      ``mcp.protocol.version``, ``network.transport`` on stdio) and, for a call, the GenAI ones
      (``gen_ai.operation.name`` ``execute_tool``, ``gen_ai.tool.name``); its parent is the
      trace context the client sent in ``params._meta`` (``traceparent``), and the guard's
      ``execute_tool`` span is its child. An error result (a denial too) sets ``error.type``
      ``tool_error``, as the conventions say.
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
        elicitation: bool = True,
    ) -> None:
        self.guard = guard
        self.elicitation = elicitation
        self._upstream_target = upstream
        self._client: Client | None = None
        self._schemas: dict[str, _ToolSchema] = {}  # tool -> what its inputSchema says
        self._ended = anyio.Event()
        self._stop = anyio.Event()
        self._exit_stack: AsyncExitStack | None = None
        self._transport: str | None = None  # network.transport, once served on stdio
        self._tracer = trace.get_tracer("guardrail_mcp", _package_version(),
                                        tracer_provider=guard.tracer_provider)
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
        if self._client is not None:
            try:
                await self._check_manifest()
            except BaseException:
                # Closed first, then raised as it is (inside the task group it would come out as
                # an ExceptionGroup).
                await self.__aexit__(None, None, None)
                raise
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

        self._transport = "pipe"
        async with stdio_streams() as (read_stream, write_stream):
            await self.server.run(read_stream, write_stream, self.server.create_initialization_options())

    # -- handlers --------------------------------------------------------------------

    async def _upstream_tools(self) -> list[types.Tool]:
        """The upstream's tools as it lists them now; what their schemas say is kept."""
        client = self._client
        if client is None:
            return []
        tools: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(_MAX_LIST_PAGES):
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        for tool in tools:
            known = self._schemas.get(tool.name)
            if known is None or known.source != tool.input_schema:  # compiled once per schema
                self._schemas[tool.name] = _ToolSchema(tool.input_schema)
        return tools

    async def _check_manifest(self) -> None:
        """A `ManifestError` for every argument the manifest constrains that the upstream's tool
        does not take (as `Guard.wrap` does against a function's signature): such a constraint
        never applies, and a required one denies every call."""
        if not any(grant and grant.args for grant in self.guard.manifest.tools.values()):
            return  # nothing to check: no need to ask the upstream
        listed = {tool.name for tool in await self._upstream_tools()}
        problems: list[str] = []
        for name in self.guard.manifest.tools:
            if name in listed:
                schema = self._schemas[name]
                try:
                    self.guard.check_arguments(name, schema.names, others=schema.open,
                                               what=f"the upstream tool {name!r}")
                except ManifestError as misfit:
                    problems += misfit.problems
        if problems:
            raise ManifestError(problems)

    @contextmanager
    def _server_span(self, ctx: ServerRequestContext[Any], method: str, tool: str | None = None
                     ) -> Iterator[Span]:
        """The SERVER span of one request, by the MCP semantic conventions."""
        attributes: dict[str, str] = {"mcp.method.name": method}
        if ctx.request_id is not None:
            attributes["jsonrpc.request.id"] = str(ctx.request_id)
        if ctx.protocol_version:
            attributes["mcp.protocol.version"] = ctx.protocol_version
        if self._transport is not None:
            attributes["network.transport"] = self._transport
        if tool is not None:
            attributes["gen_ai.operation.name"] = "execute_tool"
            attributes["gen_ai.tool.name"] = tool
        # The client's trace context travels in params._meta (traceparent, tracestate).
        carrier = {k: v for k, v in (ctx.meta or {}).items() if isinstance(v, str)}
        with self._tracer.start_as_current_span(
            method if tool is None else f"{method} {tool}", context=propagate.extract(carrier),
            kind=SpanKind.SERVER, attributes=attributes,
        ) as span:
            try:
                yield span
            except MCPError as exc:  # a JSON-RPC error response
                span.set_attribute("error.type", str(exc.error.code))
                span.set_attribute("rpc.response.status_code", str(exc.error.code))
                span.set_status(StatusCode.ERROR, exc.error.message)
                raise

    async def _on_list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        with self._server_span(ctx, "tools/list"):
            tools = await self._upstream_tools()
            if self.guard.mode != "shadow":
                granted: Mapping[str, Any] = self.guard.manifest.tools
                tools = [tool for tool in tools if tool.name in granted]
            return types.ListToolsResult(tools=tools)

    async def _on_call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        with self._server_span(ctx, "tools/call", params.name) as span:
            result = await self._call_tool(ctx, params)
            if isinstance(result, types.CallToolResult) and result.is_error:
                span.set_attribute("error.type", "tool_error")
                span.set_status(StatusCode.ERROR)
            return result

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        name = params.name
        sent = params.arguments
        call_id = None if ctx.request_id is None else str(ctx.request_id)

        if name not in self._schemas and name in self.guard.manifest.tools:
            await self._upstream_tools()  # learn the tool's schema before deciding
        schema = self._schemas.get(name)

        async def relay_progress(progress: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(progress, total, message)  # no-op unless the caller asked

        async def forward(**arguments: Any) -> types.CallToolResult:
            client = self._client
            if client is None:
                raise UpstreamClosed(f"access to the upstream MCP server has ended; {name!r} was not called")
            # Allowed: what the guard checked goes out only if the upstream takes it as it is.
            problem = None if schema is None else schema.problem(arguments)
            if problem is not None:
                return invalid_arguments_result(name, problem)
            # Forward exactly what the guard checked; keep an absent `arguments` absent.
            return await client.call_tool(
                name,
                arguments if (arguments or sent is not None) else None,
                progress_callback=relay_progress,
            )

        arguments = sent or {}
        if schema is not None:
            arguments = schema.arguments(arguments)

        async def invoke(approval: Approval | None = None) -> types.CallToolResult:
            try:
                result = cast(
                    types.CallToolResult,
                    await self.guard.ainvoke(
                        name, forward, arguments, call_id=call_id,
                        defaults=None if schema is None else schema.defaults, approval=approval,
                    ),
                )
            except ApprovalRequired:
                raise  # the caller puts it to the client's user (or returns it)
            except DelegationDenied as denied:
                if not self.guard.owns(denied):
                    raise  # the tool's own error, not this guard's decision
                return denial_result(denied.denial)
            except UpstreamClosed as closed:
                raise MCPError(code=types.INTERNAL_ERROR, message=str(closed)) from closed
            return _without_upstream_stamp(result)

        try:
            return await invoke()
        except ApprovalRequired as asked:
            if not self.guard.owns(asked):
                raise  # the tool's own error, not this guard's decision
            if asked.request is None:
                return denial_result(asked.denial)
            answer = await self._ask(ctx, params, asked.request)
            if answer is None:  # no way to ask this client: an operator answers out of band
                return denial_result(asked.denial)
            if isinstance(answer, types.InputRequiredResult):
                return answer
        try:
            # The guard's own step: an approval runs (and charges) the call once, a refusal is
            # recorded and denied `approval_denied`.
            return await invoke(answer)
        except ApprovalRequired as again:  # never for an answer to this call's request; fail closed
            if not self.guard.owns(again):
                raise
            return denial_result(again.denial)

    async def _ask(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams, request: ApprovalRequest
    ) -> Approval | types.InputRequiredResult | None:
        """Put a call the guard asks about to the client's user by elicitation.

        Returns the user's answer as an `Approval` of ``request`` (anything but an accepted form
        with ``approve`` true refuses), an ``input_required`` result asking for it (protocol
        2026-07-28 and later: the client answers on its retry of the same call, keyed by the
        request id), or None when this client cannot be asked (it did not declare elicitation,
        or the connection has no channel back to it).
        """
        session = ctx.session
        if not self.elicitation or not _asks_forms(session.client_capabilities):
            return None
        message = _approval_message(request)
        if is_version_at_least(session.protocol_version, _INPUT_REQUIRED_VERSION):
            answers = params.input_responses or {}
            if request.id not in answers:
                return types.InputRequiredResult(input_requests={request.id: types.ElicitRequest(
                    params=types.ElicitRequestFormParams(message=message, requested_schema=APPROVAL_SCHEMA),
                )})
            return _approval_of(request, answers[request.id])
        if not session.can_send_request:
            return None
        return await _answer_of(request, session.elicit_form(
            message, APPROVAL_SCHEMA, related_request_id=ctx.request_id), _seconds_until(request, self.guard))


def _asks_forms(capabilities: types.ClientCapabilities | None) -> bool:
    """Whether the client declared form-mode elicitation (an empty ``elicitation`` object means
    form mode; a client that declared only URL mode cannot show the approval form)."""
    declared = None if capabilities is None else capabilities.elicitation
    return declared is not None and (declared.form is not None or declared.url is None)


def _approval_message(request: ApprovalRequest) -> str:
    """The elicitation message that puts ``request`` to the client's user: the tool, the guard's
    reason (the ask rule, as written) and the arguments as the guard checked them."""
    arguments = json.dumps(request.args, ensure_ascii=False, sort_keys=True, default=str)
    return (f"Approve the call of tool {request.tool!r} (task {request.task!r})?\n"
            f"Why you are asked: {request.reason}\n"
            f"Arguments: {arguments}\n"
            f"Request {request.id}, valid until {request.expires_at.isoformat()}.")


async def _answer_of(
    request: ApprovalRequest, asking: Awaitable[types.ElicitResult], seconds: float
) -> Approval:
    """Await the client's answer to an elicitation, until the request expires: a failed or
    unanswered elicitation refuses."""
    try:
        with anyio.fail_after(max(seconds, 0.0)):
            answer = await asking
    except TimeoutError:
        return _refusal(request, "no answer to the elicitation before the request expired")
    except Exception as failed:  # an error response, a malformed result, a lost channel
        logger.warning("the elicitation for approval request %s failed: %s", request.id, failed)
        return _refusal(request, f"the elicitation failed ({type(failed).__name__})")
    return _approval_of(request, answer)


def _approval_of(request: ApprovalRequest, answer: object) -> Approval:
    """The answer an elicitation result gives: approved only for the action ``accept`` with content
    ``{"approve": true}`` (and an optional string ``reason``); anything else refuses."""
    if not isinstance(answer, types.ElicitResult):
        return _refusal(request, "the answer to the elicitation is not an elicitation result")
    content = answer.content
    reason = content.get("reason") if isinstance(content, dict) else None
    given = reason if isinstance(reason, str) and reason.strip() else None
    if answer.action != "accept":
        return _refusal(request, given or f"the elicitation was {_ACTIONS.get(answer.action, answer.action)}")
    if (not isinstance(content, dict) or set(content) - {"approve", "reason"}
            or not isinstance(content.get("approve"), bool)
            or not (reason is None or isinstance(reason, str))):
        return _refusal(request, "the answer does not match the approval form")
    if content["approve"] is not True:
        return _refusal(request, given or "not approved")
    return Approval(request_id=request.id, approved=True, by=ELICITED_BY, reason=given)


_ACTIONS: Final = {"decline": "declined", "cancel": "cancelled"}


def _refusal(request: ApprovalRequest, reason: str) -> Approval:
    return Approval(request_id=request.id, approved=False, by=ELICITED_BY, reason=reason)


def _seconds_until(request: ApprovalRequest, guard: Guard) -> float:
    clock: Callable[[], float] = getattr(guard, "clock", time.time)
    return request.expires_ts - clock()


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
