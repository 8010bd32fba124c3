"""`guard_tools` and `GuardedTool`: LangChain tools that ask a `Guard` before they run.

A `GuardedTool` stands in for the tool it wraps: same name, description, argument schema and
model-facing schema. LangChain parses and validates the call exactly as it would for the wrapped
tool (the wrapped tool's own parser runs, once); the guard decides on the arguments as that parser
made them (so `"0"` for an `int` argument is checked as `0`, the value the tool gets), and the
guarded tool hands exactly those values to the wrapped tool's own `_run` / `_arun`, inside the
guard's span. Its artifact and `ToolMessage` come out as usual.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple, get_type_hints

from langchain_core.callbacks import (
    AsyncCallbackManagerForToolRun,
    CallbackManagerForToolRun,
)
from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import (
    BaseTool,
    BaseToolkit,
    Tool,
    _get_runnable_config_param,
)
from langchain_core.tools import tool as _as_tool
from pydantic import Field, PrivateAttr

from guardrail import Approval, ApprovalRequired, DelegationDenied, Guard, NotJson, normalize_arguments

from ._common import (
    SINGLE_INPUT_KEY,
    OnDenial,
    Schema,
    as_json,
    check_on_denial,
    denial_content,
    denial_message,
    injected_arg_names,
    model_args,
    require,
)

__all__ = ["GuardedTool", "guard_tools"]

# `_to_args_and_kwargs` passes the model's arguments and the tool call id to `_run` / `_arun`
# under this key. A pydantic field cannot start with an underscore, so no tool argument can
# collide with it.
_CALL_KEY = "__guardrail_call__"


class Review:
    """What `DelegationMiddleware` asks of the calls of its guard's tools while it runs one (see
    `reviewing`): let an `ask` out as `ApprovalRequired` (so it can pause the graph) instead of
    the tool's denial convention, and bring a person's answer (`approval=`) to the call."""

    __slots__ = ("approval", "guard", "pause")

    def __init__(self, guard: Guard, approval: Approval | None, *, pause: bool) -> None:
        self.guard = guard
        self.approval = approval
        self.pause = pause

    def take(self) -> Approval | None:
        """The answer, for the first decision that asks for it: an approval allows one call, so a
        second guarded layer of the same guard must not bring it again."""
        approval, self.approval = self.approval, None
        return approval


# A context variable rather than a tool attribute: LangChain runs the tool in a copy of the
# caller's context, and the same tool object may run other calls at the same time.
_review: ContextVar[Review | None] = ContextVar("guardrail_langchain_review", default=None)


@contextmanager
def reviewing(guard: Guard, approval: Approval | None = None, *, pause: bool) -> Iterator[None]:
    """Within: the calls `guard` decides in guarded tools bring `approval`, and with `pause` an
    `ask` raises `ApprovalRequired` whatever the tool's `on_denial`."""
    token = _review.set(Review(guard, approval, pause=pause))
    try:
        yield
    finally:
        _review.reset(token)


def _review_of(guard: Guard) -> Review | None:
    review = _review.get()
    return review if review is not None and review.guard is guard else None


class _Call(NamedTuple):
    args: Mapping[str, Any]
    # What the tool runs with for arguments the model left out (the guard checks those its
    # manifest constrains, so `amount=1000` cannot slip past `max: 50` by being left out).
    defaults: Mapping[str, Any]
    call_id: str | None
    # The call as a guarded tool inside (one this tool wraps) parsed it itself: its own checked
    # arguments, with the defaults *its* manifest constrains.
    inner: _Call | None = None


def _takes(fn: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class _Wiring:
    """Everything a guarded tool needs per call, in one object (one private-attribute lookup)."""

    __slots__ = (
        "async_config",
        "async_run_manager",
        "guard",
        "hidden",
        "nested",
        "on_denial",
        "schema",
        "string_key",
        "sync_config",
        "sync_run_manager",
        "tool",
    )

    def __init__(self, tool: BaseTool, guard: Guard, on_denial: OnDenial) -> None:
        self.tool = tool
        self.guard = guard
        self.on_denial = on_denial
        self.hidden = injected_arg_names(tool)
        self.schema = Schema(tool)
        self.schema.check(guard, tool.name)
        # A guarded tool inside: hand it the model's arguments and call id as well.
        self.nested = isinstance(tool, GuardedTool)
        # The key a positional input (a plain string, a single-input tool's value) is checked
        # under: the one argument the model sees.
        visible = [key for key in tool.args if key not in self.hidden]
        single = SINGLE_INPUT_KEY in self.schema.names
        self.string_key = visible[0] if visible and not single else SINGLE_INPUT_KEY
        # What LangChain's `run` / `arun` would hand the wrapped tool's `_run` / `_arun`.
        self.sync_run_manager = _takes(tool._run, "run_manager")
        self.sync_config = _get_runnable_config_param(tool._run)
        async_fn = tool._run if type(tool)._arun is BaseTool._arun else tool._arun
        self.async_run_manager = _takes(async_fn, "run_manager")
        self.async_config = _get_runnable_config_param(async_fn)

    def call(
        self, sent: object, parsed: tuple[tuple[Any, ...], dict[str, Any]], call_id: str | None,
        inner: _Call | None,
    ) -> _Call:
        """The call as the guard checks it: each argument the model sent, as the tool's parser made
        it (so `"0"` for an `int` is checked as `0`), under the name the model sent it by; an
        argument the parser dropped, as sent (it never reaches the tool, and the manifest may
        still deny it); and the parsed values of everything else, as the defaults."""
        args, kwargs = parsed
        if args or not isinstance(sent, dict):  # one positional value: a string input, `Tool`
            value = as_json(args[0]) if args else sent
            return _Call({self.string_key: value}, self.schema.defaults, call_id, inner)
        checked: dict[str, Any] = {}
        for key, value in sent.items():
            if key in self.hidden:
                continue
            field = key if key in kwargs else self.schema.aliases.get(key, key)
            checked[key] = as_json(kwargs[field], sent=True) if field in kwargs else value
        defaults = dict(self.schema.defaults)
        defaults.update((k, as_json(v)) for k, v in kwargs.items() if k not in self.hidden)
        return _Call(checked, defaults, call_id, inner)

    def __copy__(self) -> _Wiring:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Wiring:
        # Copies of a guarded tool share its guard (and so its budgets); nothing here changes.
        return self


class GuardedTool(BaseTool):
    """A LangChain tool that runs only when its `Guard` allows the call.

    Build one with `guard_tools` (or `GuardedTool(tool, guard)`); a manifest that constrains an
    argument the tool does not take is a `ManifestError` here. The model sees exactly the
    wrapped tool's schema; the guard sees the arguments the model sent as the tool's schema
    parses them (coerced, a null for an optional argument left out), without the injected ones
    (`InjectedToolCallId`, `InjectedState`, `ToolRuntime`, callbacks), and the defaults the tool
    runs with; the tool call id is the guard's `call_id`; the tool runs with exactly those
    values. A denied call does not run: with `on_denial="message"` it answers the model with an
    error `ToolMessage` holding `denial.to_model_json()`, with `on_denial="raise"` the
    `DelegationDenied` propagates. A `DelegationDenied` the tool itself raises is its own error.
    """

    # Mirrors of the wrapped tool's functions, for code that reads a tool's annotations from
    # them (LangGraph's `ToolNode` finds `InjectedState` / `ToolRuntime` parameters there).
    # Never called by the guarded tool itself.
    func: Callable[..., Any] | None = Field(default=None, exclude=True)
    coroutine: Callable[..., Awaitable[Any]] | None = Field(default=None, exclude=True)

    _wiring: _Wiring = PrivateAttr()

    def __init__(self, tool: BaseTool, guard: Guard, *, on_denial: OnDenial = "message") -> None:
        require(tool, BaseTool, "GuardedTool wraps a LangChain BaseTool")
        require(guard, Guard, "guard must be a guardrail.Guard")
        on_denial = check_on_denial(on_denial)
        if isinstance(tool, GuardedTool) and tool.guard is guard:
            msg = (
                f"tool {tool.name!r} is already guarded by this guard; guarding it twice "
                "would charge every call twice"
            )
            raise ValueError(msg)
        fields = {name: getattr(tool, name) for name in BaseTool.model_fields}
        fn = getattr(tool, "func", None)
        coro = getattr(tool, "coroutine", None)
        super().__init__(
            **fields,
            func=fn if callable(fn) else None,
            coroutine=coro if callable(coro) else None,
        )
        self._wiring = _Wiring(tool, guard, on_denial)

    # --- what the guarded tool is -------------------------------------------------------

    @property
    def wrapped(self) -> BaseTool:
        """The tool this one guards."""
        return self._wiring.tool

    @property
    def guard(self) -> Guard:
        """The guard that decides every call."""
        return self._wiring.guard

    @property
    def on_denial(self) -> OnDenial:
        """`"message"` or `"raise"`."""
        return self._wiring.on_denial

    # The schema is the wrapped tool's, whatever it was built from (an `args_schema`, a JSON
    # schema, or the signature of a custom `_run`).

    def get_input_schema(self, config: RunnableConfig | None = None) -> Any:
        return self._wiring.tool.get_input_schema(config)

    @property
    def tool_call_schema(self) -> Any:
        return self._wiring.tool.tool_call_schema

    @property
    def args(self) -> dict[str, Any]:
        return self._wiring.tool.args

    @property
    def _injected_args_keys(self) -> frozenset[str]:
        keys: frozenset[str] = self._wiring.tool._injected_args_keys
        return keys

    def _filter_injected_args(self, tool_input: dict[str, Any]) -> dict[str, Any]:
        return self._wiring.tool._filter_injected_args(tool_input)

    # --- calling it ----------------------------------------------------------------------

    def _to_args_and_kwargs(
        self, tool_input: str | dict[str, Any], tool_call_id: str | None
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        wiring = self._wiring
        if isinstance(tool_input, dict):
            # A private copy first: the parser's output (what the tool runs with and the guard
            # checks) then shares nothing another thread could change, e.g. a list inside the
            # model's message that an `Any` field would pass on as it is.
            tool_input = wiring.schema.without_nulls(_private(tool_input, wiring.hidden))
        # The wrapped tool's own parser (validation, coercion, defaults, injected values): what it
        # returns is what the tool runs with, so it is what the guard checks.
        args, kwargs = wiring.tool._to_args_and_kwargs(tool_input, tool_call_id)
        inner = kwargs.pop(_CALL_KEY, None)  # set by a guarded tool inside, from its own parsing
        inner = inner if isinstance(inner, _Call) else None
        kwargs[_CALL_KEY] = wiring.call(tool_input, (args, kwargs), tool_call_id, inner)
        return args, kwargs

    def _call(self, kwargs: dict[str, Any]) -> _Call:
        call = kwargs.pop(_CALL_KEY, None)
        if isinstance(call, _Call):
            return call
        # `_run` called directly, without LangChain's `run`: check what it was given.
        wiring = self._wiring
        return _Call(model_args(kwargs, wiring.hidden), wiring.schema.defaults, None)

    def _prepare(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], config: RunnableConfig, run_manager: Any,
        run_async: bool,
    ) -> tuple[_Call, Callable[..., Any]]:
        """This call's arguments for the guard, and what runs the wrapped tool once it allows.

        `kwargs` are completed as LangChain's `run` / `arun` would complete them for the wrapped
        tool. The guard hands the function its copy of the checked arguments: the tool gets the
        parsed values those were made from (models stay models), plus any default the guard
        filled in that the parser had not (so it runs with the declared default the guard
        checked).
        """
        wiring = self._wiring
        call = self._call(kwargs)
        if wiring.nested:
            kwargs[_CALL_KEY] = call.inner or call
        takes_manager = wiring.async_run_manager if run_async else wiring.sync_run_manager
        config_name = wiring.async_config if run_async else wiring.sync_config
        if takes_manager and run_manager is not None:
            kwargs["run_manager"] = run_manager
        if config_name is not None:
            kwargs[config_name] = config
        run = wiring.tool._arun if run_async else wiring.tool._run

        def execute(**checked: Any) -> Any:
            filled = {k: v for k, v in checked.items() if k not in call.args and k not in kwargs}
            return run(*args, **kwargs, **filled)

        return call, execute

    def _run(
        self,
        *args: Any,
        _guardrail_config: RunnableConfig,
        run_manager: CallbackManagerForToolRun | None = None,
        **kwargs: Any,
    ) -> Any:
        call, execute = self._prepare(args, kwargs, _guardrail_config, run_manager, run_async=False)
        guard = self._wiring.guard
        review = _review_of(guard)
        try:
            return guard.invoke(
                self.name, execute, call.args, call_id=call.call_id, defaults=call.defaults,
                approval=review.take() if review is not None else None,
            )
        except DelegationDenied as denied:
            return self._denied(denied, call, review)

    async def _arun(
        self,
        *args: Any,
        _guardrail_config: RunnableConfig,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
        **kwargs: Any,
    ) -> Any:
        call, execute = self._prepare(args, kwargs, _guardrail_config, run_manager, run_async=True)
        guard = self._wiring.guard
        review = _review_of(guard)
        try:
            return await guard.ainvoke(
                self.name, execute, call.args, call_id=call.call_id, defaults=call.defaults,
                approval=review.take() if review is not None else None,
            )
        except DelegationDenied as denied:
            return self._denied(denied, call, review)

    def _denied(self, denied: DelegationDenied, call: _Call, review: Review | None) -> Any:
        """What `_run` returns for a denied call, in the shape `BaseTool.run` expects. Raises it
        again unless this tool answers the model with it: this guard's own denial (not one the
        tool itself raised, which is the tool's error) with `on_denial="message"`, and not an
        `ask` the middleware is waiting for (`reviewing(pause=True)`)."""
        wiring = self._wiring
        if wiring.on_denial == "raise" or not wiring.guard.owns(denied):
            raise denied
        if review is not None and review.pause and isinstance(denied, ApprovalRequired):
            raise denied
        out: ToolMessage | str
        if call.call_id is None:
            out = denial_content(denied.denial)
        else:
            out = denial_message(denied.denial, tool_call_id=call.call_id, name=self.name)
        if self.response_format == "content_and_artifact":
            return out, None
        return out


def _private(tool_input: dict[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """The model's arguments in `tool_input` as a copy in JSON types; the injected ones (state,
    runtime, the tool call id: not the model's, not checked) and any value that is not JSON data
    (a Python caller's object: where the manifest looks at it, the guard denies it) as they are."""
    sent = {k: v for k, v in tool_input.items() if k not in hidden}
    try:
        copied = normalize_arguments(sent)
    except NotJson:
        return tool_input
    return {k: copied.get(k, v) for k, v in tool_input.items()}


# On every call LangChain resolves the annotations of `_run` / `_arun` to find a `RunnableConfig`
# parameter. Postponed annotations are strings it would compile each time (about 100 us a call);
# give it the resolved objects once.
for _method in (GuardedTool._run, GuardedTool._arun):
    _method.__annotations__ = get_type_hints(_method)
del _method


class _GuardedSimpleTool(GuardedTool, Tool):  # type: ignore[misc]  # `_run` takes our config name
    """A guarded single-input `Tool`: still a `Tool`, so LangChain gives it the same schema."""

    def __init__(self, tool: BaseTool, guard: Guard, *, on_denial: OnDenial = "message") -> None:
        GuardedTool.__init__(self, tool, guard, on_denial=on_denial)


def _guarded(item: BaseTool, guard: Guard, on_denial: OnDenial) -> GuardedTool:
    if isinstance(item, Tool):
        return _GuardedSimpleTool(item, guard, on_denial=on_denial)
    return GuardedTool(item, guard, on_denial=on_denial)


def guard_tools(
    tools: BaseToolkit | Iterable[BaseTool | Callable[..., Any]],
    guard: Guard,
    *,
    on_denial: OnDenial = "message",
) -> list[BaseTool]:
    """Wrap every tool so that it runs only when `guard` allows the call.

    `tools` is a list of LangChain tools (`@tool` functions, `StructuredTool`s, `BaseTool`
    subclasses, sync or async), a toolkit or its `get_tools()`; plain functions are turned into
    tools with LangChain's `@tool` first. The result is a new list of tools to give the agent
    in place of the originals. `on_denial` is `"message"` (a denied call answers the model with
    an error `ToolMessage`) or `"raise"` (the `DelegationDenied` propagates).
    """
    on_denial = check_on_denial(on_denial)
    require(guard, Guard, "guard must be a guardrail.Guard")
    given: object = tools
    if isinstance(given, BaseTool):
        msg = "guard_tools takes a list of tools; wrap one tool with guard_tools([tool], guard)"
        raise TypeError(msg)
    items = tools.get_tools() if isinstance(tools, BaseToolkit) else tools
    guarded: list[BaseTool] = []
    for item in items:
        if not isinstance(item, BaseTool):
            candidate: object = item
            if not callable(candidate):
                msg = f"not a tool: {item!r} (expected a LangChain tool or a function)"
                raise TypeError(msg)
            item = _as_tool(item)
        guarded.append(_guarded(item, guard, on_denial))
    return guarded
