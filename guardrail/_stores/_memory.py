"""The in-process budget store, and the process-wide one every Guard uses by default."""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Sequence

from .._outcome import Approval, ApprovalRequest
from ._approvals import (
    ApprovalRecord,
    Resolved,
    Taken,
    binding_of,
    listed,
    live_pending,
    resolve_step,
    take_step,
)
from ._exact import amount_units, limit_units, to_number
from ._protocol import FEATURES, RETENTION_SECONDS, Charge, Overrun, Revoked, slack

__all__ = ["MemoryStore", "default_store"]


Key = tuple[str, str]


class _Log:
    """A windowed key: its entries in time order (time, event, units or member), the running
    total of units up to each entry (so the use within a window is one subtraction), and, for
    a distinct budget, how many entries each member has."""

    __slots__ = ("cum", "entries", "members", "times")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.entries: list[tuple[str, int, str]] = []  # (event, units, member)
        self.cum: list[int] = []  # cum[i]: units of entries[: i + 1] (and of forgotten ones)
        self.members: dict[str, int] = {}

    def forget(self, cutoff: float) -> None:
        """Drop the entries at or before `cutoff`."""
        if not self.times or self.times[0] > cutoff:
            return
        n = bisect.bisect_right(self.times, cutoff)
        if n:
            for _, _, member in self.entries[:n]:
                if member:
                    _drop_member(self.members, member)
            del self.times[:n], self.entries[:n], self.cum[:n]

    def add(self, at: float, event: str, units: int, member: str) -> None:
        times = self.times
        if not times or at >= times[-1]:  # in time order: the common case
            self.cum.append((self.cum[-1] if self.cum else 0) + units)
            times.append(at)
            self.entries.append((event, units, member))
            if member:
                self.members[member] = self.members.get(member, 0) + 1
            return
        i = bisect.bisect_right(times, at)  # a guard whose clock is behind
        before = self.cum[i - 1] if i else (self.cum[0] - self.entries[0][1] if self.cum else 0)
        self.times.insert(i, at)
        self.entries.insert(i, (event, units, member))
        self.cum.insert(i, before + units)
        for j in range(i + 1, len(self.cum)):
            self.cum[j] += units
        if member:
            self.members[member] = self.members.get(member, 0) + 1

    def remove(self, event: str) -> None:
        for i, (name, units, member) in enumerate(self.entries):
            if name == event:
                del self.times[i], self.entries[i], self.cum[i]
                for j in range(i, len(self.cum)):
                    self.cum[j] -= units
                if member:
                    _drop_member(self.members, member)
                return

    def in_window(self, cutoff: float, member: bool) -> tuple[dict[str, int] | set[str], int]:
        """(the members, the use) of the entries after `cutoff` (later ones included: a guard
        whose clock is behind counts what others charged "in its future")."""
        n = bisect.bisect_right(self.times, cutoff)
        if member:
            if not n:
                return self.members, len(self.members)
            names = {m for _, _, m in self.entries[n:] if m}
            return names, len(names)
        if not self.cum:
            return set(), 0
        first = self.cum[0] - self.entries[0][1]  # the units before the first kept entry
        return set(), self.cum[-1] - (self.cum[n - 1] if n else first)

    @property
    def total(self) -> int:
        return self.in_window(-math.inf, False)[1]


def _drop_member(members: dict[str, int], member: str) -> None:
    left = members.get(member, 0) - 1
    if left > 0:
        members[member] = left
    else:
        members.pop(member, None)


class MemoryStore:
    """A store inside one process, atomic across threads and asyncio tasks (one lock per
    operation). Sums are exact (integer units, see `guardrail._stores._exact`)."""

    budget_features = FEATURES

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: dict[tuple[str, str], int] = {}
        self._logs: dict[Key, _Log] = {}  # windowed keys
        self._members: dict[Key, dict[str, int]] = {}  # distinct keys: member -> charges
        self._revoked: dict[str, str] = {}
        self._until: dict[str, float] = {}  # task -> when its budget use may be dropped
        self._revoked_until: dict[str, float] = {}  # task -> when its revocation may be dropped
        self._refunded: dict[str, float] = {}  # call id -> when its refund mark may be dropped
        self._approvals: dict[str, ApprovalRecord] = {}  # request id -> record
        self._approval_index: dict[str, str] = {}  # binding -> its newest request id
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
        special = False
        for charge in charges:
            if charge.window or charge.member:
                special = True
                continue
            key = (charge.task, charge.scope)
            before = pending.get(key)
            if before is None:
                before = used.get(key, 0)
            amount, limit = amount_units(charge.amount), limit_units(charge.limit)
            if amount is None or limit is None or before + amount > limit:  # NaN never fits
                return Overrun(charge, to_number(before))
            pending[key] = before + amount
        if special:
            overrun = self._special(charges, commit)
            if overrun is not None:
                return overrun
        if not commit:
            return None
        # Never sooner than the retention from now: an injected or skewed clock may put
        # expires_at in the past while the guard still treats the budget as live.
        keep = max(expires_at, time.time()) + RETENTION_SECONDS
        used.update(pending)
        if special:
            self._commit_special(charges)
            pending.update({(c.task, c.scope): 0 for c in charges if c.window or c.member})
        for task, _ in pending:
            if self._until.get(task, 0.0) < keep:
                self._until[task] = keep
        self._maybe_sweep()
        return None

    def _special(self, charges: Sequence[Charge], commit: bool) -> Overrun | None:
        """The first windowed or distinct charge that does not fit (called with the lock held,
        after the plain ones fit)."""
        added: dict[Key, int] = {}  # units (or new members) this call adds to a key
        seen: dict[Key, set[str]] = {}
        for charge in charges:
            if not (charge.window or charge.member):
                continue
            key = (charge.task, charge.scope)
            if charge.window:
                log = self._logs.get(key)
                if log is None:
                    log = _Log()
                elif commit:
                    log.forget(charge.at - charge.window - slack(charge.window))
                members, base = log.in_window(charge.at - charge.window, bool(charge.member))
            else:
                members = self._members.get(key, {})
                base = len(members)
            base += added.get(key, 0)
            if charge.member:
                new = seen.setdefault(key, set())
                if charge.member in members or charge.member in new:
                    continue
                new.add(charge.member)
                if not base + 1 <= charge.limit:  # NaN never fits
                    return Overrun(charge, float(base))
                added[key] = added.get(key, 0) + 1
            else:
                amount, limit = amount_units(charge.amount), limit_units(charge.limit)
                if amount is None or limit is None or base + amount > limit:
                    return Overrun(charge, to_number(base))
                added[key] = added.get(key, 0) + amount
        return None

    def _commit_special(self, charges: Sequence[Charge]) -> None:
        for charge in charges:
            if not (charge.window or charge.member):
                continue
            key = (charge.task, charge.scope)
            if charge.window:
                log = self._logs.get(key)
                if log is None:
                    log = self._logs[key] = _Log()
                units = 0 if charge.member else (amount_units(charge.amount) or 0)
                log.add(charge.at, charge.event, units, charge.member)
            else:
                members = self._members.setdefault(key, {})
                members[charge.member] = members.get(charge.member, 0) + 1

    def refund(self, charges: Sequence[Charge], *, call_id: str) -> bool:
        with self._lock:
            if call_id in self._refunded:
                return False
            keep = time.time() + RETENTION_SECONDS
            for charge in charges:
                key = (charge.task, charge.scope)
                if charge.window:
                    log = self._logs.get(key)
                    if log is not None:
                        log.remove(charge.event)
                    continue
                if charge.member:
                    members = self._members.get(key)
                    if members is not None:
                        _drop_member(members, charge.member)
                    continue
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
        """Every scope of `task` and its use: a windowed one's as of its last charge, a distinct
        one's the number of values."""
        with self._lock:
            out = {scope: to_number(v) for (t, scope), v in self._used.items() if t == task}
            for (t, scope), log in self._logs.items():
                if t == task:
                    out[scope] = float(len(log.members)) if log.members else to_number(log.total)
            for (t, scope), members in self._members.items():
                if t == task:
                    out[scope] = float(len(members))
            return out

    def measure(self, charges: Sequence[Charge]) -> list[float]:
        """What each charge's budget has used as the charge sees it: within its window as of
        its `at`, distinct values counted (`Guard.usage`)."""
        out: list[float] = []
        with self._lock:
            for c in charges:
                key = (c.task, c.scope)
                if c.window:
                    log = self._logs.get(key)
                    used = log.in_window(c.at - c.window, bool(c.member))[1] if log else 0
                    out.append(float(used) if c.member else to_number(used))
                elif c.member:
                    out.append(float(len(self._members.get(key, {}))))
                else:
                    out.append(to_number(self._used.get(key, 0)))
        return out

    def tasks(self) -> list[str]:
        """Every task with budget use or a revocation."""
        with self._lock:
            keys = [*self._used, *self._logs, *self._members]
            return sorted({t for t, _ in keys} | set(self._revoked))

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

    # -- approvals (see `_approvals`) -------------------------------------------------------

    def request_approval(self, request: ApprovalRequest, *, now: float) -> ApprovalRequest:
        key = binding_of(request.task, request.tool, request.args_digest)
        with self._lock:
            newest = self._approvals.get(self._approval_index.get(key, ""))
            if newest is not None and live_pending(newest, now):
                return newest.request
            self._approvals[request.id] = ApprovalRecord(request)
            self._approval_index[key] = request.id
            self._maybe_sweep()
            return request

    def resolve_approval(self, request_id: str, approval: Approval, *, now: float) -> Resolved:
        with self._lock:
            resolved, record = resolve_step(self._approvals.get(request_id), approval, now)
            if record is not None:
                self._approvals[request_id] = record
            return resolved

    def take_approval(
        self, task: str, tool: str, digest: str, *, request_id: str | None,
        grant: Approval | None, now: float,
    ) -> Taken:
        with self._lock:
            rid = request_id if request_id is not None else self._approval_index.get(
                binding_of(task, tool, digest), ""
            )
            taken, record = take_step(
                self._approvals.get(rid), (task, tool, digest), request_id is not None, grant, now
            )
            if record is not None:
                self._approvals[rid] = record
            return taken

    def approval_requests(
        self, task: str | None = None, *, now: float
    ) -> list[tuple[ApprovalRequest, Approval | None]]:
        with self._lock:
            return listed(list(self._approvals.values()), task, now)

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
            self._logs = {k: v for k, v in self._logs.items() if k[0] not in dead}
            self._members = {k: v for k, v in self._members.items() if k[0] not in dead}
            for task in dead:
                del self._until[task]
        for task in [t for t, until in self._revoked_until.items() if until < now]:
            self._revoked.pop(task, None)
            del self._revoked_until[task]
        for call_id in [c for c, until in self._refunded.items() if until < now]:
            del self._refunded[call_id]
        gone = [
            rid for rid, r in self._approvals.items()
            if r.request.expires_ts + RETENTION_SECONDS < now
        ]
        for rid in gone:
            record = self._approvals.pop(rid)
            key = binding_of(record.request.task, record.request.tool, record.request.args_digest)
            if self._approval_index.get(key) == rid:
                del self._approval_index[key]

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
