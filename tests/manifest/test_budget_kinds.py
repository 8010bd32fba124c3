"""Budgets with `per`, `distinct`, `window` and `refund_on_error`: what a manifest may say, the
errors that name what is wrong and where, and the YAML they are written back as."""

from __future__ import annotations

from typing import Any

import pytest

from guardrail import Guard, Manifest, ManifestError, MemoryStore
from guardrail.testing import task_id


def load(tools: dict[str, Any], **top: Any) -> Manifest:
    return Manifest.model_validate({"task": task_id("kinds"), "ttl": "1d", "tools": tools, **top})


def problems(tools: dict[str, Any], **top: Any) -> str:
    with pytest.raises(ManifestError) as info:
        load(tools, **top)
    return str(info.value)


def test_the_new_budget_kinds_load_and_compile() -> None:
    m = load({"pay": {"args": {"to": {}, "amount": {}}, "refund_on_error": True,
                      "budget": {"calls": 1, "sum": {"amount": 50}, "per": "to",
                                 "distinct": {"amount": 3}, "window": "1h"}}},
             budget={"calls": 10, "window": "30m"})
    tool = m.compiled().tools["pay"]
    assert tool.refund_on_error and tool.budgeted and not tool.direct
    assert not tool.call_scopes and not tool.sum_scopes  # every limit is a rule
    assert {(r.scope, r.kind, r.per, r.window) for r in tool.rules} == {
        ("calls", "calls", None, 1800.0),
        ("tools.pay.calls", "calls", "to", 3600.0),
        ("tools.pay.sum.amount", "sum", "to", 3600.0),
        ("tools.pay.distinct.amount", "distinct", "to", 3600.0),
    }
    assert tool.features == {"window", "distinct"}
    assert tool.budget_args == {"amount", "to"}


def test_a_plain_budget_compiles_as_before() -> None:
    tool = load({"t": {"args": {"a": {}}, "budget": {"calls": 2, "sum": {"a": 3}}}}).compiled().tools["t"]
    assert tool.call_scopes == (("tools.t.calls", 2),)
    assert tool.sum_scopes == (("a", "tools.t.sum.a", 3),)
    assert tool.rules == () and tool.features == frozenset()


@pytest.mark.parametrize(("budget", "expected"), [
    ({"calls": 1, "per": "too"}, "budget.per names argument 'too', which args does not grant"),
    ({"distinct": {"too": 2}}, "budget.distinct.too names argument 'too'"),
    ({"distinct": {"to": 0}}, "greater than or equal to 1"),
    ({"distinct": {"to": -1}}, "greater than or equal to 1"),
    ({"distinct": {"to": True}}, "valid integer"),
    ({"distinct": {"to": 2.5}}, "valid integer"),
    ({"calls": True}, "valid integer"),
    ({"calls": -1}, "greater than or equal to 0"),
    ({"sum": {"to": float("nan")}, "per": "to"}, "greater than or equal to 0"),
    ({"per": "to"}, "per needs a limit"),
    ({"window": "1h"}, "window needs a limit"),
    ({"calls": 1, "window": "0s"}, "positive"),
    ({"calls": 1, "window": -5}, "greater than 0"),
    ({"calls": 1, "window": True}, "window"),
    ({"calls": 1, "window": "soon"}, "invalid duration"),
    ({"calls": 1, "window": "2d"}, "longer than the manifest's lifetime"),
    ({"calls": 1, "per": "to", "distinct": {"to": 2}}, "always has one value"),
])
def test_bad_budgets_are_refused_naming_where(budget: dict[str, Any], expected: str) -> None:
    text = problems({"pay": {"args": {"to": {}}, "budget": budget}})
    assert expected in text
    assert "tools.pay" in text


@pytest.mark.parametrize("key", ["per", "distinct"])
def test_per_and_distinct_belong_on_a_tool(key: str) -> None:
    budget = {"calls": 3, "per": "to"} if key == "per" else {"distinct": {"to": 2}}
    text = problems({"pay": {"args": {"to": {}}}}, budget=budget)
    assert f"budget.{key}: a per-value or distinct budget belongs on a tool grant" in text


def test_a_task_window_no_longer_than_the_lifetime() -> None:
    assert "budget.window" in problems({"t": None}, budget={"calls": 3, "window": "25h"})
    load({"t": None}, budget={"calls": 3, "window": "24h"})  # exactly the lifetime


def test_errors_name_the_line() -> None:
    text = """\
task: t
ttl: 1h
tools:
  pay:
    args: {to: {}}
    budget:
      calls: 1
      per: payee
"""
    with pytest.raises(ManifestError) as info:
        Manifest.from_yaml(text, source="m.yaml")
    assert "tools.pay (line 4)" in str(info.value)
    assert "payee" in str(info.value)


def test_with_allow_other_args_wrap_checks_the_signature() -> None:
    m = load({"pay": {"allow_other_args": True,
                      "budget": {"calls": 1, "per": "payee", "distinct": {"iban": 2}}}})
    guard = Guard(m, store=MemoryStore())

    def pay(to: str, iban: str) -> None: ...

    with pytest.raises(ManifestError) as info:
        guard.wrap(pay)
    assert "tools.pay.budget.per: " in str(info.value)
    assert "pay() has no argument 'payee'" in str(info.value)

    def pay2(payee: str, iban: str) -> None: ...

    guard.wrap(pay2, name="pay")

    def pay3(**kwargs: Any) -> None: ...

    guard.wrap(pay3, name="pay")  # takes anything


def test_refund_on_error_is_a_boolean() -> None:
    assert "refund_on_error" in problems({"t": {"refund_on_error": "yes"}})


class PlainStore(MemoryStore):
    """A store that does not declare the new features (as one written before them)."""

    budget_features = frozenset()  # type: ignore[assignment]


def test_a_store_without_the_features_is_refused_clearly() -> None:
    m = load({"s": {"args": {"q": {}}, "budget": {"calls": 1, "window": "1h"}},
              "p": {"args": {"q": {}}, "budget": {"distinct": {"q": 1}}}})
    with pytest.raises(ManifestError, match=r"PlainStore does not support distinct values .* or "
                                            r"rolling windows"):
        Guard(m, store=PlainStore())
    # a manifest without them works with it
    Guard(load({"s": {"args": {"q": {}}, "budget": {"calls": 1}}}), store=PlainStore())


def test_to_yaml_round_trips_the_new_keys() -> None:
    m = load({"pay": {"args": {"to": {}, "amount": {}}, "refund_on_error": True,
                      "budget": {"calls": 1, "sum": {"amount": 50}, "per": "to",
                                 "distinct": {"amount": 3}, "window": "1h"}}},
             budget={"calls": 10, "window": 1800})
    text = m.to_yaml()
    assert "refund_on_error: true" in text and "window: 1h" in text and "per: to" in text
    again = Manifest.from_yaml(text)
    assert again.compiled().tools["pay"].rules == m.compiled().tools["pay"].rules
    assert again.digest == m.digest


def test_json_schema_knows_the_new_keys() -> None:
    schema = Manifest.json_schema()
    text = repr(schema)
    for key in ("per", "distinct", "window", "refund_on_error"):
        assert f"'{key}'" in text


def test_an_expired_manifest_without_a_window_still_loads() -> None:
    Manifest.model_validate({"task": "t", "issued_at": "2020-01-01T00:00:00Z",
                             "expires_at": "2020-01-01T00:00:00.5Z",
                             "tools": {"t": {"budget": {"calls": 1}}}})
