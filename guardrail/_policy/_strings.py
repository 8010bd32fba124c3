"""Constraint kinds on strings: `min_length` / `max_length` (strings in code points, and arrays),
`pattern` (a full match by RE2, linear time in the argument, so no input can backtrack
catastrophically) and `starts_with` (one prefix or a list)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import re2
from pydantic import Field, StrictInt

from ._json import ARR, STR
from ._kind import Branch, Harvest, Kind, Sampler, written
from ._regex_samples import regex_samples

__all__ = [
    "KINDS", "SAMPLERS", "Length", "Pattern", "StartsWith", "as_tuple", "compile_pattern",
    "nearby_lengths",
]

NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
_SEQ = frozenset({STR, ARR})


def as_tuple(value: str | Sequence[str]) -> tuple[str, ...]:
    """One string or a list of them (`starts_with`, `path_within`), as a tuple."""
    return (value,) if isinstance(value, str) else tuple(value)


class Length:
    """`min_length` / `max_length`, for strings (code points) and arrays."""

    __slots__ = ("high", "low", "written")

    def __init__(self, low: int | None = None, high: int | None = None) -> None:
        self.low = low
        self.high = high
        self.written = written("min_length", low) if low is not None else written("max_length", high)

    def __call__(self, value: Any) -> bool:
        if not isinstance(value, str | list | tuple):
            return False
        n = len(value)
        if self.low is not None and n < self.low:
            return False
        return self.high is None or n <= self.high


def compile_pattern(pattern: str) -> Any:
    """Compile with RE2 (linear-time matching). Raises ValueError naming the problem."""
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise ValueError(f"pattern {pattern!r} is not a valid RE2 expression: {detail}") from None


class Pattern:
    """Full match by RE2: linear time in the argument, so no input can backtrack catastrophically."""

    __slots__ = ("_anchor", "_match", "_regexp", "written")

    def __init__(self, pattern: str) -> None:
        self._regexp = compile_pattern(pattern)
        self.written = written("pattern", pattern)
        # The public API costs ~4 us per match; the compiled object's own Match ~0.5 us.
        low = getattr(self._regexp, "_regexp", None)
        anchor = getattr(getattr(re2, "_Anchor", None), "ANCHOR_BOTH", None)
        self._match = low.Match if low is not None and anchor is not None else None
        self._anchor = anchor

    def __call__(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if self._match is None:
            return self._regexp.fullmatch(value) is not None
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            return False
        spans = self._match(self._anchor, data, 0, len(data))
        return bool(spans[0][0] != -1)


class StartsWith:
    __slots__ = ("prefixes", "written")

    def __init__(self, prefixes: str | Sequence[str]) -> None:
        self.prefixes = as_tuple(prefixes)
        self.written = written("starts_with", prefixes if isinstance(prefixes, str) else list(prefixes))

    def __call__(self, value: Any) -> bool:
        return isinstance(value, str) and value.startswith(self.prefixes)


# -- the kinds ---------------------------------------------------------------------------------


def _lengths(branch: Branch) -> tuple[int | None, int | None]:
    lows, highs = branch.values("min_length"), branch.values("max_length")
    return (max(lows) if lows else None), (min(highs) if highs else None)


def _prefix_groups(branch: Branch) -> list[tuple[str, ...]]:
    return [as_tuple(v) for v in branch.values("starts_with")]


class _Length(Kind):
    atoms = _SEQ
    bucket = "lengths"

    def annotation(self) -> Any:
        return NonNegativeInt | None


class _MinLength(_Length):
    key = "min_length"
    rank = 60

    def compile(self, value: Any) -> Length:
        return Length(low=value)

    def proves(self, branch: Branch, value: Any) -> bool:
        t = branch.types
        if not t <= _SEQ:
            return False
        low, _ = _lengths(branch)
        if low is not None and low >= value:
            return True
        # Every value starts with one of the prefixes, so it is at least as long as the shortest.
        return t <= {STR} and any(min(len(x) for x in g) >= value for g in _prefix_groups(branch) if g)

    def disjoint(self, branch: Branch, value: Any) -> bool:
        _, high = _lengths(branch)
        return super().disjoint(branch, value) or (high is not None and high < value)


class _MaxLength(_Length):
    key = "max_length"
    rank = 70

    def validate(self, value: Any, written: Mapping[str, Any]) -> None:
        low = written.get("min_length")
        if low is not None and low > value:
            raise ValueError(f"min_length ({low}) is greater than max_length ({value})")

    def compile(self, value: Any) -> Length:
        return Length(high=value)

    def bounded(self, branch: Branch) -> list[Any] | None:
        _, high = _lengths(branch)
        return ["", []] if branch.types <= _SEQ and high == 0 else None

    def proves(self, branch: Branch, value: Any) -> bool:
        _, high = _lengths(branch)
        return branch.types <= _SEQ and high is not None and high <= value

    def disjoint(self, branch: Branch, value: Any) -> bool:
        low, _ = _lengths(branch)
        return super().disjoint(branch, value) or (low is not None and low > value)


class _Pattern(Kind):
    key = "pattern"
    rank = 90
    template = "regex"
    hint = " (regular expressions are proven only when identical)"
    atoms = frozenset({STR})
    bucket = "patterns"

    def annotation(self) -> Any:
        return str | None

    def validate(self, value: Any, written: Mapping[str, Any]) -> None:
        compile_pattern(value)

    def compile(self, value: Any) -> Pattern:
        return Pattern(value)

    def proves(self, branch: Branch, value: Any) -> bool:
        return value in branch.values(self.key)



class _StartsWith(Kind):
    key = "starts_with"
    rank = 80
    atoms = frozenset({STR})

    def annotation(self) -> Any:
        return str | list[str] | None

    def validate(self, value: Any, written: Mapping[str, Any]) -> None:
        if isinstance(value, list) and not value:
            raise ValueError("starts_with needs at least one prefix")

    def compile(self, value: Any) -> StartsWith:
        return StartsWith(value)

    def proves(self, branch: Branch, value: Any) -> bool:
        wanted = as_tuple(value)
        return branch.types <= {STR} and any(
            all(any(x.startswith(w) for w in wanted) for x in g) for g in _prefix_groups(branch)
        )

    def disjoint(self, branch: Branch, value: Any) -> bool:
        if STR not in branch.types:
            return True
        theirs = as_tuple(value)
        return any(
            g and all(not x.startswith(y) and not y.startswith(x) for x in g for y in theirs)
            for g in _prefix_groups(branch)
        )

    def harvest(self, value: Any, h: Harvest) -> None:
        h.put("prefixes", *as_tuple(value))


# -- candidate values --------------------------------------------------------------------------

_BASE_STRINGS = ("", "x", "a", "A", "0", " ", "-", "_", "xyz", "x" * 20, "/", "/x", "../x", "é",
                 "x" * 300)


def nearby_lengths(h: Harvest) -> list[int]:
    """Every harvested length and its neighbours, sorted."""
    return sorted({k for n in h.get("lengths") for k in (n - 1, n, n + 1) if 0 <= k <= 10_000})


def _prefix_samples(h: Harvest) -> list[Any]:
    out: list[Any] = []
    lengths = nearby_lengths(h)
    for p in h.get("prefixes"):
        out += [p, p + "x", p + "/x", p[:-1], p.upper(), p.lower(), "x" + p]
        out += [p + "a" * max(k - len(p), 0) for k in lengths]
    return out


def _pattern_samples(h: Harvest) -> list[Any]:
    out: list[Any] = []
    for pattern in h.get("patterns"):
        out += regex_samples(pattern)
    return out


KINDS: tuple[Kind, ...] = (_MinLength(), _MaxLength(), _Pattern(), _StartsWith())
SAMPLERS = (
    Sampler(30, lambda h: list(_BASE_STRINGS)),
    Sampler(40, lambda h: ["a" * k for k in nearby_lengths(h)]),
    Sampler(50, _prefix_samples),
    Sampler(80, _pattern_samples),
)
