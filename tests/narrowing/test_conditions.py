"""`narrower` and `when`: a parent's condition is proven only when the child repeats each of its
`&&` clauses; anything else is unprovable, never narrower."""

from __future__ import annotations

from typing import Any

import pytest

from guardrail import narrower
from guardrail._narrowing._conditions import conjuncts, implies

PARENT = "args.amount <= 100.0 && args.currency == 'EUR'"


def manifest(task: str, when: str | None, **args: Any) -> dict[str, Any]:
    grant: dict[str, Any] = {"args": args or {"amount": {"type": "number"}, "currency": {}}}
    if when is not None:
        grant["when"] = when
    return {"task": task, "ttl": "10m", "tools": {"pay": grant}}


def finding(report: Any) -> Any:
    (found,) = [f for f in report.findings if f.where == "tools.pay.when"]
    return found


@pytest.mark.parametrize("child", [
    PARENT,
    "args.currency == 'EUR' && args.amount <= 100.0",  # order
    "args.amount<=100.0&&args.currency=='EUR'",  # spacing
    f"({PARENT}) && args.amount >= 1.0",  # more clauses
    f"tool == 'pay' && ({PARENT})",
])
def test_a_child_that_repeats_every_clause_is_narrower(child: str) -> None:
    report = narrower(manifest("child", child), manifest("parent", PARENT))
    assert finding(report).status == "ok"
    assert report.verdict == "narrower"


@pytest.mark.parametrize("child", [
    "args.amount <= 50.0 && args.currency == 'EUR'",  # narrower in fact, but not proven
    "args.amount <= 100.0",  # drops a clause
    f"{PARENT} || tool == 'pay'",  # wider
    "args.amount <= 100.0 || args.currency == 'EUR' && true",
])
def test_any_other_child_condition_is_unprovable(child: str) -> None:
    report = narrower(manifest("child", child), manifest("parent", PARENT))
    found = finding(report)
    assert found.status == "unprovable" and found.check == f"when: {PARENT}"
    assert "still binds every call at run time" in found.detail
    assert report.verdict == "unprovable"


def test_a_child_that_drops_the_condition_is_unprovable_and_told_it_still_binds() -> None:
    report = narrower(manifest("child", None), manifest("parent", PARENT))
    found = finding(report)
    assert found.status == "unprovable"
    assert found.detail.startswith("the child drops the condition: the parent's condition still "
                                   "binds every call at run time")
    assert report.verdict == "unprovable" and not report.narrower


def test_a_child_condition_under_a_parent_without_one_only_narrows() -> None:
    report = narrower(manifest("child", "args.amount <= 5.0"), manifest("parent", None))
    assert finding(report).status == "ok" and report.verdict == "narrower"
    assert not [f for f in narrower(manifest("c", None), manifest("p", None)).findings
                if f.where == "tools.pay.when"]


def test_a_counterexample_must_pass_the_childs_condition() -> None:
    # The child's args are wider (any currency), but its condition pins the currency: the
    # counterexample search finds no call the child allows that the parent denies.
    parent = manifest("parent", None, amount={"type": "number"}, currency=["EUR"])
    child = manifest("child", "args.currency == 'EUR'", amount={"type": "number"},
                     currency={"required": True})
    report = narrower(child, parent)
    args = [f for f in report.findings if f.where == "tools.pay.args.currency"]
    assert args and all(f.status != "wider" for f in args)
    # Without the condition the same child is wider, with a counterexample.
    child["tools"]["pay"].pop("when")
    wider = [f for f in narrower(child, parent).findings if f.where == "tools.pay.args.currency"]
    assert any(f.status == "wider" and f.has_counterexample for f in wider)


def test_conjuncts_respect_strings_brackets_and_precedence() -> None:
    assert conjuncts("a && (b && c)") == {"a", "b", "c"}
    assert conjuncts("args.s == 'x && y' && b") == {"args.s=='x && y'", "b"}
    assert conjuncts("a || b && c") == {"a||b&&c"}  # && binds tighter: not a top-level split
    assert conjuncts("a ? b : c && d") == {"a?b:c&&d"}
    assert conjuncts("f(a && b) && c") == {"f(a&&b)", "c"}
    # Whitespace between words is kept: `args.x in args.y` is not `args.xinargs.y`.
    assert not implies("args.xinargs.y", "args.x in args.y")
    assert implies("args.x  in  args.y && z", "args.x in args.y")
