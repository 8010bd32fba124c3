"""A budget store in one SQLite file: shared by the processes of one machine, kept across restarts.

Every consume is one ``BEGIN IMMEDIATE`` transaction, so the check of every charge and the update
of every counter happen under SQLite's write lock: either every budget is charged or none is, and
no two processes (or threads) can both take the last unit. The database runs in WAL mode, so
readers (revocation checks, ``usage``) never wait for a writer. Each thread gets its own
connection; a process that forks opens new ones.

The file must live on a local filesystem (SQLite's locking is not reliable over NFS and the like).
With the default ``synchronous="normal"`` a committed charge survives the process crashing or
being restarted; ``synchronous="full"`` also survives the machine losing power, at the cost of an
fsync per decision.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path

from .._errors import StoreUnavailable
from ._persistent import PersistentStore, checked_expiry
from ._protocol import RETENTION_SECONDS, Charge, Overrun
from ._retry import RetryPolicy

__all__ = ["SQLiteStore"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS guardrail_usage (
    task TEXT NOT NULL,
    scope TEXT NOT NULL,
    used REAL NOT NULL,
    drop_after REAL NOT NULL,
    PRIMARY KEY (task, scope)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS guardrail_usage_drop_after ON guardrail_usage (drop_after);
CREATE TABLE IF NOT EXISTS guardrail_revoked (
    task TEXT NOT NULL PRIMARY KEY,
    reason TEXT NOT NULL,
    revoked_at REAL NOT NULL,
    drop_after REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS guardrail_revoked_drop_after ON guardrail_revoked (drop_after);
"""

_SELECT_USED = "SELECT used FROM guardrail_usage WHERE task = ? AND scope = ?"
_UPSERT_USED = (
    "INSERT INTO guardrail_usage (task, scope, used, drop_after) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (task, scope) DO UPDATE SET used = excluded.used, "
    "drop_after = max(drop_after, excluded.drop_after)"
)
# A revocation without an end (NULL) stays; one with an end keeps the later of the two ends.
# The first reason given is kept.
_UPSERT_REVOKED = (
    "INSERT INTO guardrail_revoked (task, reason, revoked_at, drop_after) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (task) DO UPDATE SET drop_after = CASE "
    "WHEN drop_after IS NULL OR excluded.drop_after IS NULL THEN NULL "
    "ELSE max(drop_after, excluded.drop_after) END"
)


class _Connection:
    """One thread's connection; closed when the thread ends (its thread-local goes away)."""

    __slots__ = ("__weakref__", "conn", "pid")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.pid = os.getpid()

    def close(self) -> None:
        # A connection inherited through fork() belongs to the parent: leave it alone.
        if self.pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):  # closing is best effort
                self.conn.close()

    def __del__(self) -> None:
        self.close()


class SQLiteStore(PersistentStore):
    """Budget store in a SQLite database file (see the module docstring).

    ``timeout`` is SQLite's busy timeout: how long one attempt waits for another writer.
    ``grace`` is how long (seconds) budgets and revocations are kept after the manifest's
    ``expires_at`` before they are purged. ``retry`` bounds the retries of a failing attempt; when
    they run out the method raises ``StoreUnavailable``.
    """

    # Lock timeouts, I/O errors, a file that cannot be opened right now: worth another try.
    transient = (sqlite3.OperationalError,)
    # A corrupt or foreign file and the like: give up at once (still fail closed).
    fatal = (sqlite3.DatabaseError,)

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 5.0,
        synchronous: str = "normal",
        grace: float = RETENTION_SECONDS,
        retry: RetryPolicy | None = None,
        purge_interval: float = 60.0,
    ) -> None:
        self.path = Path(path)
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise ValueError(f"SQLiteStore needs a database file path, got {str(path)!r}")
        if not (math.isfinite(timeout) and timeout >= 0):
            raise ValueError(f"timeout must be a finite number >= 0, got {timeout!r}")
        super().__init__(grace=grace, retry=retry)
        self._label = f"SQLite store {str(self.path)!r}"
        self._synchronous = synchronous.upper()
        if self._synchronous not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be 'normal', 'full' or 'extra', got {synchronous!r}")
        self._timeout = timeout
        self._purge_interval = purge_interval
        self._next_purge = 0.0
        self._lock_key = os.path.abspath(self.path)
        self._local = threading.local()
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._registry_lock = threading.Lock()
        self._run(self._init_schema, "open")

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # --- connections -------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        holder: _Connection | None = getattr(self._local, "holder", None)
        if holder is not None and holder.pid == os.getpid():
            return holder.conn
        conn = sqlite3.connect(
            self.path,
            timeout=self._timeout,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,  # close() may run on another thread
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        except BaseException:
            conn.close()
            raise
        holder = _Connection(conn)
        with self._registry_lock:
            if self._closed:
                holder.close()
                raise StoreUnavailable(f"{self!r} is closed")
            self._connections.add(holder)
        self._local.holder = holder
        return conn

    def _init_schema(self) -> None:
        conn = self._conn()
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(
                f"could not switch {self.path} to WAL mode (journal_mode is {mode})"
            )
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"{self.path} was written by a newer task-guardrail (schema {version} > {SCHEMA_VERSION})"
            )
        if version == SCHEMA_VERSION:
            return
        with self._transaction(conn):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")

    # --- the BudgetStore protocol ------------------------------------------------------

    def consume(self, charges: Sequence[Charge], *, expires_at: float) -> Overrun | None:
        charges = list(charges)
        if not charges:
            return None
        return self._run(lambda: self._consume(charges, float(expires_at)), "consume")

    def _consume(self, charges: list[Charge], expires_at: float) -> Overrun | None:
        conn = self._conn()
        now = time.time()
        drop_after = _drop_after(expires_at, now, self.grace)
        with self._transaction(conn):
            pending: dict[tuple[str, str], float] = {}
            for charge in charges:
                key = (charge.task, charge.scope)
                used = pending.get(key)
                if used is None:
                    row = conn.execute(_SELECT_USED, key).fetchone()
                    used = 0.0 if row is None else float(row[0])
                new = used + charge.amount
                if not new <= charge.limit:  # also refuses NaN
                    return Overrun(charge, used)  # the transaction rolls back: nothing charged
                pending[key] = new
            conn.executemany(
                _UPSERT_USED,
                [(task, scope, used, drop_after) for (task, scope), used in pending.items()],
            )
            if now >= self._next_purge:
                self._purge(conn, now)
                self._next_purge = now + self._purge_interval
            conn.execute("COMMIT")
        return None

    @contextlib.contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        """A write transaction: ``BEGIN IMMEDIATE`` takes SQLite's write lock (waiting up to the
        busy timeout for other processes); threads of this process queue on a lock first, since
        SQLite's busy handler polls and can starve a thread under sustained contention. Rolled
        back unless the body commits."""
        lock = _write_lock(self._lock_key)
        if not lock.acquire(timeout=self._timeout):
            raise sqlite3.OperationalError("database is locked (by another thread of this process)")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                _rollback(conn)  # a no-op after COMMIT
        finally:
            lock.release()

    def used(self, keys: Sequence[tuple[str, str]]) -> list[float]:
        keys = [(task, scope) for task, scope in keys]

        def read() -> list[float]:
            conn = self._conn()
            out = []
            for key in keys:
                row = conn.execute(_SELECT_USED, key).fetchone()
                out.append(0.0 if row is None else float(row[0]))
            return out

        return self._run(read, "used")

    def usage(self, task: str) -> dict[str, float]:
        def read() -> dict[str, float]:
            rows = self._conn().execute("SELECT scope, used FROM guardrail_usage WHERE task = ?", (task,))
            return {scope: float(used) for scope, used in rows}

        return self._run(read, "usage")

    def revoke(self, task: str, reason: str = "", *, expires_at: float | None = None) -> None:
        def write() -> None:
            now = time.time()
            drop_after = None if expires_at is None else _drop_after(float(expires_at), now, self.grace)
            conn = self._conn()
            with self._transaction(conn):
                conn.execute(_UPSERT_REVOKED, (task, reason, now, drop_after))
                conn.execute("COMMIT")

        self._run(write, "revoke")

    def revoked(self, tasks: Sequence[str]) -> str | None:
        tasks = list(tasks)
        if not tasks:
            return None

        def read() -> str | None:
            marks = ", ".join("?" * len(tasks))
            rows = dict(
                self._conn().execute(
                    f"SELECT task, reason FROM guardrail_revoked WHERE task IN ({marks})", tasks
                )
            )
            for task in tasks:
                if task in rows:
                    return str(rows[task])
            return None

        return self._run(read, "revoked")

    def close(self) -> None:
        with self._registry_lock:
            self._closed = True
            holders = list(self._connections)
            self._connections.clear()
        for holder in holders:
            holder.close()

    # --- housekeeping --------------------------------------------------------------------

    def purge(self, now: float | None = None) -> int:
        """Delete budgets and revocations whose manifest expired more than ``grace`` ago.

        A consume runs this by itself every ``purge_interval`` seconds. Returns the rows deleted."""

        def write() -> int:
            conn = self._conn()
            with self._transaction(conn):
                deleted = self._purge(conn, time.time() if now is None else now)
                conn.execute("COMMIT")
            return deleted

        return self._run(write, "purge")

    @staticmethod
    def _purge(conn: sqlite3.Connection, now: float) -> int:
        deleted = conn.execute("DELETE FROM guardrail_usage WHERE drop_after < ?", (now,)).rowcount
        deleted += conn.execute("DELETE FROM guardrail_revoked WHERE drop_after < ?", (now,)).rowcount
        return deleted


_write_locks: dict[str, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def _write_lock(key: str) -> threading.Lock:
    """The lock the threads of this process take before writing to the database at ``key``."""
    lock = _write_locks.get(key)
    if lock is None:
        with _write_locks_guard:
            lock = _write_locks.setdefault(key, threading.Lock())
    return lock


def _forget_write_locks() -> None:
    # A lock held by another thread at fork() would stay held for ever in the child.
    global _write_locks_guard
    _write_locks.clear()
    _write_locks_guard = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_write_locks)


def _drop_after(expires_at: float, now: float, grace: float) -> float:
    """When a key may go: ``grace`` after the manifest expires, and never sooner than ``grace``
    from now (a guard with a skewed or injected clock must not see its budget reset)."""
    return max(checked_expiry(expires_at), now) + grace


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # the connection is already broken
            conn.execute("ROLLBACK")
