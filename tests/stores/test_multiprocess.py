"""Stores shared by several processes (SQLite file, Redis): races, revocation, restarts."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from guardrail import BudgetStore, Charge
from guardrail._cli._stores import format_usage, revoke_task, task_usage
from tests.stores.support import Workers

PROCESSES = 4
THREADS = 8
ATTEMPTS = 8
AMOUNTS = [0.25, 0.5, 1.0, 2.0, 0.75]


def test_processes_racing_one_task_never_overrun(
    shared_url: str, opener: Callable[[str], BudgetStore], workers: Workers, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(PROCESSES)]
    procs = [
        workers.spawn(
            "race",
            url=shared_url,
            task_a="race-a",
            task_b="race-b",
            threads=THREADS,
            attempts=ATTEMPTS,
            amounts=AMOUNTS,
            expires_at=time.time() + 600,
            ready=str(ready[i]),
            go=str(go),
        )
        for i in range(PROCESSES)
    ]
    workers.wait_for_files(ready)
    go.touch()  # all 32 threads start together
    results = [workers.result(proc, timeout=60) for proc in procs]
    assert [r["errors"] for r in results] == [[]] * PROCESSES
    assert [r["alive"] for r in results] == [0] * PROCESSES

    # task A: 256 attempts on a budget of 50 calls: exactly 50 succeed, and its sum (0.5 each,
    # limit 25) is used up exactly with them
    assert sum(r["a_ok"] for r in results) == 50
    store = opener(shared_url)
    assert store.usage("race-a") == {"calls": 50.0, "tools.refund.calls": 50.0, "sum.amount": 25.0}

    # task B: varying amounts against a sum of 30: never exceeded, and every acknowledged
    # charge is counted, nothing more (no lost or phantom updates)
    paid = [amount for r in results for amount in r["b_ok"]]
    assert sum(paid) <= 30.0
    assert sum(paid) > 30.0 - max(AMOUNTS)  # the budget was contended to the end
    assert store.usage("race-b") == {"calls": float(len(paid)), "tools.pay.sum.amount": sum(paid)}

    # and the CLI sees what the whole fleet spent
    report = task_usage(shared_url, "race-a")
    assert report == {
        "task": "race-a",
        "revoked": None,
        "usage": {"calls": 50.0, "sum.amount": 25.0, "tools.refund.calls": 50.0},
    }
    assert format_usage(report).splitlines() == [
        "task: race-a",
        "revoked: no",
        "usage:",
        "  calls               50",
        "  sum.amount          25",
        "  tools.refund.calls  50",
    ]


def test_a_revocation_in_one_process_is_seen_by_the_others(
    shared_url: str, opener: Callable[[str], BudgetStore], workers: Workers
) -> None:
    store = opener(shared_url)
    assert store.consume([Charge("job", "calls", 1.0, 9.0)], expires_at=time.time() + 600) is None
    assert store.revoked(["job"]) is None
    assert workers.run("revoked", url=shared_url, tasks=["job"]) == {"reason": None, "usage": {"calls": 1.0}}

    workers.run("revoke", url=shared_url, task="job", reason="compromised", expires_at=time.time() + 600)
    assert store.revoked(["other", "job"]) == "compromised"
    assert workers.run("revoked", url=shared_url, tasks=["job"]) == {
        "reason": "compromised",
        "usage": {"calls": 1.0},
    }

    revoke_task(shared_url, "job2", "from the CLI")
    assert store.revoked(["job2"]) == "from the CLI"
    assert task_usage(shared_url, "job2")["revoked"] == "from the CLI"


def test_reopening_the_store_continues_from_the_spent_budget(
    shared_url: str, opener: Callable[[str], BudgetStore]
) -> None:
    charge = Charge("long-task", "tools.refund.sum.amount", 30.0, 80.0)
    first = opener(shared_url)
    assert first.consume([charge], expires_at=time.time() + 600) is None
    assert first.consume([charge], expires_at=time.time() + 600) is None
    first.revoke("other", "stop")
    first.close()

    again = opener(shared_url)
    assert again.usage("long-task") == {"tools.refund.sum.amount": 60.0}
    assert again.consume([charge], expires_at=time.time() + 600) == (charge, 60.0)
    assert again.consume([charge._replace(amount=20.0)], expires_at=time.time() + 600) is None
    assert again.revoked(["other"]) == "stop"
