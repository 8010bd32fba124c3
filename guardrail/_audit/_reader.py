"""Reading an audit log and checking its chain: `iter_records`, `verify` (``guardrail audit verify``).

`verify` walks the rotated files and the live file as one chain and names the first bad line.
What the chain cannot show by itself: lines cut off at the *end* of the log (nothing follows them),
or a whole log replaced by a fresh, self-consistent one. Record the head (``verify(...).head``,
printed by the CLI) somewhere else, e.g. in your tracing backend or a ticket, and pass it back as
``anchor`` to prove later lines were appended to it. After rotated files were removed on purpose
(``AuditLog(keep=N)``), the chain starts mid-way and ``verify`` must be told so (``partial=True``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ._chain import GENESIS, line_hash, log_files, open_line

__all__ = ["BadLine", "VerifyResult", "iter_records", "verify"]


@dataclass(frozen=True)
class BadLine:
    """The first line that breaks the chain: its file, its 1-based line number there, and why."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class VerifyResult:
    """What `verify` found. `ok` is true when every line checks out."""

    files: list[str]
    lines: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head: str | None = None  # hash of the last good line: record it elsewhere to anchor the chain
    bad: BadLine | None = None
    anchored: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.bad is None

    def summary(self) -> str:
        if self.bad is not None:
            return f"BROKEN at {self.bad} (after {self.lines} good lines)"
        where = f"{len(self.files)} file{'s' if len(self.files) != 1 else ''}"
        if not self.lines:
            return f"ok: empty log ({where})"
        return (f"ok: {self.lines} lines in {where}, seq {self.first_seq}..{self.last_seq}, "
                f"head {self.head}")


def verify(
    path: str | os.PathLike[str], *, partial: bool = False, anchor: str | None = None
) -> VerifyResult:
    """Check a log's chain (its rotated files, then the live file) and name the first bad line.

    By default the chain must start at the beginning (seq 1, prev GENESIS): a log whose first
    lines were deleted fails. `partial=True` accepts a chain that starts later, as after rotated
    files were removed with `keep`. `anchor` is a hash recorded earlier (a former head): the chain
    must contain a line with that hash.
    """
    files = log_files(path)
    notes: list[str] = []
    if not files:
        raise FileNotFoundError(f"no audit log at {path}")
    expected_prev: str | None = None
    expected_seq: int | None = None
    first_seq: int | None = None
    count = 0
    anchored = anchor is None
    names = [str(f) for f in files]

    def result(bad: BadLine | None) -> VerifyResult:
        return VerifyResult(
            files=names, lines=count, first_seq=first_seq,
            last_seq=expected_seq if count else None,
            head=expected_prev if count else None, bad=bad, anchored=anchor is not None and anchored,
            notes=notes,
        )

    for file in files:
        with open(file, "rb") as fh:
            data = fh.read()
        raw_lines = data.split(b"\n")
        complete = raw_lines[:-1]
        if raw_lines[-1]:
            complete.append(raw_lines[-1])
        for number, raw in enumerate(complete, start=1):
            where = str(file)
            if number == len(complete) and raw_lines[-1]:
                return result(BadLine(where, number, "incomplete line (no newline at the end)"))
            opened = open_line(raw)
            if opened is None:
                return result(BadLine(where, number, "not an audit line (no trailing \"hash\")"))
            body, digest = opened
            if line_hash(body) != digest:
                return result(BadLine(where, number, "the line was edited: it does not match its hash"))
            try:
                obj = json.loads(body)
            except ValueError:
                return result(BadLine(where, number, "not valid JSON"))
            if not isinstance(obj, dict):
                return result(BadLine(where, number, "not a JSON object"))
            seq, prev = obj.get("seq"), obj.get("prev")
            if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(prev, str):
                return result(BadLine(where, number, "missing seq or prev"))
            if expected_seq is None:
                if seq == 1 and prev != GENESIS:
                    return result(BadLine(where, number, "seq 1 does not start from GENESIS"))
                if seq != 1 and not partial:
                    return result(BadLine(
                        where, number,
                        f"the chain starts at seq {seq}, not 1: earlier lines are missing "
                        "(use --partial if older rotated files were removed on purpose)",
                    ))
                if seq != 1:
                    notes.append(f"the chain starts at seq {seq} (earlier lines not checked)")
                first_seq = seq
            else:
                if seq != expected_seq + 1:
                    if seq <= expected_seq:
                        why = f"seq {seq} after {expected_seq}: a line was moved or repeated"
                    else:
                        why = (f"seq {seq} after {expected_seq}: "
                               f"{seq - expected_seq - 1} line(s) missing before this one")
                    return result(BadLine(where, number, why))
                if prev != expected_prev:
                    return result(BadLine(
                        where, number,
                        "prev does not match the hash of the line before: "
                        "the line before was edited or replaced",
                    ))
            expected_prev, expected_seq = digest, seq
            count += 1
            if anchor is not None and digest == anchor:
                anchored = True
    if not anchored:
        return result(BadLine(names[-1], 0, f"the anchor {anchor} is not in the chain"))
    return result(None)


def iter_records(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The entries of a log (rotated files first), parsed, without checking the chain."""
    for file in log_files(path):
        with open(file, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line:
                    obj = json.loads(line)
                    if isinstance(obj, dict):
                        yield obj
