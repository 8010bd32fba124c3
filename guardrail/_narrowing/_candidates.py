"""Candidate values for counterexamples, built from the constants of both manifests' constraints
(bounds, lengths, prefixes, roots, hosts, literals, sample strings of regular expressions).

A candidate is never assumed to be a counterexample: the caller tests it against the real compiled
rules (`first`). Which constants a kind contributes is the kind's `harvest`; what candidates are
made of them is its family's `Sampler`s (`guardrail._policy`), run in rank order so that the
simplest candidates come first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._manifest import Constraint
from .._policy import REGISTRY, Rule
from ._algebra import Side, components, dedupe
from ._report import NO_VALUE

_MAX_POOL = 4000
_MAX_NESTING = 8


class _Harvest:
    """Constants found in constraints, by bucket (`guardrail._policy.Harvest`)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self._buckets: dict[str, list[Any]] = {}
        self._nesting = 0

    def put(self, bucket: str, *values: Any) -> None:
        self._buckets.setdefault(bucket, []).extend(values)

    def get(self, bucket: str) -> list[Any]:
        return self._buckets.get(bucket, [])

    def add(self, constraint: Any) -> None:
        if self._nesting > _MAX_NESTING:
            return
        self._nesting += 1
        try:
            for comp in components(constraint):
                comp.kind.harvest(comp.model, self)
        finally:
            self._nesting -= 1

    def pool(self, constraints: Sequence[Any], depth: int) -> list[Any]:
        return candidates(constraints, depth)


_POOL_CACHE: dict[tuple[int, ...], tuple[list[Constraint], list[Any]]] = {}


def candidates(constraints: Sequence[Constraint], depth: int = 0) -> list[Any]:
    """Candidate values built from the constants of `constraints` (cached)."""
    key = (depth, *(id(con) for con in constraints))
    cached = _POOL_CACHE.get(key)
    if cached is not None and all(a is b for a, b in zip(cached[0], constraints, strict=True)):
        return cached[1]
    pool = _build_candidates(constraints, depth)
    if len(_POOL_CACHE) > 2_000:
        _POOL_CACHE.clear()
    _POOL_CACHE[key] = (list(constraints), pool)
    return pool


def _build_candidates(constraints: Sequence[Constraint], depth: int) -> list[Any]:
    h = _Harvest(depth)
    for con in constraints:
        h.add(con)
    registry = constraints[0].registry if constraints else REGISTRY
    out: list[Any] = []
    for sampler in registry.samplers:
        out += sampler.make(h)
    return dedupe(out)[:_MAX_POOL]


def fails(side: Side, rule: Rule) -> Callable[[Any], bool]:
    """A test for values the child accepts and `rule` rejects."""
    return lambda value: side.accepts(value) and not rule(value)


def both(one: Side, other: Side) -> Callable[[Any], bool]:
    """A test for values both sides accept."""
    return lambda value: one.accepts(value) and other.accepts(value)


def first(test: Callable[[Any], bool], pool: Iterable[Any]) -> Any:
    """The first value of `pool` that passes `test`, or NO_VALUE."""
    for value in pool:
        try:
            if test(value):
                return value
        except Exception:  # a candidate a predicate cannot take is no counterexample
            continue
    return NO_VALUE
