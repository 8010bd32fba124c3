"""The constraint kind on filesystem paths: `path_within` (one root or a list). A value passes when
it is an absolute POSIX path that, once normalised (`.`, `..`, doubled and trailing slashes),
lies under one of the roots; relative paths, NUL and control characters and backslashes fail."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._json import STR
from ._kind import Branch, Harvest, Kind, Sampler, written
from ._strings import as_tuple

__all__ = ["KINDS", "SAMPLERS", "PathWithin", "normalize_path", "within"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_path(path: str) -> str | None:
    """An absolute POSIX path with `.`, `..`, doubled and trailing slashes resolved, or None when
    the path is relative or holds a NUL, a control character or a backslash."""
    if not path.startswith("/") or _CONTROL.search(path) or "\\" in path:
        return None
    norm = posixpath.normpath(path)
    if norm.startswith("//"):  # POSIX keeps a leading '//' as is; we do not
        norm = "/" + norm.lstrip("/")
    return norm


def within(norm: str, roots: tuple[str, ...]) -> bool:
    """A normalised path lies under one of the normalised `roots`."""
    # A boundary at a path separator: /srv/data-evil is not within /srv/data.
    return any(root == "/" or norm == root or norm.startswith(root + "/") for root in roots)


class PathWithin:
    __slots__ = ("roots", "written")

    def __init__(self, roots: str | Sequence[str]) -> None:
        as_list = [roots] if isinstance(roots, str) else list(roots)
        normalized = []
        for root in as_list:
            norm = normalize_path(root)
            if norm is None:
                raise ValueError(f"path_within root {root!r} must be an absolute path")
            normalized.append(norm)
        self.roots = tuple(normalized)
        self.written = written("path_within", roots if isinstance(roots, str) else as_list)

    def __call__(self, value: Any) -> bool:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            return False
        norm = normalize_path(value)
        return norm is not None and within(norm, self.roots)


def _roots(value: str | Sequence[str]) -> tuple[str, ...]:
    return tuple(r for r in (normalize_path(x) for x in as_tuple(value)) if r is not None)


class _PathWithin(Kind):
    key = "path_within"
    rank = 100
    template = "path"
    atoms = frozenset({STR})

    def annotation(self) -> Any:
        return str | list[str] | None

    def validate(self, value: Any, written: Mapping[str, Any]) -> None:
        roots = as_tuple(value)
        if not roots:
            raise ValueError("path_within needs at least one root")
        for root in roots:
            if normalize_path(root) is None:
                raise ValueError(f"path_within root {root!r} must be an absolute path")

    def compile(self, value: Any) -> PathWithin:
        return PathWithin(value)

    def proves(self, branch: Branch, value: Any) -> bool:
        roots = _roots(value)
        groups = [_roots(v) for v in branch.values(self.key)]
        return branch.types <= {STR} and any(g and all(within(r, roots) for r in g) for g in groups)

    def harvest(self, value: Any, h: Harvest) -> None:
        h.put("roots", *as_tuple(value))


def _root_samples(h: Harvest) -> list[Any]:
    out: list[Any] = []
    for r in h.get("roots"):
        base = r.rstrip("/") or ""
        out += [r, base + "/x", base + "/x/y", base + "x", base + "/../x", base + "/./x",
                base + "//x", "//" + r.lstrip("/"), base.rsplit("/", 1)[0] or "/", base + "/.."]
    return out


KINDS: tuple[Kind, ...] = (_PathWithin(),)
SAMPLERS = (Sampler(60, _root_samples),)
