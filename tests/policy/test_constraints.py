"""Every constraint kind, allowed and denied, through a real guard: the denial names the argument
path and the constraint as written, and the fast path agrees with the full path."""

from __future__ import annotations

import math
from pathlib import PurePosixPath
from typing import Any

import pytest

from guardrail import DenialCode
from tests.support.decisions import decide, guard_for, rule, rule_agrees

# (constraint as written in the manifest, values it allows, values it denies, constraint in denial)
KINDS: list[tuple[str, Any, list[Any], list[Any], str]] = [
    ("equals-str", {"equals": "EUR"}, ["EUR"], ["eur", "EUR ", 1, ["EUR"]], 'equals: "EUR"'),
    ("equals-int", {"equals": 1}, [1, 1.0], [True, "1", 2, [1]], "equals: 1"),
    ("equals-bool", {"equals": True}, [True], [1, 1.0, "true", False], "equals: true"),
    ("equals-obj", {"equals": {"k": [1, "x"]}}, [{"k": [1, "x"]}], [{"k": [True, "x"]}, {"k": [1]},
     {"k": [1, "x"], "j": 0}], 'equals: {"k": [1, "x"]}'),
    ("shorthand-scalar", "support-eu", ["support-eu"], ["billing", 0], 'equals: "support-eu"'),
    ("one_of", {"one_of": ["EUR", "GBP", 3]}, ["EUR", "GBP", 3, 3.0], ["USD", "eur", True, 4,
     False], 'one_of: ["EUR", "GBP", 3]'),
    ("shorthand-list", ["EUR", "GBP"], ["GBP"], ["USD", ["EUR"]], 'one_of: ["EUR", "GBP"]'),
    ("not_one_of", {"not_one_of": ["root", 0]}, ["bob", 1, False, "0"], ["root", 0, 0.0],
     'not_one_of: ["root", 0]'),
    ("type-string", {"type": "string"}, ["", "x"], [1, True, [], {}], 'type: "string"'),
    ("type-integer", {"type": "integer"}, [0, -5, 2**80], [1.0, True, "1", math.nan], 'type: "integer"'),
    ("type-number", {"type": "number"}, [0, 1.5, -2**80], [True, "1", math.nan, math.inf, -math.inf],
     'type: "number"'),
    ("type-boolean", {"type": "boolean"}, [True, False], [0, 1, "true"], 'type: "boolean"'),
    ("type-array", {"type": "array"}, [[], [1], (1, 2)], ["[]", {}, 1], 'type: "array"'),
    ("type-object", {"type": "object"}, [{}, {"a": 1}], [[], "{}", 1], 'type: "object"'),
    ("type-list", {"type": ["string", "integer"]}, ["x", 3], [1.5, True, []],
     'type: ["string", "integer"]'),
    ("min", {"min": 10}, [10, 10.0, 11, 2**70], [9, 9.999, True, "50", math.nan, -math.inf], "min: 10"),
    ("max", {"max": 50}, [50, -3, 49.5], [51, 50.0001, "5", True, math.inf, math.nan], "max: 50"),
    ("min-float", {"min": 0.5}, [0.5, 1], [0, 0.49], "min: 0.5"),
    ("min_length", {"min_length": 2}, ["ab", [1, 2], "ñé"], ["a", [1], 12, {"a": 1, "b": 2}],
     "min_length: 2"),
    ("max_length", {"max_length": 2}, ["", "ab", [1, 2]], ["abc", [1, 2, 3], 1], "max_length: 2"),
    ("pattern", {"pattern": "^T-[0-9]{1,8}$"}, ["T-1", "T-12345678"], ["T-", "T-123456789", "xT-1",
     "T-1\n", 1], 'pattern: "^T-[0-9]{1,8}$"'),
    ("pattern-full-match", {"pattern": "[a-z]+"}, ["abc"], ["abc1", "1abc", "ab c", ""],
     'pattern: "[a-z]+"'),
    ("starts_with", {"starts_with": "ORD-"}, ["ORD-1", "ORD-"], ["ord-1", " ORD-1", 5],
     'starts_with: "ORD-"'),
    ("starts_with-list", {"starts_with": ["a/", "b/"]}, ["a/x", "b/"], ["c/", "ab/"],
     'starts_with: ["a/", "b/"]'),
    ("path_within", {"path_within": "/srv/data"}, ["/srv/data", "/srv/data/x/y.txt"], ["/srv/other",
     "/srv/data-evil", 3], 'path_within: "/srv/data"'),
    ("path_within-list", {"path_within": ["/a", "/b/c"]}, ["/a/x", "/b/c/d"], ["/b/x", "/c"],
     'path_within: ["/a", "/b/c"]'),
    ("url", {"url": {"schemes": ["https"], "hosts": ["api.example.com"]}},
     ["https://api.example.com/v1"], ["http://api.example.com/", "https://other.com/"],
     'url: {"schemes": ["https"], "hosts": ["api.example.com"]}'),
    ("each", {"each": {"type": "integer"}}, [[], [1, 2]], ["12", {"0": 1}], 'each: {"type": "integer"}'),
    ("fields", {"fields": {"id": {"type": "string"}}}, [{}, {"id": "x"}], [[], "x"],
     'fields: {"id": {"type": "string"}}'),
    ("any_of", {"any_of": [{"type": "integer"}, {"pattern": "x+"}]}, [3, "xxx"], ["y", 1.5, True],
     'any_of: [{"type": "integer"}, {"pattern": "x+"}]'),
    ("not", {"not": {"one_of": ["root", "admin"]}}, ["bob", 1], ["root", "admin"],
     'not: {"one_of": ["root", "admin"]}'),
    ("empty", {}, ["anything", 1, [1], {"a": None}], [], ""),
]


@pytest.mark.parametrize(
    ("spec", "allowed", "denied", "written"),
    [pytest.param(*row[1:], id=row[0]) for row in KINDS],
)
def test_constraint_kind(spec: Any, allowed: list[Any], denied: list[Any], written: str) -> None:
    guard = guard_for({"a": spec})
    for value in allowed:
        decision = decide(guard, "f", {"a": value})
        assert decision.allowed, (value, decision)
        assert rule_agrees(rule(spec), value)
    for value in denied:
        decision = decide(guard, "f", {"a": value})
        assert not decision.allowed, value
        assert decision.denial is not None
        assert decision.denial.code is DenialCode.ARGUMENT_INVALID
        assert decision.denial.argument == "a"
        assert decision.denial.constraint == written
        assert not rule_agrees(rule(spec), value)


def test_every_key_of_one_mapping_must_hold() -> None:
    guard = guard_for({"a": {"type": "string", "min_length": 2, "starts_with": "x", "not": {"equals": "xx"}}})
    assert decide(guard, "f", {"a": "xyz"}).allowed
    for value, written in [(5, 'type: "string"'), ("x", "min_length: 2"), ("yy", 'starts_with: "x"'),
                           ("xx", 'not: {"equals": "xx"}')]:
        denial = decide(guard, "f", {"a": value}).denial
        assert denial is not None and denial.constraint == written


def test_required_present_and_missing() -> None:
    guard = guard_for({"a": {"required": True}, "b": {}})
    assert decide(guard, "f", {"a": 0}).allowed
    assert decide(guard, "f", {"a": ""}).allowed
    assert decide(guard, "f", {"a": False, "b": None}).allowed
    for args in ({}, {"a": None}, {"b": 1}):
        denial = decide(guard, "f", args).denial
        assert denial is not None
        assert denial.code is DenialCode.ARGUMENT_MISSING
        assert denial.argument == "a"
        assert denial.constraint == "required: true"


def test_required_with_other_constraints() -> None:
    guard = guard_for({"a": {"type": "integer", "max": 3, "required": True}})
    assert decide(guard, "f", {"a": 3}).allowed
    assert decide(guard, "f", {}).denial.code is DenialCode.ARGUMENT_MISSING  # type: ignore[union-attr]
    assert decide(guard, "f", {"a": 4}).denial.constraint == "max: 3"  # type: ignore[union-attr]


def test_null_counts_as_absent() -> None:
    guard = guard_for({"a": {"type": "integer", "min": 5}, "b": {"equals": "x"}})
    assert decide(guard, "f", {"a": None, "b": None}).allowed
    assert decide(guard, "f", {}).allowed
    # equals: null and type: null accept null (absent) and nothing else
    guard = guard_for({"a": {"equals": None}, "b": {"type": "null"}})
    assert decide(guard, "f", {"a": None, "b": None}).allowed
    assert not decide(guard, "f", {"a": 0}).allowed
    assert not decide(guard, "f", {"b": ""}).allowed


def test_each_names_the_item_path() -> None:
    guard = guard_for({"tags": {"each": {"pattern": "[a-z]+"}, "max_length": 3}})
    assert decide(guard, "f", {"tags": ["a", "bc"]}).allowed
    denial = decide(guard, "f", {"tags": ["ok", "OK"]}).denial
    assert denial is not None
    assert denial.argument == "tags.1"
    assert denial.constraint == 'pattern: "[a-z]+"'
    denial = decide(guard, "f", {"tags": ["a", "b", "c", "d"]}).denial
    assert denial is not None and denial.constraint == "max_length: 3" and denial.argument == "tags"


def test_each_items_are_values_not_absent() -> None:
    # Inside an array, a null is an item like any other: `each: {type: string}` denies it.
    guard = guard_for({"xs": {"each": {"type": "string"}}})
    denial = decide(guard, "f", {"xs": ["a", None]}).denial
    assert denial is not None and denial.argument == "xs.1"


def test_fields_same_rules_as_args() -> None:
    spec = {"fields": {
        "id": {"pattern": "C-[0-9]+", "required": True},
        "address": {"fields": {"country": ["DE", "FR"]}},
        "note": {},
    }}
    guard = guard_for({"customer": spec})
    assert decide(guard, "f", {"customer": {"id": "C-1"}}).allowed
    assert decide(guard, "f", {"customer": {"id": "C-1", "address": {"country": "FR"}, "note": 3}}).allowed
    cases = [
        ({"id": "C-1", "extra": 1}, DenialCode.ARGUMENT_NOT_ALLOWED, "customer.extra", None),
        ({"note": "x"}, DenialCode.ARGUMENT_MISSING, "customer.id", "required: true"),
        ({"id": None}, DenialCode.ARGUMENT_MISSING, "customer.id", "required: true"),
        ({"id": "X-1"}, DenialCode.ARGUMENT_INVALID, "customer.id", 'pattern: "C-[0-9]+"'),
        ({"id": "C-1", "address": {"country": "US"}}, DenialCode.ARGUMENT_INVALID,
         "customer.address.country", 'one_of: ["DE", "FR"]'),
        ({"id": "C-1", "address": {"city": "x"}}, DenialCode.ARGUMENT_NOT_ALLOWED,
         "customer.address.city", None),
    ]
    for value, code, path, written in cases:
        denial = decide(guard, "f", {"customer": value}).denial
        assert denial is not None, value
        assert (denial.code, denial.argument, denial.constraint) == (code, path, written)


def test_any_of_and_not_nest() -> None:
    spec = {"any_of": [{"not": {"type": "string"}}, {"starts_with": "ok"}]}
    guard = guard_for({"a": spec})
    assert decide(guard, "f", {"a": 1}).allowed
    assert decide(guard, "f", {"a": "ok!"}).allowed
    assert not decide(guard, "f", {"a": "no"}).allowed
    guard = guard_for({"a": {"not": {"not": {"equals": 1}}}})
    assert decide(guard, "f", {"a": 1}).allowed
    assert not decide(guard, "f", {"a": 2}).allowed


def test_empty_constraint_allows_any_value_but_not_other_args() -> None:
    guard = guard_for({"a": {}})
    assert decide(guard, "f", {"a": {"deep": [1, {"x": None}]}}).allowed
    denial = decide(guard, "f", {"a": 1, "b": 2}).denial
    assert denial is not None and denial.code is DenialCode.ARGUMENT_NOT_ALLOWED and denial.argument == "b"


def test_allow_other_args() -> None:
    guard = guard_for({"a": {"max": 5}}, allow_other_args=True)
    assert decide(guard, "f", {"a": 5, "b": "anything", "c": [1]}).allowed
    denial = decide(guard, "f", {"a": 6, "b": 1}).denial
    assert denial is not None and denial.argument == "a" and denial.constraint == "max: 5"


def test_tool_without_args_denies_every_argument() -> None:
    for grant in (None, {}, {"args": {}}):
        from guardrail import Guard, MemoryStore
        from tests.support.decisions import manifest

        guard = Guard(manifest({"ping": grant}), store=MemoryStore())
        assert decide(guard, "ping", {}).allowed
        assert decide(guard, "ping", None).allowed
        denial = decide(guard, "ping", {"x": 1}).denial
        assert denial is not None and denial.code is DenialCode.ARGUMENT_NOT_ALLOWED


def test_path_within_accepts_pathlike_and_string_root_with_trailing_slash() -> None:
    guard = guard_for({"p": {"path_within": "/srv/data/"}})
    assert decide(guard, "f", {"p": "/srv/data/a"}).allowed
    assert decide(guard, "f", {"p": PurePosixPath("/srv/data/a")}).allowed
    assert not decide(guard, "f", {"p": PurePosixPath("/srv/x")}).allowed


def test_url_defaults_allow_any_host_on_http_and_https() -> None:
    guard = guard_for({"u": {"url": {}}})
    assert decide(guard, "f", {"u": "https://anything.example.org/x?y=1"}).allowed
    assert decide(guard, "f", {"u": "http://10.0.0.1:8080/"}).allowed
    assert not decide(guard, "f", {"u": "ftp://example.org/"}).allowed
    assert not decide(guard, "f", {"u": "file:///etc/passwd"}).allowed


def test_url_host_with_port() -> None:
    guard = guard_for({"u": {"url": {"hosts": ["api.example.com:8443", "www.example.com"]}}})
    assert decide(guard, "f", {"u": "https://api.example.com:8443/x"}).allowed
    assert not decide(guard, "f", {"u": "https://api.example.com/x"}).allowed
    assert not decide(guard, "f", {"u": "https://api.example.com:8444/x"}).allowed
    assert decide(guard, "f", {"u": "https://www.example.com:443/"}).allowed
    assert decide(guard, "f", {"u": "http://www.example.com:80/"}).allowed
    assert not decide(guard, "f", {"u": "https://www.example.com:80/"}).allowed


def test_url_path_prefix() -> None:
    guard = guard_for({"u": {"url": {"hosts": ["x.com"], "path_prefix": "/api/v1"}}})
    assert decide(guard, "f", {"u": "https://x.com/api/v1"}).allowed
    assert decide(guard, "f", {"u": "https://x.com/api/v1/orders?id=1"}).allowed
    for bad in ["https://x.com/api/v2", "https://x.com/api/v1x", "https://x.com/",
                "https://x.com/api/v1/../v2", "https://x.com/api/v1/%2e%2e/v2",
                "https://x.com/api/v1/%2E%2E/v2", "https://x.com/api/v1%2f..%2fv2",
                "https://x.com/api/v1/..%5cv2"]:
        assert not decide(guard, "f", {"u": bad}).allowed, bad
