"""YAML read as JSON data, with the line of every value.

PyYAML's YAML 1.1 resolution turns `NO` into False, `12:30` into 750 and timestamps into
datetimes; in a manifest that would silently change what is granted. Here plain scalars resolve
as in JSON (null, true/false, numbers), everything else stays a string, duplicate keys are errors,
and a value JSON cannot hold (NaN, infinities, binary, sets, custom tags) is an error naming its line.
The manifest's digest hashes its data as canonical JSON (`digest_of`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pathlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import yaml
from pydantic import BaseModel
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .._errors import ManifestError

Path = tuple[str | int, ...]

MAX_NODES = 100_000
MAX_DEPTH = 64
MAX_BYTES = 1 << 20
"""The largest manifest (or template) text read, in UTF-8 bytes: 1 MiB, far above any real
manifest. Set `GUARDRAIL_MAX_MANIFEST_BYTES` to raise it. Larger input is refused before it is
parsed, so that a huge file costs nothing to reject."""
MAX_BYTES_ENV = "GUARDRAIL_MAX_MANIFEST_BYTES"

_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
# JSON's numbers (plus YAML's `.5` and `1.`); a leading zero (`012`, YAML 1.1 octal) stays a string.
_FLOAT = re.compile(r"[-+]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_NOT_FINITE = re.compile(r"[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)")
_STANDARD = "tag:yaml.org,2002:"
# A plain (unquoted, untagged) scalar: resolved here by JSON's rules, not by YAML 1.1's (which
# reads `1e3` as a string and `012` as octal).
_PLAIN = "tag:guardrail,2026:plain"
_PLAIN_TAGS = {_PLAIN, *(_STANDARD + t for t in ("str", "int", "float", "bool", "null", "timestamp"))}


def max_bytes() -> int:
    """`MAX_BYTES`, or the limit `GUARDRAIL_MAX_MANIFEST_BYTES` sets (a positive integer)."""
    raw = os.environ.get(MAX_BYTES_ENV)
    if raw is None or not raw.strip():
        return MAX_BYTES
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise ManifestError(f"{MAX_BYTES_ENV}={raw!r} must be a positive number of bytes")
    return limit


def check_size(text: str, source: str | None = None, what: str = "manifest") -> None:
    """A `ManifestError` when `text` is larger than `max_bytes()` in UTF-8."""
    limit = max_bytes()
    # A character is 1 to 4 bytes: only text near the limit is encoded to be measured.
    size = len(text)
    if size * 4 > limit:
        size = len(text.encode("utf-8", "surrogatepass")) if size <= limit else size
    if size > limit:
        raise ManifestError(
            f"the {what} is {size} bytes, more than the limit of {limit} bytes "
            f"(set {MAX_BYTES_ENV} to allow more)", source=source,
        )


class _Loader(yaml.SafeLoader):
    """Plain scalars resolved by JSON's rules; nodes counted while they are composed, so that a
    document with too many values is refused before it is built whole."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise ManifestError(
                f"line {mark.line + 1}: the manifest has more than {MAX_NODES} values "
                f"({self.nodes} read so far; the limit is {MAX_NODES})"
            )
        return super().compose_node(parent, index)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        tag: str = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        if kind is ScalarNode and implicit[0] and tag != _STANDARD + "merge":
            return _PLAIN
        return tag


def load_yaml(text: str, source: str | None = None) -> tuple[Any, dict[Path, int], list[str]]:
    """Parse YAML into JSON data, a map from each value's path to its (1-based) line, and the
    problems found (values JSON cannot hold, duplicate keys), each naming its path and line.
    Text larger than `max_bytes()` or with more than `MAX_NODES` values is refused early."""
    check_size(text, source)
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except ManifestError as exc:
        raise ManifestError(exc.problems, source=source) from None
    except RecursionError:
        raise ManifestError("the manifest is nested too deeply", source=source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError(f"{where}YAML syntax error: {problem}", source=source) from None
    if root is None:
        raise ManifestError("the manifest is empty", source=source)
    reader = _Reader()
    try:
        data = reader.read(root, (), 0)
    except RecursionError:
        raise ManifestError("the manifest is nested too deeply", source=source) from None
    return data, reader.lines, reader.problems


class _Reader:
    def __init__(self) -> None:
        self.lines: dict[Path, int] = {}
        self.problems: list[str] = []
        self.count = 0
        # A mapping's entries with its merge keys resolved, by node (aliases share nodes).
        self._merged: dict[int, list[tuple[str, Node, Node]]] = {}

    def _problem(self, node: Node, path: Path, text: str) -> None:
        where = ".".join(str(p) for p in path) or "(top level)"
        self.problems.append(f"{where} (line {node.start_mark.line + 1}): {text}")

    def read(self, node: Node, path: Path, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise ManifestError(f"the manifest has more than {MAX_NODES} values (an alias bomb?)")
        if depth > MAX_DEPTH:
            raise ManifestError(f"the manifest is nested more than {MAX_DEPTH} levels deep")
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            if node.tag != _STANDARD + "seq":
                self._problem(node, path, f"YAML type {node.tag!r} cannot be represented in JSON")
                return None
            return [self.read(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: Path, depth: int) -> Any:
        if node.tag != _STANDARD + "map":
            self._problem(node, path, f"YAML type {node.tag!r} cannot be represented in JSON")
            return None
        pairs = self._pairs(node, path, frozenset())
        if pairs is None:
            return None
        out: dict[str, Any] = {}
        for key, key_node, value_node in pairs:
            # An entry's line is its key's (a misspelled key is named where it is written).
            self.lines.setdefault((*path, key), key_node.start_mark.line + 1)
            out[key] = self.read(value_node, (*path, key), depth + 1)
        return out

    def _pairs(
        self, node: MappingNode, path: Path, active: frozenset[int]
    ) -> list[tuple[str, Node, Node]] | None:
        """The entries of a mapping with its merge keys (`<<`) resolved as YAML specifies: an
        explicit key overrides a merged one, and of several merged mappings the earlier one wins.
        Done here, not by PyYAML, whose precedence between merged mappings depends on its version
        (6.0.4 compares keys by object identity, so `<<: [*strict, *loose]` let the loose one win
        for any key longer than one character)."""
        cached = self._merged.get(id(node))
        if cached is not None:
            return cached
        explicit: list[tuple[str, Node, Node]] = []
        explicit_keys: set[str] = set()
        sources: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _STANDARD + "merge":
                if isinstance(value_node, SequenceNode):
                    sources.extend(value_node.value)
                else:
                    sources.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self._problem(key_node, path, "a mapping key must be a plain string")
                continue
            # JSON keys are strings: keep the key's text (`on`, `no`, `1`) as written.
            key = key_node.value
            if key in explicit_keys:  # a key written twice is an error
                self._problem(key_node, (*path, key), "duplicate key")
                continue
            explicit_keys.add(key)
            explicit.append((key, key_node, value_node))
        merged: list[tuple[str, Node, Node]] = []
        seen = set(explicit_keys)
        for source in sources:
            if not isinstance(source, MappingNode) or source.tag != _STANDARD + "map":
                self._problem(node, path, "invalid merge (<<): expected a mapping or a list of "
                                          f"mappings, but found {getattr(source, 'id', 'a node')}")
                return None
            if id(source) in active or source is node:
                self._problem(node, path, "invalid merge (<<): a mapping merges itself")
                return None
            inner = self._pairs(source, path, active | {id(node)})
            if inner is None:
                return None
            for key, key_node, value_node in inner:
                if key not in seen:  # the first merged mapping that has a key wins
                    seen.add(key)
                    merged.append((key, key_node, value_node))
        pairs = merged + explicit
        self._merged[id(node)] = pairs
        return pairs

    def _scalar(self, node: ScalarNode, path: Path) -> Any:
        text = node.value
        if node.style is not None:  # quoted or block: a string, unless explicitly tagged
            if node.tag != _STANDARD + "str":
                self._problem(node, path, f"explicit YAML tag {node.tag!r} is not supported")
            return text
        if node.tag not in _PLAIN_TAGS:
            self._problem(node, path, f"YAML type {node.tag!r} cannot be represented in JSON")
            return None
        if node.tag == _STANDARD + "str":
            return text
        if text in _NULL:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if _INT.fullmatch(text):
            try:
                return int(text)
            except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
                self._problem(node, path, "the number has too many digits")
                return None
        if _FLOAT.fullmatch(text):
            value = float(text)
            if not math.isfinite(value):
                self._problem(node, path, f"{text} is too large for a number")
                return None
            return value
        if _NOT_FINITE.fullmatch(text):
            self._problem(node, path, f"{text} cannot be represented in JSON")
            return None
        return text


def load_json(text: str, source: str | None = None) -> Any:
    """Parse JSON as strictly as YAML is read here: duplicate keys, NaN and infinities (including
    numbers too large for a float) are errors."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = value
        return out

    def constant(name: str) -> Any:
        raise ValueError(f"{name} cannot be used in a manifest")

    check_size(text, source)

    def finite(number: str) -> float:
        value = float(number)
        if not math.isfinite(value):  # 1e999 parses as an infinity
            raise ValueError(f"{number} is too large for a number")
        return value

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant, parse_float=finite)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"line {exc.lineno}: JSON syntax error: {exc.msg}", source=source) from None
    except (ValueError, RecursionError) as exc:
        raise ManifestError(f"invalid JSON: {exc}", source=source) from None


def canonical_json(data: Any) -> str:
    """The one JSON text of `data` that a digest hashes: sorted keys, no spaces, no NaN."""
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
    """sha256 of a manifest's data as written, minus its `signature` key."""
    body = {k: v for k, v in data.items() if k != "signature"}
    try:
        text = canonical_json(body)
    except (TypeError, ValueError):
        text = repr(sorted(body.items(), key=lambda kv: kv[0]))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_text(path: str | os.PathLike[str], what: str = "manifest") -> str:
    """A file's UTF-8 text; a `ManifestError` naming the file when it cannot be read or is larger
    than `max_bytes()` (checked before it is read)."""
    limit = max_bytes()
    try:
        with pathlib.Path(path).open("rb") as f:
            raw = f.read(limit + 1)  # never more than the limit, whatever the file's size
        if len(raw) > limit:
            size = os.stat(path).st_size
            raise ManifestError(
                f"the {what} is {max(size, len(raw))} bytes, more than the limit of {limit} bytes "
                f"(set {MAX_BYTES_ENV} to allow more)", source=str(path),
            )
        return raw.decode("utf-8")
    except OSError as exc:
        raise ManifestError(f"cannot read {what}: {exc.strerror or exc}", source=str(path)) from None
    except UnicodeDecodeError:
        raise ManifestError(f"the {what} is not UTF-8 text", source=str(path)) from None
