"""The delegation manifest: what one task may do, read from YAML, JSON or a template, validated by
pydantic and compiled once."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    AwareDatetime,
    Field,
    JsonValue,
    PrivateAttr,
    StrictFloat,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from .._errors import ManifestError
from .._policy import CompiledManifest, UrlSpec
from ._compile import compile_manifest
from ._constraint import Constraint
from ._data import Path as DataPath
from ._data import digest_of, load_json, load_yaml, read_text
from ._grants import Budget, RetrySpec, Strict, ToolGrant, parse_duration
from ._messages import MUST_END, manifest_error
from ._schema import manifest_json_schema
from ._signature import verify_manifest
from ._templates import load_template, render_data
from ._writer import default_comments, manifest_yaml, write_file

__all__ = [
    "Budget", "Constraint", "Manifest", "RetrySpec", "ToolGrant", "UrlSpec", "parse_duration",
    "render_template",
]

_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,256}")


class Manifest(Strict):
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
    inputs: list[str] | None = Field(
        default=None,
        description="The task's inputs (the user's request, values the issuer supplies): trusted "
        "content for provenance checks. Part of the digest, so a signature covers them.",
    )
    signature: dict[str, JsonValue] | None = None

    _digest: str = PrivateAttr(default="")
    _compiled: CompiledManifest | None = PrivateAttr(default=None)

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
            raise ValueError(MUST_END)
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
        self._budget_shapes((expires - (self.not_before or issued)).total_seconds())
        sums = set((self.budget.sum or {}) if self.budget else ())
        if sums:
            granted = {a for g in self.tools.values() if g for a in g.args}
            open_args = any(g and g.allow_other_args for g in self.tools.values())
            missing = sorted(sums - granted)
            if missing and not open_args:
                raise ValueError(f"budget.sum names {missing}, which no tool's args grant")
        self._results_granted()
        return self

    def _budget_shapes(self, lifetime: float) -> None:
        """`per` and `distinct` belong to a tool's budget; a window fits in the lifetime."""
        if self.budget is not None:
            for key in ("per", "distinct"):
                if getattr(self.budget, key) is not None:
                    # The task budget counts every tool's calls, and tools name their arguments
                    # as they like: a per-value or distinct limit is one tool's.
                    raise ValueError(
                        f"budget.{key}: a per-value or distinct budget belongs on a tool grant "
                        f"(tools.<tool>.budget.{key}), not on the task budget"
                    )
        budgets = [("budget", self.budget)] + [
            (f"tools.{name}.budget", g.budget) for name, g in self.tools.items() if g is not None
        ]
        for where, budget in budgets:
            if budget is not None and budget.window is not None and (
                budget.window_seconds > lifetime + 1e-9
            ):
                raise ValueError(
                    f"{where}.window: {budget.window!r} is longer than the manifest's lifetime "
                    f"({lifetime:g}s)"
                )

    def _results_granted(self) -> None:
        """`from_results` may name only tools this manifest grants (else nothing could satisfy it,
        and a typo would deny every call)."""
        for tool, grant in self.tools.items():
            for arg, constraint in (grant.args if grant else {}).items():
                for path, key, value in constraint.contextual():
                    if key != "from_results":
                        continue
                    for name in [value] if isinstance(value, str) else value:
                        if name not in self.tools:
                            where = ".".join(p for p in (f"tools.{tool}.args.{arg}", path) if p)
                            raise ValueError(
                                f"{where}.from_results names tool {name!r}, which the manifest "
                                f"does not grant (it grants: {', '.join(sorted(self.tools))})"
                            )

    # -- reading ---------------------------------------------------------------------------

    @classmethod
    def model_validate(
        cls, obj: Any, *args: Any, _lines: Mapping[DataPath, int] | None = None,
        _source: str | None = None, **kwargs: Any,
    ) -> Self:
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            models = (Manifest, ToolGrant, Budget, Constraint, UrlSpec, RetrySpec)
            raise manifest_error(exc, obj, _lines or {}, _source, models) from None

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
        text = read_text(p)
        if p.suffix.lower() == ".json":
            return cls.from_json(text, source=str(p), trusted_keys=trusted_keys)
        return cls.from_yaml(text, source=str(p), trusted_keys=trusted_keys)

    @classmethod
    def from_template(cls, path: str | Path, *, task: str, **params: Any) -> Manifest:
        """Instantiate a manifest template (`params:` and `${name}`) for one task."""
        return render_template(path, task=task, **params)

    def _verified(self, trusted_keys: Sequence[Any] | None) -> Self:
        if trusted_keys is not None:
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
        return manifest_json_schema(cls, Constraint.registry)

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

    def compiled(self) -> CompiledManifest:
        """The compiled form (built once, then cached): see `guardrail._policy._compiled`."""
        if self._compiled is None:
            self._compiled = compile_manifest(self)
        return self._compiled


def render_template(
    template: str | Path | Mapping[str, Any], *, task: str, **params: Any
) -> Manifest:
    """A manifest instantiated from a template file (or template data) for one task."""
    lines: dict[DataPath, int] = {}
    source: str | None = None
    if isinstance(template, Mapping):
        data = dict(template)
    else:
        data, lines, source = load_template(template)
    rendered = render_data(data, task=task, params=params, source=source)
    return Manifest.model_validate(rendered, _lines=lines, _source=source)
