"""A worker process for the multi-process store tests.

    python _worker.py COMMAND JSON_ARGS

Prints one JSON line with its result. Every wait is bounded, so a worker never hangs a test.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from guardrail import Charge, Guard, StoreUnavailable
from guardrail._stores._url import open_store

WAIT = 30.0


def wait_for(path: str) -> None:
    deadline = time.monotonic() + WAIT
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {path}")
        time.sleep(0.001)


def race(a: dict[str, Any]) -> dict[str, Any]:
    """Threads race two tasks: A (calls 50, per-tool calls 80, sum 25 in steps of 0.5) and
    B (sum 30 of varying amounts); report what each consume got."""
    store = open_store(a["url"])
    amounts = a["amounts"]
    lock = threading.Lock()
    a_ok = 0
    b_ok: list[float] = []
    errors: list[str] = []

    def run(i: int) -> None:
        nonlocal a_ok
        wait_for(a["go"])
        mine_a = 0
        mine_b: list[float] = []
        try:
            for n in range(a["attempts"]):
                charges = [
                    Charge(a["task_a"], "calls", 1.0, 50.0),
                    Charge(a["task_a"], "tools.refund.calls", 1.0, 80.0),
                    Charge(a["task_a"], "sum.amount", 0.5, 25.0),
                ]
                if store.consume(charges, expires_at=a["expires_at"]) is None:
                    mine_a += 1
                amount = amounts[(i + n) % len(amounts)]
                charges = [
                    Charge(a["task_b"], "calls", 1.0, 1e9),
                    Charge(a["task_b"], "tools.pay.sum.amount", amount, 30.0),
                ]
                if store.consume(charges, expires_at=a["expires_at"]) is None:
                    mine_b.append(amount)
        except Exception as exc:
            with lock:
                errors.append(repr(exc))
        with lock:
            a_ok += mine_a
            b_ok.extend(mine_b)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(a["threads"])]
    for thread in threads:
        thread.start()
    Path(a["ready"]).touch()
    for thread in threads:
        thread.join(WAIT)
    store.close()
    return {"a_ok": a_ok, "b_ok": b_ok, "errors": errors, "alive": sum(t.is_alive() for t in threads)}


def revoke(a: dict[str, Any]) -> dict[str, Any]:
    store = open_store(a["url"])
    store.revoke(a["task"], a["reason"], expires_at=a.get("expires_at"))
    store.close()
    return {"done": True}


def revoked(a: dict[str, Any]) -> dict[str, Any]:
    store = open_store(a["url"])
    reason = store.revoked(a["tasks"])
    usage = store.usage(a["tasks"][0])
    store.close()
    return {"reason": reason, "usage": usage}


def hold_lock(a: dict[str, Any]) -> dict[str, Any]:
    """Hold SQLite's write lock (as a stuck writer would) until told to let go."""
    conn = sqlite3.connect(a["path"], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE guardrail_units SET units = units WHERE 0")
    Path(a["ready"]).touch()
    wait_for(a["release"])
    conn.execute("ROLLBACK")
    conn.close()
    return {"done": True}


def guard(a: dict[str, Any]) -> dict[str, Any]:
    """Authorize a tool call `calls` times through a Guard on the shared store (or say why the
    store would not open)."""
    try:
        store = open_store(a["url"])
    except StoreUnavailable as exc:
        return {"unavailable": str(exc)}
    g = Guard(a["manifest"], store=store)
    codes = []
    for _ in range(a["calls"]):
        decision = g.authorize(a["tool"], a["args"])
        codes.append("allow" if decision.allowed else decision.denial.code.value)
    if a.get("revoke"):
        g.revoke(a["revoke"])
    store.close()
    return {"codes": codes}


def kinds_race(a: dict[str, Any]) -> dict[str, Any]:
    """Threads authorize calls against per-value, distinct and windowed budgets through a Guard
    whose clock runs `speed` times faster than the wall clock from the moment "go" appeared
    (each thread sets the time of its decision, so it knows it); report every allowed call as
    [tool, value, time]."""
    store = open_store(a["url"])
    guard = Guard(a["manifest"], store=store, clock=lambda: local.now)
    local = threading.local()
    lock = threading.Lock()
    got: list[list[Any]] = []
    errors: list[str] = []

    def run(i: int) -> None:
        wait_for(a["go"])
        mine: list[list[Any]] = []
        try:
            t0 = Path(a["go"]).stat().st_mtime
            for n in range(a["attempts"]):
                local.now = a["base"] + (time.time() - t0) * a["speed"]
                k = a["seed"] * 7919 + i * 31 + n
                tool = ("pay", "mail", "search")[k % 3]
                value = f"v{(k // 3) % a['values']}"
                decision = guard.authorize(tool, {"to": value})
                time.sleep(a["pause"])
                if decision.allowed:
                    mine.append([tool, value, local.now])
                elif decision.denial is None or decision.denial.code.value != "budget_exhausted":
                    errors.append(repr(decision))
        except Exception as exc:
            errors.append(repr(exc))
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(a["threads"])]
    for thread in threads:
        thread.start()
    Path(a["ready"]).touch()
    for thread in threads:
        thread.join(WAIT)
    store.close()
    return {"allowed": got, "errors": errors, "alive": sum(t.is_alive() for t in threads)}


def rule_race(a: dict[str, Any]) -> dict[str, Any]:
    """Threads call one tool with values drawn from `values` (their indices cycle from the
    thread's offset) through a Guard whose clock runs `speed` times the wall clock from "go";
    report every allowed call as [time, value]."""
    store = open_store(a["url"])
    local = threading.local()
    guard = Guard(a["manifest"], store=store, clock=lambda: local.now)
    lock = threading.Lock()
    got: list[list[Any]] = []
    errors: list[str] = []

    def run(i: int) -> None:
        wait_for(a["go"])
        mine: list[list[Any]] = []
        try:
            t0 = Path(a["go"]).stat().st_mtime
            for n in range(a["attempts"]):
                local.now = a["base"] + (time.time() - t0) * a["speed"]
                value = a["values"][(a["offset"] + i * 7 + n) % len(a["values"])]
                decision = guard.authorize("t", {"to": value})
                if decision.allowed:
                    mine.append([local.now, value])
                elif decision.denial is None or decision.denial.code.value != "budget_exhausted":
                    errors.append(repr(decision))
                time.sleep(a["pause"])
        except Exception as exc:
            errors.append(repr(exc))
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(a["threads"])]
    for thread in threads:
        thread.start()
    Path(a["ready"]).touch()
    for thread in threads:
        thread.join(WAIT)
    store.close()
    return {"allowed": got, "errors": errors, "alive": sum(t.is_alive() for t in threads)}


def take_approval(a: dict[str, Any]) -> dict[str, Any]:
    """Threads race to use one approval (by its id, or by retrying the identical call); report
    the outcomes."""
    store = open_store(a["url"])
    g = Guard(a["manifest"], store=store)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        wait_for(a["go"])
        decision = g.authorize(a["tool"], a["args"], approval=a.get("approval"))
        with lock:
            outcomes.append("allow" if decision.allowed else decision.denial.code.value)

    threads = [threading.Thread(target=run) for _ in range(a["threads"])]
    for t in threads:
        t.start()
    Path(a["ready"]).touch()
    for t in threads:
        t.join(WAIT)
    store.close()
    return {"outcomes": outcomes}


COMMANDS = {
    "kinds_race": kinds_race,
    "rule_race": rule_race,
    "take_approval": take_approval,
    "race": race,
    "revoke": revoke,
    "revoked": revoked,
    "hold_lock": hold_lock,
    "guard": guard,
}

if __name__ == "__main__":
    result = COMMANDS[sys.argv[1]](json.loads(sys.argv[2]))
    print(json.dumps(result))
