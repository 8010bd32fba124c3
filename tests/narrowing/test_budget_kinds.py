"""Narrowing with per-value, distinct and windowed budgets: proven only by a child budget at
least as strict that counts the same calls; otherwise unprovable, never narrower (and a child
delegated at run time may not ask for more than its parent has)."""

from __future__ import annotations

from typing import Any

import pytest

from guardrail import Guard, ManifestError, MemoryStore, narrower
from guardrail.testing import task_id

PARENT: dict[str, Any] = {
    "task": "parent", "ttl": "1d", "budget": {"calls": 100, "window": "1h"},
    "tools": {
        "pay": {"args": {"to": {}, "amount": {}},
                "budget": {"calls": 2, "sum": {"amount": 100}, "per": "to", "window": "1h"}},
        "mail": {"args": {"to": {}}, "budget": {"distinct": {"to": 3}}},
    },
}


def child(tools: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"task": "child", "ttl": "1h", "tools": tools, **top}


def findings(report: Any) -> dict[str, str]:
    return {f"{f.where} {f.check}": f.status for f in report.findings if "budget" in f.where}


PAY = {"args": {"to": {}, "amount": {}}}
MAIL = {"args": {"to": {}}}


@pytest.mark.parametrize(("tools", "top"), [
    # the same budgets
    ({"pay": {**PAY, "budget": PARENT["tools"]["pay"]["budget"]},
      "mail": {**MAIL, "budget": {"distinct": {"to": 3}}}}, {"budget": {"calls": 100, "window": "1h"}}),
    # stricter in every way: totals bound every value's share, every window, every value count
    ({"pay": {**PAY, "budget": {"calls": 1, "sum": {"amount": 50}}},
      "mail": {**MAIL, "budget": {"calls": 3}}}, {"budget": {"calls": 10}}),
    # a longer window, no per (all values together), fewer values
    ({"pay": {**PAY, "budget": {"calls": 2, "sum": {"amount": 100}, "window": "1h"}},
      "mail": {**MAIL, "budget": {"distinct": {"to": 1}}}}, {"budget": {"calls": 5, "window": "1h"}}),
])
def test_stricter_children_are_narrower(tools: dict[str, Any], top: dict[str, Any]) -> None:
    report = narrower(child(tools, **top), PARENT)
    assert report.verdict == "narrower", report.findings
    assert set(findings(report).values()) == {"ok"}


@pytest.mark.parametrize("tools", [
    {"pay": {**PAY, "budget": {"calls": 3, "sum": {"amount": 100}, "per": "to", "window": "1h"}}},
    {"pay": {**PAY, "budget": {"calls": 2, "sum": {"amount": 100}, "per": "amount", "window": "1h"}}},
    {"pay": {**PAY, "budget": {"calls": 2, "sum": {"amount": 100}, "per": "to", "window": "30m"}}},
    {"pay": PAY},
    {"mail": {**MAIL, "budget": {"distinct": {"to": 4}}}},
    {"mail": {**MAIL, "budget": {"calls": 3, "per": "to"}}},  # any number of values
])
def test_anything_else_is_unprovable_never_narrower(tools: dict[str, Any]) -> None:
    parent = {k: v for k, v in PARENT.items() if k != "budget"}
    report = narrower(child(tools), parent)
    assert report.verdict == "unprovable", report.findings
    assert "unprovable" in findings(report).values()
    assert "wider" not in findings(report).values()


def test_a_windowed_child_against_a_plain_parent_is_not_called_wider() -> None:
    # 3 per 30 minutes over an hour is 6 > 5, but the plain analysis cannot tell: unprovable
    parent = {"task": "p", "ttl": "1d", "tools": {"s": {"args": {"q": {}}, "budget": {"calls": 5}}}}
    report = narrower(child({"s": {"args": {"q": {}}, "budget": {"calls": 3, "window": "30m"}}}),
                      parent)
    assert report.verdict == "unprovable"


def test_delegate_refuses_a_child_asking_for_more_than_is_left() -> None:
    parent = {**PARENT, "task": task_id("parent"),
              "tools": {**PARENT["tools"], "s": {"args": {"q": {}}, "budget": {"calls": 5}}}}
    guard = Guard(parent, store=MemoryStore())
    for to in ("a", "b"):
        assert guard.authorize("mail", {"to": to}).allowed
    assert guard.authorize("s", {"q": "x"}).allowed

    def refused(tools: dict[str, Any]) -> str:
        with pytest.raises(ManifestError) as info:
            guard.delegate({"ttl": "1h", "tools": tools})
        return str(info.value)

    assert "at most 3 calls per to in any 1h but task" in refused(
        {"pay": {**PAY, "budget": {"calls": 3, "per": "to", "window": "1h"}}})
    assert "1 of them left (2 used)" in refused({"mail": {**MAIL, "budget": {"distinct": {"to": 2}}}})
    assert "tools.s.calls 5 with 4 left (1 used)" in refused(
        {"s": {"args": {"q": {}}, "budget": {"calls": 5, "window": "1h"}}})
    # within what is left
    guard.delegate({"ttl": "1h", "tools": {
        "pay": {**PAY, "budget": {"calls": 1, "per": "to", "window": "30m"}},
        "mail": {**MAIL, "budget": {"distinct": {"to": 1}}},
        "s": {"args": {"q": {}}, "budget": {"calls": 4, "window": "1h"}},
    }})
