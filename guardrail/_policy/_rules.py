"""Composition: the predicates of one constraint as a `Rule`, a tool's arguments as an `ArgsRule`.

`Rule.test` and `ArgsRule.test` are the fast path of every check: a type number/integer with
min/max is fused into one range test, string equality and membership skip the type dispatch, and
an `ArgsRule` generates straight-line code (as fastjsonschema does) instead of looping. The slow
`violation` runs only when a test says no, to name what failed and where.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .._outcome import DenialCode
from ._json import is_finite_number, is_integer
from ._kind import INLINE, Predicate, Structural, inline
from ._numbers import Max, Min
from ._values import TypeIs

__all__ = ["ArgsRule", "Rule", "Violation"]


class Violation:
    """Where and why an argument failed: a code, a path inside the arguments, the constraint."""

    __slots__ = ("code", "constraint", "path")

    def __init__(self, code: DenialCode, path: list[str | int], constraint: str | None) -> None:
        self.code = code
        self.path = path
        self.constraint = constraint

    def at(self, step: str | int) -> Violation:
        self.path.insert(0, step)
        return self

    @property
    def dotted(self) -> str:
        return ".".join(str(p) for p in self.path)


def _always(value: Any) -> bool:
    return True


def _fast(leaves: Sequence[Predicate]) -> list[Callable[[Any], bool]]:
    """The same tests as `leaves`, fused where a fusion is cheaper: type number/integer with
    min/max becomes one range test; a predicate's own `fast` form is used when it has one."""
    out: list[Callable[[Any], bool]] = []
    rest = list(leaves)
    kinds = [type(p) for p in rest]
    numeric = next((p for p in rest if isinstance(p, TypeIs) and p.numeric is not None), None)
    lows = [p for p in rest if isinstance(p, Min)]
    highs = [p for p in rest if isinstance(p, Max)]
    if numeric is not None and (lows or highs) and kinds.count(TypeIs) == 1:
        out.append(_number_range(lows[0].bound if lows else None, highs[0].bound if highs else None,
                                 integer=numeric.numeric == "integer"))
        rest = [p for p in rest if p is not numeric and p not in lows and p not in highs]
    for p in rest:
        out.append(getattr(p, "fast", None) or p.__call__)
    return out


def _number_range(low: float | None, high: float | None, integer: bool) -> Callable[[Any], bool]:
    lo = -math.inf if low is None else low
    hi = math.inf if high is None else high

    def slow(value: Any) -> bool:  # subclasses of int/float; never bool
        ok = is_integer(value) if integer else is_finite_number(value)
        return ok and bool(lo <= value <= hi)

    if integer:

        def test_integer(value: Any) -> bool:
            return lo <= value <= hi if type(value) is int else slow(value)

        return inline(test_integer, "({0} <= v <= {1} if type(v) is int else {2}(v))", lo, hi, slow)

    def test_number(value: Any) -> bool:
        kind = type(value)
        if kind is float:
            return bool(lo <= value <= hi and value - value == 0)  # x - x is NaN for NaN, inf
        if kind is int:
            return bool(lo <= value <= hi)
        return slow(value)

    return inline(
        test_number,
        "(({0} <= v <= {1} and v - v == 0) if type(v) is float else "
        "({0} <= v <= {1}) if type(v) is int else {2}(v))",
        lo, hi, slow,
    )


def _compose(tests: Sequence[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    if not tests:
        return _always
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        a, b = tests
        return lambda v: a(v) and b(v)
    if len(tests) == 3:
        a, b, c = tests
        return lambda v: a(v) and b(v) and c(v)
    all_tests = tuple(tests)
    return lambda v: all(t(v) for t in all_tests)


class Rule:
    """One constraint mapping: every predicate must hold, then every structural part.

    `test(value)` is the fast yes/no used on every call; `violation(value)` explains a failure
    (which constraint, where) and runs only when `test` says no."""

    __slots__ = ("leaves", "required", "structural", "test")

    def __init__(
        self,
        leaves: Iterable[Predicate] = (),
        structural: Iterable[Structural] = (),
        required: bool = False,
    ) -> None:
        self.leaves = tuple(leaves)
        self.structural = tuple(structural)
        self.required = required
        self.test = _compose([*_fast(self.leaves), *(part.test for part in self.structural)])

    @property
    def unconstrained(self) -> bool:
        return not self.leaves and not self.structural

    def violation(self, value: Any) -> Violation | None:
        for predicate in self.leaves:
            if not predicate(value):
                return Violation(DenialCode.ARGUMENT_INVALID, [], predicate.written)
        for part in self.structural:
            found = part.violation(value)
            if found is not None:
                return found
        return None

    def __call__(self, value: Any) -> bool:
        return self.violation(value) is None


def _nulls_only(args: Mapping[str, Any], names: frozenset[str]) -> bool:
    """Every key of `args` outside `names` has a null value (counts as left out)."""
    return all(value is None for key, value in args.items() if key not in names)


class ArgsRule:
    """The rules of an argument mapping (a tool's `args` or a `fields`): unknown names are denied
    unless `allow_other`, required names must be present, and every present value must satisfy
    its rule. Checked in that order. A null counts as absent everywhere, also for an unknown name
    (models send null for every optional parameter they do not use)."""

    __slots__ = ("allow_other", "names", "required", "rules", "test", "tests")

    def __init__(self, rules: Mapping[str, Rule], allow_other: bool = False) -> None:
        self.names = frozenset(rules)
        self.required = tuple(name for name, rule in rules.items() if rule.required)
        self.rules = tuple((name, rule) for name, rule in rules.items() if not rule.unconstrained)
        self.tests = tuple((name, rule.test) for name, rule in self.rules)
        self.allow_other = allow_other
        self.test: Callable[[Mapping[str, Any]], bool] = self._generate_test()

    def _generate_test(self) -> Callable[[Mapping[str, Any]], bool]:
        """`test(args)`: True when `violation` would find nothing; the fast path of every check.

        Generated as straight-line code (as fastjsonschema does) to avoid a loop per argument.
        Names enter the source only through repr() of a str, which is always a plain literal;
        predicates enter through the namespace, never as text."""
        namespace: dict[str, Any] = {"names": self.names, "nulls_only": _nulls_only}
        lines = ["def test(args):"]
        if not self.allow_other:
            lines.append("    if not args.keys() <= names and not nulls_only(args, names): return False")
        for name in self.required:
            lines.append(f"    if args.get({name!r}) is None: return False")
        for i, (name, test) in enumerate(self.tests):
            namespace[f"t{i}"] = test
            lines.append(f"    v = args.get({name!r})")
            inlined = getattr(test, INLINE, None)
            if inlined is None:
                lines.append(f"    if v is not None and not t{i}(v): return False")
                continue
            template, constants = inlined
            names = []
            for k, constant in enumerate(constants):
                namespace[f"c{i}_{k}"] = constant
                names.append(f"c{i}_{k}")
            lines.append(f"    if v is not None and not {template.format(*names)}: return False")
        lines.append("    return True")
        exec("\n".join(lines), namespace)
        generated: Callable[[Mapping[str, Any]], bool] = namespace["test"]
        return generated

    def violation(self, args: Mapping[str, Any]) -> Violation | None:
        if not self.allow_other:
            names = self.names
            for key, value in args.items():
                if key not in names and value is not None:  # null: left out, as for named ones
                    label = key if isinstance(key, str) else repr(key)
                    return Violation(DenialCode.ARGUMENT_NOT_ALLOWED, [label[:200]], None)
        for name in self.required:
            if args.get(name) is None:
                return Violation(DenialCode.ARGUMENT_MISSING, [name], "required: true")
        for name, rule in self.rules:
            value = args.get(name)
            if value is None:
                continue
            found = rule.violation(value)
            if found is not None:
                return found.at(name)
        return None
