"""Numbers too large for a float are invalid arguments, never an internal error (issue 11, item 8)."""

from __future__ import annotations

from typing import Any

import pytest

from guardrail import DenialCode, Guard, MemoryStore
from guardrail.testing import task_id

HUGE = [10**400, 10**5000, -(10**400)]
HUGE_IDS = ["1e400", "1e5000", "-1e400"]


def _guard() -> Guard:
    manifest: dict[str, Any] = {
        "task": task_id("num"), "ttl": "5m",
        "tools": {
            "spend": {"args": {"amount": {}}, "budget": {"sum": {"amount": 100}}},
            "bounded": {"args": {"n": {"min": 0, "max": 50}, "x": {"type": "number", "max": 1e308},
                                 "i": {"type": "integer", "min": -5}}},
        },
    }
    return Guard(manifest, store=MemoryStore())


@pytest.mark.parametrize("value", HUGE, ids=HUGE_IDS)
def test_a_huge_integer_for_a_summed_argument_is_argument_invalid(value: int) -> None:
    guard = _guard()
    for decide in (guard.check, guard.authorize):
        decision = decide("spend", {"amount": value})
        assert decision.denial is not None
        assert decision.denial.code is DenialCode.ARGUMENT_INVALID, decision.denial
        assert decision.denial.argument == "amount"
    assert guard.authorize("spend", {"amount": 100}).allowed  # nothing was charged


@pytest.mark.parametrize("value", HUGE, ids=HUGE_IDS)
@pytest.mark.parametrize("arg", ["n", "x", "i"])
def test_huge_integers_against_bounds_are_argument_invalid(value: int, arg: str) -> None:
    decision = _guard().check("bounded", {arg: value})
    if (arg == "i" and value > 0) or (arg == "x" and value < 0):
        assert decision.allowed  # only one bound, on the other side: the value is within it
        return
    assert decision.denial is not None
    assert decision.denial.code is DenialCode.ARGUMENT_INVALID, decision.denial


@pytest.mark.parametrize("value", [1e308, 1.7976931348623157e308])
def test_float_sums_that_overflow_exhaust_the_budget_instead_of_failing(value: float) -> None:
    guard = _guard()
    decision = guard.authorize("spend", {"amount": value})
    assert decision.denial is not None
    assert decision.denial.code is DenialCode.BUDGET_EXHAUSTED
