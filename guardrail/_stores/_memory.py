"""The in-process budget store, and the process-wide one every Guard uses by default."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from ._protocol import RETENTION_SECONDS, Charge, Overrun

__all__ = ["MemoryStore", "default_store"]


class MemoryStore:
    """A store inside one process, atomic across threads and asyncio tasks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: dict[tuple[str, str], float] = {}
        self._revoked: dict[str, str] = {}
        self._until: dict[str, float] = {}  # task -> when its budget use may be dropped
        self._revoked_until: dict[str, float] = {}  # task -> when its revocation may be dropped
        self._next_sweep = time.time() + 60.0

    def consume(self, charges: Sequence[Charge], *, expires_at: float) -> Overrun | None:
        with self._lock:
            used = self._used
            pending: dict[tuple[str, str], float] = {}  # a key charged twice in one call adds up
            for charge in charges:
                key = (charge.task, charge.scope)
                before = pending.get(key, used.get(key, 0.0))
                if not before + charge.amount <= charge.limit:  # also refuses NaN
                    return Overrun(charge, before)
                pending[key] = before + charge.amount
            # Never sooner than the retention from now: an injected or skewed clock may put
            # expires_at in the past while the guard still treats the budget as live.
            keep = max(expires_at, time.time()) + RETENTION_SECONDS
            for charge in charges:
                key = (charge.task, charge.scope)
                used[key] = used.get(key, 0.0) + charge.amount
                if self._until.get(charge.task, 0.0) < keep:
                    self._until[charge.task] = keep
            self._maybe_sweep()
            return None

    def used(self, keys: Sequence[tuple[str, str]]) -> list[float]:
        used = self._used
        return [used.get(key, 0.0) for key in keys]

    def usage(self, task: str) -> dict[str, float]:
        with self._lock:
            return {scope: v for (t, scope), v in self._used.items() if t == task}

    def revoke(self, task: str, reason: str = "", *, expires_at: float | None = None) -> None:
        with self._lock:
            self._revoked.setdefault(task, reason)
            if expires_at is not None:
                keep = max(expires_at, time.time()) + RETENTION_SECONDS
                if self._revoked_until.get(task, 0.0) < keep:
                    self._revoked_until[task] = keep

    def revoked(self, tasks: Sequence[str]) -> str | None:
        revoked = self._revoked
        if not revoked:
            return None
        for task in tasks:
            reason = revoked.get(task)
            if reason is not None:
                return reason
        return None

    def close(self) -> None:
        pass

    def _maybe_sweep(self) -> None:
        # Called with the lock held: drop what belongs to long-expired tasks so a long-lived
        # process does not grow without bound. Revocations of tasks with no known expiry stay.
        now = time.time()
        if now < self._next_sweep:
            return
        self._next_sweep = now + 60.0
        dead = {task for task, until in self._until.items() if until < now}
        if dead:
            self._used = {k: v for k, v in self._used.items() if k[0] not in dead}
            for task in dead:
                del self._until[task]
        for task in [t for t, until in self._revoked_until.items() if until < now]:
            self._revoked.pop(task, None)
            del self._revoked_until[task]

    def __repr__(self) -> str:
        return f"MemoryStore(tasks={len({t for t, _ in self._used})})"


_default: MemoryStore | None = None
_default_lock = threading.Lock()


def default_store() -> MemoryStore:
    """The process-wide store every Guard uses unless given another, so that a second Guard for
    the same task cannot reset its budget or undo its revocation."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = MemoryStore()
    return _default
