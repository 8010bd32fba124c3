"""The narrowest readable constraint that every observed value of an argument satisfies.

In order: the exact values when there are few (and they are not free text); otherwise, by the
values' JSON type, a range for numbers, a common directory for paths, schemes/hosts/path prefix
for URLs, a pattern when every value has the same obvious shape, and a type with length bounds for
the rest. Arrays constrain their items (`each`), objects their keys (`fields`). Each
generalisation is checked against every value with the compiled predicate before it is used;
one that fails any value is not used.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .. import _telemetry as tel
from .._policy import Pattern, normalize_path
from .._policy._paths import PathWithin
from .._policy._urls import Url, UrlSpec

__all__ = ["FEW", "FREE_TEXT", "Learned", "learn", "value_key"]

FEW = 5  # at most this many distinct values are listed exactly
FREE_TEXT = 64  # a longer string (or one with a line break) is text, never listed exactly
_MAX_DEPTH = 6
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}


@dataclass
class Learned:
    """A constraint, a short note for the manifest line, and why (for `--explain`)."""

    constraint: dict[str, Any]
    note: str
    why: list[str] = field(default_factory=list)


def value_key(value: Any) -> str:
    """Equal keys for values the guard treats as equal (1 and 1.0; never true and 1)."""
    return json.dumps(_normal(value), sort_keys=True, ensure_ascii=False)


def _normal(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in value.items()}
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object"


def _distinct(values: Sequence[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for value in values:
        seen.setdefault(value_key(value), value)
    return [seen[k] for k in sorted(seen)]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _holds(test: Callable[[Any], bool], values: Sequence[Any]) -> bool:
    return all(test(v) for v in values)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and (len(value) > FREE_TEXT or "\n" in value or "\r" in value)


def learn(values: Sequence[Any], *, margin: float = 0.0, depth: int = 0) -> Learned:
    """The constraint for `values` (the observed values of one argument, nulls left out by the
    caller unless they are items of an array)."""
    if any(v == tel.REDACTED for v in values):
        return Learned({}, "value redacted in the trace: constrain it by hand", [
            f"its value was redacted when recorded (a secret-looking name gets {tel.REDACTED}), so "
            "it is unknown and not written here: left unconstrained ({}), constrain it by hand",
        ])
    groups: dict[str, list[Any]] = {}
    for value in values:
        kind = _kind(value)
        groups.setdefault("number" if kind == "integer" else kind, []).append(value)
    if "number" in groups and all(_kind(v) == "integer" for v in groups["number"]):
        groups["integer"] = groups.pop("number")
    distinct = _distinct(values)
    if len(groups) > 1 and len(distinct) <= FEW and not any(_is_text(v) for v in distinct):
        return _exact(distinct, len(values))
    parts = [_group(kind, group, margin, depth) for kind, group in sorted(groups.items())]
    if len(parts) == 1:
        return parts[0]
    return Learned(
        {"any_of": [p.constraint for p in parts]},
        f"{len(parts)} types seen",
        [f"values of {len(parts)} JSON types ({', '.join(sorted(groups))}): any of"]
        + [f"  {kind}: {'; '.join(p.why)}" for kind, p in zip(sorted(groups), parts, strict=True)],
    )


def _exact(distinct: list[Any], count: int) -> Learned:
    shown = ", ".join(json.dumps(v, ensure_ascii=False)[:40] for v in distinct)
    if len(distinct) == 1:
        return Learned({"equals": distinct[0]}, f"the one value seen in {_plural(count, 'call')}",
                       [f"one value in {_plural(count, 'call')} ({shown}): equals"])
    return Learned(
        {"one_of": distinct}, f"{len(distinct)} values seen in {_plural(count, 'call')}",
        [f"{len(distinct)} distinct values in {_plural(count, 'call')} (at most {FEW} are listed "
         f"exactly): one_of {shown}"],
    )


def _group(kind: str, values: list[Any], margin: float, depth: int) -> Learned:
    distinct = _distinct(values)
    if kind == "null":
        return Learned({"type": "null"}, "only null seen", ["only null was seen: type null"])
    if kind == "boolean":
        if len(distinct) == 1:
            return _exact(distinct, len(values))
        return Learned({"type": "boolean"}, "true and false seen",
                       ["both true and false were seen: type boolean"])
    text = [v for v in distinct if _is_text(v)]
    if len(distinct) <= FEW and not text:
        return _exact(distinct, len(values))
    many = (f"{len(distinct)} distinct values in {_plural(len(values), 'call')}"
            + (f" (more than {FEW})" if len(distinct) > FEW else " (free text, not listed)"))
    if depth >= _MAX_DEPTH:
        return Learned({"type": kind}, f"{kind} (nested too deeply to say more)",
                       [f"{many}; nested {depth} levels deep: type {kind} only"])
    if kind in ("integer", "number"):
        return _range(kind, values, margin, many)
    if kind == "string":
        for rule in (_paths, _urls, _pattern):
            found = rule(distinct, many)
            if found is not None:
                return found
        return _lengths(values, margin, many, "string", "characters")
    if kind == "array":
        learned = _lengths(values, margin, many, "array", "items")
        items = [item for value in values for item in value]
        if items:
            inner = learn(items, margin=margin, depth=depth + 1)
            if inner.constraint:
                learned.constraint["each"] = inner.constraint
            learned.why.append(f"each item: {'; '.join(inner.why)}")
        return learned
    return _object(values, margin, depth, many)


def _round(value: float, decimals: int, up: bool) -> float:
    scale = 10 ** decimals
    edge = math.ceil(value * scale - 1e-9) if up else math.floor(value * scale + 1e-9)
    return edge / scale if decimals else float(edge)


def _decimals(values: Sequence[float]) -> int:
    most = 0
    for v in values:
        text = repr(float(v))
        if "e" in text:
            return 6
        most = max(most, len(text.partition(".")[2].rstrip("0")))
    return min(most, 6)


def widen(low: float, high: float, margin: float, *, integer: bool,
          decimals: int = 0) -> tuple[float, float]:
    """[low, high] widened by `margin` (a fraction of each bound's size), rounded outwards; a
    non-negative low bound stays non-negative."""
    if margin <= 0:
        return low, high
    new_low = low - margin * abs(low)
    new_high = high + margin * abs(high)
    if low >= 0:
        new_low = max(new_low, 0.0)
    if integer:
        return math.floor(new_low), math.ceil(new_high)
    return _round(new_low, decimals, up=False), _round(new_high, decimals, up=True)


def _range(kind: str, values: list[Any], margin: float, many: str) -> Learned:
    low, high = min(values), max(values)
    integer = kind == "integer"
    new_low, new_high = widen(low, high, margin, integer=integer, decimals=_decimals(values))
    if integer:
        new_low, new_high = int(new_low), int(new_high)
    constraint = {"type": kind, "min": new_low, "max": new_high}
    why = f"{many}, from {_num(low)} to {_num(high)}: type {kind}, min {_num(new_low)}, max {_num(new_high)}"
    note = f"seen {_num(low)}..{_num(high)}"
    if margin > 0:
        why += f" (the observed range widened by --margin {margin:g})"
        note += f", margin {margin:g}"
    return Learned(constraint, note, [why])


def _lengths(values: list[Any], margin: float, many: str, kind: str, unit: str) -> Learned:
    sizes = [len(v) for v in values]
    low, high = min(sizes), max(sizes)
    new_low, new_high = widen(low, high, margin, integer=True)
    constraint: dict[str, Any] = {"type": kind, "min_length": int(new_low), "max_length": int(new_high)}
    why = (f"{many}, {low} to {high} {unit} long: type {kind}, min_length {int(new_low)}, "
           f"max_length {int(new_high)}")
    if margin > 0:
        why += f" (widened by --margin {margin:g})"
    if kind == "string":
        why += "; no common directory, URL host or obvious shape"
    return Learned(constraint, f"{low}-{high} {unit}" if low != high else f"{low} {unit}", [why])


def _paths(distinct: list[Any], many: str) -> Learned | None:
    norms = [normalize_path(v) for v in distinct]
    if not all(norms):
        return None
    paths = [n for n in norms if n is not None]
    common = posixpath.commonpath(paths)
    roots = [common]
    if common == "/":
        dirs = sorted({posixpath.dirname(p) for p in paths})
        roots = [d for d in dirs if not any(d != o and d.startswith(o.rstrip("/") + "/") for o in dirs)]
        if len(roots) > FEW or roots == ["/"]:
            return None
    test = PathWithin(roots)
    if not _holds(test, distinct):
        return None
    value: str | list[str] = roots[0] if len(roots) == 1 else roots
    return Learned({"path_within": value}, f"{len(distinct)} paths seen, all under {', '.join(roots)}",
                   [f"{many}, all absolute paths: path_within {', '.join(roots)} (their common "
                    f"{'directory' if len(roots) == 1 else 'directories'})"])


def _urls(distinct: list[Any], many: str) -> Learned | None:
    schemes: set[str] = set()
    hosts: set[str] = set()
    paths: list[str] = []
    for value in distinct:
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").rstrip(".")
        if not scheme or not host or "@" in parts.netloc or not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
            return None
        schemes.add(scheme)
        hosts.add(host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}")
        norm = normalize_path(parts.path or "/")
        if norm is None:
            return None
        paths.append(norm)
    prefix = posixpath.commonpath(paths)
    spec: dict[str, Any] = {"schemes": sorted(schemes), "hosts": sorted(hosts)}
    for candidate in ([prefix] if prefix != "/" else []) + [None]:
        try:
            test = Url(UrlSpec(schemes=spec["schemes"], hosts=spec["hosts"], path_prefix=candidate))
        except ValueError:
            return None
        if _holds(test, distinct):
            if candidate is not None:
                spec["path_prefix"] = candidate
            where = f" under {candidate}" if candidate else ""
            return Learned(
                {"url": spec}, f"{len(distinct)} URLs seen on {_plural(len(hosts), 'host')}",
                [f"{many}, all URLs: schemes {', '.join(spec['schemes'])}, hosts "
                 f"{', '.join(spec['hosts'])}{where}"],
            )
    return None


_FINE = re.compile(r"[0-9]+|[A-Z]+|[a-z]+|.", re.S)
_COARSE = re.compile(r"[A-Za-z0-9]+|.", re.S)
_META = frozenset("\\.^$*+?()[]{}|")
_CLASSES = ("[0-9]", "[a-z]", "[A-Z]", "[0-9a-f]", "[0-9A-F]", "[a-z0-9]", "[A-Z0-9]",
            "[A-Za-z]", "[A-Za-z0-9]")
_CLASS_TESTS = {cls: re.compile(cls + "+") for cls in _CLASSES}


def _literal(text: str) -> str:
    return "".join("\\" + ch if ch in _META else ch for ch in text)


def _shape(values: list[str], tokenizer: re.Pattern[str]) -> str | None:
    rows = [tokenizer.findall(v) for v in values]
    if len({len(r) for r in rows}) != 1:
        return None
    out = []
    constant = False
    for column in zip(*rows, strict=True):
        if len(set(column)) == 1:
            out.append(_literal(column[0]))
            constant = True
            continue
        if not all(t.isascii() and t.isalnum() for t in column):
            return None  # a separator that differs: not one shape
        cls = next((k for k in _CLASSES if all(_CLASS_TESTS[k].fullmatch(t) for t in column)), None)
        if cls is None:
            return None
        low, high = min(map(len, column)), max(map(len, column))
        out.append(f"{cls}{{{low}}}" if low == high else f"{cls}{{{low},{high}}}")
    return "^" + "".join(out) + "$" if constant else None


def _pattern(distinct: list[Any], many: str) -> Learned | None:
    if any(len(v) > FREE_TEXT or any(ch.isspace() for ch in v) for v in distinct):
        return None
    for tokenizer in (_FINE, _COARSE):
        pattern = _shape(distinct, tokenizer)
        if pattern is None:
            continue
        try:
            test = Pattern(pattern)
        except ValueError:
            continue
        if _holds(test, distinct):
            return Learned({"pattern": pattern}, f"{len(distinct)} values seen, all of this shape",
                           [f"{many}, all of one shape (the same separators and fixed parts): "
                            f"pattern {pattern}"])
    return None


def _object(values: list[Any], margin: float, depth: int, many: str) -> Learned:
    keys: list[str] = []
    for value in values:
        for key in value:
            if key not in keys:
                keys.append(key)
    fields: dict[str, Any] = {}
    why = [f"{many}, objects with keys {', '.join(keys)}: type object, fields"]
    for key in keys:
        present = [v[key] for v in values if v.get(key) is not None]
        if not present:
            fields[key] = {"type": "null"}
            why.append(f"  {key}: only null or absent: type null")
            continue
        inner = learn(present, margin=margin, depth=depth + 1)
        constraint = dict(inner.constraint)
        if len(present) == len(values):
            constraint["required"] = True
        fields[key] = constraint
        why.append(f"  {key}: {'; '.join(inner.why)}"
                   + ("; in every object: required" if len(present) == len(values) else ""))
    return Learned({"type": "object", "fields": fields}, f"objects with {_plural(len(keys), 'key')}", why)
