"""Writing the tamper-evident decision log: one JSON line per decision, each chained to the line
before (the format is in ``_chain``; reading and `verify` in ``_reader``).

    guard = Guard(manifest, audit=AuditLog("decisions.jsonl"))

Every decision (allow, deny, ask, shadow_deny, shadow_ask) is appended as one line before the tool
runs. A call that asked carries ``approval``: the request id, what became of it (``approved``,
``rejected``, ``pending``, ``expired``), who answered and why, and the rule that asked; so a call
approved by a person is two lines, the ``ask`` and the ``allow`` naming who approved it.

Rotation. With ``max_bytes``, a live file that would grow beyond it is renamed ``PATH.000001``,
``PATH.000002``, ... (increasing numbers are newer) and a new ``PATH`` is started whose first line
carries the hash of the last line of the file before. With ``keep=N`` only the N newest rotated
files are kept; the chain then starts mid-way, and ``verify`` must be told so (``partial=True``,
CLI ``--partial``).

Guarantees. Each line is written with one ``os.write`` on a descriptor opened with ``O_APPEND``,
while holding a ``threading.Lock`` and, on POSIX, an exclusive ``flock`` on ``PATH.lock`` (a file
next to the log that is never rotated). So threads of one process and several processes appending
to the same path produce one valid chain, with no interleaved or torn lines. ``record`` returns
only after the line has been handed to the operating system (it is in the file, visible to every
reader); with ``fsync=True`` it also waits for the disk (``os.fsync``), which survives a power cut
at the cost of a disk flush per decision. Without ``fcntl`` (Windows) only the in-process lock is
taken: one process per log. After ``os.fork`` the child reopens its files and takes its own locks.

If a line cannot be written (disk full, permissions, an invalid last line left by a crash), the
guard turns the decision into an ``internal_error`` denial: what cannot be audited does not run.
Move the damaged file aside (and keep it as evidence) to start a new chain.

Argument values are written only when the guard has ``record_values=True`` (they are passed to
``record``), with secret-named keys redacted as in spans.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import weakref
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from opentelemetry import trace

from .._errors import AuditLogError
from .._telemetry._redact import redact
from .._telemetry._spans import approval_outcome
from ._chain import FORMAT_VERSION, GENESIS, open_line, rotated_files, rotation_number, seal

if TYPE_CHECKING:
    from .._manifest._models import Manifest
    from .._outcome import Decision

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["AuditLog", "GuardView"]

_TAIL_CHUNK = 65536


class GuardView(Protocol):
    """What the log reads from the guard that made a decision (a `Guard` is one)."""

    @property
    def task(self) -> str: ...
    @property
    def principal(self) -> str | None: ...
    @property
    def mode(self) -> str: ...
    @property
    def manifest(self) -> Manifest: ...


def _last_line(fh: BinaryIO, size: int, where: str) -> bytes:
    """The last line of a file (without its newline); the file must end with a newline."""
    if size == 0:
        return b""
    fh.seek(size - 1)
    if fh.read(1) != b"\n":
        raise AuditLogError(f"{where}: the last line is incomplete (no newline at the end)")
    buf = b""
    pos = size - 1  # the final newline is left out
    while pos > 0:
        start = max(0, pos - _TAIL_CHUNK)
        fh.seek(start)
        buf = fh.read(pos - start) + buf
        pos = start
        nl = buf.rfind(b"\n")
        if nl >= 0:
            return buf[nl + 1:]
    return buf


def _tail_state(line: bytes, where: str) -> tuple[str, int]:
    """(hash, seq) of a log line, to chain the next one to."""
    opened = open_line(line)
    if opened is None:
        raise AuditLogError(f"{where}: the last line is not a guardrail audit line")
    body, digest = opened
    try:
        seq = json.loads(body)["seq"]
    except (ValueError, KeyError, TypeError):
        raise AuditLogError(f"{where}: the last line is not a guardrail audit line") from None
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise AuditLogError(f"{where}: the last line has no valid seq")
    return digest, seq


def _file_tail(path: Path) -> tuple[str, int]:
    with open(path, "rb") as fh:
        line = _last_line(fh, os.fstat(fh.fileno()).st_size, str(path))
    return _tail_state(line, str(path)) if line else (GENESIS, 0)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_instances: weakref.WeakSet[AuditLog] = weakref.WeakSet()


def _after_fork_in_child() -> None:  # pragma: no cover - exercised in forked children
    for log in list(_instances):
        log._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class AuditLog:
    """An append-only, hash-chained JSONL log of guard decisions (see the module docstring).

    `max_bytes`: rotate the live file before it would grow beyond this size (None: never).
    `keep`: how many rotated files to keep (None: all). `fsync`: wait for the disk on every line.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = False,
        max_bytes: int | None = None,
        keep: int | None = None,
    ) -> None:
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError("max_bytes must be a positive number of bytes or None")
        if keep is not None and keep < 1:
            raise ValueError("keep must be at least 1 (the newest rotated file links the chain) or None")
        self.path = Path(path)
        self.fsync = fsync
        self.max_bytes = max_bytes
        self.keep = keep
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._lock_fd: int | None = None
        # (inode, size, hash, seq) after our last write: valid while the file is unchanged.
        self._cache: tuple[int, int, str, int] | None = None
        self._closed = False
        _instances.add(self)

    def __repr__(self) -> str:
        return f"<AuditLog {str(self.path)!r}>"

    # -- the sink the guard calls ---------------------------------------------------------

    def record(self, decision: Decision, guard: GuardView, args: Mapping[str, Any] | None) -> None:
        """Append one decision. Returns once the line is in the file (and on disk with fsync)."""
        denial = decision.denial
        ctx = trace.get_current_span().get_span_context()
        entry: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "seq": 0,  # set under the lock
            "time": _now_iso(),
            "outcome": decision.outcome,
            "tool": decision.tool,
            "call_id": decision.call_id,
            "task": guard.task,
            "principal": guard.principal,
            "manifest_digest": guard.manifest.digest,
            "mode": guard.mode,
            "trace_id": format(ctx.trace_id, "032x") if ctx.is_valid else None,
            "span_id": format(ctx.span_id, "016x") if ctx.is_valid else None,
            "pid": os.getpid(),
            "denial": denial.model_dump(mode="json") if denial is not None else None,
        }
        outcome = approval_outcome(decision)
        if outcome is not None:
            request, answer = decision.approval, decision.resolution
            entry["approval"] = {
                "id": request.id if request is not None else denial.approval_id if denial else None,
                "outcome": outcome,
                "reason": request.reason if request is not None else None,
                "by": answer.by if answer is not None else None,
                "note": answer.reason if answer is not None else None,
                "expires_at": request.expires_at.isoformat() if request is not None else None,
            }
        if args is not None:
            entry["args"] = redact(args)
        self.append(entry)

    def append(self, entry: Mapping[str, Any]) -> str:
        """Append one entry (its ``seq`` and ``prev`` are filled in); returns the line's hash."""
        with self._lock:
            if self._closed:
                raise ValueError(f"{self!r} is closed")
            lock_fd = self._lock_file()
            if fcntl is not None:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
            try:
                return self._append_locked(entry)
            finally:
                if fcntl is not None:
                    fcntl.flock(lock_fd, fcntl.LOCK_UN)

    # -- internals (called with both locks held) -------------------------------------------

    def _lock_file(self) -> int:
        if self._lock_fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(
                f"{self.path}.lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644
            )
        return self._lock_fd

    def _live(self) -> tuple[int, os.stat_result]:
        """The descriptor of the live file, reopened if another process rotated or removed it."""
        fd = self._fd
        if fd is not None:
            st = os.fstat(fd)
            try:
                current = os.stat(self.path)
            except FileNotFoundError:
                current = None
            if current is not None and (current.st_ino, current.st_dev) == (st.st_ino, st.st_dev):
                return fd, st
            os.close(fd)
            self._fd = None
            self._cache = None
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.path, flags, 0o644)
        self._fd = fd
        return fd, os.fstat(fd)

    def _chain_state(self, fd: int, st: os.stat_result) -> tuple[str, int]:
        cache = self._cache
        if cache is not None and cache[0] == st.st_ino and cache[1] == st.st_size:
            return cache[2], cache[3]
        if st.st_size == 0:
            # A new live file continues the chain of the newest rotated file, if any.
            rotated = rotated_files(self.path)
            return _file_tail(rotated[-1]) if rotated else (GENESIS, 0)
        with open(self.path, "rb") as fh:
            line = _last_line(fh, st.st_size, str(self.path))
        return _tail_state(line, str(self.path))

    def _append_locked(self, entry: Mapping[str, Any]) -> str:
        fd, st = self._live()
        prev, seq = self._chain_state(fd, st)
        record = dict(entry)
        record["seq"] = seq + 1
        record.pop("hash", None)
        record["prev"] = prev
        body = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=repr).encode()
        line, digest = seal(body)
        size = st.st_size
        if self.max_bytes is not None and size > 0 and size + len(line) > self.max_bytes:
            fd = self._rotate()
            size = 0
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if self.fsync:
            os.fsync(fd)
        self._cache = (os.fstat(fd).st_ino, size + len(line), digest, seq + 1)
        return digest

    def _rotate(self) -> int:
        rotated = rotated_files(self.path)
        number = rotation_number(rotated[-1]) + 1 if rotated else 1
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        target = Path(f"{self.path}.{number:06d}")
        os.rename(self.path, target)
        rotated.append(target)
        if self.keep is not None:
            for old in rotated[: max(0, len(rotated) - self.keep)]:
                old.unlink(missing_ok=True)
        if self.fsync:
            _fsync_dir(self.path.parent)
        fd, _ = self._live()
        return fd

    def _reset_after_fork(self) -> None:  # pragma: no cover - runs in forked children
        self._lock = threading.Lock()
        # The descriptors are shared with the parent (and so is a flock on them): reopen.
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = None
        self._lock_fd = None
        self._cache = None

    # -- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for fd in (self._fd, self._lock_fd):
                if fd is not None:
                    os.close(fd)
            self._fd = None
            self._lock_fd = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        for fd in (getattr(self, "_fd", None), getattr(self, "_lock_fd", None)):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory descriptors
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dfd)
