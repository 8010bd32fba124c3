"""Constraint kinds, each compiled once into a small predicate.

A predicate is a callable `value -> bool` with a `written` attribute: the constraint as the
manifest wrote it (`max: 50`), which is what a denial names. Predicates never raise on a value of
the wrong type: they return False. Structural kinds (`each`, `fields`, `any_of`, `not`) return a
`Violation` naming the path inside the argument that failed.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import re2

from .._outcome import DenialCode

__all__ = [
    "AnyOf",
    "ArgsRule",
    "Each",
    "Equals",
    "Fields",
    "Length",
    "Max",
    "Min",
    "Not",
    "NotOneOf",
    "OneOf",
    "PathWithin",
    "Pattern",
    "Predicate",
    "Rule",
    "StartsWith",
    "TypeIs",
    "Url",
    "Violation",
    "strict_equal",
    "written",
]


def written(key: str, value: Any) -> str:
    """A constraint as the manifest wrote it, e.g. `max: 50` or `one_of: ["EUR", "GBP"]`."""
    return f"{key}: {json.dumps(value, ensure_ascii=False, separators=(', ', ': '), default=str)}"


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


class Predicate(Protocol):
    written: str

    def __call__(self, value: Any, /) -> bool: ...


# --- value helpers -------------------------------------------------------------------------


def is_finite_number(value: Any) -> bool:
    """int or finite float; never a bool."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def is_integer(value: Any) -> bool:
    """int; never a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def strict_equal(a: Any, b: Any) -> bool:
    """JSON equality: `True` is not `1`, `1` is `1.0`, NaN equals nothing."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return bool(a == b)
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, Mapping):
        return (
            isinstance(b, Mapping)
            and len(a) == len(b)
            and all(k in b and strict_equal(v, b[k]) for k, v in a.items())
        )
    return False


_UNHASHABLE = object()


def _hash_key(value: Any) -> Any:
    # Tag scalars by JSON type so that a set lookup never confuses True with 1.
    if value is None:
        return (0, None)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, str(value))
    return _UNHASHABLE


# --- leaf predicates ----------------------------------------------------------------------


class Equals:
    __slots__ = ("expected", "fast", "key", "written")

    def __init__(self, expected: Any) -> None:
        self.expected = expected
        self.key = _hash_key(expected)
        self.written = written("equals", expected)
        general = self.__call__
        if type(expected) is str:
            self.fast: Callable[[Any], bool] = _inline(
                lambda v: v == expected if type(v) is str else general(v),
                "(v == {0} if type(v) is str else {1}(v))", expected, general,
            )
        else:
            self.fast = general

    def __call__(self, value: Any) -> bool:
        if self.key is not _UNHASHABLE:
            return _hash_key(value) == self.key and strict_equal(value, self.expected)
        return strict_equal(value, self.expected)


class OneOf:
    __slots__ = ("fast", "keys", "others", "written")

    def __init__(self, values: Sequence[Any], key: str = "one_of") -> None:
        self.keys = frozenset(k for k in map(_hash_key, values) if k is not _UNHASHABLE)
        self.others = tuple(v for v in values if _hash_key(v) is _UNHASHABLE)
        self.written = written(key, list(values))
        general = self.__call__
        strings = frozenset(v for v in values if type(v) is str)
        self.fast: Callable[[Any], bool] = general
        if key == "one_of":
            self.fast = _inline(
                lambda v: v in strings if type(v) is str else general(v),
                "(v in {0} if type(v) is str else {1}(v))", strings, general,
            )
        elif key == "not_one_of":
            self.fast = lambda v: v not in strings if type(v) is str else general(v)

    def contains(self, value: Any) -> bool:
        key = _hash_key(value)
        if key is not _UNHASHABLE:
            return key in self.keys
        return any(strict_equal(value, other) for other in self.others)

    def __call__(self, value: Any) -> bool:
        return self.contains(value)


class NotOneOf(OneOf):
    __slots__ = ()

    def __init__(self, values: Sequence[Any]) -> None:
        super().__init__(values, key="not_one_of")

    def __call__(self, value: Any) -> bool:
        return not self.contains(value)


_TYPE_TESTS: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": is_finite_number,
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list | tuple),
    "object": lambda v: isinstance(v, Mapping),
    "null": lambda v: v is None,
}
TYPE_NAMES = tuple(_TYPE_TESTS)


class TypeIs:
    __slots__ = ("fast", "numeric", "tests", "written")

    def __init__(self, names: str | Sequence[str]) -> None:
        as_list = [names] if isinstance(names, str) else list(names)
        self.tests = tuple(_TYPE_TESTS[n] for n in as_list)
        self.written = written("type", names if isinstance(names, str) else as_list)
        self.fast: Callable[[Any], bool] = self.tests[0] if len(self.tests) == 1 else self.__call__
        self.numeric = as_list[0] if as_list in (["number"], ["integer"]) else None

    def __call__(self, value: Any) -> bool:
        return any(test(value) for test in self.tests)


class Min:
    __slots__ = ("bound", "written")

    def __init__(self, bound: float) -> None:
        self.bound = bound
        self.written = written("min", bound)

    def __call__(self, value: Any) -> bool:
        return is_finite_number(value) and value >= self.bound


class Max:
    __slots__ = ("bound", "written")

    def __init__(self, bound: float) -> None:
        self.bound = bound
        self.written = written("max", bound)

    def __call__(self, value: Any) -> bool:
        return is_finite_number(value) and value <= self.bound


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
        self.prefixes = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
        self.written = written("starts_with", prefixes if isinstance(prefixes, str) else list(prefixes))

    def __call__(self, value: Any) -> bool:
        return isinstance(value, str) and value.startswith(self.prefixes)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_path(path: str) -> str | None:
    """An absolute POSIX path with `.`, `..`, doubled and trailing slashes resolved, or None when
    the path is relative or holds a NUL, a control character or a backslash."""
    if not path.startswith("/") or _CONTROL.search(path) or "\\" in path:
        return None
    norm = posixpath.normpath(path)
    if norm.startswith("//"):  # POSIX keeps a leading '//' as is; we do not
        norm = "/" + norm.lstrip("/")
    return norm


def _within(norm: str, roots: tuple[str, ...]) -> bool:
    # A boundary at a path separator: /srv/data-evil is not within /srv/data.
    return any(root == "/" or norm == root or norm.startswith(root + "/") for root in roots)


class PathWithin:
    __slots__ = ("roots", "written")

    def __init__(self, roots: str | Sequence[str]) -> None:
        as_list = [roots] if isinstance(roots, str) else list(roots)
        normalized = []
        for root in as_list:
            norm = normalize_path(root)
            if norm is None:
                raise ValueError(f"path_within root {root!r} must be an absolute path")
            normalized.append(norm)
        self.roots = tuple(normalized)
        self.written = written("path_within", roots if isinstance(roots, str) else as_list)

    def __call__(self, value: Any) -> bool:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            return False
        norm = normalize_path(value)
        return norm is not None and _within(norm, self.roots)


_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_LABELS = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_URL_BAD_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_URL_SNEAKY_DOTS = re.compile(r"%25(?:25)*(?:2e|2f|5c)|(?:^|/)\.{1,2};")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
DEFAULT_URL_SCHEMES = ("https", "http")


def parse_host_pattern(entry: str) -> tuple[str, int | None]:
    """`api.example.com`, `*.example.com` or either with `:port`, lower-cased. Raises ValueError."""
    host, port = entry.strip().lower(), None
    if host.count(":") == 1:
        host, _, port_text = host.partition(":")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"host {entry!r} has an invalid port")
        port = int(port_text)
    bare = host[2:] if host.startswith("*.") else host
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1], port
    if not _HOST_LABELS.fullmatch(bare.rstrip(".")):
        raise ValueError(f"host {entry!r} is not a valid host name or *.wildcard")
    return host.rstrip("."), port


class Url:
    """A URL whose scheme, host (exact or `*.` wildcard, case-insensitive) and normalised path are
    allowed. User-info, control characters, backslashes, non-ASCII hosts, encoded dots or slashes in
    the path and ports other than the scheme's default (unless listed) are rejected."""

    __slots__ = ("hosts", "path_prefix", "schemes", "written")

    def __init__(
        self,
        schemes: Sequence[str] | None = None,
        hosts: Sequence[str] | None = None,
        path_prefix: str | None = None,
        spec: Mapping[str, Any] | None = None,
    ) -> None:
        self.schemes = frozenset(s.lower() for s in (schemes or DEFAULT_URL_SCHEMES))
        self.hosts = tuple(parse_host_pattern(h) for h in hosts) if hosts is not None else None
        self.path_prefix = None
        if path_prefix is not None:
            norm = normalize_path(path_prefix)
            if norm is None:
                raise ValueError(f"path_prefix {path_prefix!r} must start with '/'")
            self.path_prefix = norm
        self.written = written("url", dict(spec) if spec is not None else {})

    def __call__(self, value: Any) -> bool:
        if not isinstance(value, str) or len(value) > 8192 or not value.isascii():
            return False
        if _URL_BAD_CHARS.search(value):
            return False
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            return False
        scheme = parts.scheme.lower()
        if scheme not in self.schemes:
            return False
        netloc = parts.netloc
        if not netloc or "@" in netloc or "%" in netloc:
            return False
        host = parts.hostname or ""
        if host.endswith("."):  # one trailing dot is the root (FQDN form); two are not a host
            host = host[:-1]
        if not host:
            return False
        if not netloc.startswith("[") and not _HOST_LABELS.fullmatch(host):
            return False
        default_port = _DEFAULT_PORTS.get(scheme)
        if self.hosts is not None and not self._host_allowed(host, port, default_port):
            return False
        if self.path_prefix is not None:
            path = parts.path or "/"
            lowered = path.lower()
            if "%2e" in lowered or "%2f" in lowered or "%5c" in lowered:
                return False
            # Decoded twice by some servers (`%252e` -> `%2e` -> `.`), or a dot segment carrying
            # path parameters (`/..;/`), which Tomcat, Jetty and Spring resolve as `..`.
            if _URL_SNEAKY_DOTS.search(lowered):
                return False
            norm = normalize_path(path)
            if norm is None or not _within(norm, (self.path_prefix,)):
                return False
        return True

    def _host_allowed(self, host: str, port: int | None, default_port: int | None) -> bool:
        assert self.hosts is not None
        for pattern, allowed_port in self.hosts:
            if allowed_port is None:
                if port is not None and port != default_port:
                    continue
            elif (port if port is not None else default_port) != allowed_port:
                continue
            if pattern.startswith("*."):
                suffix = pattern[1:]
                if host.endswith(suffix) and len(host) > len(suffix):
                    return True
            elif host == pattern:
                return True
        return False


# --- composition ---------------------------------------------------------------------------


def _always(value: Any) -> bool:
    return True


def _fast(leaves: Sequence[Predicate]) -> list[Callable[[Any], bool]]:
    """The same tests as `leaves`, fused where a fusion is cheaper: type number/integer with
    min/max becomes one range test; string equality and membership skip the type dispatch."""
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
        out.append(p.fast if isinstance(p, Equals | OneOf | TypeIs) else p.__call__)
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

        return _inline(test_integer, "({0} <= v <= {1} if type(v) is int else {2}(v))", lo, hi, slow)

    def test_number(value: Any) -> bool:
        kind = type(value)
        if kind is float:
            return bool(lo <= value <= hi and value - value == 0)  # x - x is NaN for NaN, inf
        if kind is int:
            return bool(lo <= value <= hi)
        return slow(value)

    return _inline(
        test_number,
        "(({0} <= v <= {1} and v - v == 0) if type(v) is float else "
        "({0} <= v <= {1}) if type(v) is int else {2}(v))",
        lo, hi, slow,
    )


_INLINE = "__guardrail_inline__"


def _inline(fn: Callable[[Any], bool], template: str, *constants: Any) -> Callable[[Any], bool]:
    """Mark a test with an equivalent expression over `v` that generated code can inline:
    `{i}` placeholders become names bound to `constants` in the generated code's namespace."""
    setattr(fn, _INLINE, (template, constants))
    return fn


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


class Structural(Protocol):
    written: str

    def violation(self, value: Any, /) -> Violation | None: ...

    def test(self, value: Any, /) -> bool: ...


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


class ArgsRule:
    """The rules of an argument mapping (a tool's `args` or a `fields`): unknown names are denied
    unless `allow_other`, required names must be present (null counts as absent), and every present
    value must satisfy its rule. Checked in that order."""

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
        namespace: dict[str, Any] = {"names": self.names}
        lines = ["def test(args):"]
        if not self.allow_other:
            lines.append("    if not args.keys() <= names: return False")
        for name in self.required:
            lines.append(f"    if args.get({name!r}) is None: return False")
        for i, (name, test) in enumerate(self.tests):
            namespace[f"t{i}"] = test
            lines.append(f"    v = args.get({name!r})")
            inline = getattr(test, _INLINE, None)
            if inline is None:
                lines.append(f"    if v is not None and not t{i}(v): return False")
                continue
            template, constants = inline
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
            for key in args:
                if key not in names:
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
