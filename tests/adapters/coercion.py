"""What issue 11 item 1 tests in every adapter: a constraint that denies values, JSON forms a lax
parser turns into them, and the property that no denied value reaches the tool.

Each adapter's tool `act(user_id: int, flag: bool, amount: float)` runs under `GRANT`; whatever
JSON the model sends for those arguments, the values the tool receives must satisfy `GRANT`.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

GRANT: dict[str, Any] = {
    "args": {
        "user_id": {"not_one_of": [0, 1]},
        "flag": {"not_one_of": [True]},
        "amount": {"not": {"min": 100}},
    }
}

GOOD: dict[str, Any] = {"user_id": 7, "flag": False, "amount": 5}
"""Arguments `GRANT` allows."""

DENIED_FORMS: list[tuple[str, Any]] = [
    ("user_id", 0), ("user_id", "0"), ("user_id", " 1 "), ("user_id", 1.0), ("user_id", "1"),
    ("flag", True), ("flag", "true"), ("flag", "yes"), ("flag", 1), ("flag", "on"),
    ("amount", 1000), ("amount", "1000"), ("amount", " 1e3 "), ("amount", "100.0"),
]
"""(argument, a JSON form of a value `GRANT` denies that a lax (pydantic) parser coerces to it)."""

_TRICKY = st.sampled_from([
    "0", " 0 ", "00", "+0", "-0", "0.0", "0e0", "1", " 1 ", "01", "1.0", "true", "True", "yes", "on",
    "y", "t", "false", "no", "100", "1000", " 1000 ", "1e3", "100.0", "1_000", "\t100\n", "99.99",
])
_SCALARS = st.sampled_from([0, 1, 0.0, 1.0, -0.0, True, False, 100, 100.0, 1000, 99.99, -5, 7])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=4,
)
FORMS = st.one_of(_TRICKY, _SCALARS, st.integers(-3, 3).map(lambda n: f" {n} "), _JSON)
"""Any JSON value, weighted towards the forms that coerce to the values `GRANT` denies."""


def never_denied(received: dict[str, Any]) -> None:
    """The property: whatever the tool received, no constraint of `GRANT` denies it."""
    assert received["user_id"] not in (0, 1), received
    assert received["flag"] is not True, received
    assert not received["amount"] >= 100, received
