"""A process appending decisions to a shared AuditLog: python audit_worker.py LOG GO N MAX_BYTES."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from guardrail import Guard, MemoryStore
from guardrail._audit import AuditLog


def main() -> None:
    log, go, n, max_bytes = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    audit = AuditLog(log, max_bytes=max_bytes or None)
    guard = Guard(
        {"task": f"proc-{sys.argv[5]}", "ttl": "5m", "tools": {"f": {"args": {"x": {"max": 10}}}}},
        store=MemoryStore(), audit=audit,
    )
    deadline = time.time() + 60
    while not go.exists() and time.time() < deadline:
        time.sleep(0.001)
    for i in range(n):
        guard.authorize("f", {"x": i % 20}, call_id=f"p{sys.argv[5]}-{i}")
    audit.close()


if __name__ == "__main__":
    main()
