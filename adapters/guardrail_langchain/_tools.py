"""`guard_tools` and `GuardedTool`: LangChain tools that ask a `Guard` before they run.

A `GuardedTool` stands in for the tool it wraps: same name, description, argument schema and
model-facing schema. LangChain parses and validates the call exactly as it would for the wrapped
tool (the wrapped tool's own parser runs), then the guarded tool hands the model's arguments to
`guard.invoke` / `guard.ainvoke` with a closure that calls the wrapped tool's own `_run` /
`_arun`. So the tool runs inside the guard's span, its artifact and `ToolMessage` come out as
usual, and nothing is validated twice.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
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

from guardrail import DelegationDenied, Denial, Guard

from ._common import (
    SINGLE_INPUT_KEY,
    OnDenial,
    as_the_tool_sees_them,
    check_on_denial,
    denial_content,
    denial_message,
    injected_arg_names,
    is_single_input,
    model_args,
    require,
    schema_defaults,
)

__all__ = ["GuardedTool", "guard_tools"]

# `_to_args_and_kwargs` passes the model's arguments and the tool call id to `_run` / `_arun`
# under this key. A pydantic field cannot start with an underscore, so no tool argument can
# collide with it.
_CALL_KEY = "__guardrail_call__"


class _Call(NamedTuple):
    args: Mapping[str, Any]
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
        "defaults",
        "guard",
        "hidden",
        "nested",
        "on_denial",
        "single_input",
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
        # Defaults the tool runs with when the model leaves an argument out: the guard checks
        # those its manifest constrains, so a default cannot slip past a constraint.
        self.defaults = schema_defaults(tool)
        # A guarded tool inside: hand it the model's arguments and call id as well.
        self.nested = isinstance(tool, GuardedTool)
        # The key a plain string input is checked under: the one argument the model sees.
        visible = [key for key in tool.args if key not in self.hidden]
        self.single_input = is_single_input(tool)
        self.string_key = visible[0] if visible and not self.single_input else SINGLE_INPUT_KEY
        # What LangChain's `run` / `arun` would hand the wrapped tool's `_run` / `_arun`.
        self.sync_run_manager = _takes(tool._run, "run_manager")
        self.sync_config = _get_runnable_config_param(tool._run)
        async_fn = tool._run if type(tool)._arun is BaseTool._arun else tool._arun
        self.async_run_manager = _takes(async_fn, "run_manager")
        self.async_config = _get_runnable_config_param(async_fn)

    def __copy__(self) -> _Wiring:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Wiring:
        # Copies of a guarded tool share its guard (and so its budgets); nothing here changes.
        return self


class GuardedTool(BaseTool):
    """A LangChain tool that runs only when its `Guard` allows the call.

    Build one with `guard_tools` (or `GuardedTool(tool, guard)`). The model sees exactly the
    wrapped tool's schema; the guard sees the arguments the model sent, without the injected
    ones (`InjectedToolCallId`, `InjectedState`, `ToolRuntime`, callbacks); the tool call id is
    the guard's `call_id`. A denied call does not run: with `on_denial="message"` it answers the
    model with an error `ToolMessage` holding `denial.for_model()` as JSON, with
    `on_denial="raise"` the `DelegationDenied` propagates.
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
        # The model's arguments as it sent them, before the wrapped tool's parser fills in
        # defaults and the tool call id: these are what the manifest constrains.
        checked: Mapping[str, Any]
        if isinstance(tool_input, str):
            checked = {wiring.string_key: tool_input}
        else:
            checked = model_args(tool_input, wiring.hidden, single_input=wiring.single_input)
            checked = wiring.guard.with_defaults(
                self.name, checked, as_the_tool_sees_them(wiring.tool, checked, wiring.defaults)
            )
        args, kwargs = wiring.tool._to_args_and_kwargs(tool_input, tool_call_id)
        inner = kwargs.get(_CALL_KEY)  # set by a guarded tool inside, from its own parsing
        kwargs[_CALL_KEY] = _Call(checked, tool_call_id, inner if isinstance(inner, _Call) else None)
        return args, kwargs

    def _call(self, kwargs: dict[str, Any]) -> _Call:
        call = kwargs.pop(_CALL_KEY, None)
        if isinstance(call, _Call):
            return call
        # `_run` called directly, without LangChain's `run`: check what it was given.
        return _Call(model_args(kwargs, self._wiring.hidden), None)

    def _run(
        self,
        *args: Any,
        _guardrail_config: RunnableConfig,
        run_manager: CallbackManagerForToolRun | None = None,
        **kwargs: Any,
    ) -> Any:
        wiring = self._wiring
        call = self._call(kwargs)
        if wiring.nested:
            kwargs[_CALL_KEY] = call.inner or call
        if wiring.sync_run_manager and run_manager is not None:
            kwargs["run_manager"] = run_manager
        if wiring.sync_config is not None:
            kwargs[wiring.sync_config] = _guardrail_config
        ran = False

        def execute(**_checked: Any) -> Any:
            nonlocal ran
            ran = True
            return wiring.tool._run(*args, **kwargs)

        try:
            return wiring.guard.invoke(self.name, execute, call.args, call_id=call.call_id)
        except DelegationDenied as exc:
            if ran or wiring.on_denial == "raise":
                raise
            return self._denied(exc.denial, call.call_id)

    async def _arun(
        self,
        *args: Any,
        _guardrail_config: RunnableConfig,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
        **kwargs: Any,
    ) -> Any:
        wiring = self._wiring
        call = self._call(kwargs)
        if wiring.nested:
            kwargs[_CALL_KEY] = call.inner or call
        if wiring.async_run_manager and run_manager is not None:
            kwargs["run_manager"] = run_manager
        if wiring.async_config is not None:
            kwargs[wiring.async_config] = _guardrail_config
        ran = False

        def execute(**_checked: Any) -> Awaitable[Any]:
            nonlocal ran
            ran = True
            return wiring.tool._arun(*args, **kwargs)

        try:
            return await wiring.guard.ainvoke(self.name, execute, call.args, call_id=call.call_id)
        except DelegationDenied as exc:
            if ran or wiring.on_denial == "raise":
                raise
            return self._denied(exc.denial, call.call_id)

    def _denied(self, denial: Denial, call_id: str | None) -> Any:
        """What `_run` returns for a denied call, in the shape `BaseTool.run` expects."""
        out: ToolMessage | str
        if call_id is None:
            out = denial_content(denial)
        else:
            out = denial_message(denial, tool_call_id=call_id, name=self.name)
        if self.response_format == "content_and_artifact":
            return out, None
        return out


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
