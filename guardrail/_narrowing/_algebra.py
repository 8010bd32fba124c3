"""The constraint algebra: a constraint as components, branches (`any_of` expanded) and the
child's side at one place, and proofs that one side implies (or excludes) a parent's component.

Proofs are sound, not complete: `proves` answers True only when every value of the branch
satisfies the parent's component. A branch whose values are few and known is checked value by
value with the compiled rules; two different regular expressions are never proven inside each
other.

Per-kind dispatch (on constraint key strings; to move into the constraint kind modules):
`components` (skips `required`, maps `not`), `_implied` (types a kind implies), `Branch.__init__`
and `Branch._enumerate` (bounds, prefixes, roots, urls, each, fields; equals/one_of), `_expand`
(`any_of`), `proves`, `_disjoint_comp`, and the `url` kind's `_url_subset` / `_host_covers`.
The candidate side of the same dispatch is `_candidates._Harvest.add` and `_url_candidates`.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._manifest._models import Constraint, UrlSpec
from .._policy import Rule, _urls, normalize_path, parse_host_pattern, written
from .._policy import within as _within
from ._report import NO_VALUE, NoValue, json_text

STR, INT, FLT, BOOL, ARR, OBJ, NUL = "string", "integer", "float", "boolean", "array", "object", "null"
ANY = frozenset({STR, INT, FLT, BOOL, ARR, OBJ, NUL})
NUM = frozenset({INT, FLT})
_TYPE_ATOMS = {
    "string": frozenset({STR}),
    "integer": frozenset({INT}),
    "number": NUM,
    "boolean": frozenset({BOOL}),
    "array": frozenset({ARR}),
    "object": frozenset({OBJ}),
    "null": frozenset({NUL}),
}
_MAX_BRANCHES = 64
_MAX_FINITE = 512


# -- components of a constraint -------------------------------------------------------------


@dataclass(frozen=True)
class Comp:
    key: str  # "min", "pattern", "not", ...
    model: Any  # the model's value (a number, a UrlSpec, a Constraint, a list of Constraints)
    label: str  # as written, e.g. `max: 50`
    rule: Rule  # the component alone, compiled


_COMP_CACHE: dict[int, tuple[Constraint, list[Comp]]] = {}


def components(constraint: Constraint, origin: str = "") -> list[Comp]:
    cached = _COMP_CACHE.get(id(constraint))
    if cached is not None and cached[0] is constraint and not origin:
        return cached[1]
    comps = []
    for key, spec in constraint.spec().items():
        if key == "required":
            continue
        model = getattr(constraint, "not_" if key == "not" else key)
        rule = Constraint.model_validate({key: spec}).compile()
        label = written(key, spec) + (f" ({origin})" if origin else "")
        comps.append(Comp(key, model, label, rule))
    if not origin:
        if len(_COMP_CACHE) > 10_000:
            _COMP_CACHE.clear()
        _COMP_CACHE[id(constraint)] = (constraint, comps)
    return comps


def _value_atoms(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset({NUL})
    if isinstance(value, bool):
        return frozenset({BOOL})
    if isinstance(value, int):
        return NUM  # 1 also matches 1.0
    if isinstance(value, float):
        return NUM if value.is_integer() else frozenset({FLT})
    if isinstance(value, str):
        return frozenset({STR})
    if isinstance(value, list | tuple):
        return frozenset({ARR})
    return frozenset({OBJ})


def _type_atoms(names: str | Sequence[str]) -> frozenset[str]:
    as_list = [names] if isinstance(names, str) else list(names)
    return frozenset().union(*(_TYPE_ATOMS[n] for n in as_list))


def _implied(comp: Comp) -> frozenset[str]:
    k, m = comp.key, comp.model
    if k == "equals":
        return _value_atoms(m)
    if k == "one_of":
        return frozenset().union(*(_value_atoms(v) for v in m)) if m else frozenset()
    if k == "type":
        return _type_atoms(m)
    if k in ("min", "max"):
        return NUM
    if k in ("min_length", "max_length"):
        return frozenset({STR, ARR})
    if k in ("pattern", "starts_with", "path_within", "url"):
        return frozenset({STR})
    if k == "each":
        return frozenset({ARR})
    if k == "fields":
        return frozenset({OBJ})
    return ANY


def variants(value: Any, cap: int = 64) -> list[Any] | None:
    """Every value JSON-equal to `value` (1 and 1.0 are equal, and a constraint naming one accepts
    the other); None when there would be more than `cap`."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return [value]
    if isinstance(value, int):
        try:
            return [value, float(value)] if float(value) == value else [value]
        except OverflowError:
            return [value]
    if isinstance(value, float):
        return [value, int(value)] if value.is_integer() else [value]
    if isinstance(value, list | tuple):
        parts = [variants(v, cap) for v in value]
        if any(p is None for p in parts):
            return None
        count = math.prod(len(p) for p in parts if p is not None)
        if count > cap:
            return None
        return [list(combo) for combo in itertools.product(*(p for p in parts if p is not None))]
    if isinstance(value, Mapping):
        keys = list(value)
        parts = [variants(value[k], cap) for k in keys]
        if any(p is None for p in parts):
            return None
        count = math.prod(len(p) for p in parts if p is not None)
        if count > cap:
            return None
        return [
            dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(p for p in parts if p is not None))
        ]
    return [value]


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
    def __init__(self, comps: list[Comp], nullable: bool) -> None:
        self.comps = comps
        self.nullable = nullable
        types = ANY
        for comp in comps:
            types = types & _implied(comp)
        self.types = types if nullable else types - {NUL}
        mins = [comp.model for comp in comps if comp.key == "min"]
        maxs = [comp.model for comp in comps if comp.key == "max"]
        self.lo: float | None = max(mins) if mins else None
        self.hi: float | None = min(maxs) if maxs else None
        lows = [comp.model for comp in comps if comp.key == "min_length"]
        highs = [comp.model for comp in comps if comp.key == "max_length"]
        self.min_len: int | None = max(lows) if lows else None
        self.max_len: int | None = min(highs) if highs else None
        self.prefix_groups = [as_tuple(comp.model) for comp in comps if comp.key == "starts_with"]
        self.patterns = {comp.model for comp in comps if comp.key == "pattern"}
        self.root_groups = [
            tuple(r for r in (normalize_path(x) for x in as_tuple(comp.model)) if r is not None)
            for comp in comps if comp.key == "path_within"
        ]
        self.urls: list[UrlSpec] = [comp.model for comp in comps if comp.key == "url"]
        self.eaches: list[Constraint] = [comp.model for comp in comps if comp.key == "each"]
        self.fields: list[dict[str, Constraint]] = [
            comp.model for comp in comps if comp.key == "fields"
        ]
        self._finite: list[Any] | NoValue | None = NO_VALUE

    def accepts(self, value: Any) -> bool:
        if value is None and not self.nullable:
            return False
        return all(comp.rule(value) for comp in self.comps)

    def finite(self) -> list[Any] | None:
        """Every value of the branch, when they are few and known; else None."""
        if not isinstance(self._finite, NoValue):
            return self._finite
        self._finite = self._enumerate()
        return self._finite

    def _enumerate(self) -> list[Any] | None:
        candidates: list[Any] | None = None
        for comp in self.comps:
            if comp.key == "equals":
                candidates = [comp.model]
                break
            if comp.key == "one_of":
                candidates = list(comp.model)
                break
        t = self.types
        if candidates is None:
            if not t:
                candidates = []
            elif t <= {BOOL, NUL}:
                candidates = [True, False, None]
            elif (
                t <= {INT} and self.lo is not None and self.hi is not None
                and self.hi - self.lo <= 256
            ):
                candidates = list(range(math.ceil(self.lo), math.floor(self.hi) + 1))
            elif t <= {STR, ARR} and self.max_len == 0:
                candidates = ["", []]
            else:
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


def as_tuple(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _expand(comps: list[Comp]) -> list[list[Comp]]:
    """Disjunctive normal form over `any_of`. An `any_of` that would make too many branches is
    left out, which only widens the branches: proofs stay sound."""
    branches: list[list[Comp]] = [[]]
    for comp in comps:
        if comp.key == "any_of":
            alternatives: list[list[Comp]] = []
            for alt in comp.model:
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
    t = branch.types
    if not t:
        return True
    finite = branch.finite()
    if finite is not None:
        return all(p.rule(v) for v in finite)
    k, m = p.key, p.model
    if k == "type":
        return t <= _type_atoms(m)
    if k == "not_one_of":
        return all(
            not branch.accepts(x) for v in m for x in (variants(v) or [v])
        )
    if k in ("equals", "one_of"):
        return False
    if k == "min":
        return t <= NUM and branch.lo is not None and branch.lo >= m
    if k == "max":
        return t <= NUM and branch.hi is not None and branch.hi <= m
    if k == "min_length":
        if not t <= {STR, ARR}:
            return False
        if branch.min_len is not None and branch.min_len >= m:
            return True
        return t <= {STR} and any(min(len(x) for x in g) >= m for g in branch.prefix_groups if g)
    if k == "max_length":
        return t <= {STR, ARR} and branch.max_len is not None and branch.max_len <= m
    if k == "pattern":
        return m in branch.patterns
    if k == "starts_with":
        wanted = as_tuple(m)
        return t <= {STR} and any(
            all(any(x.startswith(w) for w in wanted) for x in g) for g in branch.prefix_groups
        )
    if k == "path_within":
        roots = tuple(r for r in (normalize_path(x) for x in as_tuple(m)) if r is not None)
        return t <= {STR} and any(
            g and all(_within(r, roots) for r in g) for g in branch.root_groups
        )
    if k == "url":
        return t <= {STR} and any(_url_subset(u, m) for u in branch.urls)
    if k == "each":
        if not t <= {ARR} or not branch.eaches:
            return False
        return _value_proven(Side(branch.eaches, nullable=True), [m])
    if k == "fields":
        return t <= {OBJ} and any(
            _args_proven(ArgsSpec(f, False), ArgsSpec(m, False)) for f in branch.fields
        )
    if k == "any_of":
        return any(all(proves(branch, q) for q in components(alt)) for alt in m)
    if k == "not":
        return _disjoint(branch, m)
    return False


def _disjoint(branch: Branch, q: Constraint) -> bool:
    """True when no value of `branch` satisfies `q` (sound, not complete)."""
    return any(_disjoint_comp(branch, comp) for comp in components(q))


def _disjoint_comp(branch: Branch, q: Comp) -> bool:
    t = branch.types
    if not t:
        return True
    finite = branch.finite()
    if finite is not None:
        return not any(q.rule(v) for v in finite)
    k, m = q.key, q.model
    if k == "type":
        return not t & _type_atoms(m)
    if k in ("equals", "one_of"):
        values = [m] if k == "equals" else list(m)
        return all(not branch.accepts(x) for v in values for x in (variants(v) or [v]))
    if k == "min":
        return not t & NUM or (branch.hi is not None and branch.hi < m)
    if k == "max":
        return not t & NUM or (branch.lo is not None and branch.lo > m)
    if k == "min_length":
        return not t & {STR, ARR} or (branch.max_len is not None and branch.max_len < m)
    if k == "max_length":
        return not t & {STR, ARR} or (branch.min_len is not None and branch.min_len > m)
    if k == "starts_with":
        if STR not in t:
            return True
        theirs = as_tuple(m)
        return any(
            g and all(not x.startswith(y) and not y.startswith(x) for x in g for y in theirs)
            for g in branch.prefix_groups
        )
    if k in ("pattern", "path_within", "url"):
        return STR not in t
    if k == "each":
        return ARR not in t
    if k == "fields":
        return OBJ not in t
    if k == "not":
        return all(proves(branch, comp) for comp in components(m))
    if k == "any_of":
        return all(_disjoint(branch, alt) for alt in m)
    return False


def _url_subset(child: UrlSpec, parent: UrlSpec) -> bool:
    c_schemes = {s.lower() for s in (child.schemes or _urls.DEFAULT_URL_SCHEMES)}
    p_schemes = {s.lower() for s in (parent.schemes or _urls.DEFAULT_URL_SCHEMES)}
    if not c_schemes <= p_schemes:
        return False
    if parent.path_prefix is not None:
        pp = normalize_path(parent.path_prefix)
        cp = normalize_path(child.path_prefix) if child.path_prefix is not None else None
        if pp is None or cp is None or not _within(cp, (pp,)):
            return False
    if parent.hosts is None:
        return True
    if child.hosts is None:
        return False
    theirs = [parse_host_pattern(h) for h in parent.hosts]
    for entry in child.hosts:
        host, port = parse_host_pattern(entry)
        for scheme in c_schemes:
            default = _urls._DEFAULT_PORTS.get(scheme)
            effective = port if port is not None else default
            if not any(
                _host_covers(p_host, host)
                and (effective == default if p_port is None else effective == p_port)
                for p_host, p_port in theirs
            ):
                return False
    return True


def _host_covers(parent: str, child: str) -> bool:
    if parent.startswith("*."):
        suffix = parent[1:]  # ".example.com"
        if child.startswith("*."):
            return child[1:] == suffix or child[1:].endswith(suffix)
        return child.endswith(suffix) and len(child) > len(suffix)
    return child == parent


def _value_proven(child: Side, parents: Sequence[Constraint]) -> bool:
    comps = [comp for con in parents for comp in components(con)]
    return all(all(proves(b, p) for b in child.branches) for p in comps)


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
