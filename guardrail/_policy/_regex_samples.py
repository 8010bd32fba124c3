"""A few sample strings of a regular expression, walked from Python's own parse tree: the
`pattern` kind's candidate values for the narrowing analysis.

Candidates only: the caller always verifies them with the real (RE2) predicate, so an odd
construct here costs a missed counterexample, never a wrong verdict. Imports nothing of ours.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ["regex_samples"]

# Python's regex parser (3.11+); imported by name because typeshed has no stubs for it.
_sre: Any = importlib.import_module("re._parser")


class _Unsupported(Exception):
    """A construct the generator does not handle: that mode gives no sample."""


def regex_samples(pattern: str, modes: int = 4) -> list[str]:
    """A few strings the regular expression probably matches (to be verified by the caller)."""
    try:
        tree = _sre.parse(pattern)
    except Exception:
        return []
    out = []
    for mode in range(modes):
        try:
            out.append(_gen(list(tree), mode, 0))
        except (_Unsupported, RecursionError, ValueError, IndexError, TypeError):
            continue
    return list(dict.fromkeys(out))


def _gen(items: Iterable[Any], mode: int, depth: int) -> str:
    if depth > 50:
        raise _Unsupported
    parts = []
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            parts.append(chr(av))
        elif name == "NOT_LITERAL":
            parts.append("a" if av != ord("a") else "b")
        elif name == "ANY":
            parts.append("a0"[mode % 2])
        elif name == "IN":
            parts.append(_class_char(av, mode))
        elif name == "BRANCH":
            alternatives = av[1]
            parts.append(_gen(list(alternatives[mode % len(alternatives)]), mode, depth + 1))
        elif name == "SUBPATTERN":
            parts.append(_gen(list(av[-1]), mode, depth + 1))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = av
            count = low if mode < 2 else min(low + 1, high)
            if count > 1000:
                raise _Unsupported
            parts.append("".join(_gen(list(sub), mode, depth + 1) for _ in range(count)))
        elif name == "AT":
            continue
        elif name == "CATEGORY":
            parts.append(_category_char(str(av), mode))
        elif name == "ATOMIC_GROUP":
            parts.append(_gen(list(av), mode, depth + 1))
        else:
            raise _Unsupported
    return "".join(parts)


_CATEGORY_CHARS = {
    "CATEGORY_DIGIT": "07",
    "CATEGORY_NOT_DIGIT": "aZ",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": "a0",
    "CATEGORY_WORD": "aZ_5",
    "CATEGORY_NOT_WORD": "-.",
}


def _category_char(name: str, mode: int) -> str:
    chars = _CATEGORY_CHARS.get(name)
    if chars is None:
        raise _Unsupported
    return chars[mode % len(chars)]


def _in_class(ch: str, items: Sequence[Any]) -> bool:
    for op, av in items:
        name = str(op)
        if name == "LITERAL" and ch == chr(av):
            return True
        if name == "RANGE" and av[0] <= ord(ch) <= av[1]:
            return True
        if name == "CATEGORY":
            cat = str(av)
            tests: dict[str, Callable[[str], bool]] = {
                "CATEGORY_DIGIT": lambda x: x.isdigit(),
                "CATEGORY_NOT_DIGIT": lambda x: not x.isdigit(),
                "CATEGORY_SPACE": lambda x: x.isspace(),
                "CATEGORY_NOT_SPACE": lambda x: not x.isspace(),
                "CATEGORY_WORD": lambda x: x.isalnum() or x == "_",
                "CATEGORY_NOT_WORD": lambda x: not (x.isalnum() or x == "_"),
            }
            test = tests.get(cat)
            if test is None:
                raise _Unsupported
            if test(ch):
                return True
    return False


def _class_char(items: Sequence[Any], mode: int) -> str:
    if items and str(items[0][0]) == "NEGATE":
        rest = list(items[1:])
        for ch in "a0Z-_ .x/":
            if not _in_class(ch, rest):
                return ch
        raise _Unsupported
    choices = []
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            choices.append(chr(av))
        elif name == "RANGE":
            low, high = av
            choices.append(chr((low, high, (low + high) // 2)[mode % 3]))
        elif name == "CATEGORY":
            choices.append(_category_char(str(av), mode))
        else:
            raise _Unsupported
    if not choices:
        raise _Unsupported
    return choices[mode % len(choices)]
