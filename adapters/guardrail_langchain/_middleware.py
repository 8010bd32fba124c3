"""`DelegationMiddleware`: a `Guard` in front of every tool call of a LangChain v1 agent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.constants import CONFIG_KEY_CHECKPOINTER
from langgraph.errors import GraphBubbleUp
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command, interrupt

from guardrail import ApprovalError, ApprovalRequest, ApprovalRequired, DelegationDenied, Guard

from ._common import OnDenial, check_on_denial, denial_message, require
from ._review import Answer, read_answer, review_request
from ._tools import GuardedTool, reviewing

__all__ = ["DelegationMiddleware"]


class DelegationMiddleware(AgentMiddleware):
    """Checks every tool call of a `create_agent` agent against a delegation manifest.

    ```python
    agent = create_agent(model, tools, middleware=[DelegationMiddleware(guard)])
    ```

    Each call runs its tool as a `GuardedTool` of `guard` (made once per tool), so it is decided
    exactly as `guard_tools` decides: on the arguments as the tool's own schema parses them, with
    the defaults the tool runs with, the tool call id as the `call_id`, the tool running inside
    the guard's span with exactly the values checked. A denied call does not run: with
    `on_denial="message"` the model gets an error `ToolMessage` holding `denial.for_model()` as
    JSON; with `on_denial="raise"` the `DelegationDenied` propagates out of the agent.

    The agent's tools are checked against the manifest before the first model call: a
    constraint on an argument a tool does not take is a `ManifestError`.

    Put it last in `middleware=[...]` (innermost), so that it checks a call's arguments exactly
    as the tool will receive them, after any middleware that rewrites calls, and decides each
    retry of a retrying middleware on its own.

    Use either this middleware or `guard_tools` for one agent. (A tool guarded by this same guard
    is left to decide for itself, so a call is never decided, or charged, twice.)

    Approvals: a call the guard sends to a person (outcome `ask`, the grant's `ask:`) pauses the
    graph with LangGraph's `interrupt()`, whose value is the `HITLRequest` LangChain's
    `HumanInTheLoopMiddleware` pauses with (one action: the call with its arguments as checked;
    the description gives the rule that asked and the request id), and the run resumes with the
    same answer, `Command(resume={"decisions": [decision]})`: `approve` runs the call with that
    approval (charged once, after it; a `by` in the decision is recorded), `reject` refuses the
    request and answers with the `approval_denied` denial, `edit` has the guard decide the edited
    arguments from scratch (denied, allowed, or asking again; the replaced call's request is
    refused once the call is over). An answer that cannot be read refuses the call. Pausing
    needs a checkpointer; without one (or with a guard that has an approver, which answers at
    once) a call that asks is handled as any denial (`approval_required`, per `on_denial`).

    Provenance: every tool result is recorded for the task (the guard does it as it runs the
    tool), and with `trust_request=True` (the default) the first human message of each run is
    added to the guard's trusted inputs (`Guard.add_inputs`): what the user asked for is not
    "copied from a tool result" even when a tool result also holds it.
    """

    def __init__(
        self, guard: Guard, *, on_denial: OnDenial = "message", trust_request: bool = True
    ) -> None:
        super().__init__()
        require(guard, Guard, "guard must be a guardrail.Guard")
        self.guard = guard
        self.on_denial: OnDenial = check_on_denial(on_denial)
        self.trust_request = trust_request
        self._guarded: dict[int, tuple[BaseTool, BaseTool]] = {}
        self._trusted: set[str] = set()

    def before_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Adds the run's first human message to the guard's trusted inputs."""
        if self.trust_request:
            text = first_human_text(state)
            if text and text not in self._trusted:
                self._trusted.add(text)
                self.guard.add_inputs(text)
        return None

    async def abefore_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        return self.before_agent(state, runtime)

    def _as_guarded(self, tool: BaseTool) -> BaseTool:
        """`tool` as this guard runs it (a tool guarded by this same guard decides for itself)."""
        if isinstance(tool, GuardedTool) and tool.guard is self.guard:
            return tool
        cached = self._guarded.get(id(tool))
        if cached is None or cached[0] is not tool:
            cached = (tool, GuardedTool(tool, self.guard, on_denial=self.on_denial))
            self._guarded[id(tool)] = cached
        return cached[1]

    def _check_tools(self, tools: Iterable[object]) -> None:
        for tool in tools:
            if isinstance(tool, BaseTool):
                self._as_guarded(tool)  # a manifest that does not fit the tool fails here

    def _request(self, request: ToolCallRequest) -> ToolCallRequest:
        return request if request.tool is None else request.override(tool=self._as_guarded(request.tool))

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> ModelResponse:
        self._check_tools(request.tools)
        return handler(request)

    async def awrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[ModelResponse]]
    ) -> ModelResponse:
        self._check_tools(request.tools)
        return await handler(request)

    def _undecided(self, request: ToolCallRequest) -> ToolMessage | None:
        """For a call of a tool the agent does not have (which runs nothing: the agent answers
        that there is no such tool), the guard's denial, or None when it allows the name."""
        if request.tool is not None:
            return None
        call = request.tool_call
        try:
            self.guard.invoke(call["name"], _nothing, call["args"], call_id=call["id"])
        except DelegationDenied as denied:
            if self.on_denial == "raise":
                raise
            return denial_message(denied.denial, tool_call_id=call["id"] or "", name=call["name"])
        return None

    def _review(
        self, asked: ApprovalRequired, request: ToolCallRequest, started: float
    ) -> tuple[ApprovalRequest, Answer]:
        """Pauses the graph for a person's answer to the request (see the class docstring).

        LangGraph runs the node again from the start when it resumes, so the call is decided
        again first: the guard gives the same pending request for the identical call (nothing is
        charged while it asks), and `interrupt()` then returns the answer instead of pausing.

        A request created after this run of the node began (`started`, the guard's clock) was
        never shown: the one the person answered expired while the graph was paused, and the
        guard asked anew. An approve then refuses, so an approval stays bound to its request's
        expiry. (Strictly after: under a clock that does not move, a resumed request counts as
        the one shown.)
        """
        pending = asked.request
        if pending is None or not self.guard.owns(asked):
            raise asked
        answer = read_answer(interrupt(review_request(pending)), request.tool_call["name"])
        if answer.kind == "approve" and pending.created_at.timestamp() > started:
            answer = Answer("reject", by=answer.by, reason=(
                "the request the review approved expired while the run was paused; nothing ran"
            ))
        return pending, answer

    def _drop_replaced(self, replaced: list[ApprovalRequest]) -> None:
        """Refuses the requests of calls a reviewer replaced by an edit, once the call is over.

        Not before: until the node finishes, each resume runs it again from the start, and the
        replaced call must then still find its request pending to reach the answer that edited
        it. After, a replaced request left pending could still be approved out of band and run.
        (One used or expired meanwhile cannot be refused, and needs nothing.)
        """
        for request in replaced:
            with contextlib.suppress(ApprovalError):
                self.guard.reject(request, reason="replaced by the reviewer's edit")

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        denied = self._undecided(request)
        if denied is not None:
            return denied
        request = self._request(request)
        if not can_pause(request):
            return handler(request)
        replaced: list[ApprovalRequest] = []
        started = self.guard.clock()
        try:
            while True:
                try:
                    with reviewing(self.guard, pause=True):
                        return handler(request)
                except ApprovalRequired as asked:
                    pending, answer = self._review(asked, request, started)
                if answer.kind == "edit":
                    replaced.append(pending)
                    request = _edited(request, answer)  # decided from scratch: may ask again
                    continue
                # Approve or reject: the guard takes the answer as this call's approval (used
                # once, charged once on approve; recorded and denied `approval_denied` on reject).
                with reviewing(self.guard, answer.approval(pending), pause=False):
                    return handler(request)
        except GraphBubbleUp:
            replaced.clear()  # paused: the node runs again on resume
            raise
        finally:
            self._drop_replaced(replaced)

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        denied = self._undecided(request)
        if denied is not None:
            return denied
        request = self._request(request)
        if not can_pause(request):
            return await handler(request)
        replaced: list[ApprovalRequest] = []
        started = self.guard.clock()
        try:
            while True:
                try:
                    with reviewing(self.guard, pause=True):
                        return await handler(request)
                except ApprovalRequired as asked:
                    pending, answer = self._review(asked, request, started)
                if answer.kind == "edit":
                    replaced.append(pending)
                    request = _edited(request, answer)
                    continue
                with reviewing(self.guard, answer.approval(pending), pause=False):
                    return await handler(request)
        except GraphBubbleUp:
            replaced.clear()
            raise
        finally:
            if replaced:  # the store's I/O off the event loop
                await asyncio.to_thread(self._drop_replaced, replaced)


def can_pause(request: ToolCallRequest) -> bool:
    """Whether the call runs in a LangGraph graph with a checkpointer, where `interrupt()` can
    pause it and a resume can find it again. (Without one, LangGraph would stop the run with an
    interrupt nobody can answer.)"""
    runtime = request.runtime
    config = getattr(runtime, "config", None) if runtime is not None else None
    configurable = config.get("configurable") if isinstance(config, Mapping) else None
    return isinstance(configurable, Mapping) and configurable.get(CONFIG_KEY_CHECKPOINTER) is not None


def _edited(request: ToolCallRequest, answer: Answer) -> ToolCallRequest:
    """The call with the reviewer's arguments (the same tool, the same id)."""
    return request.override(tool_call={**request.tool_call, "args": answer.args or {}})


def first_human_text(state: Any) -> str | None:
    """The text of the first human message in an agent state (a mapping with `messages`)."""
    messages = state.get("messages") if isinstance(state, Mapping) else getattr(state, "messages", None)
    for message in messages or ():
        if isinstance(message, HumanMessage):
            text = message.text
            return text if isinstance(text, str) else str(text)
    return None


def _nothing(**_: Any) -> None:
    """Stands in for a tool the agent does not have, inside the guard's span."""
