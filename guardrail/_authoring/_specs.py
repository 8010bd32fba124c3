"""Tool registries read into one neutral form: `ToolSpec` (a name, a description and the JSON
Schema of the arguments), which `guardrail init` turns into a skeleton manifest.

Sources here need no framework: Python callables (types from annotations and defaults, through
pydantic) and OpenAI-style function tool JSON. Sources that need a framework (LangChain, MCP) live
in the adapters and are found through the entry point group `guardrail.tool_sources`: each entry
point is a callable `(target, where) -> iterable of {"name", "description", "parameters"}`, where
`target` is what the command line named (an object for `module:attr`, an argv list for a command).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import json
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from ._errors import AuthoringError

__all__ = [
    "SOURCE_GROUP",
    "ToolSpec",
    "load_source",
    "resolve_target",
    "specs_from_mappings",
    "specs_from_openai",
    "specs_from_python",
]

SOURCE_GROUP = "guardrail.tool_sources"
# The extra that brings each adapter's framework, for the message when it is missing.
EXTRAS = {"langchain": "langchain", "mcp": "mcp"}

_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,256}")


@dataclass(frozen=True)
class ToolSpec:
    """One tool as a model sees it: `parameters` is the JSON Schema of its arguments object.
    `notes` says what could not be read (an argument type without a JSON Schema, say)."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Any, where: str) -> ToolSpec:
        """`{"name", "description", "parameters"}` (OpenAI's function shape; MCP's
        `inputSchema` is accepted too), checked: bad input names `where`."""
        if not isinstance(data, Mapping):
            raise AuthoringError(f"{where}: a tool must be an object, not {type(data).__name__}")
        name = data.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise AuthoringError(
                f"{where}: the tool name must be 1-256 printable characters, not {name!r:.60}"
            )
        description = data.get("description")
        if description is not None and not isinstance(description, str):
            raise AuthoringError(f"{where} ({name}): description must be a string")
        params = data.get("parameters", data.get("inputSchema"))
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise AuthoringError(
                f"{where} ({name}): parameters must be a JSON Schema object, not "
                f"{type(params).__name__}"
            )
        kind = params.get("type")
        if kind not in (None, "object"):
            raise AuthoringError(
                f"{where} ({name}): the arguments schema must be of type object, not {kind!r}"
            )
        return cls(name, description or "", dict(params))


def specs_from_mappings(items: Iterable[Any], where: str) -> list[ToolSpec]:
    """Tool specs from an iterable of mappings, names unique."""
    specs: list[ToolSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        spec = ToolSpec.from_mapping(item, f"{where}[{i}]")
        if spec.name in seen:
            raise AuthoringError(f"{where}[{i}]: the tool name {spec.name!r} appears twice")
        seen.add(spec.name)
        specs.append(spec)
    return specs


# -- OpenAI tool JSON -------------------------------------------------------------------------


def specs_from_openai(data: Any, where: str = "tools") -> list[ToolSpec]:
    """OpenAI-style function tools: a list of `{"type": "function", "function": {...}}` (Chat
    Completions), of `{"type": "function", "name": ...}` (Responses), or `{"tools": [...]}`."""
    if isinstance(data, Mapping) and "tools" in data:
        data = data["tools"]
    elif isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list):
        raise AuthoringError(f"{where}: expected a list of function tools, not {type(data).__name__}")
    items = []
    for i, tool in enumerate(data):
        if not isinstance(tool, Mapping):
            raise AuthoringError(f"{where}[{i}]: a tool must be an object, not {type(tool).__name__}")
        kind = tool.get("type", "function")
        if kind != "function":
            raise AuthoringError(
                f"{where}[{i}]: tool type {kind!r} is not a function tool (only function tools "
                "have names and arguments a manifest can grant)"
            )
        function = tool.get("function", tool)
        items.append({k: v for k, v in dict(function).items() if k != "type"}
                     if isinstance(function, Mapping) else function)
    return specs_from_mappings(items, where)


def read_openai_file(path: str | Path) -> list[ToolSpec]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AuthoringError(f"cannot read {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise AuthoringError(f"{p} is not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:
        raise AuthoringError(f"{p}: not valid JSON: {exc}") from None
    return specs_from_openai(data, where=str(p))


# -- Python callables -------------------------------------------------------------------------


def resolve_target(target: str) -> Any:
    """The object named by `module:attr` (`attr` may be dotted)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise AuthoringError(f"{target!r}: expected module:attr, e.g. myapp.tools:TOOLS")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AuthoringError(f"{target}: cannot import {module_name}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AuthoringError(f"{target}: {module_name} has no attribute {attr!r}") from None
    return obj


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def _json_scalar_type(value: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return type(value)
    return Any


def spec_from_callable(fn: Callable[..., Any], name: str, where: str) -> ToolSpec:
    """A tool spec from a function's signature: JSON types from annotations (through pydantic),
    or from the default's type when there is no annotation."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise AuthoringError(f"{where}: cannot read the signature of {name!r}: {exc}") from None
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable forward references: per parameter below
        hints = {}
    fields: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for pname, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            stars = "*" if param.kind == param.VAR_POSITIONAL else "**"
            notes[pname] = f"{stars}{pname} is not granted: name the arguments it takes"
            continue
        if pname in ("self", "cls") and param.annotation is param.empty:
            continue
        annotation = hints.get(pname, param.annotation)
        if annotation is param.empty:
            annotation = _json_scalar_type(param.default) if param.default is not param.empty else Any
        elif isinstance(annotation, str):
            annotation = _evaluated(annotation, fn)
            if annotation is None:
                notes[pname] = f"type {param.annotation} could not be resolved"
                annotation = Any
        default = ... if param.default is param.empty else param.default
        fields[pname] = (annotation, default)
    schema = _model_schema(name, fields, notes)
    return ToolSpec(name, _first_paragraph(inspect.getdoc(fn)), schema, notes)


def _evaluated(annotation: str, fn: Callable[..., Any]) -> Any:
    """A string annotation evaluated where the function was defined (as `get_type_hints` does
    for all of them at once), or None when it names something undefined."""
    namespace = getattr(inspect.unwrap(fn), "__globals__", {})
    try:
        value = eval(annotation, dict(namespace))  # the module's own annotation text
    except Exception:
        return None
    return None if isinstance(value, str) else value  # a forward reference that stays a name


def _model_schema(name: str, fields: dict[str, Any], notes: dict[str, str]) -> dict[str, Any]:
    """The JSON Schema of the arguments object; a parameter whose type has none becomes Any."""
    for pname, (annotation, default) in list(fields.items()):
        try:
            pydantic.TypeAdapter(annotation).json_schema()
        except Exception:
            label = getattr(annotation, "__name__", None) or repr(annotation)
            notes[pname] = f"type {label} has no JSON Schema"
            fields[pname] = (Any, default)
    safe = {
        # pydantic reserves some names (model_*, leading underscores): alias them.
        f"field_{i}": (annotation, pydantic.Field(default, alias=pname))
        for i, (pname, (annotation, default)) in enumerate(fields.items())
    }
    model = pydantic.create_model(f"{name}_arguments", **safe)  # type: ignore[call-overload]
    schema: dict[str, Any] = model.model_json_schema(by_alias=True, mode="validation")
    return schema


def specs_from_python(obj: Any, where: str) -> list[ToolSpec]:
    """Specs from a function, a list (or tuple) of functions, or a dict of name -> function."""
    items: list[tuple[str, Any, str]]
    if isinstance(obj, Mapping):
        items = [(str(key), value, f"{where}[{key!r}]") for key, value in obj.items()]
    elif isinstance(obj, list | tuple):
        items = [(_callable_name(value), value, f"{where}[{i}]") for i, value in enumerate(obj)]
    else:
        items = [(_callable_name(obj), obj, where)]
    if not items:
        raise AuthoringError(f"{where} holds no functions")
    specs = []
    seen: set[str] = set()
    for name, value, here in items:
        if not callable(value):
            raise AuthoringError(
                f"{here} is {_a(type(value).__name__)}, not a function (or a list or dict of functions)"
            )
        if not _NAME.fullmatch(name):
            raise AuthoringError(f"{here}: the tool name must be 1-256 printable characters")
        if name in seen:
            raise AuthoringError(f"{here}: the tool name {name!r} appears twice")
        seen.add(name)
        specs.append(spec_from_callable(value, name, here))
    return specs


def _callable_name(value: Any) -> str:
    name = getattr(value, "__name__", None)
    if isinstance(name, str):
        return name
    inner = getattr(value, "func", None)  # functools.partial
    return str(getattr(inner, "__name__", type(value).__name__))


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


# -- sources registered by adapters -----------------------------------------------------------


def load_source(
    kind: str, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None
) -> Callable[[Any, str], Iterable[Any]]:
    """The tool source `kind` registered in the entry point group `guardrail.tool_sources` (by
    default the installed ones). Raises AuthoringError, with the extra to install, when it is
    missing or its framework is not installed."""
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=SOURCE_GROUP)
    extra = EXTRAS.get(kind, kind)
    install = f"pip install 'task-guardrail[{extra}]'"
    found = [ep for ep in entry_points if ep.name == kind]
    if not found:
        raise AuthoringError(
            f"no tool source {kind!r} is installed (entry point group {SOURCE_GROUP}): {install}"
        )
    try:
        source = found[0].load()
    except ImportError as exc:
        raise AuthoringError(f"--{kind} needs the {extra} extra: {install} ({exc})") from None
    if not callable(source):
        raise AuthoringError(f"the tool source {kind!r} ({found[0].value}) is not callable")
    loaded: Callable[[Any, str], Iterable[Any]] = source
    return loaded


def specs_from_source(kind: str, target: Any, where: str,
                      entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
                      ) -> list[ToolSpec]:
    """The specs the registered source `kind` gives for `target` (what the command line named)."""
    source = load_source(kind, entry_points)
    try:
        items = list(source(target, where))
    except AuthoringError:
        raise
    except (TypeError, ValueError, LookupError) as exc:
        raise AuthoringError(f"{where}: {exc}") from None
    return specs_from_mappings(items, where)
