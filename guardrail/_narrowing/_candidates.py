"""Candidate values for counterexamples, built from the constants of both manifests' constraints
(bounds, lengths, prefixes, roots, hosts, literals, sample strings of regular expressions).

A candidate is never assumed to be a counterexample: the caller tests it against the real compiled
rules (`first`). Per-kind dispatch here (on constraint key strings): `_Harvest.add`, and what
`_build_candidates` / `_url_candidates` derive from each kind's constants.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .._manifest._models import Constraint, UrlSpec
from .._policy import Rule, parse_host_pattern
from ._algebra import Side, as_tuple, components, dedupe, variants
from ._regex import regex_samples
from ._report import NO_VALUE

_MAX_POOL = 4000


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
        for comp in components(constraint):
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
                self.prefixes.extend(as_tuple(m))
            elif k == "path_within":
                self.roots.extend(as_tuple(m))
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
    h = _Harvest()
    for con in constraints:
        h.add(con)
    out: list[Any] = [None, True, False, *_BASE_NUMBERS]
    for n in h.numbers:
        out += [n, n - 1, n + 1, n - 0.5, n + 0.5, n - 0.001, n + 0.001, float(n)]
        if float(n).is_integer():
            out.append(int(n))
    for v in h.literals:
        out += variants(v) or [v]
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
        candidates(h.items, depth + 1)[:60] if h.items and depth < 3
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
    return dedupe(out)[:_MAX_POOL]


def _object_candidates(spec: Mapping[str, Constraint], depth: int) -> list[Any]:
    pools = {name: candidates([con], depth) for name, con in spec.items()}
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
