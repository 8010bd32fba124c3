"""The constraint algebra: a constraint as components, branches (`any_of` expanded) and the
child's side at one place, and proofs that one side implies (or excludes) a parent's component.

Proofs are sound, not complete: `proves` answers True only when every value of the branch
satisfies the parent's component. A branch whose values are few and known is checked value by
value with the compiled rules; two different regular expressions are never proven inside each
other.

What each constraint kind implies, proves and excludes is the kind's own (`guardrail._policy`,
`Kind.implies` / `proves` / `disjoint` / `listed` / `bounded` / `alternatives`); this module
does what holds for every kind and answers the kinds' recursive questions (`Branch`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._manifest import Constraint
from .._policy import Kind, Rule, variants, written
from .._policy._json import ANY, NUL
from ._report import NO_VALUE, NoValue, json_text

_MAX_BRANCHES = 64
_MAX_FINITE = 512


# -- components of a constraint -------------------------------------------------------------


@dataclass(frozen=True)
class Comp:
    kind: Kind
    model: Any  # the model's value (a number, a UrlSpec, a Constraint, a list of Constraints)
    label: str  # as written, e.g. `max: 50`
    rule: Rule  # the component alone, compiled

    @property
    def key(self) -> str:
        return self.kind.key


_COMP_CACHE: dict[int, tuple[Constraint, list[Comp]]] = {}


def components(constraint: Constraint, origin: str = "") -> list[Comp]:
    """The kinds a constraint sets that test a value, one component each, in registry order."""
    cached = _COMP_CACHE.get(id(constraint))
    if cached is not None and cached[0] is constraint and not origin:
        return cached[1]
    registry = constraint.registry
    spec = constraint.spec()
    comps = []
    for key, model in constraint.kind_values().items():
        rule = registry.compile({key: model})
        if rule.unconstrained:  # `required`: a property of the argument, not of its value
            continue
        label = written(key, spec[key]) + (f" ({origin})" if origin else "")
        comps.append(Comp(registry[key], model, label, rule))
    if not origin:
        if len(_COMP_CACHE) > 10_000:
            _COMP_CACHE.clear()
        _COMP_CACHE[id(constraint)] = (constraint, comps)
    return comps


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def dedupe(values: Iterable[Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for v in values:
        k = _key(v)
        if k not in seen:
            seen.add(k)
            out.append(v)
    return out


# -- a branch: one conjunction of components (any_of expanded) -------------------------------


class Branch:
    """One conjunction of components: the child's values at one place in one `any_of`
    alternative. It is what the kinds' proof hooks ask (`guardrail._policy.Branch`)."""

    def __init__(self, comps: list[Comp], nullable: bool) -> None:
        self.comps = comps
        self.nullable = nullable
        types = ANY
        by_key: dict[str, list[Any]] = {}
        for comp in comps:
            types = types & comp.kind.implies(comp.model)
            by_key.setdefault(comp.key, []).append(comp.model)
        self.types = types if nullable else types - {NUL}
        self._values = by_key
        self._finite: list[Any] | NoValue | None = NO_VALUE

    def values(self, key: str) -> list[Any]:
        return self._values.get(key, [])

    def accepts(self, value: Any) -> bool:
        if value is None and not self.nullable:
            return False
        return all(comp.rule(value) for comp in self.comps)

    def proves(self, constraint: Any) -> bool:
        return all(proves(self, q) for q in components(constraint))

    def disjoint(self, constraint: Any) -> bool:
        return any(_disjoint_comp(self, q) for q in components(constraint))

    def within(self, children: Sequence[Any], parent: Any) -> bool:
        side = Side(children, nullable=True)
        return all(all(proves(b, p) for b in side.branches) for p in components(parent))

    def args_within(self, child: Mapping[str, Any], parent: Mapping[str, Any]) -> bool:
        return _args_proven(ArgsSpec(child, False), ArgsSpec(parent, False))

    def finite(self) -> list[Any] | None:
        """Every value of the branch, when they are few and known; else None."""
        if not isinstance(self._finite, NoValue):
            return self._finite
        self._finite = self._enumerate()
        return self._finite

    def _enumerate(self) -> list[Any] | None:
        candidates = next(
            (listed for comp in self.comps if (listed := comp.kind.listed(comp.model)) is not None),
            None,
        )
        if candidates is None:
            if not self.types:
                candidates = []
            else:
                kinds = dict.fromkeys(comp.kind for comp in self.comps)
                candidates = next(
                    (found for kind in kinds if (found := kind.bounded(self)) is not None), None
                )
                if candidates is None:
                    return None
        expanded: list[Any] = []
        for value in candidates:
            equal = variants(value)
            if equal is None:
                return None
            expanded.extend(equal)
            if len(expanded) > _MAX_FINITE:
                return None
        return dedupe(v for v in expanded if self.accepts(v))


def _expand(comps: list[Comp]) -> list[list[Comp]]:
    """Disjunctive normal form over `any_of`. An `any_of` that would make too many branches is
    left out, which only widens the branches: proofs stay sound."""
    branches: list[list[Comp]] = [[]]
    for comp in comps:
        alts = comp.kind.alternatives(comp.model)
        if alts is not None:
            alternatives: list[list[Comp]] = []
            for alt in alts:
                alternatives.extend(_expand(components(alt)))
            if len(branches) * len(alternatives) <= _MAX_BRANCHES:
                branches = [b + a for b in branches for a in alternatives]
            continue
        for b in branches:
            b.append(comp)
    return branches


class Side:
    """The child's constraints at one place: a conjunction, checked exactly by compiled rules."""

    def __init__(self, constraints: Sequence[Constraint], nullable: bool) -> None:
        self.constraints = list(constraints)
        self.nullable = nullable
        self.rules = [con.compile() for con in self.constraints]
        comps = [comp for con in self.constraints for comp in components(con)]
        self.branches = [Branch(b, nullable) for b in _expand(comps)]

    def accepts(self, value: Any) -> bool:
        if value is None and not self.nullable:
            return False
        return all(rule(value) for rule in self.rules)

    def finite(self) -> list[Any] | None:
        values: list[Any] = []
        for branch in self.branches:
            f = branch.finite()
            if f is None:
                return None
            values.extend(f)
        return dedupe(v for v in values if self.accepts(v))

    @property
    def text(self) -> str:
        specs = [con.spec() for con in self.constraints]
        specs = [{k: v for k, v in s.items() if k != "required"} for s in specs]
        specs = [s for s in specs if s]
        if not specs:
            return "any value"
        return "; ".join(json_text(s, 160) for s in specs)


# -- proofs ----------------------------------------------------------------------------------


def proves(branch: Branch, p: Comp) -> bool:
    """True when every value of `branch` satisfies the parent component `p` (sound, not complete)."""
    if not branch.types:
        return True
    finite = branch.finite()
    # A contextual kind (provenance) accepts every value statically: only its hook can prove it.
    if finite is not None and not p.kind.contextual:
        return all(p.rule(v) for v in finite)
    return p.kind.proves(branch, p.model)


def _disjoint_comp(branch: Branch, q: Comp) -> bool:
    """True when no value of `branch` satisfies the component `q` (sound, not complete)."""
    if not branch.types:
        return True
    finite = branch.finite()
    if finite is not None:
        return not any(q.rule(v) for v in finite)
    return q.kind.disjoint(branch, q.model)


# -- arguments of a call ----------------------------------------------------------------------


@dataclass(frozen=True)
class ArgsSpec:
    args: Mapping[str, Constraint]
    allow_other: bool
    implicit: Mapping[str, Sequence[Constraint]] = field(default_factory=dict)

    def constraints(self, name: str) -> list[Constraint]:
        own = [self.args[name]] if name in self.args else []
        return own + list(self.implicit.get(name, ()))

    def grants(self, name: str) -> bool:
        return name in self.args or self.allow_other

    def requires(self, name: str) -> bool:
        return name in self.args and self.args[name].required


# What a sum budget implies about the argument it sums.
SUM_IMPLIED = Constraint.model_validate({"type": "number", "min": 0})
_SUM_ORIGIN = "a budget sums it"


def parent_components(parents: Sequence[Constraint]) -> list[Comp]:
    """The parent's components at one place; what a sum budget implies is added unless the
    argument's own constraint already says it."""
    explicit = [comp for con in parents if con is not SUM_IMPLIED for comp in components(con)]
    said = {(comp.key, _key(comp.model)) for comp in explicit}
    implied = [
        comp for comp in components(SUM_IMPLIED, _SUM_ORIGIN)
        if any(con is SUM_IMPLIED for con in parents) and (comp.key, _key(comp.model)) not in said
    ]
    return explicit + implied


def _args_proven(child: ArgsSpec, parent: ArgsSpec) -> bool:
    """True when every set of arguments `child` allows is allowed by `parent` (the proof half of
    `_args.compare_args`, which searches counterexamples where this answers False)."""
    names = sorted(set(child.args) | set(parent.args) | set(child.implicit) | set(parent.implicit))
    for name in names:
        if parent.requires(name) and not child.requires(name):
            return False
        if not child.grants(name):
            continue
        if not parent.grants(name):
            return False
        side = Side(child.constraints(name), nullable=False)
        if not all(all(proves(b, p) for b in side.branches)
                   for p in parent_components(parent.constraints(name))):
            return False
    return not (child.allow_other and not parent.allow_other)
