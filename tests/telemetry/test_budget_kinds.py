"""Per-value and distinct budgets in telemetry: spans and metrics carry the digest of a value,
never the value, unless the guard records values."""

from __future__ import annotations

from typing import Any

import pytest

from guardrail import BudgetExhausted
from guardrail.testing import task_id
from tests.telemetry.support import Telemetry

SECRET = "GB29NWBK60161331926819"


def manifest() -> dict[str, Any]:
    return {"task": task_id("tel-kinds"), "ttl": "1h", "tools": {
        "pay": {"args": {"iban": {}}, "budget": {"calls": 1, "per": "iban"}},
        "mail": {"args": {"to": {}}, "budget": {"distinct": {"to": 1}}},
    }}


@pytest.mark.parametrize("record_values", [False, True])
def test_spans_hold_digests_not_values(tel: Telemetry, record_values: bool) -> None:
    guard = tel.guard(manifest(), record_values=record_values)
    pay = guard.wrap(lambda iban: iban, name="pay")
    pay(SECRET)
    with pytest.raises(BudgetExhausted):
        pay(SECRET)
    mail = guard.wrap(lambda to: to, name="mail")
    mail("a@example.com")
    with pytest.raises(BudgetExhausted):
        mail(SECRET)
    text = repr([dict(s.attributes or {}) for s in tel.spans()])
    text += repr([e.attributes for s in tel.spans() for e in s.events])
    text += repr(tel.metrics())
    assert "tools.pay.calls[iban=" in text
    assert (SECRET in text) is record_values  # only as a recorded argument value
