"""Constraint kinds over the inside of a value, and `required`.

`each` (a constraint on every item of an array), `fields` (constraints on keys of an object, same
rules as a tool's `args`), `any_of` (one of several constraints), `not` (a constraint that must
fail). Their failures name the path inside the argument (`items.2`, `address.city`).
`required` tests no value: it makes the argument's absence (or null) a denial.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

from pydantic import StrictBool

from .._outcome import DenialCode
from ._json import ARR, OBJ
from ._kind import Branch, Harvest, Kind, Nested, Sampler, written
from ._rules import ArgsRule, Rule, Violation
from ._strings import nearby_lengths

__all__ = ["KINDS", "SAMPLERS", "AnyOf", "Each", "Fields", "Not"]


class Each:
    __slots__ = ("rule", "written")

    def __init__(self, rule: Rule, spec: Any) -> None:
        self.rule = rule
        self.written = written("each", spec)

    def test(self, value: Any) -> bool:
        if not isinstance(value, list | tuple):
            return False
        test = self.rule.test
        return all(test(item) for item in value)

    def violation(self, value: Any) -> Violation | None:
        if not isinstance(value, list | tuple):
            return Violation(DenialCode.ARGUMENT_INVALID, [], self.written)
        rule = self.rule
        test = rule.test  # explain only the items the fast test rejects: a long array stays cheap
        for i, item in enumerate(value):
            if test(item):
                continue
            found = rule.violation(item)
            if found is not None:
                return found.at(i)
        return None


class Fields:
    __slots__ = ("args", "written")

    def __init__(self, args: ArgsRule, spec: Any) -> None:
        self.args = args
        self.written = written("fields", spec)

    def test(self, value: Any) -> bool:
        return isinstance(value, Mapping) and self.args.test(value)

    def violation(self, value: Any) -> Violation | None:
        if not isinstance(value, Mapping):
            return Violation(DenialCode.ARGUMENT_INVALID, [], self.written)
        return self.args.violation(value)


class AnyOf:
    __slots__ = ("rules", "written")

    def __init__(self, rules: Sequence[Rule], spec: Any) -> None:
        self.rules = tuple(rules)
        self.written = written("any_of", spec)

    def test(self, value: Any) -> bool:
        return any(rule.test(value) for rule in self.rules)

    def violation(self, value: Any) -> Violation | None:
        for rule in self.rules:
            if rule.violation(value) is None:
                return None
        return Violation(DenialCode.ARGUMENT_INVALID, [], self.written)


class Not:
    __slots__ = ("rule", "written")

    def __init__(self, rule: Rule, spec: Any) -> None:
        self.rule = rule
        self.written = written("not", spec)

    def test(self, value: Any) -> bool:
        return not self.rule.test(value)

    def violation(self, value: Any) -> Violation | None:
        if self.rule.test(value):
            return Violation(DenialCode.ARGUMENT_INVALID, [], self.written)
        return None


# -- the kinds ---------------------------------------------------------------------------------


class _Each(Kind):
    key = "each"
    rank = 120
    structural = True
    template = "constraint"
    atoms = frozenset({ARR})
    bucket = "items"

    def annotation(self) -> Any:
        return Self | None

    def compile(self, value: Nested) -> Each:
        return Each(value.compile(), value.spec())

    def proves(self, branch: Branch, value: Any) -> bool:
        items = branch.values(self.key)
        return branch.types <= {ARR} and bool(items) and branch.within(items, value)



class _Fields(Kind):
    key = "fields"
    rank = 130
    structural = True
    template = "args"
    atoms = frozenset({OBJ})
    bucket = "fields"

    def annotation(self) -> Any:
        return dict[str, Self] | None

    def compile(self, value: Mapping[str, Nested]) -> Fields:
        rules = {name: sub.compile() for name, sub in value.items()}
        return Fields(ArgsRule(rules), {name: sub.spec() for name, sub in value.items()})

    def proves(self, branch: Branch, value: Any) -> bool:
        return branch.types <= {OBJ} and any(
            branch.args_within(own, value) for own in branch.values(self.key)
        )


class _AnyOf(Kind):
    key = "any_of"
    rank = 140
    structural = True
    template = "constraints"

    def annotation(self) -> Any:
        return list[Self] | None

    def validate(self, value: Any, written: Mapping[str, Any]) -> None:
        if not value:
            raise ValueError("any_of needs at least one alternative")

    def compile(self, value: Sequence[Nested]) -> AnyOf:
        return AnyOf([sub.compile() for sub in value], [sub.spec() for sub in value])

    def alternatives(self, value: Any) -> Sequence[Any]:
        return list(value)

    def proves(self, branch: Branch, value: Any) -> bool:
        return any(branch.proves(alt) for alt in value)

    def disjoint(self, branch: Branch, value: Any) -> bool:
        return all(branch.disjoint(alt) for alt in value)

    def harvest(self, value: Any, h: Harvest) -> None:
        for alt in value:
            h.add(alt)


class _Not(Kind):
    key = "not"
    rank = 150
    structural = True
    template = "constraint"

    def annotation(self) -> Any:
        return Self | None

    def compile(self, value: Nested) -> Not:
        return Not(value.compile(), value.spec())

    def proves(self, branch: Branch, value: Any) -> bool:
        return branch.disjoint(value)

    def disjoint(self, branch: Branch, value: Any) -> bool:
        return branch.proves(value)

    def harvest(self, value: Any, h: Harvest) -> None:
        h.add(value)


class _Required(Kind):
    key = "required"
    default = False

    def annotation(self) -> Any:
        return StrictBool

    def compile(self, value: Any) -> None:
        return None  # not a test of the value: `Rule.required`, checked by `ArgsRule`


# -- candidate values --------------------------------------------------------------------------


def _array_samples(h: Harvest) -> list[Any]:
    items = h.get("items")
    pool: list[Any] = (
        h.pool(items, h.depth + 1)[:60] if items and h.depth < 3 else [1, "x", None, True, 1.5, {}]
    )
    out: list[Any] = [[], *([x] for x in pool), *([x, x] for x in pool[:20])]
    for k in nearby_lengths(h):
        if k <= 50:
            out += [[x] * k for x in pool[:5]]
    return out


def _object_samples(h: Harvest) -> list[Any]:
    out: list[Any] = [{}, {"x": 1}]
    if h.depth < 3:
        for spec in h.get("fields"):
            out += _objects(h, spec, h.depth + 1)
    return out


def _objects(h: Harvest, spec: Mapping[str, Nested], depth: int) -> list[Any]:
    pools = {name: h.pool([con], depth) for name, con in spec.items()}
    base: dict[str, Any] = {}
    for name, con in spec.items():
        if con.required:
            rule = con.compile()
            value = next((v for v in pools[name] if v is not None and rule(v)), None)
            if value is not None:
                base[name] = value
    out: list[Any] = [dict(base)]
    for name, pool in pools.items():
        for v in pool[:40]:
            out.append({**base, name: v})
    out.append({**base, "_other": 1})
    return out


KINDS: tuple[Kind, ...] = (_Each(), _Fields(), _AnyOf(), _Not(), _Required())
SAMPLERS = (Sampler(90, _array_samples), Sampler(100, _object_samples))
