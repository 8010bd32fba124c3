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

Creating the database is explicit (``create=True``, ``?create=1`` in a URL, or
``guardrail store init URL``): a store refuses to open a file that does not exist, so a deleted or
mistyped database never turns silently into a fresh, empty budget. A running store checks before
every operation that its file is still the one it opened (device and inode) and fails closed
with ``StoreUnavailable`` once it was deleted or replaced.

Sums are kept exact, as decimal strings of integer units (see ``_exact``). ``retry.deadline``
bounds a whole operation, waits for another process's write lock included: each attempt waits
for the lock at most ``timeout`` and never past the deadline.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import stat
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from .._errors import StoreUnavailable
from .._outcome import Approval, ApprovalRequest
from ._approvals import (
    ApprovalRecord,
    Resolved,
    Taken,
    binding_of,
    listed,
    live_pending,
    resolve_step,
    take_step,
)
from ._exact import amount_units, limit_units, to_number
from ._persistent import PersistentStore, checked_expiry
from ._protocol import FEATURES, RETENTION_SECONDS, Charge, Overrun, Revoked, slack
from ._retry import RetryPolicy

__all__ = ["SQLiteStore"]

T = TypeVar("T")

# 1: use as REAL. 2: use as exact integer units in TEXT (guardrail_units), refund marks.
# 3: window logs (guardrail_events) and distinct values (guardrail_members).
# (The approval tables are added to a version-3 file without changing its version: a process
# that does not know them keeps working on it, and simply never asks.)
SCHEMA_VERSION = 3

_APPROVAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS guardrail_approvals (
    id TEXT NOT NULL PRIMARY KEY,
    task TEXT NOT NULL,
    request TEXT NOT NULL,
    approval TEXT,
    used INTEGER NOT NULL DEFAULT 0,
    drop_after REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS guardrail_approvals_task ON guardrail_approvals (task);
CREATE INDEX IF NOT EXISTS guardrail_approvals_drop_after ON guardrail_approvals (drop_after);
CREATE TABLE IF NOT EXISTS guardrail_approval_calls (
    binding TEXT NOT NULL PRIMARY KEY,
    id TEXT NOT NULL
) WITHOUT ROWID;
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS guardrail_units (
    task TEXT NOT NULL,
    scope TEXT NOT NULL,
    units TEXT NOT NULL,
    drop_after REAL NOT NULL,
    PRIMARY KEY (task, scope)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS guardrail_units_drop_after ON guardrail_units (drop_after);
CREATE TABLE IF NOT EXISTS guardrail_refunds (
    call_id TEXT NOT NULL PRIMARY KEY,
    drop_after REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS guardrail_events (
    task TEXT NOT NULL,
    scope TEXT NOT NULL,
    at REAL NOT NULL,
    event TEXT NOT NULL,
    units TEXT NOT NULL,
    member TEXT NOT NULL,
    drop_after REAL NOT NULL,
    PRIMARY KEY (task, scope, at, event)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS guardrail_events_drop_after ON guardrail_events (drop_after);
CREATE TABLE IF NOT EXISTS guardrail_members (
    task TEXT NOT NULL,
    scope TEXT NOT NULL,
    member TEXT NOT NULL,
    charges INTEGER NOT NULL,
    drop_after REAL NOT NULL,
    PRIMARY KEY (task, scope, member)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS guardrail_members_drop_after ON guardrail_members (drop_after);
CREATE TABLE IF NOT EXISTS guardrail_revoked (
    task TEXT NOT NULL PRIMARY KEY,
    reason TEXT NOT NULL,
    revoked_at REAL NOT NULL,
    drop_after REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS guardrail_revoked_drop_after ON guardrail_revoked (drop_after);
""" + _APPROVAL_SCHEMA

_SELECT_USED = "SELECT units FROM guardrail_units WHERE task = ? AND scope = ?"
_UPSERT_USED = (
    "INSERT INTO guardrail_units (task, scope, units, drop_after) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (task, scope) DO UPDATE SET units = excluded.units, "
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


class _Gone(sqlite3.DatabaseError):
    """The database file was deleted or replaced under a running store: fatal, fail closed."""


class SQLiteStore(PersistentStore):
    """Budget store in a SQLite database file (see the module docstring).

    ``create`` makes the database when the file does not exist yet; without it a missing file
    raises ``StoreUnavailable``. ``timeout`` is SQLite's busy timeout: the longest one attempt
    waits for another writer (never past ``retry.deadline``). ``grace`` is how long (seconds)
    budgets and revocations are kept after the manifest's ``expires_at`` before they are purged.
    ``retry`` bounds the retries of a failing attempt; when they run out the method raises
    ``StoreUnavailable``.
    """

    budget_features = FEATURES
    # Lock timeouts, I/O errors, a file that cannot be opened right now: worth another try.
    transient = (sqlite3.OperationalError,)
    # A corrupt, foreign, deleted or replaced file and the like: give up at once (fail closed).
    fatal = (sqlite3.DatabaseError,)

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = False,
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
        self._identity: tuple[int, int] | None = None
        if not create and not self.path.exists():
            raise StoreUnavailable(
                f"{self._label}: no database at {str(self.path.absolute())!r}; create it once with "
                f"`guardrail store init sqlite:///{self.path}` (or add ?create=1 to the URL)"
            )
        self._create = create
        self._run(self._init_schema, "open")
        self._identity = self._stat()
        self._create = False  # every later connection opens the file that now exists, or fails

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # --- connections -------------------------------------------------------------------

    def _stat(self) -> tuple[int, int]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise _Gone(f"the database file {str(self.path)!r} was deleted") from None
        if not stat.S_ISREG(st.st_mode):
            raise _Gone(f"{str(self.path)!r} is not a regular file")
        return (st.st_dev, st.st_ino)

    def _run(self, fn: Callable[[], T], what: str) -> T:
        # The deadline of this operation, which every attempt's lock wait respects.
        self._local.end = time.monotonic() + self.retry.deadline
        return super()._run(fn, what)

    def _wait(self) -> float:
        """How long this attempt may wait for the write lock: the timeout, within the deadline."""
        end: float | None = getattr(self._local, "end", None)
        if end is None:
            return self._timeout
        return max(0.001, min(self._timeout, end - time.monotonic()))

    def _conn(self) -> sqlite3.Connection:
        if self._identity is not None and self._stat() != self._identity:
            raise _Gone(f"the database file {str(self.path)!r} was replaced")
        holder: _Connection | None = getattr(self._local, "holder", None)
        if holder is not None and holder.pid == os.getpid():
            return holder.conn
        # mode=rw never creates a file: only the opening store may, and only with create=True
        mode = "rwc" if self._create else "rw"
        conn = sqlite3.connect(
            f"file:{quote(str(self.path.absolute()))}?mode={mode}",
            uri=True,
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
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'guardrail_approvals'"
            ).fetchone()
            if found is None:
                with self._transaction(conn):
                    for statement in _APPROVAL_SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute("COMMIT")
            return
        with self._transaction(conn):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            if version == 1:  # use kept as REAL: carried over, rounded up (stricter)
                rows = conn.execute("SELECT task, scope, used, drop_after FROM guardrail_usage").fetchall()
                conn.executemany(
                    _UPSERT_USED,
                    [(t, sc, str(amount_units(float(u)) or 0), d) for t, sc, u, d in rows],
                )
                conn.execute("DROP TABLE guardrail_usage")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")

    # --- the BudgetStore protocol ------------------------------------------------------

    def consume(self, charges: Sequence[Charge], *, expires_at: float) -> Overrun | None:
        charges = list(charges)
        if not charges:
            return None
        expires_at = float(expires_at)
        result = self._run(lambda: self._settle([], charges, expires_at, True), "consume")
        assert not isinstance(result, Revoked)  # no task asked about
        return result

    def settle(
        self, tasks: Sequence[str], charges: Sequence[Charge], *, expires_at: float, commit: bool
    ) -> Revoked | Overrun | None:
        """Revocation and charge in one transaction (see `guardrail._stores._protocol`)."""
        tasks, charges, expires_at = list(tasks), list(charges), float(expires_at)
        return self._run(lambda: self._settle(tasks, charges, expires_at, commit), "settle")

    def _settle(
        self, tasks: list[str], charges: list[Charge], expires_at: float, commit: bool
    ) -> Revoked | Overrun | None:
        conn = self._conn()
        now = time.time()
        drop_after = _drop_after(expires_at, now, self.grace)
        write = commit and bool(charges)
        with self._transaction(conn, write=write):
            if tasks:
                marks = ", ".join("?" * len(tasks))
                rows = dict(conn.execute(
                    f"SELECT task, reason FROM guardrail_revoked WHERE task IN ({marks})", tasks
                ))
                for task in tasks:
                    if task in rows:
                        return Revoked(str(rows[task]))
            pending: dict[tuple[str, str], int] = {}
            special = [c for c in charges if c.window or c.member]
            for charge in charges:
                if charge.window or charge.member:
                    continue
                key = (charge.task, charge.scope)
                used = pending.get(key)
                if used is None:
                    used = _read_units(conn, key)
                amount, limit = amount_units(charge.amount), limit_units(charge.limit)
                if amount is None or limit is None or used + amount > limit:  # NaN never fits
                    return Overrun(charge, to_number(used))  # rolled back: nothing charged
                pending[key] = used + amount
            if special:
                overrun = _special(conn, special)
                if overrun is not None:
                    return overrun
            if not write:
                return None
            conn.executemany(
                _UPSERT_USED,
                [(task, scope, str(used), drop_after) for (task, scope), used in pending.items()],
            )
            if special:
                _commit_special(conn, special, drop_after)
            if now >= self._next_purge:
                self._purge(conn, now)
                self._next_purge = now + self._purge_interval
            conn.execute("COMMIT")
        return None

    def refund(self, charges: Sequence[Charge], *, call_id: str) -> bool:
        """Give a call's charges back, once per ``call_id`` (one transaction)."""
        charges = list(charges)

        def write() -> bool:
            conn = self._conn()
            with self._transaction(conn):
                now = time.time()
                marked = conn.execute(
                    "INSERT OR IGNORE INTO guardrail_refunds (call_id, drop_after) VALUES (?, ?)",
                    (call_id, now + self.grace),
                ).rowcount
                if not marked:
                    return False  # refunded before: rolled back
                keep = now + self.grace
                for charge in charges:
                    key = (charge.task, charge.scope)
                    if charge.window:
                        conn.execute(
                            "DELETE FROM guardrail_events WHERE task = ? AND scope = ? AND at = ? "
                            "AND event = ?", (*key, float(charge.at), charge.event),
                        )
                        continue
                    if charge.member:
                        conn.execute(
                            "UPDATE guardrail_members SET charges = charges - 1 WHERE task = ? "
                            "AND scope = ? AND member = ?", (*key, charge.member),
                        )
                        conn.execute(
                            "DELETE FROM guardrail_members WHERE task = ? AND scope = ? AND "
                            "member = ? AND charges <= 0", (*key, charge.member),
                        )
                        continue
                    amount = amount_units(charge.amount)
                    row = conn.execute(
                        "SELECT units, drop_after FROM guardrail_units WHERE task = ? AND scope = ?", key
                    ).fetchone()
                    if amount is None or row is None:
                        continue
                    left = max(0, int(row[0]) - amount)
                    conn.execute(
                        "UPDATE guardrail_units SET units = ? WHERE task = ? AND scope = ?", (str(left), *key)
                    )
                    keep = max(keep, float(row[1]))
                # the mark lives as long as the use it gave back could
                conn.execute("UPDATE guardrail_refunds SET drop_after = ? WHERE call_id = ?", (keep, call_id))
                conn.execute("COMMIT")
                return True

        return self._run(write, "refund")

    @contextlib.contextmanager
    def _transaction(self, conn: sqlite3.Connection, *, write: bool = True) -> Iterator[None]:
        """A transaction, rolled back unless the body commits. A write transaction
        (``BEGIN IMMEDIATE``) takes SQLite's write lock, waiting at most `_wait()` for other
        processes; threads of this process queue on a lock first, since SQLite's busy handler
        polls and can starve a thread under sustained contention. A read transaction
        (``BEGIN``) sees one snapshot and never waits (WAL)."""
        if not write:
            conn.execute("BEGIN")
            try:
                yield
            finally:
                _rollback(conn)
            return
        wait = self._wait()
        lock = _write_lock(self._lock_key)
        if not lock.acquire(timeout=wait):
            raise sqlite3.OperationalError("database is locked (by another thread of this process)")
        try:
            conn.execute(f"PRAGMA busy_timeout = {max(1, int(wait * 1000))}")
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
            return [to_number(_read_units(conn, key)) for key in keys]

        return self._run(read, "used")

    def usage(self, task: str) -> dict[str, float]:
        """Every scope of `task` and its use: a windowed one's every kept entry, a distinct
        one's the number of values."""

        def read() -> dict[str, float]:
            conn = self._conn()
            rows = conn.execute("SELECT scope, units FROM guardrail_units WHERE task = ?", (task,))
            out = {scope: to_number(int(units)) for scope, units in rows}
            for scope, units, member in conn.execute(
                "SELECT scope, units, member FROM guardrail_events WHERE task = ?", (task,)
            ).fetchall():
                out[scope] = out.get(scope, 0.0) + (0.0 if member else to_number(int(units)))
            distinct = conn.execute(
                "SELECT scope, COUNT(DISTINCT member) FROM guardrail_events WHERE task = ? "
                "AND member != '' GROUP BY scope UNION ALL SELECT scope, COUNT(*) FROM "
                "guardrail_members WHERE task = ? GROUP BY scope", (task, task),
            )
            for scope, count in distinct:
                out[scope] = float(count)
            return out

        return self._run(read, "usage")

    def measure(self, charges: Sequence[Charge]) -> list[float]:
        """What each charge's budget has used as it sees it: within its window as of its `at`,
        distinct values counted (`Guard.usage`)."""
        charges = list(charges)

        def read() -> list[float]:
            conn = self._conn()
            out: list[float] = []
            for c in charges:
                key = (c.task, c.scope)
                if c.window or c.member:
                    used, _ = _window_use(conn, c, set())
                    out.append(float(used) if c.member else to_number(used))
                else:
                    out.append(to_number(_read_units(conn, key)))
            return out

        return self._run(read, "measure")

    def tasks(self) -> list[str]:
        """Every task with budget use or a revocation."""

        def read() -> list[str]:
            rows = self._conn().execute(
                "SELECT task FROM guardrail_units UNION SELECT task FROM guardrail_revoked UNION "
                "SELECT task FROM guardrail_events UNION SELECT task FROM guardrail_members ORDER BY 1"
            )
            return [str(task) for (task,) in rows]

        return self._run(read, "tasks")

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

    # --- approvals (see `_approvals`) --------------------------------------------------------

    def request_approval(self, request: ApprovalRequest, *, now: float) -> ApprovalRequest:
        key = binding_of(request.task, request.tool, request.args_digest)

        def write() -> ApprovalRequest:
            conn = self._conn()
            with self._transaction(conn):
                row = conn.execute(
                    "SELECT id FROM guardrail_approval_calls WHERE binding = ?", (key,)
                ).fetchone()
                newest = _record(conn, str(row[0])) if row is not None else None
                if newest is not None and live_pending(newest, now):
                    return newest.request
                drop_after = _drop_after(request.expires_ts, time.time(), self.grace)
                conn.execute(
                    "INSERT INTO guardrail_approvals (id, task, request, drop_after) "
                    "VALUES (?, ?, ?, ?)",
                    (request.id, request.task, request.model_dump_json(), drop_after),
                )
                conn.execute(
                    "INSERT INTO guardrail_approval_calls (binding, id) VALUES (?, ?) "
                    "ON CONFLICT (binding) DO UPDATE SET id = excluded.id",
                    (key, request.id),
                )
                conn.execute("COMMIT")
                return request

        return self._run(write, "request_approval")

    def resolve_approval(self, request_id: str, approval: Approval, *, now: float) -> Resolved:
        def write() -> Resolved:
            conn = self._conn()
            with self._transaction(conn):
                resolved, record = resolve_step(_record(conn, request_id), approval, now)
                if record is not None:
                    _write_record(conn, record)
                    conn.execute("COMMIT")
                return resolved

        return self._run(write, "resolve_approval")

    def take_approval(
        self, task: str, tool: str, digest: str, *, request_id: str | None,
        grant: Approval | None, now: float,
    ) -> Taken:
        def write() -> Taken:
            conn = self._conn()
            with self._transaction(conn):
                rid = request_id
                if rid is None:
                    row = conn.execute(
                        "SELECT id FROM guardrail_approval_calls WHERE binding = ?",
                        (binding_of(task, tool, digest),),
                    ).fetchone()
                    rid = None if row is None else str(row[0])
                found = None if rid is None else _record(conn, rid)
                taken, record = take_step(found, (task, tool, digest), request_id is not None, grant, now)
                if record is not None:
                    _write_record(conn, record)
                    conn.execute("COMMIT")
                return taken

        return self._run(write, "take_approval")

    def approval_requests(
        self, task: str | None = None, *, now: float
    ) -> list[tuple[ApprovalRequest, Approval | None]]:
        def read() -> list[ApprovalRecord]:
            conn = self._conn()
            query = "SELECT request, approval, used FROM guardrail_approvals WHERE used = 0"
            rows = (
                conn.execute(query) if task is None
                else conn.execute(query + " AND task = ?", (task,))
            )
            return [_parse_record(*row) for row in rows]

        return listed(self._run(read, "approval_requests"), task, now)

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
        deleted = conn.execute("DELETE FROM guardrail_units WHERE drop_after < ?", (now,)).rowcount
        deleted += conn.execute("DELETE FROM guardrail_revoked WHERE drop_after < ?", (now,)).rowcount
        deleted += conn.execute("DELETE FROM guardrail_refunds WHERE drop_after < ?", (now,)).rowcount
        deleted += conn.execute("DELETE FROM guardrail_events WHERE drop_after < ?", (now,)).rowcount
        deleted += conn.execute("DELETE FROM guardrail_members WHERE drop_after < ?", (now,)).rowcount
        deleted += conn.execute(
            "DELETE FROM guardrail_approvals WHERE drop_after < ?", (now,)
        ).rowcount
        conn.execute(
            "DELETE FROM guardrail_approval_calls WHERE id NOT IN (SELECT id FROM guardrail_approvals)"
        )
        return deleted


def _parse_record(request: str, approval: str | None, used: int) -> ApprovalRecord:
    return ApprovalRecord(
        ApprovalRequest.model_validate_json(request),
        None if approval is None else Approval.model_validate_json(approval),
        bool(used),
    )


def _record(conn: sqlite3.Connection, request_id: str) -> ApprovalRecord | None:
    row = conn.execute(
        "SELECT request, approval, used FROM guardrail_approvals WHERE id = ?", (request_id,)
    ).fetchone()
    return None if row is None else _parse_record(*row)


def _write_record(conn: sqlite3.Connection, record: ApprovalRecord) -> None:
    answer = None if record.approval is None else record.approval.model_dump_json()
    conn.execute(
        "UPDATE guardrail_approvals SET approval = ?, used = ? WHERE id = ?",
        (answer, int(record.used), record.request.id),
    )


def _read_units(conn: sqlite3.Connection, key: tuple[str, str]) -> int:
    row = conn.execute(_SELECT_USED, key).fetchone()
    return 0 if row is None else int(row[0])


def _window_use(conn: sqlite3.Connection, charge: Charge, members: set[str]) -> tuple[int, bool]:
    """(the use of `charge`'s key, whether its member is already there): units within the
    window, or the number of distinct members; `members` receives the members found."""
    key = (charge.task, charge.scope)
    if not charge.member:
        rows = conn.execute(
            "SELECT units FROM guardrail_events WHERE task = ? AND scope = ? AND at > ?",
            (*key, float(charge.at - charge.window)),
        )
        return sum(int(units) for (units,) in rows), False
    if charge.window:
        rows = conn.execute(
            "SELECT DISTINCT member FROM guardrail_events WHERE task = ? AND scope = ? AND at > ?",
            (*key, float(charge.at - charge.window)),
        )
    else:
        rows = conn.execute(
            "SELECT member FROM guardrail_members WHERE task = ? AND scope = ?", key
        )
    members.update(str(m) for (m,) in rows)
    return len(members), charge.member in members


def _special(conn: sqlite3.Connection, charges: list[Charge]) -> Overrun | None:
    """The first windowed or distinct charge that does not fit (inside the transaction)."""
    added: dict[tuple[str, str], int] = {}
    seen: dict[tuple[str, str], set[str]] = {}
    for charge in charges:
        key = (charge.task, charge.scope)
        members: set[str] = set()
        base, present = _window_use(conn, charge, members)
        base += added.get(key, 0)
        if charge.member:
            new = seen.setdefault(key, set())
            if present or charge.member in new:
                continue
            new.add(charge.member)
            if not base + 1 <= charge.limit:  # NaN never fits
                return Overrun(charge, float(base))
            added[key] = added.get(key, 0) + 1
            continue
        amount, limit = amount_units(charge.amount), limit_units(charge.limit)
        if amount is None or limit is None or base + amount > limit:
            return Overrun(charge, to_number(base))
        added[key] = added.get(key, 0) + amount
    return None


def _commit_special(conn: sqlite3.Connection, charges: list[Charge], drop_after: float) -> None:
    for charge in charges:
        key = (charge.task, charge.scope)
        if charge.window:
            # Entries long outside this window (see `_protocol.slack`).
            conn.execute(
                "DELETE FROM guardrail_events WHERE task = ? AND scope = ? AND at <= ?",
                (*key, float(charge.at - charge.window - slack(charge.window))),
            )
            units = 0 if charge.member else (amount_units(charge.amount) or 0)
            conn.execute(
                "INSERT INTO guardrail_events (task, scope, at, event, units, member, drop_after) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*key, float(charge.at), charge.event, str(units), charge.member, drop_after),
            )
        else:
            conn.execute(
                "INSERT INTO guardrail_members (task, scope, member, charges, drop_after) "
                "VALUES (?, ?, ?, 1, ?) ON CONFLICT (task, scope, member) DO UPDATE SET "
                "charges = charges + 1, drop_after = max(drop_after, excluded.drop_after)",
                (*key, charge.member, drop_after),
            )


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
