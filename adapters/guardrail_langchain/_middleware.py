"""`DelegationMiddleware`: a `Guard` in front of every tool call of a LangChain v1 agent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command

from guardrail import DelegationDenied, Guard

from ._common import (
    OnDenial,
    as_the_tool_sees_them,
    check_on_denial,
    denial_message,
    injected_arg_names,
    is_single_input,
    model_args,
    require,
    schema_defaults,
)
from ._tools import GuardedTool

__all__ = ["DelegationMiddleware"]


class DelegationMiddleware(AgentMiddleware):
    """Checks every tool call of a `create_agent` agent against a delegation manifest.

    ```python
    agent = create_agent(model, tools, middleware=[DelegationMiddleware(guard)])
    ```

    Each call goes through `guard.invoke` (or `guard.ainvoke`), so the tool runs inside the
    guard's span. The guard sees the arguments the model sent, without injected ones, and the
    tool call id as its `call_id`. A denied call does not run: with `on_denial="message"` the
    model gets an error `ToolMessage` holding `denial.for_model()` as JSON; with
    `on_denial="raise"` the `DelegationDenied` propagates out of the agent.

    Put it last in `middleware=[...]` (innermost), so that it checks a call's arguments exactly
    as the tool will receive them, after any middleware that rewrites calls, and decides each
    retry of a retrying middleware on its own.

    Use either this middleware or `guard_tools` for one agent. (A tool guarded by this same guard
    is left to decide for itself, so a call is never decided, or charged, twice.)
    """

    def __init__(self, guard: Guard, *, on_denial: OnDenial = "message") -> None:
        super().__init__()
        require(guard, Guard, "guard must be a guardrail.Guard")
        self.guard = guard
        self.on_denial: OnDenial = check_on_denial(on_denial)
        self._tools: dict[int, tuple[BaseTool, frozenset[str], bool, dict[str, Any]]] = {}

    def _checked_args(self, request: ToolCallRequest) -> tuple[Mapping[str, Any], dict[str, Any] | None]:
        """The arguments the guard checks, and the defaults the tool runs with for those left out
        (the guard checks the ones its manifest constrains, so `amount=1000` cannot slip past
        `max: 50` by being left out)."""
        arguments = request.tool_call["args"]
        tool = request.tool
        if tool is None:
            return dict(arguments), None
        cached = self._tools.get(id(tool))
        if cached is None or cached[0] is not tool:
            cached = (tool, injected_arg_names(tool), is_single_input(tool), schema_defaults(tool))
            self._tools[id(tool)] = cached
        checked = model_args(arguments, cached[1], single_input=cached[2])
        return checked, dict(as_the_tool_sees_them(tool, checked, cached[3]))

    def _denied(self, exc: DelegationDenied, request: ToolCallRequest) -> ToolMessage:
        call = request.tool_call
        return denial_message(exc.denial, tool_call_id=call["id"] or "", name=call["name"])

    def _decided_by_tool(self, request: ToolCallRequest) -> bool:
        """The tool is already guarded by this guard (`guard_tools`): it decides, once."""
        tool = request.tool
        return isinstance(tool, GuardedTool) and tool.guard is self.guard

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        if self._decided_by_tool(request):
            return handler(request)
        call = request.tool_call
        ran = False

        def execute(**_checked: Any) -> ToolMessage | Command[Any]:
            nonlocal ran
            ran = True
            return handler(request)

        args, defaults = self._checked_args(request)
        try:
            result: ToolMessage | Command[Any] = self.guard.invoke(
                call["name"], execute, args, call_id=call["id"], defaults=defaults
            )
        except DelegationDenied as exc:
            if ran or self.on_denial == "raise":
                raise
            return self._denied(exc, request)
        return result

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        if self._decided_by_tool(request):
            return await handler(request)
        call = request.tool_call
        ran = False

        def execute(**_checked: Any) -> Awaitable[ToolMessage | Command[Any]]:
            nonlocal ran
            ran = True
            return handler(request)

        args, defaults = self._checked_args(request)
        try:
            result: ToolMessage | Command[Any] = await self.guard.ainvoke(
                call["name"], execute, args, call_id=call["id"], defaults=defaults
            )
        except DelegationDenied as exc:
            if ran or self.on_denial == "raise":
                raise
            return self._denied(exc, request)
        return result
