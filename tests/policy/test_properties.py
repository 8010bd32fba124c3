"""Property tests: for generated constraints and values, the guard's decision matches a simple,
independent oracle; `Rule.test` agrees with `Rule.violation is None`; the fast path agrees with
the full path."""

from __future__ import annotations

import math
import re
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from guardrail import Constraint, Guard, Manifest, ManifestError, MemoryStore
from tests.support.decisions import decide, guard_for, manifest, rule, rule_agrees

SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

# -- values -----------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=8),
    st.sampled_from([0, 1, -1, 0.0, 1.0, True, False, "", "0", "1", "a", "EUR", math.nan, math.inf]),
)
# scalars a manifest can hold (no NaN, no infinities)
json_scalars = scalars.filter(lambda v: not (isinstance(v, float) and not math.isfinite(v)))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


def json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list | tuple):
        return "array"
    return "object"


def json_equal(a: Any, b: Any) -> bool:
    """Oracle equality: same JSON type and same value (1 == 1.0, True != 1, NaN != NaN)."""
    if json_type(a) != json_type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def is_number(v: Any) -> bool:
    return json_type(v) == "number" and math.isfinite(v)


# -- oracles against the guard ----------------------------------------------------------------


@SETTINGS
@given(
    kind=st.sampled_from([None, "number", "integer"]),
    low=st.none() | st.integers(-100, 100) | finite,
    high=st.none() | st.integers(-100, 100) | finite,
    value=scalars,
)
def test_numeric_range(kind: str | None, low: Any, high: Any, value: Any) -> None:
    assume(low is not None or high is not None or kind is not None)
    assume(low is None or high is None or low <= high)
    spec: dict[str, Any] = {}
    if kind:
        spec["type"] = kind
    if low is not None:
        spec["min"] = low
    if high is not None:
        spec["max"] = high
    expected = value is None or (
        is_number(value)
        and (kind != "integer" or isinstance(value, int))
        and (low is None or value >= low)
        and (high is None or value <= high)
    )
    assert decide(guard_for({"a": spec}), "f", {"a": value}).allowed is expected
    if value is not None:
        assert rule_agrees(rule(spec), value) is expected


@SETTINGS
@given(options=st.lists(json_scalars, min_size=1, max_size=6),
       value=scalars, negate=st.booleans())
def test_one_of_and_not_one_of(options: list[Any], value: Any, negate: bool) -> None:
    key = "not_one_of" if negate else "one_of"
    member = any(json_equal(value, option) for option in options)
    expected = value is None or (member is not negate)
    assert decide(guard_for({"a": {key: options}}), "f", {"a": value}).allowed is expected


@SETTINGS
@given(expected_value=json_values.filter(lambda v: v is not None), value=json_values)
def test_equals(expected_value: Any, value: Any) -> None:
    try:
        spec = Constraint.model_validate({"equals": expected_value})
    except ValueError:
        assume(False)  # NaN or infinities: the manifest rejects them
        raise
    guard = Guard(manifest({"f": {"args": {"a": spec.spec()}}}), store=MemoryStore())
    expected = value is None or json_equal(value, expected_value)
    assert decide(guard, "f", {"a": value}).allowed is expected


@SETTINGS
@given(bounds=st.tuples(st.integers(0, 6), st.integers(0, 6)).map(sorted),
       which=st.sampled_from(["min", "max", "both"]),
       value=st.text(max_size=8) | st.lists(st.integers(), max_size=8) | scalars)
def test_lengths(bounds: list[int], which: str, value: Any) -> None:
    low = bounds[0] if which in ("min", "both") else None
    high = bounds[1] if which in ("max", "both") else None
    spec = {k: v for k, v in (("min_length", low), ("max_length", high)) if v is not None}
    expected = value is None or (
        isinstance(value, str | list)
        and (low is None or len(value) >= low)
        and (high is None or len(value) <= high)
    )
    assert decide(guard_for({"a": spec}), "f", {"a": value}).allowed is expected


@SETTINGS
@given(prefixes=st.lists(st.text("aAb/-", min_size=0, max_size=3), min_size=1, max_size=3),
       value=st.text("aAb/-", max_size=6) | scalars)
def test_starts_with(prefixes: list[str], value: Any) -> None:
    expected = value is None or (isinstance(value, str) and any(value[: len(p)] == p for p in prefixes))
    assert decide(guard_for({"a": {"starts_with": prefixes}}), "f", {"a": value}).allowed is expected


SEGMENTS = ["srv", "data", "data-evil", "..", ".", "", "x", "a\x00", "b\\c", "..."]


def oracle_within(path: str, root: list[str]) -> bool:
    if not path.startswith("/") or "\x00" in path or "\\" in path:
        return False
    stack: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if stack:
                stack.pop()
            continue
        stack.append(part)
    return stack[: len(root)] == root


@SETTINGS
@given(root=st.lists(st.sampled_from(["srv", "data", "x"]), min_size=0, max_size=2),
       absolute=st.booleans(), parts=st.lists(st.sampled_from(SEGMENTS), max_size=7))
def test_path_within(root: list[str], absolute: bool, parts: list[str]) -> None:
    path = ("/" if absolute else "") + "/".join(parts)
    expected = oracle_within(path, root)
    guard = guard_for({"p": {"path_within": "/" + "/".join(root)}})
    assert decide(guard, "f", {"p": path}).allowed is expected, path


ATOMS = ["a", "b", "[ab]", "[^a]", ".", "\\d", "(a|b)", "(ab)"]
QUANTIFIERS = ["", "*", "+", "?", "{1,2}", "{2}"]


@SETTINGS
@given(pattern=st.lists(st.tuples(st.sampled_from(ATOMS), st.sampled_from(QUANTIFIERS)), min_size=1,
                        max_size=4).map(lambda items: "".join(a + q for a, q in items)),
       value=st.text("ab1\n", max_size=6))
def test_pattern_is_a_full_match(pattern: str, value: str) -> None:
    expected = re.fullmatch(pattern, value) is not None
    assert decide(guard_for({"s": {"pattern": pattern}}), "f", {"s": value}).allowed is expected


# -- test agrees with violation; fast path agrees with full path --------------------------------

leaf_constraints = st.one_of(
    st.builds(dict),
    st.builds(lambda v: {"equals": v}, json_scalars),
    st.builds(lambda v: {"one_of": v},
              st.lists(st.sampled_from([0, 1, "a", True, None, 1.5, [1]]), min_size=1)),
    st.builds(lambda v: {"not_one_of": v},
              st.lists(st.sampled_from([0, "a", False, [1], {"k": 1}]), min_size=1)),
    st.builds(lambda v: {"type": v}, st.sampled_from(
        ["string", "integer", "number", "boolean", "array", "object", "null", ["string", "number"]])),
    st.builds(lambda lo, hi: {"type": "number", "min": min(lo, hi), "max": max(lo, hi)},
              st.integers(-5, 5), st.integers(-5, 5)),
    st.builds(lambda lo: {"min": lo}, st.integers(-5, 5) | finite),
    st.builds(lambda hi: {"type": "integer", "max": hi}, st.integers(-5, 5)),
    st.builds(lambda n: {"min_length": n}, st.integers(0, 3)),
    st.builds(lambda n: {"max_length": n}, st.integers(0, 3)),
    st.builds(lambda p: {"pattern": p}, st.sampled_from(["a*", "[0-9]+", ".", "(a|b)+c?"])),
    st.builds(lambda p: {"starts_with": p}, st.sampled_from(["a", ["", "b"], "/srv"])),
    st.builds(lambda p: {"path_within": p}, st.sampled_from(["/srv", ["/a", "/b/c"], "/"])),
    st.builds(lambda u: {"url": u}, st.sampled_from([{}, {"hosts": ["*.a.com"]}, {"schemes": ["https"]}])),
)


def extend(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(lambda c: {"each": c}, inner),
        st.builds(lambda fs: {"fields": fs}, st.dictionaries(st.sampled_from(["k", "m"]), inner, max_size=2)),
        st.builds(lambda cs: {"any_of": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: {"not": c}, inner),
        st.builds(lambda a, b: {**a, **b}, inner, inner),
        st.builds(lambda c: {**c, "required": True}, inner),
    )


constraints = st.recursive(leaf_constraints, extend, max_leaves=6)
structured_values = st.recursive(
    scalars | st.sampled_from(["/srv/x", "/srv/../etc", "https://x.a.com/", "http://a.com", "aab", "12"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["k", "m", "z"]), inner, max_size=3),
    max_leaves=10,
)


def compiled(spec: dict[str, Any]) -> Any:
    try:
        return rule(spec)
    except (ManifestError, ValueError):
        assume(False)
        raise


@SETTINGS
@given(spec=constraints, value=structured_values)
def test_rule_test_agrees_with_violation(spec: dict[str, Any], value: Any) -> None:
    rule_agrees(compiled(spec), value)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(args=st.dictionaries(st.sampled_from(["a", "b", "c"]), constraints, max_size=3),
       allow_other=st.booleans(),
       call=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), structured_values, max_size=4)
       | st.dictionaries(st.sampled_from(["a", "d", "e"]), st.none() | structured_values, max_size=3)
       | st.sampled_from([None, [], "x", {"d": None}, {"a": None, "e": None}]))
def test_fast_path_agrees_with_full_path(args: dict[str, Any], allow_other: bool, call: Any) -> None:
    try:
        guard = Guard(manifest({"f": {"args": args, "allow_other_args": allow_other}}), store=MemoryStore())
    except ManifestError:
        assume(False)
        raise
    decision = decide(guard, "f", call)  # asserts agreement
    if decision.allowed and isinstance(call, dict):
        for name, value in call.items():
            if value is not None and name in args:
                assert rule(args[name]).violation(value) is None
            elif value is not None:
                assert allow_other


# -- loading never fails with anything but ManifestError; deciding never with internal_error ---

YAML_PIECES = st.sampled_from([
    "task: t\n", "ttl: 5m\n", "tools:\n", "  f:\n", "    args:\n", "      a: ", "{", "}", "[", "]", ",",
    "<<: ", "&x ", "*x", "!!binary ", "!!str ", "? ", ": ", "- ", "1e999", ".nan", "012", "null", "~",
    "'q'", '"\\ud800"', "\t", "\n", "  ", "max: 5", "equals: ", "---\n", "%YAML 1.1\n", "!x ",
    "!!python/tuple [1]", "|\n  x\n", "1" * 5000, "on", "0x1", "2024-01-01", "\x00", "\ufeff",
])


@SETTINGS
@given(text=st.lists(YAML_PIECES, max_size=25).map("".join))
def test_yaml_text_raises_only_manifest_error(text: str) -> None:
    try:
        loaded = Manifest.from_yaml(text)
    except ManifestError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
    else:
        assert loaded.expires_at is not None and loaded.digest.startswith("sha256:")


@SETTINGS
@given(text=st.text(max_size=40) | st.lists(st.sampled_from(
    ["{", "}", "[", "]", '"task"', ":", ",", '"t"', "1e999", "NaN", '"tools"', '"ttl"', '"5m"', "{}",
     "1" * 5000, '"\\ud800"', "null"]), max_size=20).map("".join))
def test_json_text_raises_only_manifest_error(text: str) -> None:
    try:
        loaded = Manifest.from_json(text)
    except ManifestError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
    else:
        assert loaded.expires_at is not None and loaded.digest.startswith("sha256:")


SPEC_KEYS = st.sampled_from(
    ["equals", "one_of", "not_one_of", "type", "min", "max", "min_length", "max_length", "pattern",
     "starts_with", "path_within", "url", "each", "fields", "any_of", "not", "required", "schemes",
     "hosts", "path_prefix", "x"])
SPEC_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats()
    | st.sampled_from(["string", "number", "/a", "a*", "(", "*.a.com", "https", "", "a b", "x:1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SPEC_KEYS, inner, max_size=3),
    max_leaves=8,
)


@SETTINGS
@given(args=st.dictionaries(st.sampled_from(["a", "b"]), SPEC_VALUES, max_size=2) | SPEC_VALUES,
       value=SPEC_VALUES)
def test_any_manifest_data_loads_or_fails_cleanly_and_decides(args: Any, value: Any) -> None:
    try:
        guard = Guard(manifest({"f": {"args": args}}), store=MemoryStore())
    except ManifestError:
        return
    decision = decide(guard, "f", {"a": value})
    assert decision.denial is None or decision.denial.code.value != "internal_error", decision.denial
