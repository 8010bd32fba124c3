"""Approval requests in every store (memory, SQLite, Redis, AsyncRedisStore): kept, answered,
used exactly once (threads and processes racing), expiring, bound to their call."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from guardrail import (
    Approval,
    ApprovalError,
    ApprovalRequest,
    BudgetStore,
    DenialCode,
    Guard,
    MemoryStore,
)
from guardrail._stores._approvals import ApprovalStore, supports_approvals
from guardrail._stores._url import open_store
from tests.stores.support import Workers

T0 = 1_900_000_000.0


def request(rid: str, *, task: str = "t", tool: str = "pay", digest: str = "d" * 64,
            expires: float = T0 + 600) -> ApprovalRequest:
    return ApprovalRequest(
        id=rid, task=task, tool=tool, args_digest=digest, reason="true",
        created_at=datetime.fromtimestamp(T0, UTC), expires_at=datetime.fromtimestamp(expires, UTC),
        args={"amount": 5},
    )


def take(b: ApprovalStore, rid: str | None = None, now: float = T0, call: tuple[str, str, str] = (
    "t", "pay", "d" * 64)) -> str:
    return b.take_approval(*call, request_id=rid, grant=None, now=now).status


def answer(b: ApprovalStore, rid: str, approved: bool, now: float = T0) -> str:
    return b.resolve_approval(rid, Approval(request_id=rid, approved=approved), now=now).status


def book(store: BudgetStore) -> ApprovalStore:
    assert supports_approvals(store)
    return store  # type: ignore[return-value]


def manifest(task: str, **grant: Any) -> dict[str, Any]:
    return {
        "task": task, "ttl": "1h",
        "tools": {"pay": {"args": {"amount": {"type": "number"}}, "ask": True, **grant}},
    }


# -- the store methods -------------------------------------------------------------------------


@pytest.fixture
def store(store_url: str, opener: Callable[[str], BudgetStore]) -> BudgetStore:
    """A fresh store of each kind (the memory URL is the process's shared store: not that one)."""
    return MemoryStore() if store_url == "memory:" else opener(store_url)


def test_a_request_is_kept_answered_and_taken_once(store: BudgetStore) -> None:
    b = book(store)
    kept = b.request_approval(request("apr-1"), now=T0)
    assert kept == request("apr-1")
    # The identical call asking again gets the pending one, not a copy.
    assert b.request_approval(request("apr-2"), now=T0 + 1).id == "apr-1"
    assert [r.id for r, a in b.approval_requests("t", now=T0)] == ["apr-1"]
    assert b.take_approval("t", "pay", "d" * 64, request_id=None, grant=None, now=T0).status == "pending"

    resolved = b.resolve_approval("apr-1", Approval(request_id="x", approved=True, by="ann"), now=T0)
    assert resolved.status == "resolved" and resolved.approval is not None
    assert resolved.approval.request_id == "apr-1" and resolved.approval.by == "ann"
    assert answer(b, "apr-1", False) == "decided"

    taken = b.take_approval("t", "pay", "d" * 64, request_id=None, grant=None, now=T0 + 2)
    assert taken.status == "approved" and taken.approval is not None and taken.approval.by == "ann"
    assert taken.request == request("apr-1")
    # Used: by the call it is gone (the call asks afresh), by id it says so.
    assert b.take_approval("t", "pay", "d" * 64, request_id=None, grant=None, now=T0).status == "missing"
    assert b.take_approval("t", "pay", "d" * 64, request_id="apr-1", grant=None, now=T0).status == "used"
    assert b.resolve_approval("apr-1", Approval(request_id="apr-1", approved=True), now=T0).status == "used"
    assert b.approval_requests("t", now=T0) == []


def test_a_request_is_bound_to_its_task_tool_and_arguments(store: BudgetStore) -> None:
    b = book(store)
    b.request_approval(request("apr-b"), now=T0)
    b.resolve_approval("apr-b", Approval(request_id="apr-b", approved=True), now=T0)
    for task, tool, digest in [("other", "pay", "d" * 64), ("t", "refund", "d" * 64),
                               ("t", "pay", "e" * 64)]:
        taken = b.take_approval(task, tool, digest, request_id="apr-b", grant=None, now=T0)
        assert taken.status == "mismatch" and taken.request is not None
        assert b.take_approval(task, tool, digest, request_id=None, grant=None, now=T0).status == "missing"
    # Still there for its own call.
    assert b.take_approval("t", "pay", "d" * 64, request_id="apr-b", grant=None, now=T0).status == "approved"


def test_a_request_expires(store: BudgetStore) -> None:
    b = book(store)
    b.request_approval(request("apr-e", expires=T0 + 10), now=T0)
    b.resolve_approval("apr-e", Approval(request_id="apr-e", approved=True), now=T0 + 5)
    # By the call: the identical call asks afresh; by id: expired, then used.
    assert take(b, now=T0 + 10) == "missing"
    assert take(b, "apr-e", now=T0 + 10) == "expired"
    assert take(b, "apr-e") == "used"
    b.request_approval(request("apr-f", expires=T0 + 10), now=T0)
    assert answer(b, "apr-f", True, now=T0 + 11) == "expired"
    assert b.approval_requests(now=T0 + 11) == []
    # A new request replaces an expired pending one.
    assert b.request_approval(request("apr-g"), now=T0 + 11).id == "apr-g"


def test_a_grant_answers_and_takes_in_one_step_and_unknown_ids_are_missing(store: BudgetStore) -> None:
    b = book(store)
    b.request_approval(request("apr-g1"), now=T0)
    taken = b.take_approval(
        "t", "pay", "d" * 64, request_id="apr-g1",
        grant=Approval(request_id="apr-g1", approved=False, by="bob", reason="no"), now=T0,
    )
    assert taken.status == "rejected" and taken.approval is not None and taken.approval.by == "bob"
    assert b.take_approval("t", "pay", "d" * 64, request_id="nope", grant=None, now=T0).status == "missing"
    assert b.resolve_approval("nope", Approval(request_id="nope", approved=True), now=T0).status == "missing"


def test_listing_every_task(store: BudgetStore) -> None:
    b = book(store)
    b.request_approval(request("apr-l1", task="a"), now=T0)
    b.request_approval(request("apr-l2", task="b"), now=T0)
    assert {r.id for r, _ in b.approval_requests(now=T0)} == {"apr-l1", "apr-l2"}
    assert [r.id for r, _ in b.approval_requests("b", now=T0)] == ["apr-l2"]


# -- through a guard -----------------------------------------------------------------------------


def test_an_out_of_band_approval_in_another_guard_lets_the_identical_call_run(
    store_url: str, opener: Callable[[str], BudgetStore]
) -> None:
    store = opener(store_url)
    first = Guard(manifest("oob", budget={"calls": 5}), store=store)
    asked = first.authorize("pay", {"amount": 5})
    assert asked.outcome == "ask" and asked.denial is not None and asked.approval is not None
    assert asked.denial.code is DenialCode.APPROVAL_REQUIRED
    assert asked.denial.approval_id == asked.approval.id
    assert first.usage()["tools.pay.calls"]["used"] == 0  # nothing charged while asking
    # Another guard (another worker of the fleet) sees it and a person approves it.
    second = opener(store_url) if store_url != "memory:" else store
    other = Guard(manifest("oob", budget={"calls": 5}), store=second)
    assert [r.id for r in other.pending()] == [asked.approval.id]
    other.approve(asked.approval.id, by="ann", reason="ok")
    assert other.pending() == []
    # Changed arguments ask again; the identical call runs once, charged once.
    assert first.authorize("pay", {"amount": 6}).outcome == "ask"
    ran = first.authorize("pay", {"amount": 5})
    assert ran.allowed and ran.resolution is not None and ran.resolution.by == "ann"
    assert ran.approval is not None and ran.approval.id == asked.approval.id
    assert first.usage()["tools.pay.calls"]["used"] == 1
    assert first.authorize("pay", {"amount": 5}).outcome == "ask"  # used once
    with pytest.raises(ApprovalError, match="used before"):
        other.approve(asked.approval.id)


def test_async_redis_store_asks_and_takes_natively(redis_server: Any) -> None:
    from tests.stores.support import unique_prefix

    url = f"{redis_server.url}?prefix={unique_prefix()}"
    guard = Guard(manifest("async-redis"), store=url)

    async def main() -> list[Any]:
        asked = await guard.aauthorize("pay", {"amount": 1})
        assert asked.approval is not None
        guard.reject(asked.approval.id, by="bob", reason="not this one")
        refused = await guard.aauthorize("pay", {"amount": 1})
        again = await guard.aauthorize("pay", {"amount": 1})
        assert again.approval is not None
        ok = await guard.aauthorize("pay", {"amount": 1}, approval=True)
        return [asked.outcome, refused.denial.code.value if refused.denial else None,
                refused.resolution.by if refused.resolution else None, again.outcome, ok.outcome,
                ok.approval.id == again.approval.id if ok.approval else None]

    assert asyncio.run(main()) == ["ask", "approval_denied", "bob", "ask", "allow", True]
    guard.store.close()


def test_threads_racing_for_one_approval_use_it_once(
    store_url: str, opener: Callable[[str], BudgetStore]
) -> None:
    store = opener(store_url)
    guard = Guard(manifest("race-threads"), store=store)
    asked = guard.authorize("pay", {"amount": 7})
    assert asked.approval is not None
    guard.approve(asked.approval)
    go = threading.Event()
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(by_id: bool) -> None:
        go.wait(10)
        decision = guard.authorize(
            "pay", {"amount": 7}, approval=asked.approval.id if by_id and asked.approval else None
        )
        with lock:
            outcomes.append(decision.outcome if decision.denial is None else decision.denial.code.value)

    threads = [threading.Thread(target=run, args=(i % 2 == 0,)) for i in range(16)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(30)
    assert outcomes.count("allow") == 1, outcomes
    assert set(outcomes) <= {"allow", "approval_denied", "approval_required"}


def test_processes_racing_for_one_approval_use_it_once(
    shared_url: str, opener: Callable[[str], BudgetStore], workers: Workers, tmp_path: Path
) -> None:
    m = manifest("race-procs")
    m["expires_at"] = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    del m["ttl"]
    guard = Guard(m, store=opener(shared_url))
    asked = guard.authorize("pay", {"amount": 3})
    assert asked.approval is not None
    guard.approve(asked.approval.id, by="ann")
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(3)]
    procs = [
        workers.spawn(
            "take_approval", url=shared_url, manifest=m, tool="pay", args={"amount": 3},
            approval=asked.approval.id if i == 0 else None, threads=4, ready=str(ready[i]),
            go=str(go),
        )
        for i in range(3)
    ]
    workers.wait_for_files(ready)
    go.touch()
    outcomes = [o for proc in procs for o in workers.result(proc, timeout=60)["outcomes"]]
    assert len(outcomes) == 12
    assert outcomes.count("allow") == 1, outcomes


def test_a_store_without_approval_methods_keeps_requests_in_this_process_only() -> None:
    from guardrail.testing import FailingStore  # noqa: F401 - a user store shape exists there

    class Plain:
        """A user's store written before approvals: the required methods only."""

        def __init__(self) -> None:
            self.inner = open_store("memory:")

        def consume(self, charges: Any, *, expires_at: float) -> Any:
            return self.inner.consume(charges, expires_at=expires_at)

        def used(self, keys: Any) -> list[float]:
            return self.inner.used(keys)

        def usage(self, task: str) -> dict[str, float]:
            return self.inner.usage(task)

        def revoke(self, task: str, reason: str = "", *, expires_at: float | None = None) -> None:
            self.inner.revoke(task, reason, expires_at=expires_at)

        def revoked(self, tasks: Any) -> str | None:
            return self.inner.revoked(tasks)

        def close(self) -> None:
            pass

    guard = Guard(manifest("plain-store"), store=Plain())
    asked = guard.authorize("pay", {"amount": 1})
    assert asked.outcome == "ask" and asked.denial is not None and asked.approval is not None
    assert "keeps no approval requests" in asked.denial.message
    # An explicit approval, or the approver, still works, once.
    assert guard.authorize("pay", {"amount": 1}, approval=Approval(
        request_id=asked.approval.id, approved=True, by="ann")).allowed
    assert guard.authorize("pay", {"amount": 1}, approval=asked.approval.id).denial.code is (  # type: ignore[union-attr]
        DenialCode.APPROVAL_DENIED
    )
    approving = Guard(manifest("plain-store-2"), store=Plain(), approver=lambda r: True)
    assert approving.authorize("pay", {"amount": 1}).allowed


def test_sqlite_file_without_the_approval_tables_gets_them(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    open_store(f"sqlite:///{path}?create=1").close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE guardrail_approvals")
        conn.execute("DROP TABLE guardrail_approval_calls")
    store = open_store(f"sqlite:///{path}")
    guard = Guard(manifest("migrated"), store=store)
    assert guard.authorize("pay", {"amount": 1}).outcome == "ask"
    assert len(guard.pending()) == 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    store.close()


def test_expired_requests_are_purged_from_sqlite(tmp_path: Path) -> None:
    from guardrail import SQLiteStore

    store = SQLiteStore(tmp_path / "p.db", create=True, grace=1.0)
    now = time.time()
    b = book(store)
    b.request_approval(request("apr-p", expires=now + 0.5), now=now)
    assert store.purge(now + 100) >= 1
    assert b.take_approval("t", "pay", "d" * 64, request_id="apr-p", grant=None, now=now).status == "missing"
    store.close()


def test_a_lost_redis_denies_store_unavailable_and_a_restart_keeps_the_approval(
    own_redis_server: Any,
) -> None:
    from guardrail import RedisStore, RetryPolicy, StoreUnavailable

    store = RedisStore(own_redis_server.url, retry=RetryPolicy(attempts=2, deadline=0.5))
    guard = Guard(manifest("lost-redis", budget={"calls": 2}), store=store)
    asked = guard.authorize("pay", {"amount": 4})
    assert asked.approval is not None
    guard.approve(asked.approval.id, by="ann")
    own_redis_server.kill()
    down = guard.authorize("pay", {"amount": 4})
    assert down.denial is not None and down.denial.code is DenialCode.STORE_UNAVAILABLE
    with pytest.raises(StoreUnavailable):
        guard.pending()
    own_redis_server.start()
    ran = guard.authorize("pay", {"amount": 4})
    assert ran.allowed and ran.resolution is not None and ran.resolution.by == "ann"
    store.close()


def test_a_store_failing_while_asking_denies_store_unavailable() -> None:
    from guardrail.testing import FailingStore

    store = FailingStore(down={"revoked"})
    guard = Guard(manifest("failing"), store=store)
    decision = guard.authorize("pay", {"amount": 4}, approval=True)
    assert decision.denial is not None and decision.denial.code is DenialCode.STORE_UNAVAILABLE
    store.down.clear()
    assert guard.authorize("pay", {"amount": 4}, approval=True).allowed
