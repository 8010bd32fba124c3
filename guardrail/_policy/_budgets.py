"""Budgets beyond plain counts and sums: per argument value (`per`), distinct values
(`distinct`) and rolling windows (`window`), compiled once into `BudgetRule`s.

A plain budget (no `per`, no `window`) stays a `(scope, limit)` pair of the compiled tool, so the
decision of a tool without these features does exactly what it did before. A rule names its
store scope; a per-value rule's scope gets the digest of the value (`scope[arg=<digest>]`), so
neither store keys nor usage reports nor telemetry ever hold the value itself.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["ABSENT", "BudgetRule", "per_scope", "value_digest"]

# The digest of a left-out `per` argument: its own bucket (never shared with a value).
ABSENT = "-"
DIGEST_CHARS = 32  # 128 bits of sha256: a distinct value cannot be made to collide with another


class BudgetRule(NamedTuple):
    """One limit of a budget with `per`, `distinct` or `window`."""

    # "tools.<tool>.calls", "tools.<tool>.sum.<arg>", "tools.<tool>.distinct.<arg>", "calls",
    # "sum.<arg>"
    scope: str
    kind: str  # "calls", "sum" or "distinct"
    arg: str | None  # the summed or distinct argument
    limit: float
    per: str | None  # counted separately per value of this argument
    window: float  # seconds: the limit holds per rolling window; 0.0: over the task

    def describe(self) -> str:
        """What the rule limits, in words: `at most 2 different values of to per account in
        any 1h`."""
        limit = _num(self.limit)
        what = {
            "calls": f"at most {limit} call{'' if limit == '1' else 's'}",
            "sum": f"a sum of {self.arg} of at most {limit}",
            "distinct": f"at most {limit} different value{'' if limit == '1' else 's'} of {self.arg}",
        }[self.kind]
        if self.per:
            what += f" per {self.per}"
        if self.window:
            what += f" in any {duration_text(self.window)}"
        return what


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def duration_text(seconds: float) -> str:
    """`1h`, `15m`, `90s`: a window as it is usually written."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    return f"{seconds:g}s"


def _canonical(value: Any, depth: int = 0) -> Any:
    """`value` as the JSON data it stands for, so that equal values have one digest: an integral
    float is the integer (1.0 and 1 are one recipient), tuples are lists. Raises TypeError for
    what is not JSON data (a NaN, a non-string key, an object)."""
    if depth > 64:
        raise TypeError("nested too deeply")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        number = float(value)
        if not math.isfinite(number):
            raise TypeError("not a finite number")
        return int(number) if number.is_integer() else number
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("a key that is not a string")
            out[str(key)] = _canonical(item, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_canonical(item, depth + 1) for item in value]
    raise TypeError(f"{type(value).__name__} is not JSON data")


# Values repeat call after call (the same payees): remember the digests of plain scalars
# (bounded). Keyed by type too, so that True never passes for 1.
_DIGESTS: dict[tuple[type, object], str | None] = {}


def value_digest(value: Any) -> str | None:
    """A short sha256 of the canonical JSON of `value`; None when it is not JSON data (such a
    value cannot be counted, so the call is denied)."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool:
        key = (kind, value)
        try:
            return _DIGESTS[key]
        except KeyError:
            pass
        digest = _digest(value)
        if len(_DIGESTS) >= 4096:
            _DIGESTS.clear()
        _DIGESTS[key] = digest
        return digest
    return _digest(value)


def _digest(value: Any) -> str | None:
    try:
        text = json.dumps(
            _canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
            allow_nan=False,
        )
    except (TypeError, ValueError, RecursionError):
        return None
    # surrogatepass: a lone surrogate is a value too, with a digest of its own
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS]


def per_scope(scope: str, per: str, digest: str) -> str:
    """The scope of one value's share of a per-value budget."""
    return f"{scope}[{per}={digest}]"
