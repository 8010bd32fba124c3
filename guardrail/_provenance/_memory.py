"""Recorded results, trusted texts and the two questions asked of them.

Matching is verbatim after normalising both sides the same way (`normalise`: case-folded, every
run of whitespace one space), so "GB29 NWBK  6016" matches "gb29 nwbk 6016" but not "GB29NWBK6016"
(a model that re-encodes a value defeats it; the docs say so). Each record is searched with
`str.__contains__` (CPython's two-way/bloom search): `benchmarks/bench_provenance.py` measures a
check against 1 MiB of recorded results.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FULL",
    "MIN_LENGTH",
    "Memory",
    "Record",
    "Trusted",
    "View",
    "manifest_strings",
    "normalise",
    "render",
]

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
"""What one guard keeps of its task's results by default (16 MiB of normalised text)."""

MIN_LENGTH = 4
"""Shorter strings are never judged untrusted: they occur everywhere ("EUR", "yes")."""

# Joins the pieces of one record; `normalise` turns it into a space, so no needle holds it and
# no match spans two pieces.
_SEP = "\x00"


def normalise(text: str) -> str:
    """Case-folded, each run of whitespace one space, no leading or trailing space."""
    return " ".join(text.replace(_SEP, " ").split()).casefold()


def render(result: Any) -> list[str]:
    """The texts of a tool result as the model sees them: a str as it is, a JSON value as
    canonical JSON (and, when JSON escaped something, its strings decoded too, so that a value
    holding a quote or a line break still matches), a pydantic model as its JSON dump, anything
    else by `str()`. Nothing for None."""
    if result is None:
        return []
    if isinstance(result, str):
        return [result]
    if isinstance(result, bytes | bytearray):
        return [bytes(result).decode("utf-8", "replace")]
    data = result
    dump = getattr(result, "model_dump", None)
    if callable(dump):
        try:
            data = dump(mode="json", exclude_none=True)
        except Exception:
            data = result
    try:
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return [str(result)]
    if "\\" not in text:
        return [text]
    return [text, *(s for s in _strings(data, keys=True) if isinstance(s, str))]


def _strings(value: Any, *, keys: bool = False, numbers: bool = False) -> Iterator[Any]:
    """The strings inside a value (and its numbers, with `numbers`), depth first, without
    recursion (a deeply nested argument must not exhaust the stack)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            if keys:
                stack.extend(k for k in item if isinstance(k, str))
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif numbers and isinstance(item, int | float) and not isinstance(item, bool):
            yield item


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class Record:
    """One recorded result: which tool returned it, in which call, whether the grant trusts it,
    and its normalised text."""

    __slots__ = ("call_id", "text", "tool", "trusted")

    def __init__(self, tool: str, call_id: str | None, trusted: bool, text: str) -> None:
        self.tool = tool
        self.call_id = call_id
        self.trusted = trusted
        self.text = text

    def __repr__(self) -> str:
        return f"<Record {self.tool} {self.call_id} trusted={self.trusted} {len(self.text)} chars>"


FULL = Record("", None, False, "")
"""Stands for "maybe": the memory passed its cap, so a value may be in what it no longer keeps."""


class Memory:
    """The results recorded for one guard's task, capped at `max_bytes` of normalised text. A
    result that does not fit is kept up to the cap and the memory is marked `full`: checks that
    read it then fail closed instead of forgetting."""

    __slots__ = ("_lock", "full", "max_bytes", "records", "size")

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if type(max_bytes) is not int or max_bytes < 0:
            raise ValueError(f"max_results_bytes must be a non-negative int, not {max_bytes!r}")
        self.max_bytes = max_bytes
        self.records: list[Record] = []
        self.size = 0
        self.full = False
        self._lock = threading.Lock()

    def add(self, tool: str, call_id: str | None, trusted: bool, text: str) -> None:
        """Keep `text` (already normalised) as a result of `tool`."""
        size = _utf8_len(text)
        with self._lock:
            room = self.max_bytes - self.size
            if size > room:
                self.full = True
                text = text.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore")
                size = _utf8_len(text)
            if text:
                # Readers iterate without the lock: appending to a list is safe under them.
                self.records.append(Record(tool, call_id, trusted, text))
                self.size += size

    def mark_full(self) -> None:
        """A result that could not be recorded at all: fail closed from now on."""
        self.full = True


class Trusted:
    """Texts a guard trusts: its manifest's values and the task's inputs (normalised, joined)."""

    __slots__ = ("_lock", "text")

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self.text = _SEP.join(normalise(t) for t in texts)
        self._lock = threading.Lock()

    def add(self, texts: Iterable[str]) -> None:
        extra = [normalise(t) for t in texts]
        with self._lock:
            self.text = _SEP.join([self.text, *extra]) if self.text else _SEP.join(extra)

    def __contains__(self, needle: str) -> bool:
        return needle in self.text


def manifest_strings(data: Any) -> list[str]:
    """Every string value in manifest data (what the manifest says is trusted)."""
    return [s for s in _strings(data) if isinstance(s, str)]


class View:
    """What the provenance checks of one link of a chain read: the results of its task and its
    ancestors' tasks (`memories`, own first) and what it and its ancestors trust."""

    __slots__ = ("memories", "trusted")

    def __init__(self, memories: Sequence[Memory], trusted: Sequence[Trusted]) -> None:
        self.memories = tuple(memories)
        self.trusted = tuple(trusted)

    @property
    def full(self) -> bool:
        return any(m.full for m in self.memories)

    def _is_trusted(self, needle: str) -> bool:
        if any(needle in t for t in self.trusted):
            return True
        return any(
            r.trusted and needle in r.text for m in self.memories for r in m.records
        )

    def _untrusted_record(self, needle: str) -> Record | None:
        for memory in self.memories:
            for record in memory.records:
                if not record.trusted and needle in record.text:
                    return record
        return None

    def untrusted(self, value: Any) -> Record | None:
        """Where a string of `value` (4+ characters; in an array or object, each string value)
        was found in an untrusted result, when it is not also in trusted content; `FULL` when
        the memory passed its cap and the value is not trusted; None: trusted."""
        for item in _strings(value):
            needle = normalise(item)
            if len(needle) < MIN_LENGTH:
                continue
            found = self._untrusted_record(needle)
            if found is None and not self.full:
                continue
            if self._is_trusted(needle):
                continue
            return found or FULL
        return None

    def from_results(self, value: Any, tools: frozenset[str]) -> bool:
        """Every string and number of `value` occurs in a result of one of `tools` (recorded
        earlier in this task or an ancestor's); a value with neither is not from a result."""
        leaves = list(_strings(value, numbers=True))
        if not leaves:
            return False
        records = [r for m in self.memories for r in m.records if r.tool in tools]
        for leaf in leaves:
            needle = normalise(leaf if isinstance(leaf, str) else json.dumps(leaf))
            if not needle or not any(needle in r.text for r in records):
                return False
        return True
