"""The delegation manifest: what one task may do, validated by pydantic and compiled once."""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from .._errors import ManifestError
from .._policy import _constraints as c
from ._data import Path as DataPath
from ._data import load_json, load_yaml
from ._writer import default_comments, manifest_yaml, write_file

__all__ = ["Budget", "Constraint", "Manifest", "RetrySpec", "ToolGrant", "UrlSpec", "parse_duration"]

FORMAT_VERSION = 1

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,256}")
_MUST_END = "every delegation must end: give ttl (e.g. '15m') or expires_at"


def parse_duration(value: str | int | float) -> float:
    """`30s`, `15m`, `2h`, `1d`, `1h30m`, `250ms` or a number of seconds, as seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a string like '15m' or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        if not text or _DURATION.sub("", text):
            raise ValueError(f"invalid duration {value!r}: use forms like '30s', '15m', '2h', '1d'")
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


class _Strict(BaseModel):
    # Unknown keys are errors: a typo such as `max_lenght` must never drop a constraint.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Number = StrictInt | StrictFloat
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]


def _check_json_value(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: NaN and infinities are not allowed")
    if isinstance(value, list):
        for item in value:
            _check_json_value(item, where)
    elif isinstance(value, dict):
        for item in value.values():
            _check_json_value(item, where)


class UrlSpec(_Strict):
    """`url:` — allowed schemes (default https and http), hosts and path prefix."""

    schemes: list[str] | None = None
    hosts: list[str] | None = None
    path_prefix: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> Self:
        for scheme in self.schemes or ():
            if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*", scheme):
                raise ValueError(f"invalid URL scheme {scheme!r}")
        if self.schemes is not None and not self.schemes:
            raise ValueError("schemes must not be empty")
        for host in self.hosts or ():
            c.parse_host_pattern(host)
        if self.path_prefix is not None and c.normalize_path(self.path_prefix) is None:
            raise ValueError(f"path_prefix {self.path_prefix!r} must be an absolute path")
        return self


class Constraint(_Strict):
    """The constraints on one argument. All keys must hold. A bare scalar means `equals`, a bare
    list means `one_of`, `{}` allows the argument unconstrained."""

    equals: JsonValue = None
    one_of: list[JsonValue] | None = None
    not_one_of: list[JsonValue] | None = None
    type: str | list[str] | None = None
    min: Number | None = None
    max: Number | None = None
    min_length: NonNegativeInt | None = None
    max_length: NonNegativeInt | None = None
    pattern: str | None = None
    starts_with: str | list[str] | None = None
    path_within: str | list[str] | None = None
    url: UrlSpec | None = None
    each: Constraint | None = None
    fields: dict[str, Constraint] | None = None
    any_of: list[Constraint] | None = None
    not_: Constraint | None = Field(default=None, alias="not")
    required: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, Constraint | Mapping):
            return data
        if data is None:
            raise ValueError(
                "a bare null is ambiguous: write {} to allow any value, or {equals: null}"
            )
        if isinstance(data, list | tuple):
            return {"one_of": list(data)}
        return {"equals": data}

    @field_validator("type")
    @classmethod
    def _type_names(cls, value: str | list[str] | None) -> str | list[str] | None:
        names = [value] if isinstance(value, str) else (value or [])
        for name in names:
            if name not in c.TYPE_NAMES:
                raise ValueError(
                    f"unknown type {name!r}: use one of {', '.join(c.TYPE_NAMES)}"
                )
        if isinstance(value, list) and not value:
            raise ValueError("type needs at least one type name")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for key in ("equals", "one_of", "not_one_of"):
            _check_json_value(getattr(self, key), key)
        for key in ("min", "max"):
            bound = getattr(self, key)
            if isinstance(bound, float) and not math.isfinite(bound):
                raise ValueError(f"{key} must be a finite number")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if (
            self.min_length is not None
            and self.max_length is not None
            and self.min_length > self.max_length
        ):
            raise ValueError(
                f"min_length ({self.min_length}) is greater than max_length ({self.max_length})"
            )
        if self.pattern is not None:
            c.compile_pattern(self.pattern)
        if self.path_within is not None:
            roots = [self.path_within] if isinstance(self.path_within, str) else self.path_within
            if not roots:
                raise ValueError("path_within needs at least one root")
            for root in roots:
                if c.normalize_path(root) is None:
                    raise ValueError(f"path_within root {root!r} must be an absolute path")
        if isinstance(self.starts_with, list) and not self.starts_with:
            raise ValueError("starts_with needs at least one prefix")
        if self.any_of is not None and not self.any_of:
            raise ValueError("any_of needs at least one alternative")
        return self

    def spec(self) -> dict[str, Any]:
        """The constraint as a mapping (shorthand expanded), for messages and digests."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")

    def compile(self) -> c.Rule:
        leaves: list[c.Predicate] = []
        structural: list[c.Structural] = []
        if self.type is not None:
            leaves.append(c.TypeIs(self.type))
        if "equals" in self.model_fields_set:
            leaves.append(c.Equals(self.equals))
        if self.one_of is not None:
            leaves.append(c.OneOf(self.one_of))
        if self.not_one_of is not None:
            leaves.append(c.NotOneOf(self.not_one_of))
        if self.min is not None:
            leaves.append(c.Min(self.min))
        if self.max is not None:
            leaves.append(c.Max(self.max))
        if self.min_length is not None:
            leaves.append(c.Length(low=self.min_length))
        if self.max_length is not None:
            leaves.append(c.Length(high=self.max_length))
        if self.starts_with is not None:
            leaves.append(c.StartsWith(self.starts_with))
        if self.pattern is not None:
            leaves.append(c.Pattern(self.pattern))
        if self.path_within is not None:
            leaves.append(c.PathWithin(self.path_within))
        if self.url is not None:
            u = self.url
            spec = u.model_dump(exclude_unset=True)
            leaves.append(c.Url(u.schemes, u.hosts, u.path_prefix, spec=spec))
        if self.each is not None:
            structural.append(c.Each(self.each.compile(), self.each.spec()))
        if self.fields is not None:
            rules = {name: sub.compile() for name, sub in self.fields.items()}
            spec = {name: sub.spec() for name, sub in self.fields.items()}
            structural.append(c.Fields(c.ArgsRule(rules), spec))
        if self.any_of is not None:
            structural.append(
                c.AnyOf([sub.compile() for sub in self.any_of], [s.spec() for s in self.any_of])
            )
        if self.not_ is not None:
            structural.append(c.Not(self.not_.compile(), self.not_.spec()))
        return c.Rule(leaves, structural, required=self.required)


class Budget(_Strict):
    """`calls`: at most this many allowed calls. `sum`: argument name -> the most its values may
    add up to over the task."""

    calls: NonNegativeInt | None = None
    sum: dict[str, Annotated[Number, Field(ge=0)]] | None = None

    @field_validator("sum")
    @classmethod
    def _finite(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for name, limit in (value or {}).items():
            if not math.isfinite(limit):
                raise ValueError(f"sum limit of {name!r} must be a finite number")
        return value


class RetrySpec(_Strict):
    """Bounded retries of a failing allowed call. Every attempt is authorized and charged as a
    call, so retries never go past a budget or the expiry."""

    attempts: Annotated[StrictInt, Field(ge=1, le=10)]
    on: list[str] = Field(min_length=1)
    backoff: str | StrictInt | StrictFloat | None = None

    @field_validator("backoff")
    @classmethod
    def _backoff(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("on")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
                raise ValueError(f"{name!r} is not an exception class name")
        return value

    @property
    def backoff_seconds(self) -> float:
        return parse_duration(self.backoff) if self.backoff is not None else 0.0

    def matches(self, exc: BaseException) -> bool:
        """True when `exc` is (a subclass of) one of the named exception classes."""
        names = set(self.on)
        for cls in type(exc).__mro__:
            if cls.__name__ in names or f"{cls.__module__}.{cls.__qualname__}" in names:
                return True
        return False


class ToolGrant(_Strict):
    """One granted tool: its argument constraints, its budget and its retries."""

    args: dict[str, Constraint] = Field(default_factory=dict)
    allow_other_args: StrictBool = False
    budget: Budget | None = None
    retry: RetrySpec | None = None

    @model_validator(mode="after")
    def _sums_named(self) -> Self:
        if self.budget is not None and self.budget.sum and not self.allow_other_args:
            for name in self.budget.sum:
                if name not in self.args:
                    raise ValueError(
                        f"budget.sum names argument {name!r}, which args does not grant"
                    )
        return self


class Manifest(_Strict):
    """A per-task delegation manifest. Load with `from_file`, `from_yaml` or `model_validate`."""

    manifest: Literal[1] = 1
    task: str = Field(min_length=1, max_length=256)
    principal: str | None = None
    issuer: str | None = None
    issued_at: AwareDatetime | None = None
    not_before: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    ttl: str | StrictInt | StrictFloat | None = None
    budget: Budget | None = None
    tools: dict[str, ToolGrant | None]
    signature: dict[str, JsonValue] | None = None

    _digest: str = PrivateAttr(default="")
    _compiled: Any = PrivateAttr(default=None)

    _KNOWN_KEYS: ClassVar[frozenset[str]] = frozenset()

    @field_validator("task", "principal", "issuer")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.fullmatch(value):
            raise ValueError("must be 1-256 characters with no control characters")
        return value

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("tools")
    @classmethod
    def _tool_names(cls, value: dict[str, ToolGrant | None]) -> dict[str, ToolGrant | None]:
        for name in value:
            if not _NAME.fullmatch(name):
                raise ValueError(f"tool name {name[:40]!r} must be 1-256 printable characters")
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _as_written(cls, data: Any, handler: Any) -> Any:
        model = handler(data)
        if isinstance(data, Mapping):
            model._digest = digest_of(data)
        elif isinstance(data, Manifest):
            model._digest = data._digest
        return model

    @model_validator(mode="after")
    def _window(self) -> Self:
        # Every delegation ends: ttl counts from issued_at (default: load time).
        if self.ttl is None and self.expires_at is None:
            raise ValueError(_MUST_END)
        issued = self.issued_at or datetime.now(UTC).replace(microsecond=0)
        expires = self.expires_at
        if self.ttl is not None:
            try:
                from_ttl = issued + timedelta(seconds=parse_duration(self.ttl))
            except OverflowError:  # beyond what a datetime holds (year 9999)
                raise ValueError(f"ttl {self.ttl!r} is too long") from None
            if expires is not None and abs((expires - from_ttl).total_seconds()) > 1:
                raise ValueError("give ttl or expires_at, not both")
            expires = from_ttl
        assert expires is not None
        if self.not_before is not None and self.not_before >= expires:
            raise ValueError("not_before is not before expires_at")
        object.__setattr__(self, "issued_at", issued)
        object.__setattr__(self, "expires_at", expires)
        sums = set((self.budget.sum or {}) if self.budget else ())
        if sums:
            granted = {a for g in self.tools.values() if g for a in g.args}
            open_args = any(g and g.allow_other_args for g in self.tools.values())
            missing = sorted(sums - granted)
            if missing and not open_args:
                raise ValueError(f"budget.sum names {missing}, which no tool's args grant")
        return self

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def model_validate(
        cls, obj: Any, *args: Any, _lines: dict[DataPath, int] | None = None,
        _source: str | None = None, **kwargs: Any,
    ) -> Self:
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise _manifest_error(exc, obj, _lines or {}, _source) from None

    @classmethod
    def from_yaml(
        cls, text: str, *, source: str | None = None, trusted_keys: Sequence[Any] | None = None
    ) -> Self:
        data, lines, problems = load_yaml(text, source)
        if not isinstance(data, dict):
            raise ManifestError([*problems, "the manifest must be a mapping"], source=source)
        try:
            manifest = cls.model_validate(data, _lines=lines, _source=source)
        except ManifestError as exc:
            # Report YAML problems and model problems together, each place once.
            # A place is its path: a YAML problem names the value's line, the model its key's.
            places = {p.partition(" (line ")[0] for p in problems}
            rest = [p for p in exc.problems if p.partition(" (line ")[0] not in places]
            raise ManifestError([*problems, *rest], source=source) from None
        if problems:
            raise ManifestError(problems, source=source)
        return manifest._verified(trusted_keys)

    @classmethod
    def from_json(
        cls, text: str, *, source: str | None = None, trusted_keys: Sequence[Any] | None = None
    ) -> Self:
        data = load_json(text, source)
        if not isinstance(data, dict):
            raise ManifestError("the manifest must be a JSON object", source=source)
        return cls.model_validate(data, _source=source)._verified(trusted_keys)

    @classmethod
    def from_file(cls, path: str | Path, *, trusted_keys: Sequence[Any] | None = None) -> Self:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ManifestError(
                f"cannot read manifest: {exc.strerror or exc}", source=str(p)
            ) from None
        except UnicodeDecodeError:
            raise ManifestError("the manifest is not UTF-8 text", source=str(p)) from None
        if p.suffix.lower() == ".json":
            return cls.from_json(text, source=str(p), trusted_keys=trusted_keys)
        return cls.from_yaml(text, source=str(p), trusted_keys=trusted_keys)

    @classmethod
    def from_template(cls, path: str | Path, *, task: str, **params: Any) -> Manifest:
        """Instantiate a manifest template (`params:` and `${name}`) for one task."""
        from ._templates import render_template

        manifest: Manifest = render_template(path, task=task, **params)
        return manifest

    def _verified(self, trusted_keys: Sequence[Any] | None) -> Self:
        if trusted_keys is not None:
            from .._signing._files import verify_manifest

            verify_manifest(self, trusted_keys)
        return self

    @classmethod
    def load(cls, source: Manifest | Mapping[str, Any] | str | Path) -> Manifest:
        """A manifest from a Manifest, a mapping, a file path or YAML/JSON text (multi-line)."""
        if isinstance(source, Manifest):
            return source
        if isinstance(source, Mapping):
            return cls.model_validate(dict(source))
        if isinstance(source, str) and "\n" in source:
            return cls.from_yaml(source)  # manifest text, not a path
        if isinstance(source, str | Path):
            return cls.from_file(source)
        raise TypeError(f"expected a Manifest, a mapping or a path, not {type(source).__name__}")

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        schema = cls.model_json_schema(by_alias=True)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = "Delegation manifest"
        # The shorthands are part of the format: a bare scalar means equals, a bare list one_of.
        # Every reference to Constraint now reaches the wrapper, which allows both forms.
        defs = schema["$defs"]
        defs["ConstraintObject"] = defs.pop("Constraint")
        defs["Constraint"] = {
            "description": "A constraint mapping, or a bare scalar (equals) or list (one_of).",
            "anyOf": [
                {"$ref": "#/$defs/ConstraintObject"},
                {"type": ["string", "number", "boolean"]},
                {"type": "array"},
            ],
        }
        return schema

    def to_yaml(self) -> str:
        """The manifest as readable YAML, as written (a `ttl` stays a ttl), which reads back as
        the same manifest: same decisions, and the same digest unless it was written with
        shorthands (`queue: support-eu` comes out as `queue: {equals: support-eu}`) or times
        in another form than `2026-01-31T10:00:00Z`."""
        data = self.model_dump(by_alias=True, exclude_unset=True, mode="json")
        return manifest_yaml(data, default_comments(data))

    def to_file(self, path: str | Path) -> None:
        """Write `to_yaml()` to `path` (UTF-8), or JSON when the name ends in `.json`."""
        data = self.model_dump(by_alias=True, exclude_unset=True, mode="json")
        write_file(data, path, default_comments(data))

    # -- derived --------------------------------------------------------------------------

    @property
    def digest(self) -> str:
        """sha256 of the manifest as written (canonical JSON, before ttl becomes expires_at)."""
        if not self._digest:
            self._digest = digest_of(
                self.model_dump(by_alias=True, exclude_unset=True, mode="json")
            )
        return self._digest

    @property
    def expires_ts(self) -> float:
        assert self.expires_at is not None
        return self.expires_at.timestamp()

    @property
    def not_before_ts(self) -> float | None:
        return self.not_before.timestamp() if self.not_before is not None else None

    def grant(self, tool: str) -> ToolGrant | None:
        if tool not in self.tools:
            return None
        return self.tools[tool] or ToolGrant()

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; with `update`, a different manifest: its digest (what a signature covers) and
        its compiled form are recomputed, never inherited, so a changed copy of a signed manifest
        does not verify and is not checked against the original's rules."""
        copy = super().model_copy(update=update, deep=deep)
        if update:
            copy._digest = ""
            copy._compiled = None
        return copy

    def compiled(self) -> Any:
        """The compiled form (built once, then cached): see `guardrail._policy._compiled`."""
        if self._compiled is None:
            from .._policy._compiled import CompiledManifest

            self._compiled = CompiledManifest(self)
        return self._compiled


def canonical_json(data: Any) -> str:
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default,
        allow_nan=False,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_unset=True, mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON data")


def digest_of(data: Mapping[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "signature"}
    try:
        text = canonical_json(body)
    except (TypeError, ValueError):
        text = repr(sorted(body.items(), key=lambda kv: kv[0]))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- error messages ---------------------------------------------------------------------------

_TYPE_TAGS = re.compile(
    r"^(str|int|float|bool|list|dict|none|literal|function|json|lax|strict|constrained)|\["
)


def _known_keys() -> list[str]:
    keys: set[str] = set()
    for model in (Manifest, ToolGrant, Budget, Constraint, UrlSpec, RetrySpec):
        for name, field in model.model_fields.items():
            keys.add(field.alias or name)
    return sorted(keys)


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, Mapping):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _manifest_error(
    exc: ValidationError, data: Any, lines: dict[DataPath, int], source: str | None
) -> ManifestError:
    problems = []
    for error in exc.errors(include_url=False):
        path: list[str | int] = []
        node: Any = data
        for part in error["loc"]:
            if _has(node, part):
                node = node[part]
                path.append(part)
            elif isinstance(part, str) and _TYPE_TAGS.search(part):
                continue  # a union member's name, not a place in the manifest
            else:
                node = None
                path.append(part)
        where = ".".join(str(p) for p in path) or "(top level)"
        line = None
        for n in range(len(path), -1, -1):
            line = lines.get(tuple(path[:n]))
            if line is not None:
                break
        if line is not None:
            where += f" (line {line})"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            key = str(path[-1]) if path else ""
            message = f"unknown key {key!r}"
            close = difflib.get_close_matches(key, _known_keys(), n=1, cutoff=0.75)
            if close:
                message += f" (did you mean {close[0]!r}?)"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        problems.append(f"{where}: {message}")
    # The window check runs only once every field is valid: name a missing end here as well.
    if (
        isinstance(data, Mapping)
        and data.get("ttl") is None
        and data.get("expires_at") is None
        and not any(_MUST_END in p for p in problems)
    ):
        line = lines.get(())
        problems.append(f"(top level){f' (line {line})' if line else ''}: {_MUST_END}")
    # One union failure yields an error per member; keep each problem once.
    unique = list(dict.fromkeys(problems))
    return ManifestError(unique, source=source)
