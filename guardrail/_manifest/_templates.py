"""Manifest templates: one file, instantiated per task with typed parameters.

A template is a manifest with a `params:` block and `${name}` references in its values::

    params:
      order: {type: string, pattern: '^ORD-[0-9]{6}$'}
      limit: integer
    ttl: 15m
    tools:
      send_refund:
        args:
          order_id: ${order}                 # the whole value: the parameter's own type
          amount: {type: number, max: ${limit}}
          note: {starts_with: "refund ${order}: "}   # inside a string: its text

Substitution happens in the parsed data, never in the YAML text, so a parameter value is always
one value: it cannot add keys, constraints or YAML structure. It is done in one pass, so a `${...}`
inside a parameter value stays as it is. `$${` writes a literal `${`. Keys cannot hold parameters.
How a parameter is inserted into a constraint's value is its kind's `template` slot (see
`guardrail._policy._kind`): inside a `pattern` it matches itself literally (its punctuation is
escaped); inside a `path_within` root or a URL `path_prefix` it cannot hold a `.` or `..` segment
nor be empty (or only `/`), and inside a URL host it cannot hold `*`. `${task}` is the task id.
A `when` or `ask` condition cannot hold a parameter at all: inserted into CEL source, a value could rewrite
the expression. The template's own `task` key, if any, must be `${task}`: the task is given per
instance.

Missing, unknown and ill-typed parameters are `ManifestError`s; the rendered manifest (without
`params`) is then validated like any other.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError, model_validator

from .._errors import ManifestError
from .._policy import REGISTRY, Pattern, compile_pattern, is_finite_number
from ._data import Path as DataPath
from ._data import load_json, load_yaml, read_text

__all__ = ["ParamSpec", "coerce_param", "declared_params", "load_template", "render_data"]

ParamType = Literal["string", "integer", "number", "boolean"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# `$${` (an escaped `${`), `${name}`, or a `${` that is never closed.
_TOKEN = re.compile(r"\$\$\{|\$\{([^{}]*)\}|\$\{")
# Escaped when a parameter lands in a `pattern`: all ASCII punctuation (RE2 accepts `\` before any
# of it), so the value matches itself, also inside a character class (`-`, `]`, `^`).
_REGEX_META = frozenset(string.punctuation)


class ParamSpec(BaseModel):
    """One declared template parameter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ParamType = "string"
    pattern: StrictStr | None = None
    description: StrictStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"type": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _valid(self) -> ParamSpec:
        if self.pattern is not None:
            if self.type != "string":
                raise ValueError("pattern applies to string parameters only")
            compile_pattern(self.pattern)
        return self

    def check(self, name: str, value: Any) -> Any:
        """The value if it has this parameter's type (and matches its pattern); else ValueError."""
        ok = {
            "string": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": is_finite_number(value),
            "boolean": isinstance(value, bool),
        }[self.type]
        if not ok:
            raise ValueError(
                f"parameter {name!r} must be {_ARTICLE[self.type]}, not {_kind(value)}"
            )
        if self.pattern is not None and not Pattern(self.pattern)(value):
            raise ValueError(f"parameter {name!r} does not match pattern {self.pattern!r}")
        return value


_ARTICLE = {"string": "a string", "integer": "an integer", "number": "a number",
            "boolean": "a boolean"}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number" if math.isfinite(value) else "a non-finite number"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def coerce_param(spec: ParamSpec, name: str, text: str) -> Any:
    """A command-line `--param name=text` as the parameter's type."""
    if spec.type == "string":
        return text
    if spec.type == "integer":
        if not re.fullmatch(r"[-+]?[0-9]+", text.strip()):
            raise ManifestError(f"parameter {name!r} must be an integer, got {text!r}")
        return int(text)
    if spec.type == "number":
        try:
            number = float(text) if re.search(r"[.eE]", text) else int(text)
        except ValueError:
            raise ManifestError(f"parameter {name!r} must be a number, got {text!r}") from None
        return number
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ManifestError(f"parameter {name!r} must be true or false, got {text!r}")
    return lowered == "true"


# -- loading -----------------------------------------------------------------------------------


def load_template(
    path: str | Path, *, what: str = "template"
) -> tuple[dict[str, Any], dict[DataPath, int], str]:
    """The data of a YAML or JSON file (a template, or a manifest when `what="manifest"`), the
    line of each value and its source name."""
    p = Path(path)
    source = str(p)
    text = read_text(p, what)
    lines: dict[DataPath, int] = {}
    if p.suffix.lower() == ".json":
        data = load_json(text, source)
    else:
        data, lines, problems = load_yaml(text, source)
        if problems:
            raise ManifestError(problems, source=source)
    if not isinstance(data, dict):
        raise ManifestError(f"the {what} must be a mapping", source=source)
    return data, lines, source


def declared_params(data: Mapping[str, Any], source: str | None) -> dict[str, ParamSpec]:
    raw = data.get("params", {})
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ManifestError("params: must be a mapping of name -> {type, pattern}", source=source)
    specs: dict[str, ParamSpec] = {}
    problems: list[str] = []
    for name, spec in raw.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            problems.append(f"params.{name}: a parameter name is a letter or _ then letters, "
                            "digits or _ (at most 64)")
            continue
        if name == "task":
            problems.append("params.task: 'task' is reserved (${task} is the task id)")
            continue
        try:
            specs[name] = ParamSpec.model_validate(spec)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                where = ".".join(str(p) for p in ("params", name, *error["loc"]))
                message = error["msg"].removeprefix("Value error, ")
                if error["type"] == "extra_forbidden":
                    message = f"unknown key {error['loc'][-1]!r} (a parameter has type, pattern, "\
                              "description)"
                problems.append(f"{where}: {message}")
    if problems:
        raise ManifestError(problems, source=source)
    return specs


# -- rendering ---------------------------------------------------------------------------------


def render_data(
    data: Mapping[str, Any], *, task: str, params: Mapping[str, Any], source: str | None = None
) -> dict[str, Any]:
    """The manifest data of one instance of a template (not yet validated as a manifest)."""
    specs = declared_params(data, source)
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name in params:
        if name not in specs:
            declared = ", ".join(sorted(specs)) or "none"
            problems.append(f"unknown parameter {name!r} (the template declares: {declared})")
    for name, spec in specs.items():
        if name not in params:
            problems.append(f"missing parameter {name!r} ({_ARTICLE[spec.type]})")
            continue
        try:
            values[name] = spec.check(name, params[name])
        except ValueError as exc:
            problems.append(str(exc))
    if not isinstance(task, str) or not task:
        problems.append("task must be a non-empty string")
    if problems:
        raise ManifestError(problems, source=source)
    values["task"] = task
    written_task = data.get("task")
    if written_task is not None and written_task != "${task}":
        raise ManifestError(
            "task: a template does not fix the task id (it is given per instance): "
            "leave `task` out or write `task: ${task}`",
            source=source,
        )
    body = {k: v for k, v in data.items() if k not in ("params", "signature", "task")}
    rendering = _Renderer(values, source)
    out = rendering.node(body, (), "manifest")
    if rendering.problems:
        raise ManifestError(rendering.problems, source=source)
    assert isinstance(out, dict)
    rendered: dict[str, Any] = {}
    if "manifest" in out:
        rendered["manifest"] = out.pop("manifest")
    rendered["task"] = task
    rendered.update(out)
    return rendered


# Where in a manifest a string sits decides how a parameter is inserted into it: the manifest's
# own keys here (`manifest`, `tools`, `grant`, `args`), and inside a constraint what its kind says
# (`Kind.template`: a slot, or for an object value a slot per key).
_Context = str | Mapping[str, str]


class _Renderer:
    def __init__(self, values: Mapping[str, Any], source: str | None) -> None:
        self.values = values
        self.source = source
        self.problems: list[str] = []

    def node(self, value: Any, path: DataPath, ctx: _Context) -> Any:
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if isinstance(key, str) and "${" in key:
                    self._problem(path, f"key {key!r}: a key cannot hold a parameter "
                                        "(parameters are values)")
                    continue
                out[key] = self.node(item, (*path, key), _child_context(ctx, key))
            return out
        if isinstance(value, list):
            # A list of constraints (any_of); a bare list in a constraint's place lists values.
            inner: _Context = (
                "constraint" if ctx == "constraints" else "text" if ctx == "constraint" else ctx
            )
            return [self.node(item, (*path, i), inner) for i, item in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            return self.string(value, path, ctx)
        return value

    def string(self, text: str, path: DataPath, ctx: _Context) -> Any:
        if ctx == "condition" and _TOKEN.search(text.replace("$${", "")):
            # Text inserted into CEL source could rewrite the expression (`x' || true || '`).
            key = next((str(p) for p in reversed(path) if p in ("when", "ask")), "when")
            article = "an" if key == "ask" else "a"
            self._problem(path, f"{article} `{key}` condition cannot hold a parameter (it would be "
                                "inserted into the expression's source): constrain the argument "
                                "with the parameter under `args` instead")
            return text
        whole = _TOKEN.fullmatch(text)
        if whole is not None and whole.group(1) is not None:
            name = whole.group(1)
            value = self._lookup(name, path)
            if value is _MISSING:
                return text
            if ctx in ("regex", "path", "host") or isinstance(value, str):
                return self._insert(value, name, path, ctx)
            return value  # the parameter's own type: `max: ${limit}` is a number
        parts: list[str] = []
        pos = 0
        for match in _TOKEN.finditer(text):
            parts.append(text[pos:match.start()])
            pos = match.end()
            token = match.group(0)
            if token == "$${":
                parts.append("${")
            elif match.group(1) is None:
                self._problem(path, "'${' is not closed: write ${name}, or $${ for a literal ${")
                parts.append(token)
            else:
                name = match.group(1)
                value = self._lookup(name, path)
                parts.append(token if value is _MISSING else self._insert(value, name, path, ctx))
        parts.append(text[pos:])
        return "".join(parts)

    def _lookup(self, name: str, path: DataPath) -> Any:
        if name not in self.values:
            declared = ", ".join(sorted(n for n in self.values if n != "task"))
            self._problem(path, f"${{{name}}} is not a declared parameter "
                                f"(params declares: {declared or 'none'}; ${{task}} is the task id)")
            return _MISSING
        return self.values[name]

    def _insert(self, value: Any, name: str, path: DataPath, ctx: _Context) -> str:
        text = _as_text(value)
        if ctx == "regex":
            return "".join("\\" + ch if ch in _REGEX_META else ch for ch in text)
        if ctx == "path":
            segments = text.split("/")
            if any(s in (".", "..") for s in segments) or "\\" in text or "\x00" in text:
                self._problem(path, f"parameter {name!r}: a value inserted into a path cannot "
                                    "hold '.' or '..' segments or backslashes")
            elif not any(segments):
                # '' or '/' would leave an empty segment, which normalises away: the root
                # '/srv/customers/${customer}' would become '/srv/customers', every customer's.
                self._problem(path, f"parameter {name!r}: a value inserted into a path must "
                                    "name at least one path segment (it is empty or only '/')")
        if ctx == "host" and "*" in text:
            # '${tenant}.example.com' must not become the wildcard '*.example.com'.
            self._problem(path, f"parameter {name!r}: a value inserted into a host cannot "
                                "hold '*'")
        return text

    def _problem(self, path: DataPath, message: str) -> None:
        where = ".".join(str(p) for p in path) or "(top level)"
        self.problems.append(f"{where}: {message}")


class _Missing:
    pass


_MISSING = _Missing()


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)


def _child_context(ctx: _Context, key: Any) -> _Context:
    if ctx == "tools":
        return "grant"
    if ctx == "args":
        return "constraint"
    if not isinstance(key, str):
        return "text"
    if not isinstance(ctx, str):
        return ctx.get(key, "text")
    if ctx == "manifest":
        return "tools" if key == "tools" else "text"
    if ctx == "grant":
        return "args" if key == "args" else "condition" if key in ("when", "ask") else "text"
    if ctx == "constraint":
        kind = REGISTRY.get(key)
        return kind.template if kind is not None else "text"
    return "text"
