"""The async path on the shared stores: SQLite off the event loop (while another process holds the
write lock), the native async Redis store against a real redis-server, and what leaving a
`with Guard(...)` block does to the other workers of a task."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from guardrail import Decision, DenialCode, Guard, RetryPolicy, SQLiteStore, open_store
from guardrail._cli import main as cli
from tests.stores.support import RedisServer, code, free_port, unique_prefix
from tests.stores.support import guard_manifest as manifest

# Takes SQLite's write lock on a database, says so (ready file), holds the lock for a second,
# writes the `releasing` file while still holding it, then commits.
HOLDER = """
import pathlib, sqlite3, sys, time
db, ready, releasing = sys.argv[1:4]
conn = sqlite3.connect(db, isolation_level=None, timeout=30)
conn.execute("BEGIN IMMEDIATE")
pathlib.Path(ready).touch()
time.sleep(1.0)
pathlib.Path(releasing).touch()
conn.execute("COMMIT")
"""


async def count_ticks_during(work: Any) -> tuple[Any, int]:
    """Await `work` while another task counts the event loop's ticks."""
    done = False
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0.001)

    ticking = asyncio.create_task(ticker())
    try:
        result = await work
    finally:
        done = True
        await ticking
    return result, ticks


def test_aauthorize_waits_for_a_sqlite_write_lock_and_the_loop_keeps_ticking(tmp_path: Path) -> None:
    db = tmp_path / "guardrail.db"
    store = SQLiteStore(db, create=True)
    guard = Guard(manifest(f"refund-{uuid.uuid4().hex[:8]}"), store=store)
    assert guard.authorize("send_refund", {"amount": 10}).allowed
    ready, releasing = tmp_path / "ready", tmp_path / "releasing"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), str(ready), str(releasing)])
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert holder.poll() is None, "the lock holder died"
            assert time.monotonic() < deadline, "the lock holder did not start"
            time.sleep(0.01)
        decision, ticks = asyncio.run(count_ticks_during(guard.aauthorize("send_refund", {"amount": 10})))
        # the charge could only be written once the holder was letting go of the lock
        assert releasing.exists()
        assert decision.allowed
        assert ticks >= 50  # the loop ran all along (a blocked loop counts one tick or two)
        assert guard.usage()["tools.send_refund.sum.amount"]["used"] == 20
    finally:
        holder.wait(30)
        store.close()


# -- leaving a with block ------------------------------------------------------------------------


def test_leaving_a_with_block_ends_this_guard_only_and_revoke_is_fleet_wide(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}?create=1"
    task = f"refund-{uuid.uuid4().hex[:8]}"
    worker_a = Guard(manifest(task), store=open_store(url))
    worker_b = Guard(manifest(task), store=open_store(url))
    call = {"ticket_id": "T-1"}
    with worker_a as guard:
        sub = guard.delegate(
            {"task": f"{task}-sub", "ttl": "5m", "tools": {"read_ticket": {"args": {"ticket_id": {}}}}}
        )
        assert guard.authorize("read_ticket", call).allowed and sub.authorize("read_ticket", call).allowed
    # this guard and its delegate are done ...
    assert worker_a.revoked and code(worker_a.authorize("read_ticket", call)) is DenialCode.REVOKED
    assert code(sub.authorize("read_ticket", call)) is DenialCode.REVOKED
    # ... the other worker of the task is not, nor is a guard opened later
    assert not worker_b.revoked and worker_b.authorize("read_ticket", call).allowed
    assert Guard(manifest(task), store=open_store(url)).authorize("read_ticket", call).allowed

    async def async_block() -> Guard:
        async with Guard(manifest(task), store=open_store(url)) as guard:
            assert (await guard.aauthorize("read_ticket", call)).allowed
        return guard

    ended = asyncio.run(async_block())
    assert code(asyncio.run(ended.aauthorize("read_ticket", call))) is DenialCode.REVOKED
    assert worker_b.authorize("read_ticket", call).allowed

    # revoke() ends the task for every worker sharing the store
    worker_b.revoke("incident 913")
    third = Guard(manifest(task), store=open_store(url))
    assert code(third.authorize("read_ticket", call)) is DenialCode.REVOKED
    assert code(asyncio.run(third.aauthorize("read_ticket", call))) is DenialCode.REVOKED


def test_guardrail_revoke_stays_fleet_wide(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}?create=1"
    task = f"refund-{uuid.uuid4().hex[:8]}"
    with Guard(manifest(task), store=open_store(url)) as worker_a:
        worker_b = Guard(manifest(task), store=open_store(url))
        assert worker_b.authorize("read_ticket", {"ticket_id": "T-1"}).allowed
        assert cli(["revoke", "--store", url, task, "--reason", "case closed"]) == 0
        for guard in (worker_a, worker_b):
            assert code(guard.authorize("read_ticket", {"ticket_id": "T-1"})) is DenialCode.REVOKED


# -- the native async Redis store ----------------------------------------------------------------

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("read_ticket", {"ticket_id": "T-1"}),
    ("send_refund", {"amount": 30}),
    ("send_refund", {"amount": 60}),
    ("send_refund", {"amount": 30}),
    ("send_refund", {"amount": 30}),  # over the sum of 80
    ("delete_all", {}),
    ("send_refund", {"amount": 10}),
    ("send_refund", {"amount": 10}),
    ("send_refund", {"amount": 0}),  # over calls 5 of send_refund
    ("read_ticket", {"ticket_id": "T-2"}),
]


def outcome(decision: Decision) -> tuple[bool, DenialCode | None, str | None]:
    denial = decision.denial
    return decision.allowed, code(decision), None if denial is None else denial.message


def test_a_redis_url_opens_the_native_async_store(redis_server: RedisServer) -> None:
    from guardrail import AsyncRedisStore, RedisStore

    guard = Guard(manifest("t"), store=f"{redis_server.url}?prefix={unique_prefix()}")
    assert isinstance(guard.store, AsyncRedisStore) and isinstance(guard.store, RedisStore)
    assert type(open_store(redis_server.url)) is RedisStore
    guard.store.close()


def test_async_redis_decides_as_the_sync_store(redis_server: RedisServer) -> None:
    from guardrail import AsyncRedisStore, RedisStore

    sync_store = RedisStore(redis_server.url, prefix=unique_prefix())
    async_store = AsyncRedisStore(redis_server.url, prefix=unique_prefix())
    data = manifest(f"refund-{uuid.uuid4().hex[:8]}")
    sync_guard = Guard(data, store=sync_store)
    async_guard = Guard(dict(data), store=async_store)

    async def run() -> tuple[list[tuple[Any, ...]], dict[str, float]]:
        out = [
            (outcome(await async_guard.acheck(t, a)), outcome(await async_guard.aauthorize(t, a)))
            for t, a in CALLS
        ]
        usage = await async_store.ausage(data["task"])
        await async_store.aclose()
        return out, usage

    expected = [(outcome(sync_guard.check(t, a)), outcome(sync_guard.authorize(t, a))) for t, a in CALLS]
    decisions, usage = asyncio.run(run())
    assert decisions == expected
    assert usage == sync_store.usage(data["task"])
    assert usage["tools.send_refund.sum.amount"] == 80
    sync_store.close()


def test_async_redis_never_overruns_under_gather(redis_server: RedisServer) -> None:
    from guardrail import AsyncRedisStore, RedisStore

    store = AsyncRedisStore(redis_server.url, prefix=unique_prefix())
    task = f"refund-{uuid.uuid4().hex[:8]}"
    guard = Guard(manifest(task), store=store)
    other = Guard(manifest(task), store=store)  # a second worker of the task, same budgets

    async def run() -> tuple[list[Decision], list[Decision]]:
        sums = await asyncio.gather(
            *(g.aauthorize("send_refund", {"amount": 20}) for g in (guard, other) for _ in range(15))
        )
        # sum 80 is used up: what is left of the task's 10 calls goes to read_ticket
        calls = await asyncio.gather(
            *(guard.aauthorize("read_ticket", {"ticket_id": "T-1"}) for _ in range(20))
        )
        await store.aclose()
        return list(sums), list(calls)

    sums, calls = asyncio.run(run())
    assert sum(d.allowed for d in sums) == 4
    assert {code(d) for d in sums if not d.allowed} == {DenialCode.BUDGET_EXHAUSTED}
    assert sum(d.allowed for d in calls) == 6
    usage = RedisStore(redis_server.url, prefix=store.prefix).usage(task)
    assert usage == {"calls": 10.0, "tools.send_refund.calls": 4.0, "tools.send_refund.sum.amount": 80.0}


def test_async_redis_sees_a_sync_revoke_and_works_across_event_loops(redis_server: RedisServer) -> None:
    from guardrail import AsyncRedisStore

    store = AsyncRedisStore(redis_server.url, prefix=unique_prefix())
    task = f"refund-{uuid.uuid4().hex[:8]}"
    guard = Guard(manifest(task), store=store)
    call = {"ticket_id": "T-1"}
    assert asyncio.run(guard.aauthorize("read_ticket", call)).allowed  # a loop ...
    assert asyncio.run(guard.aauthorize("send_refund", {"amount": 5})).allowed  # ... and another
    Guard(manifest(task), store=store).revoke("incident")  # another worker, sync
    decision = asyncio.run(guard.aauthorize("read_ticket", call))
    assert code(decision) is DenialCode.REVOKED and decision.denial is not None
    assert "incident" in decision.denial.message

    async def arevoke() -> str | None:
        await store.arevoke(f"{task}-2", "async", expires_at=time.time() + 60)
        return await store.arevoked([f"{task}-2"])

    assert asyncio.run(arevoke()) == "async"
    assert store.revoked([f"{task}-2"]) == "async"
    store.close()


def test_async_redis_unreachable_denies_and_never_blocks_the_loop() -> None:
    from guardrail import AsyncRedisStore

    store = AsyncRedisStore(
        f"redis://127.0.0.1:{free_port()}/0", retry=RetryPolicy(attempts=3, deadline=0.5), socket_timeout=0.2
    )
    guard = Guard(manifest(f"refund-{uuid.uuid4().hex[:8]}"), store=store)
    decision, ticks = asyncio.run(count_ticks_during(guard.aauthorize("send_refund", {"amount": 5})))
    assert code(decision) is DenialCode.STORE_UNAVAILABLE
    checked = asyncio.run(guard.acheck("read_ticket", {"ticket_id": "T-1"}))
    assert code(checked) is DenialCode.STORE_UNAVAILABLE
    assert ticks >= 10  # the retries' waits are asyncio sleeps: the loop ran meanwhile
    store.close()


def test_an_async_redis_decision_is_one_round_trip(own_redis_server: RedisServer) -> None:
    from guardrail import AsyncRedisStore

    client = own_redis_server.client()  # a server of its own: no other client adds commands
    store = AsyncRedisStore(own_redis_server.url)
    guard = Guard(manifest(f"refund-{uuid.uuid4().hex[:8]}"), store=store)

    async def run() -> list[Decision]:
        await guard.aauthorize("send_refund", {"amount": 1})  # loads the script
        client.config_resetstat()
        out = [
            await guard.aauthorize("send_refund", {"amount": 1}),  # 3 budgets: revocation and charge
            await guard.acheck("send_refund", {"amount": 1}),
            await guard.acheck("send_refund", {"amount": 1000}),
        ]
        await store.aclose()
        return out

    decisions = asyncio.run(run())
    assert [code(d) for d in decisions] == [None, None, DenialCode.ARGUMENT_INVALID]
    stats = {name[len("cmdstat_"):]: int(v["calls"]) for name, v in client.info("commandstats").items()}
    # one EVALSHA per decision that reaches the budgets; a denial by the manifest reads the
    # revocations (MGET) and nothing else
    assert stats.pop("evalsha") == 2 and stats.pop("mget") == 3
    assert set(stats) <= {"hget", "hset", "time", "pttl", "pexpireat", "config|resetstat"}, stats


def test_a_failed_audit_write_refunds_on_the_native_async_path(redis_server: RedisServer) -> None:
    from guardrail import AsyncRedisStore

    class FullDisk:
        def record(self, decision: Decision, guard: Guard, args: Any) -> None:
            raise OSError("no space left on device")

    store = AsyncRedisStore(redis_server.url, prefix=unique_prefix())
    task = f"refund-{uuid.uuid4().hex[:8]}"
    guard = Guard(manifest(task), store=store, audit=FullDisk())

    async def run() -> list[Decision]:
        out = await asyncio.gather(*(guard.aauthorize("send_refund", {"amount": 10}) for _ in range(4)))
        await store.aclose()
        return list(out)

    decisions = asyncio.run(run())
    assert {code(d) for d in decisions} == {DenialCode.INTERNAL_ERROR}
    # what could not be audited did not run, and gave its charges back
    assert redis_usage(redis_server, store.prefix, task) == {
        "calls": 0.0, "tools.send_refund.calls": 0.0, "tools.send_refund.sum.amount": 0.0
    }


def redis_usage(server: RedisServer, prefix: str, task: str) -> dict[str, float]:
    from guardrail import RedisStore

    with RedisStore(server.url, prefix=prefix) as store:
        return store.usage(task)
