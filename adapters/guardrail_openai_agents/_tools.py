"""Translate the Agents SDK's tool-calling convention to :class:`guardrail.Guard` calls."""

from __future__ import annotations

import copy
import inspect
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Literal, cast

from agents import (
    AgentsException,
    FunctionTool,
    ToolGuardrailFunctionOutput,
    ToolInputGuardrail,
    ToolInputGuardrailData,
    ToolOutputGuardrail,
    ToolOutputGuardrailData,
)
from agents.function_schema import function_schema
from agents.run_context import RunContextWrapper
from agents.tool_context import ToolContext
from pydantic import BaseModel, ValidationError

from guardrail import (
    ApprovalRequest,
    ApprovalRequired,
    DelegationDenied,
    Denial,
    Guard,
    NotJson,
    json_schema_defaults,
    normalize_arguments,
)

OnDenial = Literal["message", "raise"]
"""``"message"``: the model gets the denial as the tool's output; ``"raise"``: the run fails
with the matching :class:`guardrail.DelegationDenied`."""

OnGuardrailDenial = Literal["reject_content", "raise_exception"]
"""The SDK's own guardrail behaviours for a denied call."""


def denial_output(denial: Denial) -> str:
    """What the model sees for a denied call: ``denial.to_model_json()``."""
    return denial.to_model_json()


def _parse_arguments(raw: str) -> Any:
    """The model's argument JSON as a value; the raw text when it is not JSON.

    An empty string means no arguments, as in the SDK. Anything but an object reaches the
    guard as it is, and the guard denies it (``argument_invalid``) or, for an ungranted tool,
    says so; the adapter itself decides nothing.
    """
    if not raw or not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class _Parameters:
    """A tool's parameters as the guard needs them, read once from the tool."""

    def __init__(self, tool: FunctionTool) -> None:
        schema = tool.params_json_schema
        properties = schema.get("properties")
        self.names = frozenset(properties) if isinstance(properties, Mapping) else frozenset()
        self.open = schema.get("additionalProperties", False) is not False
        self.defaults = json_schema_defaults(schema)
        self.model = _parameter_model(tool, self.names)
        # Parameters the model may leave out: null for one of them means "left out" (strict
        # schemas make every parameter required, and models send null for those they skip).
        if self.model is not None:
            fields = self.model.model_fields.items()
            self.optional = frozenset(name for name, field in fields if not field.is_required())
        else:
            required = schema.get("required")
            listed = frozenset(required) if isinstance(required, list) else frozenset()
            self.optional = frozenset(self.defaults) | (self.names - listed)

    def check(self, guard: Guard, tool: str) -> None:
        """A `ManifestError` for every argument the manifest constrains that this tool does not
        take (`Guard.check_arguments`)."""
        guard.check_arguments(tool, self.names, others=self.open)

    def for_guard(self, sent: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The arguments as the guard checks them, and the defaults the tool runs with.

        With the tool's own parameter model (a ``function_tool`` made from a function): each
        argument as the model parses it (``"0"`` for an ``int`` is checked as ``0``, which the
        tool gets), anything the model does not take as sent. Arguments the model rejects are
        checked as sent (the tool then answers with its own validation error, as without a
        guard); so are those of a tool without such a model (it parses them itself).
        """
        if self.model is None:
            return sent, self.defaults
        try:
            parsed = self.model(**sent)
        except ValidationError:
            return sent, self.defaults
        fields = self.model.model_fields
        checked = {k: _as_json(getattr(parsed, k), sent=True) if k in fields else v for k, v in sent.items()}
        return checked, {name: _as_json(getattr(parsed, name)) for name in fields}


def _parameter_model(tool: FunctionTool, names: frozenset[str]) -> type[BaseModel] | None:
    """The pydantic model the SDK validates the tool's arguments with, when ``function_tool``
    made the tool from a plain function (the SDK builds the same model from the same function);
    None for any other tool."""
    try:
        fn = tool.__wrapped__
    except AttributeError:
        return None
    if not inspect.isroutine(fn):
        return None  # a callable object, which the SDK adapts before reading its signature
    try:
        schema = function_schema(fn, strict_json_schema=tool.strict_json_schema)
    except Exception:
        return None
    properties = schema.params_json_schema.get("properties") or {}
    return schema.params_pydantic_model if frozenset(properties) == names else None


def _as_json(value: Any, *, sent: bool = False) -> Any:
    """A parsed value as the JSON data the guard decides on (`guardrail.normalize_arguments`;
    with `sent`, a model as the fields the model set); a value that is not JSON data as it is
    (where the manifest looks at it, the guard denies it)."""
    try:
        return normalize_arguments({"v": value}, as_sent=sent)["v"]
    except NotJson:
        return value


def guard_function_tool(tool: FunctionTool, guard: Guard, *, on_denial: OnDenial = "message") -> FunctionTool:
    """A copy of ``tool`` (same name, description, JSON schema and settings) that asks
    ``guard`` before it runs.

    The call is authorized with the arguments as the tool will receive them (parsed by the
    tool's own parameter model where ``function_tool`` made it from a function, so ``"0"`` for an
    ``int`` is checked as ``0``; a null for a parameter with a default means it was left out, and
    the tool runs with its default) and the SDK's tool call id as ``call_id``, inside the
    guard's ``execute_tool`` span, which also wraps the tool's own run. A manifest that
    constrains a parameter the tool does not have is a :class:`guardrail.ManifestError` here.
    A denied call does not run: with ``on_denial="message"`` the model receives
    :func:`denial_output` as the tool output (the way the SDK's ``reject_content`` does) and the
    run goes on; with ``on_denial="raise"`` the matching :class:`guardrail.DelegationDenied`
    subclass (also an ``AgentsException``, so the SDK does not wrap it) propagates out of
    ``Runner.run``. A ``DelegationDenied`` the tool itself raises is the tool's error, handled
    as the SDK handles tool errors. The original ``tool`` is left unchanged.

    Approvals: when a manifest of the guard's chain has an ``ask`` rule for the tool, the copy's
    ``needs_approval`` is the guard's dry run (``acheck``, nothing charged or stored): a call
    that would ask interrupts the run (``result.interruptions``), one the guard would deny is not
    asked about and is denied when it runs, and the tool's own ``needs_approval`` still applies.
    After ``RunState.approve(item)`` the call runs with ``approval=True`` (a person approved this
    exact call), once, and is charged then; after ``RunState.reject(item)`` it never runs. A
    standing ``always_approve`` approves only the call the person saw: a later call that asks
    reaches the guard unapproved and is denied ``approval_required`` (its request waits in the
    guard). With a guard ``approver`` the run is not interrupted: the approver answers.
    """
    if not isinstance(tool, FunctionTool):
        raise TypeError(
            f"only FunctionTool can be guarded here, not {type(tool).__name__} "
            f"({getattr(tool, 'name', tool)!r}): hosted tools run outside this process"
        )
    if on_denial not in ("message", "raise"):
        raise ValueError(f"on_denial must be 'message' or 'raise', not {on_denial!r}")
    name = tool.name
    parameters = _Parameters(tool)
    parameters.check(guard, name)
    guarded = copy.copy(tool)
    inner = guarded.on_invoke_tool  # rebound to the copy by FunctionTool.__copy__
    asking = _asks(guard, name)  # tools without an ask rule pay nothing for approvals
    asked = _Asked()

    def prepared(args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(what was sent, nulls for optional parameters left out; the arguments as the guard
        checks them; the defaults the tool runs with)."""
        sent = {k: v for k, v in args.items() if v is not None or k not in parameters.optional}
        checked, defaults = parameters.for_guard(sent)
        return sent, checked, defaults

    async def on_invoke_tool(ctx: ToolContext[Any], input: str) -> Any:
        call_id = getattr(ctx, "tool_call_id", None)
        args = _parse_arguments(input)
        if not isinstance(args, dict):
            # Not an object: the guard denies it (unless in shadow mode); never called unchecked.
            decision = guard.authorize(name, cast(Any, args), call_id=call_id)
            if decision.denial is not None and decision.blocks:
                return _answer(decision.denial, on_denial)
            return await inner(ctx, input)
        sent, checked, defaults = prepared(args)
        # The tool parses this text as the guard's view was parsed: it runs with those values.
        text = input if len(sent) == len(args) else json.dumps(sent, ensure_ascii=False)
        approved = asking and _person_approved(ctx, name, call_id, asked.take(call_id, checked, defaults))
        try:
            return await guard.ainvoke(
                name, lambda **_: inner(ctx, text), checked, call_id=call_id, defaults=defaults,
                approval=True if approved else None,
            )
        except DelegationDenied as denied:
            if not guard.owns(denied):
                raise
            return _answer(denied.denial, on_denial, getattr(denied, "request", None))

    guarded.on_invoke_tool = on_invoke_tool
    if asking:
        own = tool.needs_approval

        async def needs_approval(
            run_context: RunContextWrapper[Any], params: dict[str, Any], call_id: str
        ) -> bool:
            """The guard's dry run (`acheck`: nothing charged, stored or used) decides whether
            the SDK interrupts the run for this call; the tool's own setting may ask too."""
            mine = await _own_setting(own, run_context, params, call_id)
            if guard.approver is not None:
                return mine  # the guard's approver answers when the call runs
            _, checked, defaults = prepared(params)
            filled = guard.with_defaults(name, checked, defaults)
            complete = {k: v for k, v in filled.items() if v is not None}
            decision = await guard.acheck(name, complete, call_id=call_id)
            if decision.outcome == "deny":
                return False  # denied when it runs: a call that cannot run is never asked about
            if decision.outcome != "ask":
                return mine
            asked.put(call_id, checked, defaults)
            return True

        guarded.needs_approval = needs_approval
    return guarded


def _asks(guard: Guard, tool: str) -> bool:
    """Whether a manifest of the guard's delegation chain has an ``ask`` rule for ``tool``: only
    such tools get a ``needs_approval`` (the others keep the SDK's fast path). Whether a call
    asks is the guard's decision (`Guard.acheck`)."""
    link: Guard | None = guard
    while link is not None:
        grant = link.manifest.tools.get(tool)
        if grant is not None and grant.ask_rules:
            return True
        link = link.parent
    return False


async def _own_setting(
    setting: Any, run_context: RunContextWrapper[Any], params: dict[str, Any], call_id: str
) -> bool:
    """The tool's own ``needs_approval`` (a bool, or a callable that may return an awaitable)."""
    if isinstance(setting, bool):
        return setting
    if callable(setting):
        value = setting(run_context, params, call_id)
        if inspect.isawaitable(value):
            value = await value
        return bool(value)
    return True  # not something the SDK accepts: a person decides


def _person_approved(ctx: ToolContext[Any], tool: str, call_id: str | None, asked: bool | None) -> bool:
    """Whether a person approved exactly this call in the SDK's run (``RunState.approve``), so
    that it runs with the guard's ``approval=True``.

    ``asked``: True when this tool's ``needs_approval`` put this call to a person with these
    arguments, False when with other arguments (never approved), None when it does not know
    the call (a run state resumed by another process, or forgotten). A call it asked about runs
    approved when the SDK approved it, per call or with ``always_approve`` (the person saw this
    call). A call it does not know runs approved only when the SDK holds an approval of this
    call id itself (which the SDK binds to the call's arguments), not a standing
    ``always_approve`` of the tool: that would approve calls nobody saw.
    """
    if call_id is None or asked is False:
        return False
    try:
        if ctx.is_tool_approved(tool, call_id) is not True:
            return False
        if asked:
            return True
        # A standing approval answers for any call id, including one never issued.
        return ctx.is_tool_approved(tool, f"guardrail-unissued-{uuid.uuid4().hex}") is not True
    except Exception:
        return False


class _Asked:
    """The calls a guarded tool's ``needs_approval`` put to a person: call id -> the arguments as
    the guard checked them; each is taken once, by the call's run (see `_person_approved`). Bounded
    (oldest forgotten first)."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._calls: dict[str, str] = {}

    @staticmethod
    def _key(checked: dict[str, Any], defaults: dict[str, Any]) -> str:
        return json.dumps([checked, defaults], sort_keys=True, ensure_ascii=False, default=repr)

    def put(self, call_id: str, checked: dict[str, Any], defaults: dict[str, Any]) -> None:
        self._calls.pop(call_id, None)
        self._calls[call_id] = self._key(checked, defaults)
        while len(self._calls) > self.LIMIT:
            del self._calls[next(iter(self._calls))]

    def take(self, call_id: str | None, checked: dict[str, Any], defaults: dict[str, Any]) -> bool | None:
        """True: asked with these arguments; False: with others; None: not asked (or forgotten)."""
        if call_id is None:
            return None
        key = self._calls.pop(call_id, None)
        return None if key is None else key == self._key(checked, defaults)


def _answer(denial: Denial, on_denial: OnDenial, request: ApprovalRequest | None = None) -> str:
    """A denied call's tool output, or (``"raise"``) the exception that stops the run."""
    if on_denial == "raise":
        raise _stopping_the_run(denial, request) from None
    return denial_output(denial)


_RUN_STOPPING: dict[type[DelegationDenied], type[DelegationDenied]] = {}


def _stopping_the_run(denial: Denial, request: ApprovalRequest | None = None) -> DelegationDenied:
    """The same denial as an exception that is also an ``AgentsException``.

    ``Runner.run`` wraps any other exception from a tool in ``UserError``; an
    ``AgentsException`` propagates as it is, so callers can catch ``DelegationDenied`` (or
    ``ToolNotAllowed``, ...) around the run, and the SDK attaches its ``run_data``.
    """
    base = type(denial.to_exception())
    combined = _RUN_STOPPING.get(base)
    if combined is None:
        combined = cast(
            "type[DelegationDenied]",
            type(base.__name__, (base, AgentsException), {"__module__": __name__, "__doc__": base.__doc__}),
        )
        _RUN_STOPPING[base] = combined
    exc = combined(denial)
    exc.run_data = None  # type: ignore[attr-defined]  # OSError.__init__ skips AgentsException's
    if isinstance(exc, ApprovalRequired):
        exc.request = request
    return exc


def guard_function_tools(
    tools: Iterable[FunctionTool], guard: Guard, *, on_denial: OnDenial = "message"
) -> list[FunctionTool]:
    """:func:`guard_function_tool` for each tool, in order.

    Raises ``TypeError`` for anything but a ``FunctionTool`` (hosted tools such as web
    search run on the provider's side, where no guard can stop them).
    """
    return [guard_function_tool(tool, guard, on_denial=on_denial) for tool in tools]


def delegation_input_guardrail(
    guard: Guard,
    *,
    on_denial: OnGuardrailDenial = "reject_content",
    name: str = "task_guardrail",
) -> ToolInputGuardrail[Any]:
    """A ``ToolInputGuardrail`` that authorizes each call with ``guard``.

    Attach it with ``function_tool(..., tool_input_guardrails=[...])``. An allowed call gives
    ``allow``; a denied one gives ``reject_content`` with :func:`denial_output` (the run goes on)
    or ``raise_exception`` (the run stops with ``ToolInputGuardrailTripwireTriggered``); either
    way ``output_info`` is the :class:`guardrail.Denial`. A shadow-mode denial is allowed and
    still traced.

    Budgets are charged when the guardrail allows the call. The guard's span covers the
    decision only: the SDK runs the tool after the guardrail returns. Prefer
    :func:`guard_function_tools` when the span should wrap the tool's run too. If the run
    config enables pre-approval tool input guardrails, the SDK may run this guardrail twice
    for one call, and it charges twice.
    """
    if on_denial not in ("reject_content", "raise_exception"):
        raise ValueError(f"on_denial must be 'reject_content' or 'raise_exception', not {on_denial!r}")

    known: dict[int, tuple[object, _Parameters]] = {}

    def parameters(tool: FunctionTool) -> _Parameters:
        cached = known.get(id(tool))
        if cached is None or cached[0] is not tool:
            cached = (tool, _Parameters(tool))
            cached[1].check(guard, tool.name)
            known[id(tool)] = cached
        return cached[1]

    async def authorize(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
        ctx = data.context
        args = _parse_arguments(ctx.tool_arguments)
        denial: Denial | None = None
        if isinstance(args, dict):
            tool = next((t for t in data.agent.tools if getattr(t, "name", None) == ctx.tool_name), None)
            # The arguments as the tool will parse them (nulls included: the SDK passes them on).
            checked, defaults = (
                parameters(tool).for_guard(args) if isinstance(tool, FunctionTool) else (args, None)
            )
            try:
                await guard.ainvoke(
                    ctx.tool_name, _decided, checked, call_id=ctx.tool_call_id, defaults=defaults
                )
            except DelegationDenied as denied:
                denial = denied.denial
        else:
            decision = guard.authorize(ctx.tool_name, cast(Any, args), call_id=ctx.tool_call_id)
            denial = decision.denial if decision.blocks else None
        if denial is None:
            return ToolGuardrailFunctionOutput.allow()
        if on_denial == "raise_exception":
            return ToolGuardrailFunctionOutput.raise_exception(output_info=denial)
        return ToolGuardrailFunctionOutput.reject_content(denial_output(denial), output_info=denial)

    return ToolInputGuardrail(guardrail_function=authorize, name=name)


def delegation_output_guardrail(
    guard: Guard, *, name: str = "task_guardrail_results"
) -> ToolOutputGuardrail[Any]:
    """A ``ToolOutputGuardrail`` that records each tool output for the task's provenance checks
    (``provenance: trusted``, ``from_results``), for tools guarded by
    :func:`delegation_input_guardrail` (whose guard does not see what the tool returns). It
    always allows the output. Tools from :func:`guard_function_tools` record by themselves.
    """

    async def record(data: ToolOutputGuardrailData) -> ToolGuardrailFunctionOutput:
        ctx = data.context
        guard.record_result(ctx.tool_name, data.output, call_id=ctx.tool_call_id)
        return ToolGuardrailFunctionOutput.allow()

    return ToolOutputGuardrail(guardrail_function=record, name=name)


def _decided(**_: Any) -> None:
    """Stands in for the tool inside the guard's span: the SDK runs the tool afterwards."""
