"""The SQLite file itself: created only when asked, never silently re-created, watched for being
deleted or replaced, a deadline that bounds waiting for another process's lock, and the
schema 1 -> 2 upgrade."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from guardrail import DenialCode, Guard, StoreUnavailable
from guardrail._stores._sqlite import SQLiteStore
from guardrail._stores._url import open_store
from guardrail.testing import task_id
from tests.stores.support import Workers, code

LATER = time.time() + 3600


def five_calls(task: str) -> dict[str, object]:
    return {"task": task, "ttl": "1h", "tools": {"send": {"budget": {"calls": 5}}}}


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def test_a_missing_file_is_refused_unless_creating_is_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "budgets.db"
    with pytest.raises(StoreUnavailable, match=r"no database at .*guardrail store init"):
        open_store(f"sqlite:///{path}")
    with pytest.raises(StoreUnavailable, match="no database"):
        Guard(five_calls(task_id()), store=f"sqlite:///{path}")
    assert not path.exists()
    open_store(f"sqlite:///{path}?create=1").close()
    assert path.exists()
    open_store(f"sqlite:///{path}").close()  # there now


def test_a_deleted_database_hands_out_no_fresh_budget(tmp_path: Path, workers: Workers) -> None:
    path = tmp_path / "budgets.db"
    task = task_id()
    first = Guard(five_calls(task), store=f"sqlite:///{path}?create=1")
    assert all(first.authorize("send").allowed for _ in range(5))
    assert code(first.authorize("send")) == DenialCode.BUDGET_EXHAUSTED
    remove_database(path)
    # the running worker fails closed
    assert code(first.authorize("send")) == DenialCode.STORE_UNAVAILABLE
    assert code(first.check("send")) == DenialCode.STORE_UNAVAILABLE
    # a new worker on the same URL does not create an empty database with 5 more calls
    result = workers.run("guard", url=f"sqlite:///{path}", manifest=five_calls(task), tool="send",
                         args={}, calls=5)  # fmt: skip
    assert "no database" in result["unavailable"]
    assert not path.exists()


def test_a_replaced_database_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "budgets.db"
    task = task_id()
    guard = Guard(five_calls(task), store=f"sqlite:///{path}?create=1")
    assert all(guard.authorize("send").allowed for _ in range(5))
    remove_database(path)
    open_store(f"sqlite:///{path}?create=1").close()  # someone creates a fresh one in its place
    decision = guard.authorize("send")
    assert code(decision) == DenialCode.STORE_UNAVAILABLE
    assert decision.denial is not None and "replaced" in decision.denial.message
    with pytest.raises(StoreUnavailable, match="replaced"):
        guard.store.usage(task)


def test_the_deadline_bounds_a_decision_while_another_process_holds_the_lock(
    tmp_path: Path, workers: Workers
) -> None:
    path = tmp_path / "budgets.db"
    open_store(f"sqlite:///{path}?create=1").close()
    guard = Guard(five_calls(task_id()), store=f"sqlite:///{path}?attempts=2&deadline=0.5")
    ready, release = tmp_path / "ready", tmp_path / "release"
    holder = workers.spawn("hold_lock", path=str(path), ready=str(ready), release=str(release))
    workers.wait_for_files([ready])
    try:
        start = time.monotonic()
        decision = guard.authorize("send")
        waited = time.monotonic() - start
    finally:
        release.touch()
    assert code(decision) == DenialCode.STORE_UNAVAILABLE
    # bounded by the deadline, not by the 5 s busy timeout of one attempt (let alone two)
    assert waited < 4.0, waited
    assert workers.result(holder) == {"done": True}
    assert guard.authorize("send").allowed


def test_a_schema_1_database_is_upgraded_rounding_up(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE guardrail_usage (task TEXT NOT NULL, scope TEXT NOT NULL, used REAL NOT NULL, "
        "drop_after REAL NOT NULL, PRIMARY KEY (task, scope)) WITHOUT ROWID;"
        "CREATE TABLE guardrail_revoked (task TEXT NOT NULL PRIMARY KEY, reason TEXT NOT NULL, "
        "revoked_at REAL NOT NULL, drop_after REAL) WITHOUT ROWID;"
        f"INSERT INTO guardrail_usage VALUES ('t', 'calls', 3.0, {LATER});"
        f"INSERT INTO guardrail_usage VALUES ('t', 'sum.x', 0.30000000000000004, {LATER});"
        "INSERT INTO guardrail_revoked VALUES ('gone', 'bye', 0, NULL);"
        "PRAGMA user_version = 1;"
    )
    conn.close()
    with SQLiteStore(path) as store:
        assert store.usage("t") == {"calls": 3.0, "sum.x": 0.300000001}
        assert store.revoked(["gone"]) == "bye"
        assert store.tasks() == ["gone", "t"]
    assert os.path.exists(path)
