"""What the tool wrapper and the middleware share: the denial a model sees, and its arguments.

Nothing here decides anything. The guard decides; this module only translates LangChain's
calling convention (tool calls, injected arguments, `ToolMessage`) to and from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, get_args

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, Tool
from langchain_core.utils.pydantic import get_fields, is_basemodel_subclass

from guardrail import Denial, json_schema_defaults

OnDenial = Literal["message", "raise"]
"""What a denied call becomes: an error `ToolMessage` the model can read, or the exception."""

_ON_DENIAL: tuple[str, ...] = get_args(OnDenial)


def check_on_denial(on_denial: object) -> OnDenial:
    """`on_denial` as given, or a `ValueError` naming the values it can take."""
    if not isinstance(on_denial, str) or on_denial not in _ON_DENIAL:
        choices = " or ".join(repr(c) for c in _ON_DENIAL)
        msg = f"on_denial must be {choices}, not {on_denial!r}"
        raise ValueError(msg)
    return on_denial  # type: ignore[return-value]


def require(value: object, kind: type, what: str) -> None:
    """A `TypeError` saying `what` when `value` is not a `kind`."""
    if not isinstance(value, kind):
        msg = f"{what}, not {type(value).__name__}"
        raise TypeError(msg)


def denial_content(denial: Denial) -> str:
    """The short JSON object a model reads in place of the tool's output."""
    return json.dumps(denial.for_model(), ensure_ascii=False, default=str)


def denial_message(denial: Denial, *, tool_call_id: str, name: str | None) -> ToolMessage:
    """A denial as the error `ToolMessage` answering one tool call.

    The content is `denial.for_model()` as JSON; the artifact (never sent to a model) holds the
    whole `Denial` as JSON data, for code that inspects the conversation afterwards.
    """
    return ToolMessage(
        content=denial_content(denial),
        tool_call_id=tool_call_id,
        name=name,
        status="error",
        artifact=denial.model_dump(mode="json"),
    )


def _field_names(schema: Any) -> frozenset[str]:
    if isinstance(schema, Mapping):
        properties = schema.get("properties")
        return frozenset(properties) if isinstance(properties, Mapping) else frozenset()
    if isinstance(schema, type) and is_basemodel_subclass(schema):
        return frozenset(get_fields(schema))
    return frozenset()


def injected_arg_names(tool: BaseTool) -> frozenset[str]:
    """The tool's arguments that its caller supplies and the model never sees.

    These are the fields of the tool's input schema that LangChain leaves out of the schema it
    shows the model (`InjectedToolCallId`, `InjectedState`, `InjectedStore`, `ToolRuntime`, any
    `InjectedToolArg`), plus the injected parameters LangChain finds in the tool's signature.
    They are not the model's choice, so they are not checked against the manifest.
    """
    hidden = _field_names(tool.get_input_schema()) - _field_names(tool.tool_call_schema)
    from_signature: frozenset[str] = getattr(tool, "_injected_args_keys", frozenset())
    return frozenset(hidden | from_signature)


SINGLE_INPUT_KEY = "__arg1"
"""The one argument of a single-input `Tool` without a schema, as the model sees it."""


def is_single_input(tool: BaseTool) -> bool:
    """A single-input `Tool` without an argument schema. It runs with the one value of a dict
    input whatever its key, so that value is checked under `SINGLE_INPUT_KEY`."""
    return isinstance(tool, Tool) and not tool.args_schema


def model_args(
    arguments: Mapping[str, Any], hidden: frozenset[str], *, single_input: bool = False
) -> Mapping[str, Any]:
    """The arguments the model chose: everything in the call but the injected ones.

    For a single-input tool (`is_single_input`) the one value is checked under
    `SINGLE_INPUT_KEY`, the name the model sees, whatever key the model sent it under: `Tool`
    passes it on positionally, so `{"x": value}` must not slip past a constraint on `__arg1`
    (with `allow_other_args`). Not a copy otherwise when nothing is injected: the guard copies the
    arguments it is given.
    """
    if single_input and isinstance(arguments, Mapping) and len(arguments) == 1:
        return {SINGLE_INPUT_KEY: next(iter(arguments.values()))}
    if not hidden:
        return arguments
    return {key: value for key, value in arguments.items() if key not in hidden}


def schema_defaults(tool: BaseTool) -> dict[str, Any]:
    """The default of every optional argument in the schema the model sees."""
    schema = tool.tool_call_schema
    if isinstance(schema, dict):
        return json_schema_defaults(schema)
    if not is_basemodel_subclass(schema):
        return {}
    out: dict[str, Any] = {}
    for name, field in get_fields(schema).items():
        if getattr(field, "required", None) is True or (
            hasattr(field, "is_required") and field.is_required()
        ):
            continue
        factory = getattr(field, "default_factory", None)
        out[name] = factory() if callable(factory) else field.default
    return out


def as_the_tool_sees_them(
    tool: BaseTool, arguments: Mapping[str, Any], fallback: Mapping[str, Any]
) -> Mapping[str, Any]:
    """The model's arguments as the tool's schema completes them (defaults filled in at every
    depth, nested models as dicts), for the guard to check the defaults its manifest constrains.
    Only keys the model left out are taken from this; what it sent is checked as sent. When the
    schema cannot parse them (the tool will then fail the same way), its top-level defaults."""
    schema: Any = tool.tool_call_schema
    if not isinstance(schema, dict) and hasattr(schema, "model_validate"):
        try:
            dumped = schema.model_validate(dict(arguments)).model_dump()
        except Exception:
            return fallback
        if isinstance(dumped, dict):
            return dumped
    return fallback
