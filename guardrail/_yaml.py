"""YAML read as JSON data, with the line of every value.

PyYAML's YAML 1.1 resolution turns `NO` into False, `12:30` into 750 and timestamps into
datetimes; in a manifest that would silently change what is granted. Here plain scalars resolve
as in JSON (null, true/false, numbers), everything else stays a string, duplicate keys are errors,
and a value JSON cannot hold (NaN, infinities, binary, sets, custom tags) is an error naming its line.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ._exceptions import ManifestError

Path = tuple[str | int, ...]

MAX_NODES = 100_000
MAX_DEPTH = 64

_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?")
_NOT_FINITE = re.compile(r"[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)")
_STANDARD = "tag:yaml.org,2002:"
_PLAIN_TAGS = {_STANDARD + t for t in ("str", "int", "float", "bool", "null", "timestamp")}


def load_yaml(text: str, source: str | None = None) -> tuple[Any, dict[Path, int], list[str]]:
    """Parse YAML into JSON data, a map from each value's path to its (1-based) line, and the
    problems found (values JSON cannot hold, duplicate keys), each naming its path and line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
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
        self._constructor = SafeConstructor()

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
        self._constructor.flatten_mapping(node)  # merge keys (<<)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self._problem(key_node, path, "a mapping key must be a plain string")
                continue
            # JSON keys are strings: keep the key's text (`on`, `no`, `1`) as written.
            key = key_node.value
            if key in out:
                self._problem(key_node, (*path, key), "duplicate key")
                continue
            out[key] = self.read(value_node, (*path, key), depth + 1)
        return out

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
            return int(text)
        if _FLOAT.fullmatch(text):
            return float(text)
        if _NOT_FINITE.fullmatch(text):
            self._problem(node, path, f"{text} cannot be represented in JSON")
            return None
        return text
