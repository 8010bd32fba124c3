"""The audit log's format: hash-chained JSON lines, and the files a rotated log is made of.

A line is a JSON object whose last key is ``"hash"``: the SHA-256 of the line's bytes *without* that
key (the line up to ``,"hash":...`` followed by ``}``), and whose ``"prev"`` is the hash of the line
before (``GENESIS`` for the first line of a log). Each line also carries ``"seq"``, counting from 1
across the whole chain. So:

- an edited line no longer matches its own hash (or, if its hash was recomputed, no longer
  matches the ``prev`` of the next line);
- a deleted, duplicated or moved line breaks the ``seq`` sequence and the ``prev`` link.

A rotated log is ``PATH.000001``, ``PATH.000002``, ... (increasing numbers are newer) followed by
the live file ``PATH``; the first line of each file continues the chain of the file before.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

__all__ = [
    "FORMAT_VERSION",
    "GENESIS",
    "line_hash",
    "log_files",
    "open_line",
    "rotated_files",
    "rotation_number",
    "seal",
]

FORMAT_VERSION = 1
GENESIS = "sha256:" + "0" * 64
SUFFIX = re.compile(rb',"hash":"(sha256:[0-9a-f]{64})"\}\Z')
ROTATED = re.compile(r"\.(\d{6,})\Z")


def line_hash(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def seal(body: bytes) -> tuple[bytes, str]:
    """A complete line (with newline) and its hash, from the JSON body without the hash."""
    digest = line_hash(body)
    return body[:-1] + b',"hash":"' + digest.encode("ascii") + b'"}\n', digest


def open_line(line: bytes) -> tuple[bytes, str] | None:
    """(body without the hash key, stored hash) of one line without its newline, or None."""
    m = SUFFIX.search(line)
    if m is None:
        return None
    return line[: m.start()] + b"}", m.group(1).decode("ascii")


def rotated_files(path: str | os.PathLike[str]) -> list[Path]:
    """The rotated siblings of a log (``PATH.000001``, ...), oldest first."""
    live = Path(path)
    parent = live.parent
    prefix = live.name
    found: list[tuple[int, Path]] = []
    try:
        entries = list(parent.iterdir())
    except FileNotFoundError:
        return []
    for entry in entries:
        name = entry.name
        if name.startswith(prefix):
            m = ROTATED.fullmatch(name[len(prefix):])
            if m is not None:
                found.append((int(m.group(1)), entry))
    return [p for _, p in sorted(found)]


def rotation_number(path: Path) -> int:
    m = ROTATED.search(path.name)
    return int(m.group(1)) if m is not None else 0


def log_files(path: str | os.PathLike[str]) -> list[Path]:
    """Every file of a log's chain, oldest first: the rotated files, then the live file."""
    files = rotated_files(path)
    live = Path(path)
    if live.exists():
        files.append(live)
    return files
