"""Decisions per second and latency of a Guard on each budget store, side by side.

    python benchmarks/bench_stores.py [--calls N] [--threads 1,8]

Every decision is `Guard.authorize` of an allowed call that charges three budgets (task calls,
tool calls, a sum) and checks revocation: for SQLite and Redis that is one read and one atomic
write per decision. The script starts its own redis-server (Debian's `redis-server` must be on
PATH) on a free loopback port in a temporary directory and stops it at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from guardrail import BudgetStore, Guard, MemoryStore
from guardrail._stores._redis import RedisStore
from guardrail._stores._sqlite import SQLiteStore

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


def measure(store: BudgetStore, threads: int, calls: int) -> tuple[float, float, float]:
    """(decisions per second, median latency µs, p99 latency µs) of `calls` decisions in total."""
    guard = Guard(MANIFEST, store=store)
    for _ in range(200):  # warm up: connections, statement caches, the script cache
        guard.authorize("send_refund", ARGS)
    per_thread = calls // threads
    latencies: list[list[int]] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def run(i: int) -> None:
        own = latencies[i]
        authorize = guard.authorize
        clock = time.perf_counter_ns
        barrier.wait()
        for _ in range(per_thread):
            t0 = clock()
            decision = authorize("send_refund", ARGS)
            own.append(clock() - t0)
            if not decision.allowed:
                raise RuntimeError(f"unexpected denial: {decision.denial}")

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    flat = sorted(x for own in latencies for x in own)
    if len(flat) != per_thread * threads:
        raise RuntimeError("a benchmark thread failed")
    p99 = flat[min(len(flat) - 1, int(len(flat) * 0.99))]
    return len(flat) / elapsed, statistics.median(flat) / 1000, p99 / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000, help="decisions per measurement")
    parser.add_argument("--threads", default="1,8", help="comma-separated thread counts")
    ns = parser.parse_args()
    thread_counts = [int(t) for t in ns.threads.split(",")]

    with tempfile.TemporaryDirectory(prefix="guardrail-bench-") as tmp:
        root = Path(tmp)
        (root / "redis").mkdir()
        with redis_server(root / "redis", "everysec") as redis_url:
            stores: list[tuple[str, Callable[[], BudgetStore]]] = [
                ("memory", MemoryStore),
                ("sqlite (synchronous=normal)", lambda: SQLiteStore(root / "normal.db")),
                ("sqlite (synchronous=full)", lambda: SQLiteStore(root / "full.db", synchronous="full")),
                ("redis (appendfsync everysec)", lambda: RedisStore(redis_url, prefix="bench")),
            ]
            rows = []
            for name, make in stores:
                for threads in thread_counts:
                    store = make()
                    try:
                        rate, p50, p99 = measure(store, threads, ns.calls)
                    finally:
                        store.close()
                    rows.append((name, threads, rate, p50, p99))
                    print(f"  measured {name}, {threads} thread(s)", file=sys.stderr)

    print()
    print(
        f"Guard.authorize per store ({ns.calls} decisions each; Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs)"
    )
    header = f"{'store':<30} {'threads':>7} {'decisions/s':>12} {'median µs':>10} {'p99 µs':>9}"
    print(header)
    print("-" * len(header))
    for name, threads, rate, p50, p99 in rows:
        print(f"{name:<30} {threads:>7} {rate:>12,.0f} {p50:>10.1f} {p99:>9.1f}")


if __name__ == "__main__":
    main()
