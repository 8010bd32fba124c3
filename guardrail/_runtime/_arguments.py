"""The guard's private copy of a call's arguments: what it decides on and what the tool receives.

Every argument some manifest of the chain looks at (a constraint on it, a sum budget counting
it, or any argument at all when the tool has a `when` condition) is copied into exact JSON
types (`guardrail._policy._normalize.plain_value`): tuples become lists, subclasses of str, int,
float, list and dict their plain value. A value that cannot be copied (a set, bytes, a custom
object, a cycle, nesting deeper than `MAX_DEPTH`) makes the call `Unreadable`, which the decider
denies `argument_invalid` naming where. An argument nothing looks at (`{}` in every manifest, or
an extra one under `allow_other_args`) is passed on as given: nothing about it was checked, so
there is nothing a change could undo, and the tool may take any Python object there.

Top-level keys must be strings (they become keyword arguments). A null at the top level counts
as the argument left out (`drop_nulls`, for a call the guard runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._outcome import DenialCode
from .._policy import Violation
from .._policy._normalize import SCALARS, NotJson, plain_value
from ._chain import Chain

__all__ = ["Copier", "Unreadable"]


class Unreadable:
    """Arguments the guard could not copy as JSON data: the decision denies them
    (`argument_invalid` at `violation.path`). `given`: the arguments as passed, without
    nulls, which a shadow-mode guard runs the tool with (it never blocks a call)."""

    __slots__ = ("given", "violation")

    def __init__(self, error: NotJson, given: dict[Any, Any]) -> None:
        self.violation = Violation(DenialCode.ARGUMENT_INVALID, list(error.path), error.problem)
        self.given = given

    def __repr__(self) -> str:
        return f"<arguments that are not JSON data: {self.violation.dotted}: {self.violation.constraint}>"


class _Looks:
    """Which arguments of one tool some manifest of the chain looks at."""

    __slots__ = ("names", "others")

    def __init__(self, names: frozenset[str], others: bool) -> None:
        self.names = names  # looked at by name
        self.others = others  # every argument is (a condition reads any of them)


_EVERYTHING = _Looks(frozenset(), True)


class Copier:
    """Copies a call's arguments for one guard (see the module docstring)."""

    __slots__ = ("_chain", "_looks")

    def __init__(self, chain: Chain) -> None:
        self._chain = chain
        self._looks: dict[str, _Looks] = {}

    def looks(self, tool: str) -> _Looks:
        looks = self._looks.get(tool)
        if looks is None:
            links = self._chain.links
            grants = [link.tools.get(tool) for link in links]
            if any(grant is None or grant.condition is not None for grant in grants):
                # Not granted (the decision denies whatever the arguments are), or a `when`.
                looks = _EVERYTHING
            else:
                looks = _Looks(frozenset(
                    name for grant in grants if grant is not None
                    for name in (*(n for n, _ in grant.args.rules), *(a for a, _, _ in grant.sum_scopes))
                ), False)
            if len(self._looks) < 10_000:  # tool names come from callers: bounded
                self._looks[tool] = looks
        return looks

    def copy(self, tool: object, args: object, *, drop_nulls: bool) -> Any:
        """The private copy of `args` for a call of `tool`: a new dict, without nulls when
        `drop_nulls`; `Unreadable`; or, for what is not a mapping at all, `args` as it is (the
        decision denies it)."""
        if type(args) is dict:
            out = dict.copy(args)  # one C call: a snapshot, never half of another thread's change
        elif isinstance(args, dict):
            out = dict(dict.items(args))  # the stored entries, whatever the subclass says
        elif isinstance(args, Mapping):
            out = dict(args.items())  # read once
        else:
            return args
        scalars = SCALARS
        nulls: list[Any] | None = None
        looks: _Looks | None = None
        for key, value in out.items():
            kind = type(value)
            if type(key) is not str:
                return self._with_plain_keys(tool, out, drop_nulls)
            if kind in scalars:
                if value is None and drop_nulls:
                    nulls = [key] if nulls is None else [*nulls, key]
                continue
            if looks is None:
                looks = self.looks(tool) if type(tool) is str else _EVERYTHING
            if looks.others or key in looks.names:
                try:
                    out[key] = plain_value(value)  # an existing key: no change of size
                except NotJson as bad:
                    bad.path.insert(0, key)
                    return Unreadable(bad, _given(out))
        if nulls is not None:
            for key in nulls:
                del out[key]
        return out

    def _with_plain_keys(self, tool: object, out: dict[Any, Any], drop_nulls: bool) -> Any:
        """The copy again, with `str` subclass keys as plain strings; `Unreadable` for a key that
        is no string at all (arguments are passed by keyword)."""
        if all(isinstance(k, str) for k in out):
            return self.copy(tool, {str.__str__(k): v for k, v in out.items()}, drop_nulls=drop_nulls)
        bad = next(k for k in out if not isinstance(k, str))
        problem = f"an argument name that is a string, not {type(bad).__name__}"
        return Unreadable(NotJson([repr(bad)[:60]], problem), _given(out))

    def filled(self, tool: str, copied: dict[str, Any], filled: dict[str, Any]) -> Any:
        """`filled` (`copied` completed by `with_defaults`) with the values it added copied too:
        a default the manifest constrains is checked, so the tool gets the checked copy of it
        (also one filled in inside a `fields` object, whose object is copied again)."""
        looks = self.looks(tool)
        for key, value in filled.items():
            if (
                type(value) not in SCALARS and value is not copied.get(key)
                and (looks.others or key in looks.names)
            ):
                try:
                    filled[key] = plain_value(value)
                except NotJson as bad:
                    bad.path.insert(0, key)
                    return Unreadable(bad, filled)
        return filled


def _given(args: dict[Any, Any]) -> dict[Any, Any]:
    return {key: value for key, value in args.items() if value is not None}
