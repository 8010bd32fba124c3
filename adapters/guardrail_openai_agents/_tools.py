"""Translate the Agents SDK's tool-calling convention to :class:`guardrail.Guard` calls."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any, Literal, cast

from agents import (
    AgentsException,
    FunctionTool,
    ToolGuardrailFunctionOutput,
    ToolInputGuardrail,
    ToolInputGuardrailData,
)
from agents.tool_context import ToolContext

from guardrail import DelegationDenied, Denial, Guard, json_schema_defaults

__all__ = [
    "OnDenial",
    "OnGuardrailDenial",
    "delegation_input_guardrail",
    "denial_output",
    "guard_function_tool",
    "guard_function_tools",
]

OnDenial = Literal["message", "raise"]
"""``"message"``: the model gets the denial as the tool's output; ``"raise"``: the run fails
with the matching :class:`guardrail.DelegationDenied`."""

OnGuardrailDenial = Literal["reject_content", "raise_exception"]
"""The SDK's own guardrail behaviours for a denied call."""

_NOT_JSON = object()


def denial_output(denial: Denial) -> str:
    """What the model sees for a denied call: the JSON of ``denial.for_model()``."""
    return json.dumps(denial.for_model(), ensure_ascii=False)


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


def guard_function_tool(tool: FunctionTool, guard: Guard, *, on_denial: OnDenial = "message") -> FunctionTool:
    """A copy of ``tool`` (same name, description, JSON schema and settings) that asks
    ``guard`` before it runs.

    The call is authorized with the arguments the model sent and the SDK's tool call id as
    ``call_id``, inside the guard's ``execute_tool`` span, which also wraps the tool's own run.
    A denied call does not run: with ``on_denial="message"`` the model receives
    :func:`denial_output` as the tool output (the way the SDK's ``reject_content`` does) and the
    run goes on; with ``on_denial="raise"`` the matching :class:`guardrail.DelegationDenied`
    subclass (also an ``AgentsException``, so the SDK does not wrap it) propagates out of
    ``Runner.run``. The original ``tool`` is left unchanged.
    """
    if not isinstance(tool, FunctionTool):
        raise TypeError(
            f"only FunctionTool can be guarded here, not {type(tool).__name__} "
            f"({getattr(tool, 'name', tool)!r}): hosted tools run outside this process"
        )
    if on_denial not in ("message", "raise"):
        raise ValueError(f"on_denial must be 'message' or 'raise', not {on_denial!r}")
    name = tool.name
    guarded = copy.copy(tool)
    inner = guarded.on_invoke_tool  # rebound to the copy by FunctionTool.__copy__
    # What the SDK fills in for an argument the model leaves out (strict schemas list such
    # arguments as required but keep their default): checked where the manifest constrains it.
    defaults = json_schema_defaults(tool.params_json_schema)

    async def on_invoke_tool(ctx: ToolContext[Any], input: str) -> Any:
        call_id = getattr(ctx, "tool_call_id", None)
        args = _parse_arguments(input)
        try:
            if isinstance(args, dict):
                return await guard.ainvoke(
                    name, lambda **_: inner(ctx, input), args, call_id=call_id, defaults=defaults
                )
            # Not an object: the guard denies it (unless in shadow mode); never called unchecked.
            guard.authorize(name, cast(Any, args), call_id=call_id).raise_for_denial()
            return await inner(ctx, input)
        except DelegationDenied as denied:
            if on_denial == "raise":
                raise _stopping_the_run(denied) from None
            return denial_output(denied.denial)

    guarded.on_invoke_tool = on_invoke_tool
    return guarded


_RUN_STOPPING: dict[type[DelegationDenied], type[DelegationDenied]] = {}


def _stopping_the_run(denied: DelegationDenied) -> DelegationDenied:
    """The same denial as an exception that is also an ``AgentsException``.

    ``Runner.run`` wraps any other exception from a tool in ``UserError``; an
    ``AgentsException`` propagates as it is, so callers can catch ``DelegationDenied`` (or
    ``ToolNotAllowed``, ...) around the run, and the SDK attaches its ``run_data``.
    """
    base = type(denied)
    combined = _RUN_STOPPING.get(base)
    if combined is None:
        combined = cast(
            "type[DelegationDenied]",
            type(base.__name__, (base, AgentsException), {"__module__": __name__, "__doc__": base.__doc__}),
        )
        _RUN_STOPPING[base] = combined
    exc = combined(denied.denial)
    exc.run_data = None  # type: ignore[attr-defined]  # OSError.__init__ skips AgentsException's
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

    async def authorize(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
        ctx = data.context
        args = _parse_arguments(ctx.tool_arguments)
        try:
            if isinstance(args, dict):
                tool = next(
                    (t for t in data.agent.tools if getattr(t, "name", None) == ctx.tool_name), None
                )
                defaults = json_schema_defaults(getattr(tool, "params_json_schema", None))
                await guard.ainvoke(
                    ctx.tool_name, _decided, args, call_id=ctx.tool_call_id, defaults=defaults
                )
            else:
                guard.authorize(ctx.tool_name, cast(Any, args), call_id=ctx.tool_call_id).raise_for_denial()
        except DelegationDenied as denied:
            if on_denial == "raise_exception":
                return ToolGuardrailFunctionOutput.raise_exception(output_info=denied.denial)
            return ToolGuardrailFunctionOutput.reject_content(
                denial_output(denied.denial), output_info=denied.denial
            )
        return ToolGuardrailFunctionOutput.allow()

    return ToolInputGuardrail(guardrail_function=authorize, name=name)


def _decided(**_: Any) -> None:
    """Stands in for the tool inside the guard's span: the SDK runs the tool afterwards."""
