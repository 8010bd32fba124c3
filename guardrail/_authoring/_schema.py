"""A tool's JSON Schema as manifest constraints: types, enums, bounds, lengths, patterns, items
and object fields, following local `$ref`s. What the schema says is kept; what a constraint
cannot say (a format, `multipleOf`, a pattern RE2 cannot run) is left out and noted, so the
skeleton never refuses a call the schema allows for a reason the reader cannot see."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._policy import compile_pattern

__all__ = ["Converted", "args_from_schema"]

_TYPES = ("string", "integer", "number", "boolean", "array", "object", "null")
_MAX_DEPTH = 12


@dataclass
class Converted:
    """One argument: its constraint (explicit form) and what a reader should know about it."""

    constraint: dict[str, Any]
    notes: list[str] = field(default_factory=list)


class _Converter:
    def __init__(self, root: Mapping[str, Any]) -> None:
        defs = root.get("$defs")
        legacy = root.get("definitions")
        self.defs: dict[str, Any] = {}
        for table in (legacy, defs):
            if isinstance(table, Mapping):
                self.defs.update(table)
        self.root = root

    def resolve(self, node: Any, notes: list[str], active: frozenset[str]) -> tuple[Any, frozenset[str]]:
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in active:
                notes.append(f"recursive schema ({ref}): not constrained below here")
                return True, active
            target: Any = None
            if ref == "#":
                target = self.root
            elif ref.startswith(("#/$defs/", "#/definitions/")):
                target = self.defs.get(ref.rsplit("/", 1)[1])
            if target is None:
                notes.append(f"schema reference {ref} not followed")
                return True, active
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            node = {**target, **siblings} if isinstance(target, Mapping) else target
            active = active | {ref}
        return node, active

    def convert(self, node: Any, notes: list[str], depth: int = 0,
                active: frozenset[str] = frozenset()) -> dict[str, Any]:
        node, active = self.resolve(node, notes, active)
        if node is True or node == {}:
            return {}
        if node is False:
            return {"not": {}}
        if not isinstance(node, Mapping):
            notes.append("schema is not an object: not constrained")
            return {}
        if depth > _MAX_DEPTH:
            notes.append("schema nested too deeply: not constrained below here")
            return {}
        out: dict[str, Any] = {}
        for key in ("allOf",):
            for part in node.get(key) or ():
                self._merge(out, self.convert(part, notes, depth + 1, active), notes)
        alternatives = [*(node.get("anyOf") or ()), *(node.get("oneOf") or ())]
        if alternatives:
            converted = [self.convert(a, notes, depth + 1, active) for a in alternatives]
            real = [c for c in converted if c != {"type": "null"}]
            nullable = len(real) < len(converted)
            if any(c == {} for c in real):
                pass  # one alternative allows anything: so does the whole
            elif len(real) == 1:
                self._merge(out, real[0], notes)
            elif real:
                if nullable:
                    real.append({"type": "null"})
                out["any_of"] = real
        self._merge(out, self._own(node, notes, depth, active), notes)
        return out

    def _merge(self, out: dict[str, Any], part: Mapping[str, Any], notes: list[str]) -> None:
        for key, value in part.items():
            if key not in out:
                out[key] = value
            elif out[key] != value:
                notes.append(f"conflicting {key} in the schema: kept {out[key]!r}")

    def _own(self, node: Mapping[str, Any], notes: list[str], depth: int,
             active: frozenset[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        kind = node.get("type")
        kinds = [kind] if isinstance(kind, str) else list(kind) if isinstance(kind, list) else []
        kinds = [k for k in kinds if k in _TYPES]
        if kinds:
            out["type"] = kinds[0] if len(kinds) == 1 else kinds
        if "const" in node:
            out["equals"] = node["const"]
        elif isinstance(node.get("enum"), list) and node["enum"]:
            values = node["enum"]
            if len(values) == 1:
                out["equals"] = values[0]
            else:
                out["one_of"] = list(values)
        numeric = set(kinds) & {"integer", "number"}
        if numeric or any(k in node for k in ("minimum", "maximum")):
            self._bounds(node, out, integer=kinds == ["integer"], notes=notes)
        if "string" in kinds or any(k in node for k in ("minLength", "maxLength", "pattern")):
            self._string(node, out, notes)
        if "array" in kinds:
            self._array(node, out, notes, depth, active)
        if "object" in kinds:
            self._object(node, out, notes, depth, active)
        for unsupported in ("format", "multipleOf", "not", "if", "uniqueItems", "contains"):
            if unsupported in node:
                notes.append(f"schema {unsupported} not expressed")
        return out

    def _bounds(self, node: Mapping[str, Any], out: dict[str, Any], *, integer: bool,
                notes: list[str]) -> None:
        def number(key: str) -> float | None:
            value = node.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            return value if math.isfinite(value) else None

        low, high = number("minimum"), number("maximum")
        excluded: list[float] = []
        for key, is_low in (("exclusiveMinimum", True), ("exclusiveMaximum", False)):
            raw = node.get(key)
            bound = number(key)
            if raw is True:  # draft 4: the plain bound is exclusive
                bound = low if is_low else high
            if bound is None:
                continue
            if integer:
                edge = math.floor(bound) + 1 if is_low else math.ceil(bound) - 1
                if is_low:
                    low = edge if low is None else max(low, edge)
                else:
                    high = edge if high is None else min(high, edge)
            else:
                if is_low:
                    low = bound if low is None else max(low, bound)
                else:
                    high = bound if high is None else min(high, bound)
                excluded.append(bound)
        if low is not None:
            out["min"] = low
        if high is not None:
            out["max"] = high
        if low is not None and high is not None and low > high:
            notes.append("the schema's bounds admit no number")
        if excluded:
            out["not_one_of"] = excluded  # an exclusive bound: the bound itself is refused

    def _string(self, node: Mapping[str, Any], out: dict[str, Any], notes: list[str]) -> None:
        for key, target in (("minLength", "min_length"), ("maxLength", "max_length")):
            value = node.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                out[target] = value
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            # JSON Schema searches; a manifest pattern matches the whole value.
            full = pattern
            if not full.startswith("^"):
                full = ".*" + full
            if not (full.endswith("$") and not full.endswith("\\$")):
                full = full + ".*"
            try:
                compile_pattern(full)
            except ValueError:
                notes.append(f"pattern {pattern!r} is not an RE2 expression: not expressed")
            else:
                out["pattern"] = full

    def _array(self, node: Mapping[str, Any], out: dict[str, Any], notes: list[str], depth: int,
               active: frozenset[str]) -> None:
        for key, target in (("minItems", "min_length"), ("maxItems", "max_length")):
            value = node.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                out[target] = value
        items = node.get("items")
        positional = node.get("prefixItems")
        if isinstance(items, list):  # draft 4 tuples
            positional, items = items, None
        if isinstance(positional, list) and positional:
            # A position cannot be constrained on its own: every item is one of the positions' types.
            each = [self.convert(p, notes, depth + 1, active) for p in positional]
            unique = [c for i, c in enumerate(each) if c not in each[:i]]
            if all(unique) and items in (None, False):
                out["each"] = unique[0] if len(unique) == 1 else {"any_of": unique}
            notes.append("tuple positions not expressed: each item is checked against any of them")
        elif items is not None:
            each_one = self.convert(items, notes, depth + 1, active)
            if each_one:
                out["each"] = each_one

    def _object(self, node: Mapping[str, Any], out: dict[str, Any], notes: list[str], depth: int,
                active: frozenset[str]) -> None:
        properties = node.get("properties")
        if not isinstance(properties, Mapping) or not properties:
            return
        extra = node.get("additionalProperties")
        if extra not in (None, False):
            notes.append("additional properties allowed: fields not constrained")
            return
        out["fields"] = self.fields(node, notes, depth + 1, active)

    def fields(self, node: Mapping[str, Any], notes: list[str], depth: int,
               active: frozenset[str]) -> dict[str, Any]:
        required = node.get("required")
        names = set(required) if isinstance(required, list) else set()
        out: dict[str, Any] = {}
        for name, sub in (node.get("properties") or {}).items():
            constraint = self.convert(sub, notes, depth, active)
            if name in names:
                constraint["required"] = True
            out[str(name)] = constraint
        return out


def args_from_schema(schema: Mapping[str, Any]) -> dict[str, Converted]:
    """Each argument of a tool's JSON Schema (an object schema) as a constraint and notes."""
    converter = _Converter(schema)
    root, active = converter.resolve(schema, [], frozenset())
    if not isinstance(root, Mapping):
        return {}
    properties = root.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    required = root.get("required")
    names = set(required) if isinstance(required, list) else set()
    out: dict[str, Converted] = {}
    for name, sub in properties.items():
        notes: list[str] = []
        constraint = converter.convert(sub, notes, 0, active)
        nullable = _nullable(sub, converter)
        if name in names and not nullable:
            constraint["required"] = True
        elif name in names:
            notes.append("required but may be null: not marked required (null counts as absent)")
        if isinstance(sub, Mapping):
            description = sub.get("description")
            default = sub.get("default", _MISSING)
            text = description if isinstance(description, str) else ""
            if default is not _MISSING and default is not None:
                text = f"{text} (default: {_short(default)})" if text else f"default: {_short(default)}"
            if text:
                notes.insert(0, text)
        out[str(name)] = Converted(constraint, notes)
    return out


_MISSING = object()


def _nullable(node: Any, converter: _Converter) -> bool:
    node, _ = converter.resolve(node, [], frozenset())
    if not isinstance(node, Mapping):
        return True
    kind = node.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    for key in ("anyOf", "oneOf"):
        for alt in node.get(key) or ():
            if _nullable(alt, converter):
                return True
    return False


def _short(value: Any) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."
