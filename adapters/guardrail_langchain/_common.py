"""What the tool wrapper and the middleware share: the denial a model sees, and its arguments.

Nothing here decides anything. The guard decides; this module only translates LangChain's
calling convention (tool calls, injected arguments, `ToolMessage`) to and from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, Tool
from langchain_core.utils.pydantic import get_fields, is_basemodel_subclass

from guardrail import Denial, Guard, NotJson, json_schema_defaults, normalize_arguments

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
    """The short JSON object a model reads in place of the tool's output (`Denial.to_model_json`)."""
    return denial.to_model_json()


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


def model_args(arguments: Mapping[str, Any], hidden: frozenset[str]) -> Mapping[str, Any]:
    """The arguments the model chose: everything in the call but the injected ones."""
    return {key: value for key, value in arguments.items() if key not in hidden}


def _aliases(field: Any) -> list[str]:
    names = []
    for alias in (getattr(field, "alias", None), getattr(field, "validation_alias", None)):
        names += [a for a in getattr(alias, "choices", [alias]) if isinstance(a, str)]
    return names


def _required(field: Any) -> bool:
    is_required = getattr(field, "is_required", None)  # pydantic v2; v1 fields say `required`
    return bool(is_required()) if callable(is_required) else getattr(field, "required", None) is True


class Schema:
    """What the guard needs to know of a tool's arguments, read once from its schemas."""

    __slots__ = ("aliases", "defaults", "names", "open", "optional")

    def __init__(self, tool: BaseTool) -> None:
        visible: Any = tool.tool_call_schema
        parsed: Any = tool.args_schema
        # The field each alias the tool's parser accepts stands for.
        self.aliases: dict[str, str] = {}
        if isinstance(parsed, type) and is_basemodel_subclass(parsed):
            for name, field in get_fields(parsed).items():
                self.aliases.update(dict.fromkeys(_aliases(field), name))
        # The model's argument names, those it may leave out, and whether it may send others.
        self.optional: frozenset[str]
        if is_single_input(tool):
            self.names, self.optional, self.open = frozenset({SINGLE_INPUT_KEY}), frozenset(), False
        elif isinstance(visible, Mapping):
            self.names = _field_names(visible)
            required = visible.get("required")
            self.optional = self.names - frozenset(required if isinstance(required, list) else ())
            self.open = visible.get("additionalProperties", False) is not False
        else:
            fields = get_fields(visible) if is_basemodel_subclass(visible) else {}
            self.names = frozenset(fields).union(*(_aliases(f) for f in fields.values()))
            self.optional = frozenset(
                name for field_name, field in fields.items() if not _required(field)
                for name in (field_name, *_aliases(field))
            )
            config = getattr(visible, "model_config", None)
            self.open = isinstance(config, Mapping) and config.get("extra") == "allow"
        # What the tool runs with for an argument left out where no schema fills it in before
        # `_run` (a JSON-schema tool, a `_run` without `args_schema`): the declared defaults.
        self.defaults: dict[str, Any] = (
            {} if SINGLE_INPUT_KEY in self.names
            else json_schema_defaults(visible) if isinstance(visible, Mapping)
            else _field_defaults(visible)
        )

    def check(self, guard: Guard, tool: str) -> None:
        """A `ManifestError` for every argument the manifest constrains that this tool does not
        take (`Guard.check_arguments`): such a constraint never applies, and a required one
        denies every call."""
        guard.check_arguments(tool, self.names, others=self.open)

    def without_nulls(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments without a null for an optional one: models send null for the optional
        parameters they do not use, which means "left out", so the tool runs with its default
        (not None)."""
        return {k: v for k, v in arguments.items() if v is not None or k not in self.optional}


def _field_defaults(schema: Any) -> dict[str, Any]:
    if not is_basemodel_subclass(schema):
        return {}
    out: dict[str, Any] = {}
    for name, field in get_fields(schema).items():
        if not _required(field):
            factory = getattr(field, "default_factory", None)
            out[name] = as_json(factory() if callable(factory) else field.default)
    return out


def as_json(value: Any, *, sent: bool = False) -> Any:
    """A value the tool's schema produced, as the JSON data the guard decides on
    (`guardrail.normalize_arguments`; with `sent`, a model as the fields the model set, under
    the names it sent). A value that is not JSON data stays as it is: where the manifest looks
    at it the guard denies it (`argument_invalid`), elsewhere it does not matter."""
    try:
        return normalize_arguments({"v": value}, as_sent=sent)["v"]
    except NotJson:
        return value
