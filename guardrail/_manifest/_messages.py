"""A pydantic `ValidationError` as a `ManifestError`: one problem per error, each naming its path
in the manifest and, for YAML, its line; an unknown key with the key it probably meant."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from .._errors import ManifestError
from ._data import Path

__all__ = ["MUST_END", "manifest_error"]

MUST_END = "every delegation must end: give ttl (e.g. '15m') or expires_at"

# A union member's name in an error location, not a place in the manifest.
_TYPE_TAGS = re.compile(
    r"^(str|int|float|bool|list|dict|none|literal|function|json|lax|strict|constrained)|\["
)


def _known_keys(models: Iterable[type[BaseModel]]) -> list[str]:
    keys: set[str] = set()
    for model in models:
        for name, field in model.model_fields.items():
            keys.add(field.alias or name)
    return sorted(keys)


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, Mapping):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _line(path: list[str | int], lines: Mapping[Path, int]) -> int | None:
    """The line of a path, or of the nearest enclosing value that has one."""
    for n in range(len(path), -1, -1):
        line = lines.get(tuple(path[:n]))
        if line is not None:
            return line
    return None


def manifest_error(
    exc: ValidationError,
    data: Any,
    lines: Mapping[Path, int],
    source: str | None,
    models: Iterable[type[BaseModel]],
) -> ManifestError:
    """Every problem of `exc`, placed in `data`; unknown keys are matched against the keys of
    `models` for a suggestion."""
    problems = []
    for error in exc.errors(include_url=False):
        path: list[str | int] = []
        node: Any = data
        for part in error["loc"]:
            if _has(node, part):
                node = node[part]
                path.append(part)
            elif isinstance(part, str) and _TYPE_TAGS.search(part):
                continue
            else:
                node = None
                path.append(part)
        where = ".".join(str(p) for p in path) or "(top level)"
        line = _line(path, lines)
        if line is not None:
            where += f" (line {line})"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            key = str(path[-1]) if path else ""
            message = f"unknown key {key!r}"
            close = difflib.get_close_matches(key, _known_keys(models), n=1, cutoff=0.75)
            if close:
                message += f" (did you mean {close[0]!r}?)"
        else:
            message = message.removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    # The window check runs only once every field is valid: name a missing end here as well.
    if (
        isinstance(data, Mapping)
        and data.get("ttl") is None
        and data.get("expires_at") is None
        and not any(MUST_END in p for p in problems)
    ):
        line = lines.get(())
        problems.append(f"(top level){f' (line {line})' if line else ''}: {MUST_END}")
    # One union failure yields an error per member; keep each problem once.
    return ManifestError(list(dict.fromkeys(problems)), source=source)
