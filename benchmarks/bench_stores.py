"""Decisions per second and latency of a Guard on each budget store, side by side.

    python benchmarks/bench_stores.py [--quick] [--json] [--rounds 5] [--number 4000] [--threads 1,8]
                                      [--tasks 8]

Every decision is `Guard.authorize` of an allowed call that charges three budgets (task calls,
tool calls, a sum) and checks revocation: one store operation per decision (`settle`: one
SQLite transaction, one Redis EVALSHA round trip). Next to the Redis rows, a raw `EVALSHA` of a
trivial script from redis-py on the same server and client settings: the floor a decision is
measured against (`decision / raw round trip`, per round). The script starts its own
redis-server (Debian's `redis-server` must be on PATH) on a free loopback port in a temporary
directory and stops it at the end. Rows run interleaved round by round (benchmarks/_harness.py);
ratios are to the memory store on one thread in the same round. `--number` decisions per round
are spread over the row's threads; each thread has its own pooled Redis connection.

The async rows run `Guard.aauthorize` from `--tasks` concurrent asyncio tasks on one event loop
(memory: inline; SQLite: in worker threads; Redis: `AsyncRedisStore`, natively); the notes give
each as a ratio of decisions/s to the same store's one-thread sync row, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import redis
from _harness import Case, Row, add_arguments, measure, report

from guardrail import BudgetStore, Guard, MemoryStore
from guardrail._stores._redis import RedisStore
from guardrail._stores._redis_async import AsyncRedisStore
from guardrail._stores._sqlite import SQLiteStore

RAW = "redis raw EVALSHA round trip"
REDIS = "redis (appendfsync everysec)"

MANIFEST: dict[str, Any] = {
    "manifest": 1,
    "task": "bench",
    "principal": "agent:bench",
    "ttl": "1h",
    "budget": {"calls": 1_000_000_000},
    "tools": {
        "send_refund": {
            "args": {
                "order_id": {"pattern": "^ORD-[0-9]{6}$"},
                "amount": {"type": "number", "min": 0, "max": 50},
                "currency": ["EUR", "GBP"],
            },
            "budget": {"calls": 1_000_000_000, "sum": {"amount": 1e15}},
        }
    },
}
ARGS = {"order_id": "ORD-004711", "amount": 12.5, "currency": "EUR"}


@contextmanager
def redis_server(directory: Path, appendfsync: str) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not found: apt-get install -y redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = directory / "redis.conf"
    conf.write_text(
        f'bind 127.0.0.1\nport {port}\ndir "{directory}"\nsave ""\n'
        f'appendonly yes\nappendfsync {appendfsync}\nlogfile "redis.log"\n'
    )
    proc = subprocess.Popen([binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        probe = redis.Redis(port=port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"redis-server did not start (see {directory / 'redis.log'})")
                time.sleep(0.02)
        probe.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def decisions(guard: Guard, threads: int, latencies: list[int]) -> Callable[[int], float]:
    """A timer: n decisions spread over `threads` threads; returns the wall time they took and
    appends each decision's latency (ns) to `latencies`."""

    def decide() -> None:
        decision = guard.authorize("send_refund", ARGS)
        if not decision.allowed:
            raise RuntimeError(f"unexpected denial: {decision.denial}")

    return spread(decide, threads, latencies)


def spread(op: Callable[[], object], threads: int, latencies: list[int]) -> Callable[[int], float]:
    """A timer: n calls of `op` spread over `threads` threads (see `decisions`)."""

    def timer(n: int) -> float:
        shares = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
        own: list[list[int]] = [[] for _ in range(threads)]
        barrier = threading.Barrier(threads + 1)
        failed: list[BaseException] = []

        def run(i: int) -> None:
            mine, clock = own[i], time.perf_counter_ns
            barrier.wait()
            try:
                for _ in range(shares[i]):
                    t0 = clock()
                    op()
                    mine.append(clock() - t0)
            except BaseException as exc:
                failed.append(exc)

        workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        barrier.wait()
        start = time.perf_counter()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - start
        if failed:
            raise RuntimeError("a benchmark thread failed") from failed[0]
        for mine in own:
            latencies.extend(mine)
        return elapsed

    return timer


def async_decisions(
    guard: Guard, tasks: int, latencies: list[int], loop: asyncio.AbstractEventLoop
) -> Callable[[int], float]:
    """A timer: n `aauthorize` decisions spread over `tasks` concurrent tasks on `loop`."""

    async def run(share: int, mine: list[int]) -> None:
        authorize, clock = guard.aauthorize, time.perf_counter_ns
        for _ in range(share):
            t0 = clock()
            decision = await authorize("send_refund", ARGS)
            mine.append(clock() - t0)
            if not decision.allowed:
                raise RuntimeError(f"unexpected denial: {decision.denial}")

    def timer(n: int) -> float:
        shares = [n // tasks + (1 if i < n % tasks else 0) for i in range(tasks)]
        own: list[list[int]] = [[] for _ in range(tasks)]

        async def all_tasks() -> float:
            start = time.perf_counter()
            await asyncio.gather(*(run(share, mine) for share, mine in zip(shares, own, strict=True)))
            return time.perf_counter() - start

        elapsed = loop.run_until_complete(all_tasks())
        for mine in own:
            latencies.extend(mine)
        return elapsed

    return timer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser, rounds=5, number=4000)
    parser.add_argument("--threads", default="1,8", help="comma-separated thread counts")
    parser.add_argument("--tasks", type=int, default=8, help="concurrent asyncio tasks of the async rows")
    ns = parser.parse_args(argv)
    thread_counts = [int(t) for t in ns.threads.split(",")]
    if 1 not in thread_counts:
        thread_counts.insert(0, 1)  # the baseline row: the memory store on one thread

    latencies: dict[str, list[int]] = {}
    async_rows: dict[str, str] = {}  # async row -> the same store's one-thread sync row
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory(prefix="guardrail-bench-") as tmp, ExitStack() as stack:
        stack.callback(loop.close)
        root = Path(tmp)
        (root / "redis").mkdir()
        redis_url = stack.enter_context(redis_server(root / "redis", "everysec"))
        # (name, store, with an async row)
        stores: list[tuple[str, Callable[[], BudgetStore], bool]] = [
            ("memory", MemoryStore, True),
            ("sqlite (synchronous=normal)", lambda: SQLiteStore(root / "normal.db", create=True), True),
            ("sqlite (synchronous=full)",
             lambda: SQLiteStore(root / "full.db", create=True, synchronous="full"), False),
            # AsyncRedisStore: the sync RedisStore's methods, plus redis.asyncio ones
            ("redis (appendfsync everysec)", lambda: AsyncRedisStore(redis_url, prefix="bench"), True),
        ]
        cases = []
        # The floor: one EVALSHA round trip from redis-py, with the client settings RedisStore uses.
        raw = RedisStore(redis_url, prefix="raw")
        stack.callback(raw.close)
        trivial = raw.client.register_script("return 0")
        for threads in thread_counts:
            row = f"{RAW}, {threads} thread{'s' if threads > 1 else ''}"
            latencies[row] = []
            cases.append(Case(row, timer=spread(trivial, threads, latencies[row])))
        for name, make, with_async in stores:
            store = make()
            stack.callback(store.close)
            guard = Guard(MANIFEST, store=store)
            for threads in thread_counts:
                row = f"{name}, {threads} thread{'s' if threads > 1 else ''}"
                latencies[row] = []
                cases.append(Case(row, timer=decisions(guard, threads, latencies[row])))
            if with_async:
                row = f"{name}, aauthorize, {ns.tasks} tasks"
                latencies[row] = []
                async_rows[row] = f"{name}, 1 thread"
                cases.append(Case(row, timer=async_decisions(guard, ns.tasks, latencies[row], loop)))
        def forget_warmup() -> None:
            for recorded in latencies.values():
                recorded.clear()

        result = measure(cases, baseline="memory, 1 thread", ns=ns, after_warmup=forget_warmup)

    # > 1: the async row decides more per second than the sync one (taken within each round)
    async_ratios = {
        row: result.per_round(sync, row, lambda s, a: s / a) for row, sync in async_rows.items()
    }

    def rate(row: Row) -> str:
        return f"{1 / row.median:,.0f}"

    def quantile_us(row: str, q: float) -> float:
        flat = sorted(latencies[row])
        return flat[min(len(flat) - 1, int(len(flat) * q))] / 1000

    def quantile(q: float) -> Callable[[Row], str]:
        return lambda row: f"{quantile_us(row.name, q):,.1f}"

    floor = []
    for threads in thread_counts:
        tail = f", {threads} thread{'s' if threads > 1 else ''}"
        ratio = result.per_round(REDIS + tail, RAW + tail, lambda a, b: a / b)
        floor.append(
            f"redis decision / raw EVALSHA round trip{tail}: {ratio:.2f}x"
            f"{' (goal <= 1.3x)' if threads == 1 else ''}; "
            f"{1 / result[REDIS + tail].median:,.0f} decisions/s vs {1 / result[RAW + tail].median:,.0f} "
            "raw round trips/s"
        )

    report(
        result, ns, label="store", columns={
            "decisions/s": rate, "latency p50 (µs)": quantile(0.5), "latency p99 (µs)": quantile(0.99),
        },
        title=f"Guard.authorize per store, charging three budgets ({os.cpu_count()} CPUs)",
        notes=[
            "\nmedian (µs) is wall time per decision (all threads or tasks); latency is per call.", "",
            *floor,
            "\naauthorize, decisions/s as a ratio to the same store's sync authorize on one thread:",
            *(f"- {row}: {ratio:.2f}x" for row, ratio in async_ratios.items()),
        ],
        extra={
            "redis_vs_raw": floor,
            "latency_us": {
                row: {"p50": quantile_us(row, 0.5), "p99": quantile_us(row, 0.99)} for row in latencies
            },
            "async_vs_sync_throughput": async_ratios,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
