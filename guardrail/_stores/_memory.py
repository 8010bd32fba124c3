"""The in-process budget store, and the process-wide one every Guard uses by default."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from ._exact import amount_units, limit_units, to_number
from ._protocol import RETENTION_SECONDS, Charge, Overrun, Revoked

__all__ = ["MemoryStore", "default_store"]


class MemoryStore:
    """A store inside one process, atomic across threads and asyncio tasks (one lock per
    operation). Sums are exact (integer units, see `guardrail._stores._exact`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: dict[tuple[str, str], int] = {}
        self._revoked: dict[str, str] = {}
        self._until: dict[str, float] = {}  # task -> when its budget use may be dropped
        self._revoked_until: dict[str, float] = {}  # task -> when its revocation may be dropped
        self._refunded: dict[str, float] = {}  # call id -> when its refund mark may be dropped
        self._next_sweep = time.time() + 60.0

    def consume(self, charges: Sequence[Charge], *, expires_at: float) -> Overrun | None:
        with self._lock:
            return self._charge(charges, expires_at, True)

    def settle(
        self, tasks: Sequence[str], charges: Sequence[Charge], *, expires_at: float, commit: bool
    ) -> Revoked | Overrun | None:
        with self._lock:
            if self._revoked:
                for task in tasks:
                    reason = self._revoked.get(task)
                    if reason is not None:
                        return Revoked(reason)
            return self._charge(charges, expires_at, commit) if charges else None

    def _charge(self, charges: Sequence[Charge], expires_at: float, commit: bool) -> Overrun | None:
        # Called with the lock held.
        used = self._used
        pending: dict[tuple[str, str], int] = {}  # a key charged twice in one call adds up
        for charge in charges:
            key = (charge.task, charge.scope)
            before = pending.get(key)
            if before is None:
                before = used.get(key, 0)
            amount, limit = amount_units(charge.amount), limit_units(charge.limit)
            if amount is None or limit is None or before + amount > limit:  # NaN never fits
                return Overrun(charge, to_number(before))
            pending[key] = before + amount
        if not commit:
            return None
        # Never sooner than the retention from now: an injected or skewed clock may put
        # expires_at in the past while the guard still treats the budget as live.
        keep = max(expires_at, time.time()) + RETENTION_SECONDS
        used.update(pending)
        for task, _ in pending:
            if self._until.get(task, 0.0) < keep:
                self._until[task] = keep
        self._maybe_sweep()
        return None

    def refund(self, charges: Sequence[Charge], *, call_id: str) -> bool:
        with self._lock:
            if call_id in self._refunded:
                return False
            keep = time.time() + RETENTION_SECONDS
            for charge in charges:
                key = (charge.task, charge.scope)
                amount = amount_units(charge.amount)
                if amount is None or key not in self._used:
                    continue
                self._used[key] = max(0, self._used[key] - amount)
                keep = max(keep, self._until.get(charge.task, 0.0))
            self._refunded[call_id] = keep
            return True

    def used(self, keys: Sequence[tuple[str, str]]) -> list[float]:
        used = self._used
        return [to_number(used.get(key, 0)) for key in keys]

    def usage(self, task: str) -> dict[str, float]:
        with self._lock:
            return {scope: to_number(v) for (t, scope), v in self._used.items() if t == task}

    def tasks(self) -> list[str]:
        """Every task with budget use or a revocation."""
        with self._lock:
            return sorted({t for t, _ in self._used} | set(self._revoked))

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
        for call_id in [c for c, until in self._refunded.items() if until < now]:
            del self._refunded[call_id]

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
