"""Exact budget arithmetic: every store counts sums in integer units of 10**-9.

A float would lose charges: past 2**53 adding 1 changes nothing, so a spent `sum: 1e16` budget
would keep allowing calls of 1, and `2**53 + 1` would fit a limit of `2**53`. Every store instead
counts whole units of a billionth (Python integers, decimal strings in SQLite and Redis), so sums
of any size are exact. A float is read as the decimal it prints as (`0.1` is one tenth, as the
JSON or YAML that carried it said); digits beyond the ninth decimal place round the amount up
and the limit down, so rounding can only make a budget stricter, never looser.
"""

from __future__ import annotations

import math
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_CEILING, ROUND_FLOOR, Context, Decimal

__all__ = ["SCALE", "amount_units", "limit_units", "to_number"]

PLACES = 9
SCALE: int = 10**PLACES
# Wide enough that shifting a Decimal never rounds.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _units(value: object, rounding: str) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value) * SCALE
    if isinstance(value, float):
        number = float(value)
        if not math.isfinite(number):
            return None
        if number.is_integer():
            return int(number) * SCALE
        # repr is the shortest decimal that reads back as this float: what was written
        return _shifted(Decimal(repr(number)), rounding)
    if isinstance(value, Decimal) and value.is_finite():
        return _shifted(value, rounding)
    return None


def _shifted(value: Decimal, rounding: str) -> int:
    return int(value.scaleb(PLACES, _EXACT).to_integral_value(rounding=rounding))


# Limits and common amounts repeat call after call: remember their units (bounded). Keyed by
# type too, so that True never passes for 1 and an int subclass never for an int.
_UP: dict[tuple[type, object], int | None] = {}
_DOWN: dict[tuple[type, object], int | None] = {}  # (see _remember)


def amount_units(value: object) -> int | None:
    """An amount in units, rounded up; None when it is not a finite number >= 0 (never fits)."""
    key = (type(value), value)
    try:
        return _UP[key]
    except (KeyError, TypeError):
        pass
    units = _units(value, ROUND_CEILING)
    if units is not None and units < 0:
        units = None
    _remember(_UP, key, units)
    return units


def limit_units(value: object) -> int | None:
    """A limit in units, rounded down; None when it is not a finite number (nothing fits)."""
    key = (type(value), value)
    try:
        return _DOWN[key]
    except (KeyError, TypeError):
        pass
    units = _units(value, ROUND_FLOOR)
    _remember(_DOWN, key, units)
    return units


_Cache = dict[tuple[type, object], int | None]


def _remember(cache: _Cache, key: tuple[type, object], units: int | None) -> None:
    if type(key[1]) in (int, float):  # exact built-ins only: their equality cannot lie
        if len(cache) >= 4096:
            cache.clear()
        cache[key] = units


def to_number(units: int) -> float:
    """Units back as a number for reports (the nearest float: display only)."""
    return float(units / SCALE)
