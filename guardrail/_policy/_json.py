"""What a value is, in JSON's terms: numbers that never include a bool, equality where `True` is
not `1`, and the type atoms the narrowing analysis reasons with."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "ANY",
    "ARR",
    "BOOL",
    "FLT",
    "INT",
    "NUL",
    "NUM",
    "OBJ",
    "STR",
    "TYPE_NAMES",
    "UNHASHABLE",
    "hash_key",
    "is_finite_number",
    "is_integer",
    "strict_equal",
    "type_atoms",
    "value_atoms",
    "variants",
]


def is_finite_number(value: Any) -> bool:
    """int or finite float; never a bool."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def is_integer(value: Any) -> bool:
    """int; never a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def strict_equal(a: Any, b: Any) -> bool:
    """JSON equality: `True` is not `1`, `1` is `1.0`, NaN equals nothing."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return bool(a == b)
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, Mapping):
        return (
            isinstance(b, Mapping)
            and len(a) == len(b)
            and all(k in b and strict_equal(v, b[k]) for k, v in a.items())
        )
    return False


UNHASHABLE = object()


def hash_key(value: Any) -> Any:
    """A set key for a scalar, tagged by JSON type so that a lookup never confuses True with 1;
    `UNHASHABLE` for arrays and objects."""
    if value is None:
        return (0, None)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, str(value))
    return UNHASHABLE


# -- type atoms: what the narrowing analysis knows about the values a constraint allows ----------

STR, INT, FLT, BOOL, ARR, OBJ, NUL = "string", "integer", "float", "boolean", "array", "object", "null"
ANY = frozenset({STR, INT, FLT, BOOL, ARR, OBJ, NUL})
NUM = frozenset({INT, FLT})  # FLT: a number that is not an integer
_TYPE_ATOMS = {
    "string": frozenset({STR}),
    "integer": frozenset({INT}),
    "number": NUM,
    "boolean": frozenset({BOOL}),
    "array": frozenset({ARR}),
    "object": frozenset({OBJ}),
    "null": frozenset({NUL}),
}
TYPE_NAMES = tuple(_TYPE_ATOMS)


def type_atoms(names: str | Sequence[str]) -> frozenset[str]:
    """The atoms of `type: <names>`."""
    as_list = [names] if isinstance(names, str) else list(names)
    return frozenset().union(*(_TYPE_ATOMS[n] for n in as_list))


def value_atoms(value: Any) -> frozenset[str]:
    """The atoms of one value (1 is also 1.0, so an integer is both kinds of number)."""
    if value is None:
        return frozenset({NUL})
    if isinstance(value, bool):
        return frozenset({BOOL})
    if isinstance(value, int):
        return NUM
    if isinstance(value, float):
        return NUM if value.is_integer() else frozenset({FLT})
    if isinstance(value, str):
        return frozenset({STR})
    if isinstance(value, list | tuple):
        return frozenset({ARR})
    return frozenset({OBJ})


def variants(value: Any, cap: int = 64) -> list[Any] | None:
    """Every value JSON-equal to `value` (1 and 1.0 are equal, and a constraint naming one accepts
    the other); None when there would be more than `cap`."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return [value]
    if isinstance(value, int):
        try:
            return [value, float(value)] if float(value) == value else [value]
        except OverflowError:
            return [value]
    if isinstance(value, float):
        return [value, int(value)] if value.is_integer() else [value]
    if isinstance(value, list | tuple):
        parts = [variants(v, cap) for v in value]
        if any(p is None for p in parts):
            return None
        count = math.prod(len(p) for p in parts if p is not None)
        if count > cap:
            return None
        return [list(combo) for combo in itertools.product(*(p for p in parts if p is not None))]
    if isinstance(value, Mapping):
        keys = list(value)
        parts = [variants(value[k], cap) for k in keys]
        if any(p is None for p in parts):
            return None
        count = math.prod(len(p) for p in parts if p is not None)
        if count > cap:
            return None
        return [
            dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(p for p in parts if p is not None))
        ]
    return [value]
