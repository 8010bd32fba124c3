"""Constraint kinds on numbers: `min` and `max` (inclusive). A bound is a finite number; a value
passes only when it is a finite number (never a bool) within it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import StrictFloat, StrictInt

from ._json import INT, NUM, is_finite_number
from ._kind import Branch, Harvest, Kind, Sampler, written

__all__ = ["KINDS", "SAMPLERS", "Max", "Min", "bounds"]

Number = StrictInt | StrictFloat


class _Bound:
    __slots__ = ("bound", "written")
    key = ""

    def __init__(self, bound: float) -> None:
        self.bound = bound
        self.written = written(self.key, bound)


class Min(_Bound):
    __slots__ = ()
    key = "min"

    def __call__(self, value: Any) -> bool:
        return is_finite_number(value) and value >= self.bound


class Max(_Bound):
    __slots__ = ()
    key = "max"

    def __call__(self, value: Any) -> bool:
        return is_finite_number(value) and value <= self.bound


def bounds(branch: Branch) -> tuple[float | None, float | None]:
    """The tightest `min` and `max` of a branch (None where it has none)."""
    lows, highs = branch.values("min"), branch.values("max")
    return (max(lows) if lows else None), (min(highs) if highs else None)


class _BoundKind(Kind):
    atoms = NUM
    bucket = "numbers"

    def annotation(self) -> Any:
        return Number | None

    def validate(self, value: Any, written: Mapping[str, Any]) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{self.key} must be a finite number")

    def bounded(self, branch: Branch) -> list[Any] | None:
        lo, hi = bounds(branch)
        if branch.types <= {INT} and lo is not None and hi is not None and hi - lo <= 256:
            return list(range(math.ceil(lo), math.floor(hi) + 1))
        return None


class _Min(_BoundKind):
    key = "min"
    rank = 40

    def compile(self, value: Any) -> Min:
        return Min(value)

    def proves(self, branch: Branch, value: Any) -> bool:
        lo, _ = bounds(branch)
        return branch.types <= NUM and lo is not None and lo >= value

    def disjoint(self, branch: Branch, value: Any) -> bool:
        _, hi = bounds(branch)
        return super().disjoint(branch, value) or (hi is not None and hi < value)


class _Max(_BoundKind):
    key = "max"
    rank = 50

    def validate(self, value: Any, written: Mapping[str, Any]) -> None:
        super().validate(value, written)
        low = written.get("min")
        if low is not None and low > value:
            raise ValueError(f"min ({low}) is greater than max ({value})")

    def compile(self, value: Any) -> Max:
        return Max(value)

    def proves(self, branch: Branch, value: Any) -> bool:
        _, hi = bounds(branch)
        return branch.types <= NUM and hi is not None and hi <= value

    def disjoint(self, branch: Branch, value: Any) -> bool:
        lo, _ = bounds(branch)
        return super().disjoint(branch, value) or (lo is not None and lo > value)


_BASE_NUMBERS: tuple[Any, ...] = (0, 1, -1, 2, 0.5, -0.5, 1.5, 10, 100, 1000, 10**6, 10**9, -10**9,
                                  2**31, 2**53 + 1, 1e15)


def _near_bounds(h: Harvest) -> list[Any]:
    out: list[Any] = []
    for n in h.get("numbers"):
        out += [n, n - 1, n + 1, n - 0.5, n + 0.5, n - 0.001, n + 0.001, float(n)]
        if float(n).is_integer():
            out.append(int(n))
    return out


KINDS: tuple[Kind, ...] = (_Min(), _Max())
SAMPLERS = (Sampler(5, lambda h: list(_BASE_NUMBERS)), Sampler(10, _near_bounds))
