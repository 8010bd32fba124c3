"""Constraint kinds on values: `equals`, `one_of`, `not_one_of` and `type`.

A bare scalar in a constraint's place means `equals`, a bare list `one_of`. Equality is JSON's
(`True` is not `1`, `1` is `1.0`); `number` and `integer` never accept a bool, and NaN and the
infinities are not numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, JsonValue

from ._json import (
    BOOL,
    NUL,
    TYPE_NAMES,
    UNHASHABLE,
    hash_key,
    is_finite_number,
    strict_equal,
    type_atoms,
    value_atoms,
    variants,
)
from ._kind import Branch, Harvest, Kind, Sampler, inline, written

__all__ = ["KINDS", "SAMPLERS", "Equals", "NotOneOf", "OneOf", "TypeIs"]


class Equals:
    __slots__ = ("expected", "fast", "key", "written")

    def __init__(self, expected: Any) -> None:
        self.expected = expected
        self.key = hash_key(expected)
        self.written = written("equals", expected)
        general = self.__call__
        if type(expected) is str:
            self.fast: Callable[[Any], bool] = inline(
                lambda v: v == expected if type(v) is str else general(v),
                "(v == {0} if type(v) is str else {1}(v))", expected, general,
            )
        else:
            self.fast = general

    def __call__(self, value: Any) -> bool:
        if self.key is not UNHASHABLE:
            return hash_key(value) == self.key and strict_equal(value, self.expected)
        return strict_equal(value, self.expected)


class OneOf:
    __slots__ = ("fast", "keys", "others", "written")

    def __init__(self, values: Sequence[Any], key: str = "one_of") -> None:
        self.keys = frozenset(k for k in map(hash_key, values) if k is not UNHASHABLE)
        self.others = tuple(v for v in values if hash_key(v) is UNHASHABLE)
        self.written = written(key, list(values))
        general = self.__call__
        strings = frozenset(v for v in values if type(v) is str)
        self.fast: Callable[[Any], bool] = general
        if key == "one_of":
            self.fast = inline(
                lambda v: v in strings if type(v) is str else general(v),
                "(v in {0} if type(v) is str else {1}(v))", strings, general,
            )
        elif key == "not_one_of":
            self.fast = lambda v: v not in strings if type(v) is str else general(v)

    def contains(self, value: Any) -> bool:
        key = hash_key(value)
        if key is not UNHASHABLE:
            return key in self.keys
        return any(strict_equal(value, other) for other in self.others)

    def __call__(self, value: Any) -> bool:
        return self.contains(value)


class NotOneOf(OneOf):
    __slots__ = ()

    def __init__(self, values: Sequence[Any]) -> None:
        super().__init__(values, key="not_one_of")

    def __call__(self, value: Any) -> bool:
        return not self.contains(value)


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": is_finite_number,
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list | tuple),
    "object": lambda v: isinstance(v, Mapping),
    "null": lambda v: v is None,
}


class TypeIs:
    __slots__ = ("fast", "numeric", "tests", "written")

    def __init__(self, names: str | Sequence[str]) -> None:
        as_list = [names] if isinstance(names, str) else list(names)
        self.tests = tuple(_TYPE_TESTS[n] for n in as_list)
        self.written = written("type", names if isinstance(names, str) else as_list)
        self.fast: Callable[[Any], bool] = self.tests[0] if len(self.tests) == 1 else self.__call__
        self.numeric = as_list[0] if as_list in (["number"], ["integer"]) else None

    def __call__(self, value: Any) -> bool:
        return any(test(value) for test in self.tests)


# -- the kinds ---------------------------------------------------------------------------------


def _check_json_value(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: NaN and infinities are not allowed")
    if isinstance(value, list):
        for item in value:
            _check_json_value(item, where)
    elif isinstance(value, dict):
        for item in value.values():
            _check_json_value(item, where)


def _none_accepted(branch: Branch, values: Sequence[Any]) -> bool:
    return all(not branch.accepts(x) for v in values for x in (variants(v) or [v]))


class _Equals(Kind):
    key = "equals"
    rank = 10
    shorthand = "scalar"
    null_is_value = True
    bucket = "literals"

    def annotation(self) -> Any:
        return JsonValue

    def validate(self, value: Any, written: Mapping[str, Any]) -> None:
        _check_json_value(value, self.key)

    def compile(self, value: Any) -> Equals:
        return Equals(value)

    def implies(self, value: Any) -> frozenset[str]:
        return value_atoms(value)

    def listed(self, value: Any) -> list[Any]:
        return [value]

    def disjoint(self, branch: Branch, value: Any) -> bool:
        return _none_accepted(branch, [value])


class _Values(Kind):
    """A kind whose value is a list of JSON values."""

    def annotation(self) -> Any:
        return list[JsonValue] | None

    def validate(self, value: Any, written: Mapping[str, Any]) -> None:
        _check_json_value(value, self.key)

    def harvest(self, value: Any, h: Harvest) -> None:
        h.put("literals", *value)


class _OneOf(_Values):
    key = "one_of"
    rank = 20
    shorthand = "list"

    def compile(self, value: Any) -> OneOf:
        return OneOf(value)

    def implies(self, value: Any) -> frozenset[str]:
        return frozenset().union(*(value_atoms(v) for v in value)) if value else frozenset()

    def listed(self, value: Any) -> list[Any]:
        return list(value)

    def disjoint(self, branch: Branch, value: Any) -> bool:
        return _none_accepted(branch, value)


class _NotOneOf(_Values):
    key = "not_one_of"
    rank = 30

    def compile(self, value: Any) -> NotOneOf:
        return NotOneOf(value)

    def proves(self, branch: Branch, value: Any) -> bool:
        return _none_accepted(branch, value)


def _type_names(value: str | list[str]) -> str | list[str]:
    names = [value] if isinstance(value, str) else value
    for name in names:
        if name not in TYPE_NAMES:
            raise ValueError(f"unknown type {name!r}: use one of {', '.join(TYPE_NAMES)}")
    if isinstance(value, list) and not value:
        raise ValueError("type needs at least one type name")
    return value


class _Type(Kind):
    key = "type"
    rank = 0

    def annotation(self) -> Any:
        # Checked at the field, so that a wrong name is reported at `...type`.
        return Annotated[str | list[str], AfterValidator(_type_names)] | None

    def compile(self, value: Any) -> TypeIs:
        return TypeIs(value)

    def implies(self, value: Any) -> frozenset[str]:
        return type_atoms(value)

    def bounded(self, branch: Branch) -> list[Any] | None:
        return [True, False, None] if branch.types <= {BOOL, NUL} else None

    def proves(self, branch: Branch, value: Any) -> bool:
        return branch.types <= type_atoms(value)


def _literal_samples(h: Harvest) -> list[Any]:
    out: list[Any] = []
    for v in h.get("literals"):
        out += variants(v) or [v]
        if isinstance(v, str):
            out += [v + "x", v[:-1], v.upper(), v.lower(), " " + v]
    return out


KINDS: tuple[Kind, ...] = (_Equals(), _OneOf(), _NotOneOf(), _Type())
SAMPLERS = (Sampler(0, lambda h: [None, True, False]), Sampler(20, _literal_samples))
