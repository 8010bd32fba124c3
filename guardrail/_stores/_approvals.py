"""Approval requests in the task's store: pending, answered by a person, used once, expiring.

Optional store methods, like `settle` and `refund` (`_protocol`): every built-in store has them
(memory, SQLite, Redis, `AsyncRedisStore` with async twins), so a fleet and the CLI see the same
requests. A guard on a store without them keeps its requests in this process only (see
`guardrail._runtime._approvals`).

- ``request_approval(request, *, now)``: keep `request` as pending, or return the pending one
  already kept for the same call (task, tool, argument digest), so a retried call does not flood
  the person with copies.
- ``resolve_approval(request_id, approval, *, now)``: record a person's answer (`Resolved`).
- ``take_approval(task, tool, digest, *, request_id, grant, now)``: atomically take the answer
  for a call, by the request id (`approval=` given) or, without one, the newest request of the
  identical call; with `grant`, a pending request is answered by it in the same step. An answer
  is taken once: the record is marked used in the same atomic step (`Taken`).
- ``approval_requests(task, *, now)``: the live (unexpired, unused) requests and their answers.

`now` is the guard's clock (POSIX seconds): requests expire by it. Records are kept (as used
tombstones, so a reused id says "used" rather than "unknown") until ``grace`` after they expire.

The state machine is written once here (`take_step`, `resolve_step`, `live_pending`) for the
memory and SQLite stores; the Redis scripts follow it line by line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal, NamedTuple, Protocol, runtime_checkable

from .._outcome import Approval, ApprovalRequest

__all__ = [
    "ApprovalRecord",
    "ApprovalStore",
    "Resolved",
    "Taken",
    "binding_hash",
    "binding_of",
    "live",
    "live_pending",
    "resolve_step",
    "supports_approvals",
    "take_step",
]  # fmt: skip

TakeStatus = Literal["approved", "rejected", "pending", "expired", "used", "missing", "mismatch"]
ResolveStatus = Literal["resolved", "decided", "expired", "used", "missing"]


class ApprovalRecord(NamedTuple):
    """What a store keeps per request."""

    request: ApprovalRequest
    approval: Approval | None = None
    used: bool = False


class Taken(NamedTuple):
    """The outcome of `take_approval`.

    `approved` / `rejected`: the answer, now used. `pending`: no answer yet. `expired`: the request
    (asked for by id) expired. `used`: it (by id) was taken before. `missing`: no such request
    (by id), or no live request for the call. `mismatch`: the id names a request of another call
    (`request` says which)."""

    status: TakeStatus
    request: ApprovalRequest | None = None
    approval: Approval | None = None


class Resolved(NamedTuple):
    """The outcome of `resolve_approval`: `resolved` (recorded), `decided` (answered before:
    `approval` is that answer), `expired`, `used`, `missing`."""

    status: ResolveStatus
    request: ApprovalRequest | None = None
    approval: Approval | None = None


@runtime_checkable
class ApprovalStore(Protocol):
    """A store that keeps approval requests (see the module docstring)."""

    def request_approval(self, request: ApprovalRequest, *, now: float) -> ApprovalRequest: ...

    def resolve_approval(self, request_id: str, approval: Approval, *, now: float) -> Resolved: ...

    def take_approval(
        self, task: str, tool: str, digest: str, *, request_id: str | None,
        grant: Approval | None, now: float,
    ) -> Taken: ...

    def approval_requests(
        self, task: str | None = None, *, now: float
    ) -> list[tuple[ApprovalRequest, Approval | None]]: ...


def supports_approvals(store: object) -> bool:
    return isinstance(store, ApprovalStore)


def binding_of(task: str, tool: str, digest: str) -> str:
    """The call an approval is bound to, as one key (unit separators cannot be confused with the
    text around them: a task or tool name holding one is still a different binding, as the
    digest is fixed-length hex at the end)."""
    return f"{task}\x1f{tool}\x1f{digest}"


def binding_hash(task: str, tool: str, digest: str) -> str:
    """A fixed-length key for a binding (Redis keys)."""
    return hashlib.sha256(binding_of(task, tool, digest).encode("utf-8", "surrogatepass")).hexdigest()


def _binding(request: ApprovalRequest) -> tuple[str, str, str]:
    return (request.task, request.tool, request.args_digest)


def live(record: ApprovalRecord, now: float) -> bool:
    """Unused and unexpired."""
    return not record.used and now < record.request.expires_ts


def live_pending(record: ApprovalRecord | None, now: float) -> bool:
    """A request still waiting for its answer."""
    return record is not None and record.approval is None and live(record, now)


def take_step(
    record: ApprovalRecord | None, call: tuple[str, str, str], by_id: bool,
    grant: Approval | None, now: float,
) -> tuple[Taken, ApprovalRecord | None]:
    """What `take_approval` answers for `record` (the request named by id, or the newest of the
    call), and the record to write back (None: leave it as it is)."""
    if record is None:
        return Taken("missing"), None
    request = record.request
    if by_id and _binding(request) != call:
        return Taken("mismatch", request, record.approval), None
    if record.used:
        return (Taken("used", request, record.approval) if by_id else Taken("missing")), None
    if not now < request.expires_ts:  # `not <`: a NaN clock has expired
        if not by_id:
            return Taken("missing"), None  # the identical call asks again, afresh
        return Taken("expired", request, record.approval), record._replace(used=True)
    approval = record.approval
    if approval is None:
        if grant is None:
            return Taken("pending", request), None
        approval = grant.model_copy(update={"request_id": request.id})
    status: TakeStatus = "approved" if approval.approved else "rejected"
    return Taken(status, request, approval), ApprovalRecord(request, approval, True)


def resolve_step(
    record: ApprovalRecord | None, approval: Approval, now: float
) -> tuple[Resolved, ApprovalRecord | None]:
    """What `resolve_approval` answers, and the record to write back (None: unchanged)."""
    if record is None:
        return Resolved("missing"), None
    request = record.request
    if not now < request.expires_ts:
        return Resolved("expired", request, record.approval), None
    if record.used:
        return Resolved("used", request, record.approval), None
    if record.approval is not None:
        return Resolved("decided", request, record.approval), None
    approval = approval.model_copy(update={"request_id": request.id})
    return Resolved("resolved", request, approval), ApprovalRecord(request, approval, False)


def listed(
    records: Sequence[ApprovalRecord], task: str | None, now: float
) -> list[tuple[ApprovalRequest, Approval | None]]:
    """The live records of `task` (every task for None), oldest first."""
    out = [
        (r.request, r.approval) for r in records
        if live(r, now) and (task is None or r.request.task == task)
    ]
    out.sort(key=lambda item: (item[0].created_at, item[0].id))
    return out
