"""SQLiteStore: file format, durability, housekeeping and a writer that will not let go."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from guardrail import Charge, RetryPolicy, StoreUnavailable
from guardrail._stores._sqlite import SQLiteStore
from tests.stores.support import Workers

LATER = time.time() + 3600
FAST = RetryPolicy(attempts=3, deadline=1.0)


def test_the_database_is_in_wal_mode_with_its_schema(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    with SQLiteStore(path, create=True):
        pass
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"guardrail_units", "guardrail_revoked", "guardrail_refunds",
                          "guardrail_events", "guardrail_members",
                          "guardrail_approvals", "guardrail_approval_calls"}
    finally:
        conn.close()


def test_reopening_the_file_continues_from_the_spent_budget(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    charge = Charge("t", "calls", 1.0, 5.0)
    first = SQLiteStore(path, create=True)
    assert [first.consume([charge], expires_at=LATER) for _ in range(3)] == [None] * 3
    first.revoke("other", "stop")
    first.close()

    second = SQLiteStore(path, create=True)
    try:
        assert second.usage("t") == {"calls": 3.0}
        assert second.revoked(["other"]) == "stop"
        assert [second.consume([charge], expires_at=LATER) for _ in range(3)] == [
            None,
            None,
            (charge, 5.0),
        ]
    finally:
        second.close()


def test_a_closed_store_refuses_to_work(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.db", create=True)
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.consume([Charge("t", "calls", 1.0, 5.0)], expires_at=LATER)
    with pytest.raises(StoreUnavailable, match="closed"):
        store.revoked(["t"])


def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    path.write_bytes(b"definitely not SQLite " * 100)
    with pytest.raises(StoreUnavailable, match="not a database"):
        SQLiteStore(path, create=True, retry=FAST)


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    SQLiteStore(path, create=True).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreUnavailable, match="newer"):
        SQLiteStore(path, create=True, retry=FAST)


def test_each_thread_has_its_own_connection_and_close_closes_them_all(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.db", create=True)
    conns: list[sqlite3.Connection] = []

    def use() -> None:
        store.consume([Charge("t", "calls", 1.0, 10.0)], expires_at=LATER)
        conns.append(store._conn())

    threads = [threading.Thread(target=use) for _ in range(3)]
    for thread in threads:
        thread.start()
        thread.join(10)
    main = store._conn()
    assert len({id(conn) for conn in [*conns, main]}) == 4
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        main.execute("SELECT 1")
    with SQLiteStore(tmp_path / "g.db", create=True) as again:
        assert again.usage("t") == {"calls": 3.0}


def test_purge_drops_what_expired_long_ago_and_keeps_the_rest(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.db", create=True, grace=100.0)
    try:
        now = time.time()
        store.consume([Charge("short", "calls", 1.0, 5.0)], expires_at=now + 10)
        store.consume([Charge("long", "calls", 1.0, 5.0)], expires_at=now + 1000)
        # a later expiry of the same task extends it; an earlier one never shortens it
        store.consume([Charge("ext", "calls", 1.0, 5.0)], expires_at=now + 10)
        store.consume([Charge("ext", "calls", 1.0, 5.0)], expires_at=now + 1000)
        store.consume([Charge("ext", "calls", 1.0, 5.0)], expires_at=now + 10)
        store.revoke("short", "r1", expires_at=now + 10)
        store.revoke("forever", "r2")
        store.revoke("forever", "r2", expires_at=now + 10)  # an unknown end stays unknown

        assert store.purge(now=now + 50) == 0  # still within grace
        assert store.purge(now=now + 200) == 2  # short's budget and revocation
        assert store.usage("short") == {}
        assert store.revoked(["short"]) is None
        assert store.usage("long") == {"calls": 1.0}
        assert store.usage("ext") == {"calls": 3.0}
        assert store.revoked(["forever"]) == "r2"
        assert store.purge(now=now + 1200) == 2  # long and ext
        assert store.revoked(["forever"]) == "r2"
    finally:
        store.close()


def test_a_charge_with_an_expiry_in_the_past_is_kept_at_least_grace(tmp_path: Path) -> None:
    # A guard with a skewed or injected clock must not see its budget vanish at once.
    store = SQLiteStore(tmp_path / "g.db", create=True, grace=100.0)
    try:
        store.consume([Charge("t", "calls", 1.0, 5.0)], expires_at=0.0)
        assert store.purge(now=time.time() + 50) == 0
        assert store.usage("t") == {"calls": 1.0}
    finally:
        store.close()


def test_a_stuck_writer_makes_the_store_unavailable_until_it_lets_go(
    tmp_path: Path, workers: Workers
) -> None:
    path = tmp_path / "g.db"
    store = SQLiteStore(path, create=True, timeout=0.1, retry=RetryPolicy(attempts=2, deadline=0.5))
    try:
        charge = Charge("t", "calls", 1.0, 3.0)
        assert store.consume([charge], expires_at=LATER) is None
        store.revoke("gone", "bye")

        ready, release = tmp_path / "ready", tmp_path / "release"
        holder = workers.spawn("hold_lock", path=str(path), ready=str(ready), release=str(release))
        workers.wait_for_files([ready])
        for _ in range(3):
            with pytest.raises(StoreUnavailable, match="locked"):
                store.consume([charge], expires_at=LATER)
        with pytest.raises(StoreUnavailable):
            store.revoke("t", "x")
        # readers are not blocked by a writer in WAL mode
        assert store.usage("t") == {"calls": 1.0}
        assert store.revoked(["gone"]) == "bye"

        release.touch()
        assert workers.result(holder) == {"done": True}
        assert [store.consume([charge], expires_at=LATER) for _ in range(3)] == [None, None, (charge, 3.0)]
        assert store.revoked(["t"]) is None
    finally:
        store.close()


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file path"):
        SQLiteStore(":memory:")
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(tmp_path / "g.db", create=True, synchronous="off")
    with pytest.raises(ValueError, match="grace"):
        SQLiteStore(tmp_path / "g.db", create=True, grace=float("nan"))
    store = SQLiteStore(tmp_path / "g.db", create=True)
    try:
        with pytest.raises(ValueError, match="NaN"):
            store.consume([Charge("t", "calls", 1.0, 5.0)], expires_at=float("nan"))
        assert store.usage("t") == {}
    finally:
        store.close()
