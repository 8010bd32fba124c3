"""Value digests of per-value and distinct budgets: equal JSON values share one, different ones
never do, and what is not JSON data has none (the call is denied)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guardrail._policy._budgets import BudgetRule, duration_text, per_scope, value_digest


@pytest.mark.parametrize(("a", "b"), [
    (1, 1.0), (0, -0.0), ({"b": 1, "a": [1, 2]}, {"a": [1.0, 2], "b": 1}), ((1, "x"), [1, "x"]),
    (10**30, 10**30),
])
def test_equal_values_share_a_digest(a: Any, b: Any) -> None:
    assert value_digest(a) == value_digest(b) is not None


@pytest.mark.parametrize(("a", "b"), [
    (1, True), (0, False), (1, "1"), (None, "null"), ("a", "A"), (1.5, 1), ([1], 1), ({"1": 1}, [1]),
])
def test_different_values_never_share_one(a: Any, b: Any) -> None:
    assert value_digest(a) != value_digest(b)


@pytest.mark.parametrize("value", [math.nan, math.inf, {1: "x"}, object(), {"a": {math.nan}},
                                   b"bytes", [set()]])
def test_what_is_not_json_data_has_no_digest(value: Any) -> None:
    assert value_digest(value) is None


def test_deep_nesting_has_no_digest_rather_than_a_crash() -> None:
    value: Any = "x"
    for _ in range(200):
        value = [value]
    assert value_digest(value) is None


def test_a_lone_surrogate_has_a_digest() -> None:
    assert value_digest("\ud800") not in (None, value_digest("\ufffd"))


@given(st.text())
def test_strings_digest_stably_and_briefly(text: str) -> None:
    digest = value_digest(text)
    assert digest is not None and len(digest) == 32 and digest == value_digest(str(text))
    # The key holds the digest and nothing of the value (the digest is hex, which may contain it).
    assert per_scope("tools.t.calls", "to", digest) == f"tools.t.calls[to={digest}]"


def test_rules_describe_themselves() -> None:
    rule = BudgetRule("tools.pay.distinct.to", "distinct", "to", 2, "account", 3600.0)
    assert rule.describe() == "at most 2 different values of to per account in any 1h"
    assert BudgetRule("calls", "calls", None, 1, None, 90.0).describe() == "at most 1 call in any 90s"
    assert duration_text(0.5) == "0.5s" and duration_text(86400 * 2) == "2d"
