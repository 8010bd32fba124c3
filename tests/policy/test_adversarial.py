"""Values an injected or confused model might send: each is denied, or decided as the manifest
says, never a crash, a hang or an allow by accident."""

from __future__ import annotations

import math
from typing import Any

import pytest

from guardrail import ArgumentViolation, DenialCode, Guard, MemoryStore
from guardrail._policy._normalize import MAX_DEPTH
from tests.support.decisions import decide, guard_for, manifest, rule, rule_agrees

# -- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        ({"equals": 1}, True),
        ({"equals": 0}, False),
        ({"equals": 1.0}, True),
        ({"one_of": [0, 1]}, True),
        ({"one_of": [0, 1]}, False),
        ({"one_of": [1, "x"]}, True),
        ({"not_one_of": [True]}, True),
        ({"min": 0}, True),
        ({"max": 1}, False),
        ({"min": 0, "max": 1}, True),
        ({"type": "number"}, True),
        ({"type": "integer"}, False),
        ({"type": "integer", "min": 0, "max": 5}, True),
        ({"type": "number", "min": 0, "max": 5}, False),
        ({"equals": True}, 1),
        ({"one_of": [True, False]}, 0),
        ({"type": "boolean"}, 1),
    ],
)
def test_bools_are_not_numbers(spec: dict[str, Any], value: Any) -> None:
    decision = decide(guard_for({"a": spec}), "f", {"a": value})
    assert not decision.allowed
    assert decision.denial is not None and decision.denial.code is DenialCode.ARGUMENT_INVALID
    assert not rule_agrees(rule(spec), value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, float("-nan")])
@pytest.mark.parametrize(
    "spec",
    [{"min": 0}, {"max": 100}, {"min": -1e308, "max": 1e308}, {"type": "number"},
     {"type": "number", "max": 50}, {"type": "number", "min": 0}, {"equals": 1.5}],
)
def test_nan_and_infinities_never_pass_a_number_constraint(spec: dict[str, Any], value: float) -> None:
    decision = decide(guard_for({"a": spec}), "f", {"a": value})
    assert not decision.allowed
    assert not rule_agrees(rule(spec), value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_under_not(value: float) -> None:
    # `not: {max: 0}` holds for NaN and infinities, since `max: 0` fails for them: decided, consistently
    for spec in ({"not": {"max": 0}}, {"not_one_of": [1, math.pi]}):
        assert decide(guard_for({"a": spec}), "f", {"a": value}).allowed
        assert rule_agrees(rule(spec), value)
    assert not decide(guard_for({"a": {"one_of": [1, 2]}}), "f", {"a": value}).allowed


def test_numbers_as_strings_are_not_numbers() -> None:
    guard = guard_for({"amount": {"type": "number", "min": 0, "max": 50}})
    for value in ("50", "5", "1e1", " 5", "0x10", "NaN"):
        denial = decide(guard, "f", {"amount": value}).denial
        assert denial is not None and denial.constraint == 'type: "number"', value
    guard = guard_for({"amount": {"max": 50}})
    assert not decide(guard, "f", {"amount": "50"}).allowed
    assert not decide(guard, "f", {"amount": "9999"}).allowed
    guard = guard_for({"amount": {"equals": 50}})
    assert not decide(guard, "f", {"amount": "50"}).allowed


def test_numbers_at_and_beyond_the_bounds() -> None:
    guard = guard_for({"n": {"type": "integer", "min": -3, "max": 3}})
    for value in (-3, 0, 3):
        assert decide(guard, "f", {"n": value}).allowed
    for value in (-4, 4, 10**400, -(10**400), 3.0, 2.5):
        assert not decide(guard, "f", {"n": value}).allowed, value
    guard = guard_for({"x": {"type": "number", "min": 0.1, "max": 0.3}})
    assert decide(guard, "f", {"x": 0.1}).allowed
    assert decide(guard, "f", {"x": 0.3}).allowed
    assert not decide(guard, "f", {"x": 0.30000000000000004}).allowed
    assert not decide(guard, "f", {"x": 10**400}).allowed
    assert not decide(guard, "f", {"x": 5e-324 - 1}).allowed


def test_number_subclasses_and_other_numeric_types() -> None:
    from decimal import Decimal
    from fractions import Fraction

    class MyInt(int):
        pass

    guard = guard_for({"n": {"type": "integer", "max": 5}})
    assert decide(guard, "f", {"n": MyInt(3)}).allowed
    assert not decide(guard, "f", {"n": MyInt(9)}).allowed
    for value in (Decimal("1"), Fraction(1, 2), complex(1, 0)):
        assert not decide(guard, "f", {"n": value}).allowed, value
    guard = guard_for({"n": {"max": 5}})
    assert not decide(guard, "f", {"n": Decimal("NaN")}).allowed


# -- paths ------------------------------------------------------------------------------------

INSIDE = ["/srv/data", "/srv/data/", "/srv/data/a.txt", "/srv/data/./a", "/srv/data//a", "//srv/data/a",
          "///srv/data/a", "/srv//data/a", "/srv/data/a/../b", "/srv/x/../data/a", "/srv/data/..a",
          "/srv/data/...", "/srv/data/a/"]
OUTSIDE = ["/srv/data/..", "/srv/data/../etc/passwd", "/srv/data/a/../../x", "/srv/data-evil",
           "/srv/data-evil/a", "/srv/dat", "/srv", "/", "srv/data/a", "./srv/data", "data/a", "",
           "../srv/data", "~/srv/data", "/srv/data/a\x00/../../etc", "/srv/data\x00", "/srv/data/a\n",
           "\\srv\\data\\a", "/srv/data\\..\\..\\etc", "C:/srv/data", "file:///srv/data/a",
           "/SRV/DATA/a", "/srv/data\u2215..\u2215x", " /srv/data/a"]


@pytest.mark.parametrize("path", INSIDE)
def test_path_within_inside(path: str) -> None:
    assert decide(guard_for({"p": {"path_within": "/srv/data"}}), "f", {"p": path}).allowed


@pytest.mark.parametrize("path", OUTSIDE)
def test_path_within_outside(path: str) -> None:
    guard = guard_for({"p": {"path_within": "/srv/data"}})
    denial = decide(guard, "f", {"p": path}).denial
    assert denial is not None
    assert denial.code is DenialCode.ARGUMENT_INVALID
    assert denial.constraint == 'path_within: "/srv/data"'


def test_path_within_roots_are_normalised_too() -> None:
    guard = guard_for({"p": {"path_within": ["/srv//data/./", "/tmp/x/../y"]}})
    assert decide(guard, "f", {"p": "/srv/data/a"}).allowed
    assert decide(guard, "f", {"p": "/tmp/y/z"}).allowed
    assert not decide(guard, "f", {"p": "/tmp/x/z"}).allowed


def test_path_within_root_slash_allows_every_absolute_path_only() -> None:
    guard = guard_for({"p": {"path_within": "/"}})
    assert decide(guard, "f", {"p": "/etc/passwd"}).allowed
    assert decide(guard, "f", {"p": "/../.."}).allowed
    assert not decide(guard, "f", {"p": "etc/passwd"}).allowed
    assert not decide(guard, "f", {"p": "/etc\x00"}).allowed


# -- URLs -------------------------------------------------------------------------------------

GOOD = {"url": {"hosts": ["good.com", "*.example.com"]}}


@pytest.mark.parametrize(
    "url",
    ["https://good.com", "https://good.com/", "HTTPS://GOOD.COM/Path", "https://Good.Com",
     "https://good.com./", "https://good.com:443/", "http://good.com:80/x", "https://a.example.com",
     "https://a.b.example.com/x?q=1#f", "https://A.EXAMPLE.COM", "https://good.com/%2e%2e/x"],
)
def test_url_allowed(url: str) -> None:
    assert decide(guard_for({"u": GOOD}), "f", {"u": url}).allowed


@pytest.mark.parametrize(
    "url",
    [
        "https://good.com@evil.com",
        "https://good.com@evil.com/",
        "https://user:pass@good.com/",
        "https://@good.com/",
        "https://evil.com\\@good.com",
        "https://evil.com\\.good.com",
        "https://evil.com/\\good.com",
        "https://good.com.evil.com",
        "https://evilgood.com",
        "https://example.com",
        "https://evilexample.com",
        "https://example.com.evil.com",
        "https://.example.com",
        "https://good.com..",
        "https://good.com../",
        "https://good.com:8443/",
        "https://good.com:0/",
        "https://good.com:99999/",
        "https://good.com:443:443/",
        "https://good.com:abc/",
        "https://good.com%2f@evil.com",
        "https://good%2ecom",
        "https://g\u043e\u043ed.com",
        "https://xn--gd-lmcb.com",
        "https://good.com\t/",
        "https://good.com\n.evil.com",
        "https://good.com\x00.evil.com",
        " https://good.com",
        "javascript:alert(1)",
        "javascript://good.com/%0aalert(1)",
        "data:text/html,hi",
        "file:///etc/passwd",
        "ftp://good.com/",
        "https:good.com",
        "https:/good.com",
        "https://",
        "https:///path",
        "//good.com",
        "good.com",
        "/relative",
        "",
        "https://[::1]/",
        "https://127.0.0.1/",
    ],
)
def test_url_denied(url: str) -> None:
    guard = guard_for({"u": GOOD})
    denial = decide(guard, "f", {"u": url}).denial
    assert denial is not None, url
    assert denial.code is DenialCode.ARGUMENT_INVALID
    assert denial.constraint == 'url: {"hosts": ["good.com", "*.example.com"]}'


def test_url_schemes() -> None:
    guard = guard_for({"u": {"url": {"schemes": ["https"]}}})
    assert decide(guard, "f", {"u": "https://x.org"}).allowed
    assert decide(guard, "f", {"u": "HTTPS://x.org"}).allowed
    assert not decide(guard, "f", {"u": "http://x.org"}).allowed
    assert not decide(guard, "f", {"u": "wss://x.org"}).allowed


def test_url_too_long_or_not_a_string() -> None:
    guard = guard_for({"u": {"url": {}}})
    assert not decide(guard, "f", {"u": "https://x.org/" + "a" * 10_000}).allowed
    for value in (1, ["https://x.org"], {"href": "https://x.org"}, b"https://x.org"):
        assert not decide(guard, "f", {"u": value}).allowed


# -- arguments the manifest does not expect ----------------------------------------------------


def test_unexpected_and_missing_arguments() -> None:
    guard = guard_for({"a": {"required": True}, "b": {}})
    cases: list[tuple[Any, DenialCode, str]] = [
        ({"a": 1, "A": 1}, DenialCode.ARGUMENT_NOT_ALLOWED, "A"),
        ({"a": 1, "a ": 1}, DenialCode.ARGUMENT_NOT_ALLOWED, "a "),
        ({"a": 1, "": 1}, DenialCode.ARGUMENT_NOT_ALLOWED, ""),
        ({"a": 1, "__proto__": {}}, DenialCode.ARGUMENT_NOT_ALLOWED, "__proto__"),
        ({"a": 1, 1: 1}, DenialCode.ARGUMENT_NOT_ALLOWED, "1"),
        ({"a": 1, None: 1}, DenialCode.ARGUMENT_NOT_ALLOWED, "None"),
        ({"a": 1, "x" * 10_000: 1}, DenialCode.ARGUMENT_NOT_ALLOWED, "x" * 200),
        ({"b": 1}, DenialCode.ARGUMENT_MISSING, "a"),
        ({"a": None, "b": 1}, DenialCode.ARGUMENT_MISSING, "a"),
    ]
    for args, code, argument in cases:
        denial = decide(guard, "f", args).denial
        assert denial is not None, args
        assert denial.code is code
        assert denial.argument == argument


def test_argument_mappings_of_other_types() -> None:
    from collections import OrderedDict
    from types import MappingProxyType

    guard = guard_for({"a": {"max": 3}})
    for args in (OrderedDict(a=2), MappingProxyType({"a": 2})):
        assert decide(guard, "f", args).allowed
    for args in (OrderedDict(a=4), MappingProxyType({"a": 2, "b": 1})):
        assert not decide(guard, "f", args).allowed


# -- size and depth ---------------------------------------------------------------------------


def nested(depth: int, leaf: Any = 1, kind: str = "list") -> Any:
    value = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_deeply_nested_arguments(kind: str) -> None:
    deep = nested(10_000, kind=kind)
    specs = [{}, {"type": "array"}, {"type": "object"}, {"equals": [[1]]}, {"equals": {"k": {"k": 1}}},
             {"one_of": [[1], {"k": 1}, "x"]}, {"not_one_of": [[[1]]]},
             {"each": {"each": {"type": "integer"}}},
             {"fields": {"k": {"fields": {"k": {}}}}}, {"max_length": 1}, {"any_of": [{"type": "string"},
             {"each": {}}]}, {"not": {"type": "string"}}]
    for spec in specs:
        guard = guard_for({"a": spec})
        decision = decide(guard, "f", {"a": deep})
        # decided one way or the other, with a denial that names where it failed
        if not decision.allowed:
            assert decision.denial is not None
            assert decision.denial.code is DenialCode.ARGUMENT_INVALID
        assert rule_agrees(rule(spec), deep) is decision.allowed
    guard = guard_for({"a": {}})
    assert decide(guard, "f", {"a": deep}).allowed
    denial = decide(guard, "f", {"a": deep, "deep": deep}).denial
    assert denial is not None and denial.code is DenialCode.ARGUMENT_NOT_ALLOWED
    assert not decide(guard_for({"a": {"equals": [[1]]}}), "f", {"a": deep}).allowed


def test_deeply_nested_arguments_through_invoke() -> None:
    # The guard copies what a constraint looks at, and refuses nesting deeper than MAX_DEPTH
    # (issue 11 item 3); an argument no constraint looks at is passed on as given.
    deep = nested(10_000, kind="dict")
    guard = guard_for({"a": {"type": "object"}})
    with pytest.raises(ArgumentViolation) as info:
        guard.invoke("f", lambda a: "ran", {"a": deep})
    assert info.value.denial.constraint == f"nesting at most {MAX_DEPTH} levels deep"
    recorded = Guard(manifest({"f": {"args": {"a": {}}}}), store=MemoryStore(), record_values=True)
    assert recorded.invoke("f", lambda a: "ran", {"a": deep}) == "ran"


def test_very_large_strings() -> None:
    big = "a" * 10_000_000
    specs: list[tuple[dict[str, Any], bool]] = [
        ({}, True),
        ({"type": "string"}, True),
        ({"max_length": 100}, False),
        ({"min_length": 10_000_000}, True),
        ({"pattern": "a+"}, True),
        ({"pattern": "a{1,5}"}, False),
        ({"pattern": "(a+)+$"}, True),
        ({"starts_with": "aaa"}, True),
        ({"equals": "a"}, False),
        ({"one_of": ["a", "b"]}, False),
        ({"path_within": "/srv"}, False),
        ({"url": {}}, False),
    ]
    for spec, allowed in specs:
        assert guard_for({"s": spec}).check("f", {"s": big}).allowed is allowed, spec
    assert not decide(guard_for({"s": {"pattern": "a{1,5}"}}), "f", {"s": big}).allowed
    path = "/srv/data/" + "x/" * 500_000
    guard = guard_for({"p": {"path_within": "/srv/data"}})
    assert guard.check("f", {"p": path}).allowed
    assert not guard.check("f", {"p": path + "/.." * 500_001}).allowed
    # a 10 MB argument name the manifest does not grant
    denial = guard_for({"s": {}}).check("f", {big: 1}).denial
    assert denial is not None and denial.code is DenialCode.ARGUMENT_NOT_ALLOWED
    assert len(denial.message) < 1000 and len(denial.argument or "") <= 200


def test_very_large_arrays() -> None:
    items = list(range(1_000_000))
    guard = guard_for({"xs": {"each": {"type": "integer", "min": 0}}})
    assert guard.check("f", {"xs": items}).allowed
    items.append(-1)
    denial = guard.check("f", {"xs": items}).denial
    assert denial is not None and denial.argument == "xs.1000000" and denial.constraint == "min: 0"
    assert not guard_for({"xs": {"max_length": 1000}}).check("f", {"xs": items}).allowed
    assert not guard_for({"xs": {"one_of": [[1, 2]]}}).check("f", {"xs": items}).allowed
    assert not guard_for({"xs": {"equals": [0, 1]}}).check("f", {"xs": items}).allowed
    assert guard_for({"xs": {"not_one_of": [[0]]}}).check("f", {"xs": items}).allowed
    many_args = {f"k{i}": i for i in range(100_000)}
    assert not guard_for({"k0": {}}).check("f", many_args).allowed
    assert guard_for({"k0": {}}, allow_other_args=True).check("f", many_args).allowed


def test_catastrophic_backtracking_pattern_is_linear() -> None:
    spec = {"pattern": "(a+)+$"}
    guard = guard_for({"s": spec})
    evil = "a" * 100_000 + "!"
    denial = decide(guard, "f", {"s": evil}).denial
    assert denial is not None and denial.constraint == 'pattern: "(a+)+$"'
    assert decide(guard, "f", {"s": "a" * 100_000}).allowed
    for pattern in ("(a|a)*b", "(a*)*b", "(x+x+)+y", "(.*a){20}"):
        assert not decide(guard_for({"s": {"pattern": pattern}}), "f", {"s": "a" * 50_000 + "!"}).allowed


def test_pattern_unicode_and_surrogates() -> None:
    guard = guard_for({"s": {"pattern": "[^/]{1,3}"}})
    assert decide(guard, "f", {"s": "日本語"}).allowed
    assert not decide(guard, "f", {"s": "日本語x"}).allowed
    assert not decide(guard, "f", {"s": "\ud800"}).allowed  # a lone surrogate is denied, not a crash
    assert not decide(guard, "f", {"s": b"abc"}).allowed


def test_unhashable_and_odd_values_never_crash() -> None:
    odd = [object(), {1, 2}, frozenset(), b"x", bytearray(b"x"), 1j, ..., print, type, {"a": object()}]
    specs = [{"equals": "x"}, {"one_of": ["x", [1]]}, {"not_one_of": ["x"]}, {"type": "string"},
             {"min": 0}, {"min_length": 0}, {"pattern": "x"}, {"starts_with": "x"}, {"path_within": "/"},
             {"url": {}}, {"each": {}}, {"fields": {}}, {"any_of": [{"type": "null"}]},
             {"not": {"equals": 1}}]
    for spec in specs:
        guard = guard_for({"a": spec})
        for value in odd:
            decision = decide(guard, "f", {"a": value})
            if not decision.allowed:
                assert decision.denial is not None
                # a key inside a mapping that `fields: {}` does not name is not allowed; else invalid
                nested_key = spec == {"fields": {}} and isinstance(value, dict) and bool(value)
                assert decision.denial.code is (
                    DenialCode.ARGUMENT_NOT_ALLOWED if nested_key else DenialCode.ARGUMENT_INVALID
                ), (spec, value)
            assert rule_agrees(rule(spec), value) is decision.allowed
