"""Arguments as exact JSON data: the private copy a decision is made on, and the tool receives.

A check by reference is a check of something the caller still holds: a nested list another thread
changes after the check reaches the tool unchecked, and a `str` subclass whose `__str__` lies, an
`int` whose comparisons lie or a `dict` that hides keys from `items()` decide one way and run
another. So the guard decides on a copy made of exact built-in JSON types (dict, list, str, int,
float, bool, None), read through the built-in types' own methods (never a subclass's overrides),
and hands that copy to the tool.

`plain_value` is the strict copy the guard makes: tuples become lists, subclasses of the JSON
types their plain value, any other `Mapping` a dict of what it reports once; anything else is not
JSON data and raises `NotJson` (the guard denies it `argument_invalid`). NaN and infinities stay
floats: whether a number is acceptable is the constraints' business.

`normalize_arguments` (public) also converts what a tool framework's schema produces (pydantic
models, dataclasses, enums, `Decimal`, sets, dates, UUIDs, paths): adapters pass the parsed
arguments through it so that the guard decides on what the tool is given.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from .._errors import NotJson

__all__ = ["MAX_DEPTH", "SCALARS", "NotJson", "normalize_arguments", "plain_value"]

MAX_DEPTH = 100
"""How deep arguments may nest (a list in a list ... counts one per level). Deeper is refused,
which also ends a cycle (a list containing itself), named as one."""

SCALARS = frozenset({str, int, float, bool, type(None)})
"""The exact types that are their own copy."""


class _Fail(Exception):
    """`NotJson` on its way up: the path grows as it unwinds (no cost until something fails);
    `containers` are the ids of the containers it unwound through, to tell a cycle."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        self.path: list[str | int] = []
        self.containers: list[int] = []

    def up(self, step: str | int, container: object) -> _Fail:
        self.path.append(step)
        self.containers.append(id(container))
        return self

    def error(self) -> NotJson:
        path, containers = self.path[::-1], self.containers[::-1]
        if self.problem.startswith("nesting"):
            seen: set[int] = set()
            for depth, container in enumerate(containers):
                if container in seen:  # the value at path[:depth] is a container it is inside
                    return NotJson(path[:depth], "a cycle: a container inside itself")
                seen.add(container)
        return NotJson(path, self.problem)


def plain_value(value: Any) -> Any:
    """A copy of `value` in exact JSON types (see the module docstring); raises `NotJson`."""
    try:
        return _value(value, 0, None)
    except _Fail as failed:
        raise failed.error() from None


def normalize_arguments(args: Mapping[str, Any], *, as_sent: bool = False) -> dict[str, Any]:
    """A copy of `args` in exact JSON types (dict, list, str, int, float, bool, None): the form a
    `Guard` decides on and hands to the tool.

    Tuples and sets become lists (a set's items sorted when they can be), subclasses of the JSON
    types their plain value (an `IntEnum` its int), other mappings dicts; and what a tool
    framework's schema produces is converted as pydantic writes it in JSON: a pydantic model (v2
    or v1) or dataclass to its fields, an enum to its value, a `Decimal` to the number it is (an
    int when integral), dates, times, UUIDs and paths to strings, bytes to text. With `as_sent`,
    a pydantic model gives only the fields that were set, under their aliases: the arguments as
    a model sent them (the defaults inside are the guard's to fill in where its manifest looks).
    NaN and infinities stay floats (the manifest's constraints refuse them where numbers are
    wanted).

    Raises `NotJson` (a `ValueError`) naming where and what for anything else: a key that is not
    a string, a value of another type, nesting deeper than `MAX_DEPTH`, a cycle.
    """
    if not isinstance(args, Mapping):
        raise NotJson([], f"an object of arguments (a mapping), not {type(args).__name__}")
    try:
        return _object(args, 0, _Convert(as_sent))
    except _Fail as failed:
        raise failed.error() from None


class _Convert:
    """The lenient conversions of `normalize_arguments`."""

    __slots__ = ("as_sent",)

    def __init__(self, as_sent: bool) -> None:
        self.as_sent = as_sent

    def __call__(self, value: Any) -> Any:
        """`value` as JSON data, one level (the caller normalises the result); or `_Fail`."""
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, Decimal):
            if not value.is_finite():
                return float(value)  # NaN and infinities: a float the constraints refuse
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, set | frozenset):
            items = list(value)
            with contextlib.suppress(TypeError):  # mixed types: any order
                items.sort()
            return items
        sent = self.as_sent
        if hasattr(type(value), "model_fields") and callable(getattr(value, "model_dump", None)):
            return value.model_dump(exclude_unset=sent, by_alias=sent)
        if hasattr(type(value), "__fields__") and callable(getattr(value, "dict", None)):
            return value.dict(exclude_unset=sent, by_alias=sent)  # a `pydantic.v1` model
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        from pydantic_core import PydanticSerializationError, to_jsonable_python

        try:
            converted = to_jsonable_python(value)  # dates, times, UUIDs, paths, bytes
        except (PydanticSerializationError, ValueError, TypeError):
            converted = value
        if converted is value or type(converted) is type(value):
            raise _Fail(f"JSON data (a string, number, boolean, null, array or object), "
                        f"not {type(value).__name__}")
        return converted


_NOT_JSON = "JSON data (a string, number, boolean, null, array or object), not {}"


def _object(value: Any, depth: int, convert: _Convert | None) -> dict[str, Any]:
    # dict.items reads the stored entries (dict.copy would ask a subclass's keys()), whatever a
    # subclass's items/keys/__iter__ say; any other Mapping is read once. The copy is what is
    # checked and passed on.
    out: dict[Any, Any] = (
        dict.copy(value) if type(value) is dict
        else dict(dict.items(value)) if isinstance(value, dict) else dict(value.items())
    )
    scalars = SCALARS
    for key, item in out.items():
        if type(key) is not str:
            return _object(_plain_keys(out, value), depth, convert)
        if type(item) not in scalars:
            try:
                out[key] = _value(item, depth + 1, convert)  # an existing key: same size
            except _Fail as failed:
                raise failed.up(key, value) from None
    return out


def _plain_keys(out: dict[Any, Any], container: object) -> dict[str, Any]:
    for key in out:
        if not isinstance(key, str):
            label = repr(key)[:60]
            raise _Fail(f"a key that is a string, not {type(key).__name__}").up(label, container)
    return {str.__str__(key): item for key, item in out.items()}


def _value(value: Any, depth: int, convert: _Convert | None) -> Any:
    kind = type(value)
    if kind in SCALARS:
        return value
    if depth >= MAX_DEPTH:
        raise _Fail(f"nesting at most {MAX_DEPTH} levels deep")
    if kind is list or kind is tuple:
        # A snapshot first (one C call under the GIL): another thread's later change is not
        # seen, and never half-seen.
        return _array(list.copy(value) if kind is list else list(value), value, depth, convert)
    if kind is dict:
        return _object(value, depth, convert)
    # Subclasses, read through the base type's own methods: a lying __str__, __eq__, __iter__
    # or __index__ is never called. (bool cannot be subclassed; a str/int enum lands here.)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, list):
        return _array(list.copy(value), value, depth, convert)
    if isinstance(value, tuple):
        return _array(list(tuple.__iter__(value)), value, depth, convert)
    if isinstance(value, Mapping):
        return _object(value, depth, convert)
    if convert is None:
        raise _Fail(_NOT_JSON.format(kind.__name__))
    # A converted value is one level deeper: a model whose dump contains itself ends as a cycle.
    return _value(convert(value), depth + 1, convert)


def _array(items: list[Any], container: object, depth: int, convert: _Convert | None) -> list[Any]:
    scalars = SCALARS
    deeper = depth + 1
    for i, item in enumerate(items):
        kind = type(item)
        if kind in scalars:
            continue
        try:
            # The common nested case (a list of objects) without `_value`'s dispatch.
            if kind is dict and deeper < MAX_DEPTH:
                items[i] = _object(item, deeper, convert)
            else:
                items[i] = _value(item, deeper, convert)
        except _Fail as failed:
            raise failed.up(i, container) from None
    return items
