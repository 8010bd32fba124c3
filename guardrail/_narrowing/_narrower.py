"""`narrower(child, parent)`: does every call the child manifest allows get allowed by the parent?

A static check, constraint by constraint. For each tool, argument and parent constraint the answer
is one of:

- `ok`: proven. The child's constraints imply the parent's (a subset of `equals`/`one_of` values,
  a numeric range or length range inside the parent's, prefixes that extend the parent's, roots
  inside the parent's roots, URL schemes/hosts/path prefix inside the parent's, type sets, an
  identical `pattern`, ...). A child whose values form a small finite set (`equals`, `one_of`,
  booleans, a short integer range) is checked exactly, value by value.
- `wider`: disproven, with a counterexample: a value (and a whole call) that the child's compiled
  rules accept and the parent's reject. Counterexamples are searched for among values derived from
  both manifests (bounds, prefixes, roots, hosts, sample strings of regular expressions) and
  always checked against the real compiled predicates, never assumed.
- `unprovable`: neither. Two different regular expressions, for instance, are never proven to be
  inside one another; the check says so rather than guess.

Budgets: every parent budget must be matched by the child's own budgets (the most calls, or the
largest sum, the child allows over the tools the parent's budget counts). Expiry: the child must
end no later than the parent, and start no earlier. The verdict is `narrower` (exit 0), `not
narrower` (exit 1, when anything is wider) or `unprovable` (exit 4).
"""

from __future__ import annotations

import importlib
import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .._manifest._models import Constraint, Manifest, UrlSpec, parse_duration
from .._policy import _constraints as c
from .._policy._compiled import CompiledManifest, CompiledTool, budget_scopes, scope_location
from .._policy._constraints import Rule, normalize_path, parse_host_pattern, written
from .._text import num as _num

__all__ = ["Finding", "NarrowerReport", "narrower"]

Status = Literal["ok", "wider", "unprovable"]
Verdict = Literal["narrower", "not_narrower", "unprovable"]

EXIT_NARROWER = 0
EXIT_NOT_NARROWER = 1
EXIT_UNPROVABLE = 4

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
_MAX_POOL = 4000


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE: Any = _NoValue()


@dataclass(frozen=True)
class Finding:
    """One comparison: where (e.g. `tools.send_refund.args.amount`), what was checked (the
    parent's constraint as written), the outcome, why, and a counterexample when wider."""

    status: Status
    where: str
    check: str
    detail: str
    counterexample: Any = NO_VALUE

    @property
    def has_counterexample(self) -> bool:
        return self.counterexample is not NO_VALUE

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status, "where": self.where, "check": self.check, "detail": self.detail,
        }
        if self.has_counterexample:
            out["counterexample"] = self.counterexample
        return out


@dataclass
class NarrowerReport:
    child_task: str
    parent_task: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        statuses = {f.status for f in self.findings}
        if "wider" in statuses:
            return "not_narrower"
        if "unprovable" in statuses:
            return "unprovable"
        return "narrower"

    @property
    def narrower(self) -> bool:
        return self.verdict == "narrower"

    @property
    def exit_code(self) -> int:
        return {"narrower": EXIT_NARROWER, "not_narrower": EXIT_NOT_NARROWER,
                "unprovable": EXIT_UNPROVABLE}[self.verdict]

    def problems(self) -> list[Finding]:
        """The wider findings first, then the unprovable ones."""
        return [f for f in self.findings if f.status == "wider"] + [
            f for f in self.findings if f.status == "unprovable"
        ]

    def by_status(self, status: Status) -> list[Finding]:
        return [f for f in self.findings if f.status == status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "child_task": self.child_task,
            "parent_task": self.parent_task,
            "findings": [f.to_dict() for f in self.problems() + self.by_status("ok")],
        }

    def format(self, *, child_name: str = "child", parent_name: str = "parent",
               show_ok: bool = True) -> str:
        head = {
            "narrower": f"NARROWER: every call {child_name} allows is allowed by {parent_name}",
            "not_narrower": f"NOT NARROWER: {child_name} allows calls {parent_name} denies",
            "unprovable": f"UNPROVABLE: {child_name} could not be proven narrower than "
                          f"{parent_name} (nothing wider was found)",
        }[self.verdict]
        lines = [head]
        shown = self.problems() + (self.by_status("ok") if show_ok else [])
        for f in shown:
            lines.append(f"  {f.status:<11} {f.where}" + (f"  [{f.check}]" if f.check else ""))
            if f.detail:
                lines.append(f"              {f.detail}")
            if f.has_counterexample:
                lines.append(f"              counterexample: {_json(f.counterexample)}")
        return "\n".join(lines)


def _json(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- components of a constraint -------------------------------------------------------------


@dataclass(frozen=True)
class _Comp:
    key: str  # "min", "pattern", "not", ...
    model: Any  # the model's value (a number, a UrlSpec, a Constraint, a list of Constraints)
    label: str  # as written, e.g. `max: 50`
    rule: Rule  # the component alone, compiled


_COMP_CACHE: dict[int, tuple[Constraint, list[_Comp]]] = {}


def _components(constraint: Constraint, origin: str = "") -> list[_Comp]:
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
        comps.append(_Comp(key, model, label, rule))
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


def _implied(comp: _Comp) -> frozenset[str]:
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


def _variants(value: Any, cap: int = 64) -> list[Any] | None:
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
        parts = [_variants(v, cap) for v in value]
        if any(p is None for p in parts):
            return None
        count = math.prod(len(p) for p in parts if p is not None)
        if count > cap:
            return None
        return [list(combo) for combo in itertools.product(*(p for p in parts if p is not None))]
    if isinstance(value, Mapping):
        keys = list(value)
        parts = [_variants(value[k], cap) for k in keys]
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


def _dedupe(values: Iterable[Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for v in values:
        k = _key(v)
        if k not in seen:
            seen.add(k)
            out.append(v)
    return out


# -- a branch: one conjunction of components (any_of expanded) -------------------------------


class _Branch:
    def __init__(self, comps: list[_Comp], nullable: bool) -> None:
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
        self.prefix_groups = [_as_tuple(comp.model) for comp in comps if comp.key == "starts_with"]
        self.patterns = {comp.model for comp in comps if comp.key == "pattern"}
        self.root_groups = [
            tuple(r for r in (normalize_path(x) for x in _as_tuple(comp.model)) if r is not None)
            for comp in comps if comp.key == "path_within"
        ]
        self.urls: list[UrlSpec] = [comp.model for comp in comps if comp.key == "url"]
        self.eaches: list[Constraint] = [comp.model for comp in comps if comp.key == "each"]
        self.fields: list[dict[str, Constraint]] = [
            comp.model for comp in comps if comp.key == "fields"
        ]
        self._finite: list[Any] | _NoValue | None = NO_VALUE

    def accepts(self, value: Any) -> bool:
        if value is None and not self.nullable:
            return False
        return all(comp.rule(value) for comp in self.comps)

    def finite(self) -> list[Any] | None:
        """Every value of the branch, when they are few and known; else None."""
        if not isinstance(self._finite, _NoValue):
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
            variants = _variants(value)
            if variants is None:
                return None
            expanded.extend(variants)
            if len(expanded) > _MAX_FINITE:
                return None
        return _dedupe(v for v in expanded if self.accepts(v))


def _as_tuple(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _expand(comps: list[_Comp]) -> list[list[_Comp]]:
    """Disjunctive normal form over `any_of`. An `any_of` that would make too many branches is
    left out, which only widens the branches: proofs stay sound."""
    branches: list[list[_Comp]] = [[]]
    for comp in comps:
        if comp.key == "any_of":
            alternatives: list[list[_Comp]] = []
            for alt in comp.model:
                alternatives.extend(_expand(_components(alt)))
            if len(branches) * len(alternatives) <= _MAX_BRANCHES:
                branches = [b + a for b in branches for a in alternatives]
            continue
        for b in branches:
            b.append(comp)
    return branches


class _Side:
    """The child's constraints at one place: a conjunction, checked exactly by compiled rules."""

    def __init__(self, constraints: Sequence[Constraint], nullable: bool) -> None:
        self.constraints = list(constraints)
        self.nullable = nullable
        self.rules = [con.compile() for con in self.constraints]
        comps = [comp for con in self.constraints for comp in _components(con)]
        self.branches = [_Branch(b, nullable) for b in _expand(comps)]

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
        return _dedupe(v for v in values if self.accepts(v))

    @property
    def text(self) -> str:
        specs = [con.spec() for con in self.constraints]
        specs = [{k: v for k, v in s.items() if k != "required"} for s in specs]
        specs = [s for s in specs if s]
        if not specs:
            return "any value"
        return "; ".join(_json(s, 160) for s in specs)


# -- proofs ----------------------------------------------------------------------------------


def _proves(branch: _Branch, p: _Comp) -> bool:
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
            not branch.accepts(x) for v in m for x in (_variants(v) or [v])
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
        wanted = _as_tuple(m)
        return t <= {STR} and any(
            all(any(x.startswith(w) for w in wanted) for x in g) for g in branch.prefix_groups
        )
    if k == "path_within":
        roots = tuple(r for r in (normalize_path(x) for x in _as_tuple(m)) if r is not None)
        return t <= {STR} and any(
            g and all(c._within(r, roots) for r in g) for g in branch.root_groups
        )
    if k == "url":
        return t <= {STR} and any(_url_subset(u, m) for u in branch.urls)
    if k == "each":
        if not t <= {ARR} or not branch.eaches:
            return False
        return _value_proven(_Side(branch.eaches, nullable=True), [m])
    if k == "fields":
        return t <= {OBJ} and any(
            _args_proven(_ArgsSpec(f, False), _ArgsSpec(m, False)) for f in branch.fields
        )
    if k == "any_of":
        return any(all(_proves(branch, q) for q in _components(alt)) for alt in m)
    if k == "not":
        return _disjoint(branch, m)
    return False


def _disjoint(branch: _Branch, q: Constraint) -> bool:
    """True when no value of `branch` satisfies `q` (sound, not complete)."""
    return any(_disjoint_comp(branch, comp) for comp in _components(q))


def _disjoint_comp(branch: _Branch, q: _Comp) -> bool:
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
        return all(not branch.accepts(x) for v in values for x in (_variants(v) or [v]))
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
        theirs = _as_tuple(m)
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
        return all(_proves(branch, comp) for comp in _components(m))
    if k == "any_of":
        return all(_disjoint(branch, alt) for alt in m)
    return False


def _url_subset(child: UrlSpec, parent: UrlSpec) -> bool:
    c_schemes = {s.lower() for s in (child.schemes or c.DEFAULT_URL_SCHEMES)}
    p_schemes = {s.lower() for s in (parent.schemes or c.DEFAULT_URL_SCHEMES)}
    if not c_schemes <= p_schemes:
        return False
    if parent.path_prefix is not None:
        pp = normalize_path(parent.path_prefix)
        cp = normalize_path(child.path_prefix) if child.path_prefix is not None else None
        if pp is None or cp is None or not c._within(cp, (pp,)):
            return False
    if parent.hosts is None:
        return True
    if child.hosts is None:
        return False
    theirs = [parse_host_pattern(h) for h in parent.hosts]
    for entry in child.hosts:
        host, port = parse_host_pattern(entry)
        for scheme in c_schemes:
            default = c._DEFAULT_PORTS.get(scheme)
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


def _value_proven(child: _Side, parents: Sequence[Constraint]) -> bool:
    comps = [comp for con in parents for comp in _components(con)]
    return all(all(_proves(b, p) for b in child.branches) for p in comps)


# -- candidate values (for counterexamples) ---------------------------------------------------


class _Harvest:
    """Constants found in constraints, to build candidate values from."""

    def __init__(self) -> None:
        self.literals: list[Any] = []
        self.numbers: list[float] = []
        self.lengths: set[int] = set()
        self.patterns: list[str] = []
        self.prefixes: list[str] = []
        self.roots: list[str] = []
        self.urls: list[UrlSpec] = []
        self.items: list[Constraint] = []
        self.fields: list[dict[str, Constraint]] = []

    def add(self, constraint: Constraint, depth: int = 0) -> None:
        if depth > 8:
            return
        for comp in _components(constraint):
            k, m = comp.key, comp.model
            if k == "equals":
                self.literals.append(m)
            elif k in ("one_of", "not_one_of"):
                self.literals.extend(m)
            elif k in ("min", "max"):
                self.numbers.append(m)
            elif k in ("min_length", "max_length"):
                self.lengths.add(m)
            elif k == "pattern":
                self.patterns.append(m)
            elif k == "starts_with":
                self.prefixes.extend(_as_tuple(m))
            elif k == "path_within":
                self.roots.extend(_as_tuple(m))
            elif k == "url":
                self.urls.append(m)
            elif k == "each":
                self.items.append(m)
            elif k == "fields":
                self.fields.append(m)
            elif k == "any_of":
                for alt in m:
                    self.add(alt, depth + 1)
            elif k == "not":
                self.add(m, depth + 1)


_BASE_NUMBERS: tuple[Any, ...] = (0, 1, -1, 2, 0.5, -0.5, 1.5, 10, 100, 1000, 10**6, 10**9, -10**9,
                                  2**31, 2**53 + 1, 1e15)
_BASE_STRINGS = ("", "x", "a", "A", "0", " ", "-", "_", "xyz", "x" * 20, "/", "/x", "../x", "é",
                 "x" * 300)


_POOL_CACHE: dict[tuple[int, ...], tuple[list[Constraint], list[Any]]] = {}


def _candidates(constraints: Sequence[Constraint], depth: int = 0) -> list[Any]:
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
    h = _Harvest()
    for con in constraints:
        h.add(con)
    out: list[Any] = [None, True, False, *_BASE_NUMBERS]
    for n in h.numbers:
        out += [n, n - 1, n + 1, n - 0.5, n + 0.5, n - 0.001, n + 0.001, float(n)]
        if float(n).is_integer():
            out.append(int(n))
    for v in h.literals:
        out += _variants(v) or [v]
        if isinstance(v, str):
            out += [v + "x", v[:-1], v.upper(), v.lower(), " " + v]
    out += list(_BASE_STRINGS)
    lengths = sorted({k for n in h.lengths for k in (n - 1, n, n + 1) if 0 <= k <= 10_000})
    out += ["a" * k for k in lengths]
    for p in h.prefixes:
        out += [p, p + "x", p + "/x", p[:-1], p.upper(), p.lower(), "x" + p]
        out += [p + "a" * max(k - len(p), 0) for k in lengths]
    for r in h.roots:
        base = r.rstrip("/") or ""
        out += [r, base + "/x", base + "/x/y", base + "x", base + "/../x", base + "/./x",
                base + "//x", "//" + r.lstrip("/"), base.rsplit("/", 1)[0] or "/", base + "/.."]
    out += _url_candidates(h.urls)
    for pattern in h.patterns:
        out += regex_samples(pattern)
    item_pool: list[Any] = (
        _candidates(h.items, depth + 1)[:60] if h.items and depth < 3
        else [1, "x", None, True, 1.5, {}]
    )
    out += [[], *([x] for x in item_pool), *([x, x] for x in item_pool[:20])]
    for k in lengths:
        if k <= 50:
            out += [[x] * k for x in item_pool[:5]]
    out += [{}, {"x": 1}]
    if depth < 3:
        for spec in h.fields:
            out += _object_candidates(spec, depth + 1)
    return _dedupe(out)[:_MAX_POOL]


def _object_candidates(spec: Mapping[str, Constraint], depth: int) -> list[Any]:
    pools = {name: _candidates([con], depth) for name, con in spec.items()}
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


def _url_candidates(specs: Sequence[UrlSpec]) -> list[str]:
    if not specs:
        return []
    schemes: dict[str, None] = {}
    hosts: dict[str, None] = {}
    ports: dict[int, None] = {}
    paths: dict[str, None] = {"/": None, "/x": None}
    for spec in specs:
        schemes.update(dict.fromkeys(s.lower() for s in spec.schemes or ()))
        for entry in spec.hosts or ():
            host, port = parse_host_pattern(entry)
            if port is not None:
                ports[port] = None
            if host.startswith("*."):
                bare = host[2:]
                hosts.update(dict.fromkeys(["a." + bare, bare, "a.b." + bare, "a" + bare]))
            else:
                hosts.update(dict.fromkeys([host, "a." + host, host + ".evil.example"]))
        if spec.path_prefix is not None:
            pp = spec.path_prefix.rstrip("/")
            paths.update(dict.fromkeys(
                [pp or "/", pp + "/x", pp + "x", pp + "/../x", pp + "/%2e%2e/x"]
            ))
    schemes.update(dict.fromkeys(["https", "http", "ftp"]))
    hosts["example.com"] = None
    ports.update(dict.fromkeys([443, 80, 8443]))
    all_schemes = [*schemes, *(s.upper() for s in schemes)]
    out = []
    for scheme, host in itertools.product(all_schemes, hosts):
        shown = f"[{host}]" if ":" in host else host
        for path in paths:
            out.append(f"{scheme}://{shown}{path}")
        for port in ports:
            out.append(f"{scheme}://{shown}:{port}/x")
        out.append(f"{scheme}://user@{shown}/x")
    return out[:_MAX_POOL]


# -- sample strings of a regular expression (candidates only: always verified by RE2) ----------

try:
    _sre: Any = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover - Python < 3.11
    _sre = importlib.import_module("sre_parse")


class _Unsupported(Exception):
    pass


def regex_samples(pattern: str, modes: int = 4) -> list[str]:
    """A few strings the regular expression probably matches (to be verified by the caller)."""
    try:
        tree = _sre.parse(pattern)
    except Exception:
        return []
    out = []
    for mode in range(modes):
        try:
            out.append(_gen(list(tree), mode, 0))
        except (_Unsupported, RecursionError, ValueError, IndexError, TypeError):
            continue
    return list(dict.fromkeys(out))


def _gen(items: Iterable[Any], mode: int, depth: int) -> str:
    if depth > 50:
        raise _Unsupported
    parts = []
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            parts.append(chr(av))
        elif name == "NOT_LITERAL":
            parts.append("a" if av != ord("a") else "b")
        elif name == "ANY":
            parts.append("a0"[mode % 2])
        elif name == "IN":
            parts.append(_class_char(av, mode))
        elif name == "BRANCH":
            alternatives = av[1]
            parts.append(_gen(list(alternatives[mode % len(alternatives)]), mode, depth + 1))
        elif name == "SUBPATTERN":
            parts.append(_gen(list(av[-1]), mode, depth + 1))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = av
            count = low if mode < 2 else min(low + 1, high)
            if count > 1000:
                raise _Unsupported
            parts.append("".join(_gen(list(sub), mode, depth + 1) for _ in range(count)))
        elif name == "AT":
            continue
        elif name == "CATEGORY":
            parts.append(_category_char(str(av), mode))
        elif name == "ATOMIC_GROUP":
            parts.append(_gen(list(av), mode, depth + 1))
        else:
            raise _Unsupported
    return "".join(parts)


_CATEGORY_CHARS = {
    "CATEGORY_DIGIT": "07",
    "CATEGORY_NOT_DIGIT": "aZ",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": "a0",
    "CATEGORY_WORD": "aZ_5",
    "CATEGORY_NOT_WORD": "-.",
}


def _category_char(name: str, mode: int) -> str:
    chars = _CATEGORY_CHARS.get(name)
    if chars is None:
        raise _Unsupported
    return chars[mode % len(chars)]


def _in_class(ch: str, items: Sequence[Any]) -> bool:
    for op, av in items:
        name = str(op)
        if name == "LITERAL" and ch == chr(av):
            return True
        if name == "RANGE" and av[0] <= ord(ch) <= av[1]:
            return True
        if name == "CATEGORY":
            cat = str(av)
            tests: dict[str, Callable[[str], bool]] = {
                "CATEGORY_DIGIT": lambda x: x.isdigit(),
                "CATEGORY_NOT_DIGIT": lambda x: not x.isdigit(),
                "CATEGORY_SPACE": lambda x: x.isspace(),
                "CATEGORY_NOT_SPACE": lambda x: not x.isspace(),
                "CATEGORY_WORD": lambda x: x.isalnum() or x == "_",
                "CATEGORY_NOT_WORD": lambda x: not (x.isalnum() or x == "_"),
            }
            test = tests.get(cat)
            if test is None:
                raise _Unsupported
            if test(ch):
                return True
    return False


def _class_char(items: Sequence[Any], mode: int) -> str:
    if items and str(items[0][0]) == "NEGATE":
        rest = list(items[1:])
        for ch in "a0Z-_ .x/":
            if not _in_class(ch, rest):
                return ch
        raise _Unsupported
    choices = []
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            choices.append(chr(av))
        elif name == "RANGE":
            low, high = av
            choices.append(chr((low, high, (low + high) // 2)[mode % 3]))
        elif name == "CATEGORY":
            choices.append(_category_char(str(av), mode))
        else:
            raise _Unsupported
    if not choices:
        raise _Unsupported
    return choices[mode % len(choices)]


# -- comparing arguments ----------------------------------------------------------------------


@dataclass(frozen=True)
class _ArgsSpec:
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


@dataclass
class _Item:
    """A finding about one argument, before it becomes a whole-call counterexample."""

    status: Status
    arg: str | None
    check: str
    detail: str
    value: Any = NO_VALUE  # the argument's value in the counterexample
    absent: bool = False  # the counterexample leaves the argument out
    other: bool = False  # the counterexample adds an argument the parent does not name


_SUM_IMPLIED = Constraint.model_validate({"type": "number", "min": 0})
_SUM_ORIGIN = "a budget sums it"


def _parent_components(parents: Sequence[Constraint]) -> list[_Comp]:
    """The parent's components at one place; what a sum budget implies is added unless the
    argument's own constraint already says it."""
    explicit = [comp for con in parents if con is not _SUM_IMPLIED for comp in _components(con)]
    said = {(comp.key, _key(comp.model)) for comp in explicit}
    implied = [
        comp for comp in _components(_SUM_IMPLIED, _SUM_ORIGIN)
        if any(con is _SUM_IMPLIED for con in parents) and (comp.key, _key(comp.model)) not in said
    ]
    return explicit + implied


def _args_proven(child: _ArgsSpec, parent: _ArgsSpec) -> bool:
    return all(item.status == "ok" for item in _compare_args(child, parent, prove_only=True))


def _compare_args(child: _ArgsSpec, parent: _ArgsSpec, *, prove_only: bool) -> list[_Item]:
    items: list[_Item] = []
    names = sorted(set(child.args) | set(parent.args) | set(child.implicit) | set(parent.implicit))
    for name in names:
        if parent.requires(name) and not child.requires(name):
            items.append(_Item(
                "wider", name, "required: true",
                f"the parent requires argument {name!r}; the child lets a call leave it out",
                absent=True,
            ))
            if prove_only:
                return items
        if not child.grants(name):
            if name in parent.args:
                items.append(_Item("ok", name, "", "the child does not grant this argument"))
            continue
        if not parent.grants(name):
            detail = f"the child grants argument {name!r}, which the parent does not"
            if prove_only:
                items.append(_Item("unprovable", name, "", detail))
                return items
            side = _Side(child.constraints(name), nullable=False)
            value = _first(side.accepts, _candidates(side.constraints))
            if value is NO_VALUE:
                items.append(_Item("unprovable", name, "",
                                   detail + "; no value the child accepts for it was found"))
            else:
                items.append(_Item("wider", name, "", detail, value=value))
            continue
        parents = parent.constraints(name)
        side = _Side(child.constraints(name), nullable=False)
        p_comps = _parent_components(parents)
        if not p_comps:
            items.append(_Item("ok", name, "", "the parent does not constrain it"))
            continue
        pool: list[Any] | None = None
        for p in p_comps:
            if all(_proves(b, p) for b in side.branches):
                items.append(_Item("ok", name, p.label, f"child: {side.text}"))
                continue
            if prove_only:
                items.append(_Item("unprovable", name, p.label, ""))
                return items
            if pool is None:
                pool = _candidates([*side.constraints, *parents])
            witness = _first(_fails(side, p.rule), pool)
            if witness is not NO_VALUE:
                items.append(_Item(
                    "wider", name, p.label,
                    f"the child accepts {_json(witness, 120)}, which fails {p.label}",
                    value=witness,
                ))
            else:
                hint = " (regular expressions are proven only when identical)" if (
                    p.key == "pattern" or any(b.patterns for b in side.branches)
                ) else ""
                items.append(_Item(
                    "unprovable", name, p.label,
                    f"cannot prove that every value the child allows ({side.text}) satisfies "
                    f"{p.label}, and no counterexample was found{hint}",
                ))
    if child.allow_other and not parent.allow_other:
        items.append(_Item(
            "wider", None, "allow_other_args: false",
            "the child allows arguments it does not name (allow_other_args: true); the parent "
            "does not",
            other=True,
        ))
    return items


def _fails(side: _Side, rule: Rule) -> Callable[[Any], bool]:
    """A test for values the child accepts and `rule` rejects."""
    return lambda value: side.accepts(value) and not rule(value)


def _both(one: _Side, other: _Side) -> Callable[[Any], bool]:
    return lambda value: one.accepts(value) and other.accepts(value)


def _first(test: Callable[[Any], bool], pool: Iterable[Any]) -> Any:
    for value in pool:
        try:
            if test(value):
                return value
        except Exception:  # a candidate a predicate cannot take is no counterexample
            continue
    return NO_VALUE


# -- the whole check --------------------------------------------------------------------------


def _load(source: Manifest | Mapping[str, Any] | str | Path) -> Manifest:
    return Manifest.load(source)


def narrower(
    child: Manifest | Mapping[str, Any] | str | Path,
    parent: Manifest | Mapping[str, Any] | str | Path,
    *,
    budgets: bool = True,
    expiry: bool = True,
) -> NarrowerReport:
    """Whether every call `child` allows is allowed by `parent`, constraint by constraint."""
    return _Check(_load(child), _load(parent)).run(budgets=budgets, expiry=expiry)


class _Check:
    def __init__(self, child: Manifest, parent: Manifest) -> None:
        self.child = child
        self.parent = parent
        self.cc: CompiledManifest = child.compiled()
        self.pc: CompiledManifest = parent.compiled()
        self.report = NarrowerReport(child.task, parent.task)

    def add(self, status: Status, where: str, check: str, detail: str,
            counterexample: Any = NO_VALUE) -> None:
        self.report.findings.append(Finding(status, where, check, detail, counterexample))

    def run(self, *, budgets: bool, expiry: bool) -> NarrowerReport:
        self.tools()
        if budgets:
            self.budgets()
        if expiry:
            self.window()
        return self.report

    # -- tools and arguments ---------------------------------------------------------------

    def _spec(self, manifest: Manifest, tool: CompiledTool) -> _ArgsSpec:
        grant = manifest.grant(tool.name)
        assert grant is not None
        implicit = {arg: [_SUM_IMPLIED] for arg, _, _ in tool.sum_scopes}
        return _ArgsSpec(grant.args, grant.allow_other_args, implicit)

    def tools(self) -> None:
        extra = [t for t in self.child.tools if t not in self.parent.tools]
        for tool in extra:
            call = self.example_call(tool)
            self.add(
                "wider", f"tools.{tool}", "tools",
                f"the parent does not grant tool {tool!r} (it grants: "
                f"{', '.join(sorted(self.parent.tools)) or 'none'})",
                {"tool": tool, "args": call} if call is not None else NO_VALUE,
            )
        if not extra:
            self.add("ok", "tools", "tools",
                     f"every tool the child grants is granted by the parent "
                     f"({', '.join(sorted(self.child.tools)) or 'none'})")
        for tool in self.child.tools:
            if tool in self.parent.tools:
                self.tool(tool)

    def tool(self, tool: str) -> None:
        ct, pt = self.cc.tools[tool], self.pc.tools[tool]
        child, parent = self._spec(self.child, ct), self._spec(self.parent, pt)
        base = f"tools.{tool}.args"
        for item in _compare_args(child, parent, prove_only=False):
            where = f"{base}.{item.arg}" if item.arg is not None else f"tools.{tool}"
            if item.status != "wider":
                self.add(item.status, where, item.check, item.detail)
                continue
            overrides: dict[str, Any] = {}
            if item.value is not NO_VALUE and item.arg is not None:
                overrides[item.arg] = item.value
            absent = {item.arg} if item.absent and item.arg is not None else set()
            if item.other:
                overrides[_unused_name(set(child.args) | set(parent.args))] = "x"
            call = self.counterexample_call(tool, overrides, absent)
            if call is None:
                self.add("unprovable", where, item.check,
                         item.detail + " (but no complete call the child allows could be built "
                         "to confirm it)")
            else:
                self.add("wider", where, item.check, item.detail, {"tool": tool, "args": call})

    def _fill(self, tool: str, overrides: Mapping[str, Any], absent: set[str],
              prefer_parent: bool) -> dict[str, Any] | None:
        ct = self.cc.tools[tool]
        child = self._spec(self.child, ct)
        parent = self._spec(self.parent, self.pc.tools[tool]) if tool in self.pc.tools else None
        call = dict(overrides)
        for name in ct.args.required:
            if name in call or name in absent:
                continue
            side = _Side(child.constraints(name), nullable=False)
            pool = _candidates(side.constraints + (parent.constraints(name) if parent else []))
            value: Any = NO_VALUE
            if prefer_parent and parent is not None and parent.grants(name):
                value = _first(_both(side, _Side(parent.constraints(name), nullable=False)), pool)
            if value is NO_VALUE:
                value = _first(side.accepts, pool)
            if value is NO_VALUE:
                return None
            call[name] = value
        return call

    def example_call(self, tool: str) -> dict[str, Any] | None:
        """Some call the child allows (arguments only), or None when none was found."""
        call = self._fill(tool, {}, set(), prefer_parent=False)
        if call is None or not _tool_allows(self.cc.tools[tool], call):
            return None
        return call

    def counterexample_call(self, tool: str, overrides: Mapping[str, Any],
                            absent: set[str]) -> dict[str, Any] | None:
        call = self._fill(tool, overrides, absent, prefer_parent=True)
        if call is None:
            return None
        if _tool_allows(self.cc.tools[tool], call) and not _tool_allows(self.pc.tools[tool], call):
            return call
        return None

    # -- budgets ---------------------------------------------------------------------------

    def budgets(self) -> None:
        p_scopes = budget_scopes(self.pc)
        if not p_scopes:
            self.add("ok", "budget", "", "the parent sets no budget")
            return
        c_scopes = budget_scopes(self.cc)
        for scope, (kind, limit, p_tools) in sorted(p_scopes.items()):
            where = scope_location(scope, kind, p_tools)
            check = f"{scope} <= {_num(limit)}"
            if kind == "calls":
                tools = [t for t in self.cc.tools if t in p_tools]
                upper, lower = self._calls_bounds(tools, c_scopes)
                unit = "calls"
                how = f"its own budgets: {self._budget_text(c_scopes, tools, kind)}"
            else:
                arg = kind.split(":", 1)[1]
                tools = [t for t in self.cc.tools if t in p_tools and self._passes(t, arg)]
                upper, lower, how = self._sum_bounds(tools, arg, c_scopes)
                unit = f"as the sum of {arg!r}"
            if not tools:
                self.add("ok", where, check, "the child makes no call this budget counts")
            elif upper <= limit:
                self.add("ok", where, check,
                         f"the child allows at most {_bound(upper)} {unit} here")
            elif lower > limit:
                self.add("wider", where, check,
                         f"the child allows {_bound(lower)} {unit} ({how}), more than the "
                         f"parent's {_num(limit)}")
            else:
                self.add("unprovable", where, check,
                         f"the child's budgets allow up to {_bound(upper)} {unit}, more than the "
                         f"parent's {_num(limit)}, but no calls reaching that could be built")

    def _passes(self, tool: str, arg: str) -> bool:
        grant = self.child.grant(tool)
        return grant is not None and (arg in grant.args or grant.allow_other_args)

    def _budget_text(self, scopes: Mapping[str, tuple[str, float, frozenset[str]]],
                     tools: Sequence[str], kind: str) -> str:
        parts = [f"{s} {_num(limit)}" for s, (k, limit, ts) in sorted(scopes.items())
                 if k == kind and ts & set(tools)]
        return ", ".join(parts) or "none"

    def _tool_calls(self, tool: str, scopes: Mapping[str, tuple[str, float, frozenset[str]]]
                    ) -> tuple[float, float]:
        """(this tool's own call limit, the task's call limit) in the child; inf when none."""
        own, task = math.inf, math.inf
        for scope, (kind, limit, tools) in scopes.items():
            if kind != "calls" or tool not in tools:
                continue
            if scope == "calls":
                task = min(task, limit)
            else:
                own = min(own, limit)
        return own, task

    def _calls_bounds(self, tools: Sequence[str],
                      scopes: Mapping[str, tuple[str, float, frozenset[str]]]) -> tuple[float, float]:
        task = math.inf
        own: dict[str, float] = {}
        for t in tools:
            own[t], task_t = self._tool_calls(t, scopes)
            task = min(task, task_t)
        callable_tools = [t for t in tools if self.example_call(t) is not None]
        upper = min(task, sum(own.values()))
        lower = min(task, sum(own[t] for t in callable_tools)) if callable_tools else 0.0
        return upper, lower

    def _sum_bounds(self, tools: Sequence[str], arg: str,
                    scopes: Mapping[str, tuple[str, float, frozenset[str]]]
                    ) -> tuple[float, float, str]:
        """(the most the child's budgets and constraints allow, an amount a sequence of calls the
        child allows does reach, how)."""
        task_sum = math.inf
        charged_by_task: set[str] = set()
        own_sum: dict[str, float] = {}
        for t in tools:
            own_sum[t] = math.inf
            for scope, (kind, limit, ts) in scopes.items():
                if kind != f"sum:{arg}" or t not in ts:
                    continue
                if scope == f"sum.{arg}":
                    task_sum = min(task_sum, limit)
                    charged_by_task.add(t)
                else:
                    own_sum[t] = min(own_sum[t], limit)
        per_tool_upper: dict[str, float] = {}
        lower = 0.0
        how = "no call with a positive value was found"
        for t in tools:
            own_calls, task_calls = self._tool_calls(t, scopes)
            calls = min(own_calls, task_calls)
            cap = min(own_sum[t], task_sum if t in charged_by_task else math.inf)
            high = self._value_bound(t, arg)
            by_values = _mul(calls, high)
            per_tool_upper[t] = min(cap, by_values)
            reached, count, w = self._reachable(t, arg, calls, cap)
            if reached > lower:
                lower = reached
                how = f"{_bound(count)} calls of {t} with {arg}={_bound(w)}"
        free = sum(per_tool_upper[t] for t in tools if t not in charged_by_task)
        taxed = sum(per_tool_upper[t] for t in tools if t in charged_by_task)
        upper = free + min(taxed, task_sum)
        return upper, lower, how

    def _arg_side(self, tool: str, arg: str) -> _Side:
        spec = self._spec(self.child, self.cc.tools[tool])
        return _Side(spec.constraints(arg), nullable=False)

    def _value_bound(self, tool: str, arg: str) -> float:
        side = self._arg_side(tool, arg)
        finite = side.finite()
        if finite is not None:
            numbers = [v for v in finite if c.is_finite_number(v)]
            return max(numbers, default=0.0)
        highs = [b.hi for b in side.branches]
        if all(h is not None for h in highs) and highs:
            return max(h for h in highs if h is not None)
        return math.inf

    def _reachable(self, tool: str, arg: str, calls: float, cap: float
                   ) -> tuple[float, float, float]:
        """(a total the child does reach with calls of `tool`, how many calls, of which value):
        the best over values the child accepts, each confirmed by a whole call it allows."""
        side = self._arg_side(tool, arg)
        pool = list(side.finite() or _candidates(side.constraints))
        if not math.isinf(cap):
            pool += [cap, cap / 2, cap / 3, math.floor(cap), math.floor(cap / 2)]
        options = []
        for value in pool:
            if c.is_finite_number(value) and value > 0 and side.accepts(value):
                count = calls if math.isinf(cap) else min(calls, math.floor(cap / value + 1e-9))
                options.append((_mul(count, value), count, value))
        options.sort(key=lambda option: option[0], reverse=True)
        for reached, count, value in options[:10]:
            if reached <= 0:
                break
            call = self._fill(tool, {arg: value}, set(), prefer_parent=False)
            if call is not None and _tool_allows(self.cc.tools[tool], call):
                return reached, count, float(value)
        return 0.0, 0.0, 0.0

    # -- validity window -------------------------------------------------------------------

    def window(self) -> None:
        child, parent = self.child, self.parent
        c_rel = child.ttl is not None and "issued_at" not in child.model_fields_set
        p_rel = parent.ttl is not None and "issued_at" not in parent.model_fields_set
        if c_rel and p_rel:
            assert child.ttl is not None and parent.ttl is not None
            c_ttl, p_ttl = parse_duration(child.ttl), parse_duration(parent.ttl)
            if c_ttl <= p_ttl:
                self.add("ok", "expires_at", "ttl", f"ttl {child.ttl} <= {parent.ttl}")
            else:
                self.add("wider", "expires_at", "ttl",
                         f"the child's ttl {child.ttl} is longer than the parent's {parent.ttl}")
        elif not c_rel and not p_rel:
            assert child.expires_at is not None and parent.expires_at is not None
            if child.expires_at <= parent.expires_at:
                self.add("ok", "expires_at", "expires_at",
                         f"{_iso(child.expires_at)} <= {_iso(parent.expires_at)}")
            else:
                self.add("wider", "expires_at", "expires_at",
                         f"the child ends at {_iso(child.expires_at)}, after the parent at "
                         f"{_iso(parent.expires_at)}")
        else:
            relative = "child" if c_rel else "parent"
            self.add("unprovable", "expires_at", "expires_at",
                     f"the {relative} uses a ttl without issued_at (it counts from when it is "
                     "loaded) and the other a fixed time: which ends first depends on when")
        if parent.not_before is not None:
            if child.not_before is not None and child.not_before >= parent.not_before:
                self.add("ok", "not_before", "not_before",
                         f"{_iso(child.not_before)} >= {_iso(parent.not_before)}")
            else:
                start = _iso(child.not_before) if child.not_before else "as soon as it is loaded"
                self.add("wider", "not_before", "not_before",
                         f"the child is valid from {start}, before the parent's not_before "
                         f"{_iso(parent.not_before)}")


def _iso(value: Any) -> str:
    return str(value.isoformat()).replace("+00:00", "Z")


def _mul(count: float, value: float) -> float:
    if count == 0 or value == 0:
        return 0.0
    return count * value


def _bound(value: float) -> str:
    if math.isinf(value):
        return "unlimited"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _unused_name(names: set[str]) -> str:
    for candidate in ("other_arg", "unlisted", "x_extra"):
        if candidate not in names:
            return candidate
    return next(f"arg{i}" for i in itertools.count() if f"arg{i}" not in names)


def _tool_allows(tool: CompiledTool, call: Mapping[str, Any]) -> bool:
    """What the guard decides for one call's arguments (constraints, then sum-budget values)."""
    if tool.args.violation(call) is not None:
        return False
    for arg, _, _ in tool.sum_scopes:
        value = call.get(arg)
        if value is not None and (not c.is_finite_number(value) or value < 0):
            return False
    return True


