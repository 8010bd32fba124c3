"""The third outcome, `ask`: which calls a person must approve, their requests, and the steps
that take an approval (shared by the decider's sync and async paths).

A call asks when any link of the chain has an `ask` rule for its tool that does not evaluate to
`false` (`ask: true`, an expression that is true, errs or is not a boolean: doubt goes to the
person); the first such rule, as written, is the request's `reason`. Asking comes after every
denial and the budget peek (a call that cannot run is never put to a person) and before the
charge, so an approved call is charged once, after its approval.

The request lives in the task's store (`guardrail._stores._approvals`), bound to the task, the
tool and the canonical JSON of the arguments, used once, expiring `ttl` after it was asked (never
after the delegation). A store without the approval methods gets a process-local book: its
requests can be approved only in this process.

What a call brings (`Guard.authorize(approval=...)`, an approver's answer) reaches the decider
through the context variable `offered`, so that every layer of the decision path (metrics,
audit) keeps its shape.
"""

from __future__ import annotations

import contextvars
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from .. import _provenance
from .._outcome import Approval, ApprovalRequest, args_digest, canonical_args
from .._policy._conditions import CelError, call_data
from .._stores import BudgetStore, Charge, MemoryStore
from .._stores._approvals import ApprovalStore, Taken, supports_approvals
from ._chain import Chain

__all__ = ["DEFAULT_TTL", "Approvals", "Asked", "Commit", "Offer", "TakeOp", "offered"]

DEFAULT_TTL = 600.0

# What the current call brings: a request id, an `Approval`, True ("a person approved this exact
# call just now"), or None (look for the identical call's stored answer).
Offer = str | Approval | bool | None
offered: contextvars.ContextVar[Offer] = contextvars.ContextVar("guardrail_approval", default=None)

# Requests of guards whose store keeps none: visible to this process only.
_local_book = MemoryStore()


class Asked(NamedTuple):
    """A call the manifests send to a person: the charges it would make, the rule that asked,
    its link's depth, and what the rule evaluated to (for the message)."""

    charges: list[Charge]
    reason: str
    depth: int
    value: object


class TakeOp(NamedTuple):
    """Take the answer for the call (by `request_id`, else the identical call's newest)."""

    request: ApprovalRequest  # the request this call would make (its binding, its fields)
    request_id: str | None
    grant: Approval | None


class StoreOp(NamedTuple):
    """Keep `request` as pending (or find the identical pending one)."""

    request: ApprovalRequest
    then_grant: Approval | None  # `approval=True`: answer it at once


class Commit(NamedTuple):
    """Charge the call, then allow it (or, in shadow mode, report `shadow_ask`)."""

    asked: Asked
    request: ApprovalRequest | None
    approval: Approval | None


class Approvals:
    """The ask rules of a chain, and the book its requests go to."""

    __slots__ = ("_chain", "book", "shared", "ttl")

    def __init__(self, chain: Chain, store: BudgetStore, ttl: float) -> None:
        self._chain = chain
        self.shared = supports_approvals(store)
        self.book: ApprovalStore = store if self.shared else _local_book  # type: ignore[assignment]
        self.ttl = ttl

    def asks(
        self, tool: str, args: Mapping[str, Any], now: float,
        view: Callable[[int], _provenance.View | None] | None = None,
    ) -> tuple[str, int, object] | None:
        """(the first rule that asks, its link's depth, its value), or None. A parent's rules
        apply to its children: any link asking asks. `view(depth)` is what `untrusted()` and
        `from_results()` read for that link (for tools whose rules use them)."""
        for depth, link in enumerate(self._chain.links):
            for rule in link.tools[tool].asks:
                if rule is None:
                    return "true", depth, True
                data = call_data(rule, args, tool, link.task, link.principal, now)
                if view is None:
                    if not rule.is_false(data):
                        return rule.source, depth, rule.evaluate(data)
                    continue
                with _provenance.probing(_provenance.Probe(view(depth))):
                    if not rule.is_false(data):
                        return rule.source, depth, rule.evaluate(data)
        return None

    def request(self, asked: Asked, tool: str, args: Mapping[str, Any], now: float) -> ApprovalRequest:
        chain = self._chain
        plain = canonical_args(args)
        expires = min(now + self.ttl, chain.expires_ts)
        # Built from values made here (not input): no validation needed.
        return ApprovalRequest.model_construct(
            id=f"apr-{secrets.token_hex(8)}",
            task=chain.own.task,
            tool=tool,
            args_digest=args_digest(plain),
            reason=asked.reason,
            created_at=_when(now),
            expires_at=_when(expires),
            args=plain,
            principal=chain.own.principal,
        )

    @staticmethod
    def first(request: ApprovalRequest, offer: Offer) -> TakeOp:
        """The first store step for a call that asks, given what it brings."""
        if isinstance(offer, Approval):
            return TakeOp(request, offer.request_id, offer)
        if offer is True:
            return TakeOp(request, None, _granted(request))
        if isinstance(offer, str):
            return TakeOp(request, offer, None)
        return TakeOp(request, None, None)


def _granted(request: ApprovalRequest) -> Approval:
    return Approval(request_id=request.id, approved=True)


def taken_next(taken: Taken, op: TakeOp) -> StoreOp | None:
    """After a take by the call's binding found nothing live: keep the request (and, for
    `approval=True`, answer it at once); None when the take's answer stands."""
    if taken.status == "missing" and op.request_id is None:
        return StoreOp(op.request, op.grant)
    return None


def cel_error(value: object) -> str | None:
    return value.code if isinstance(value, CelError) else None


def _when(ts: float) -> datetime:
    try:
        return datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.max.replace(tzinfo=UTC) if ts > 0 else datetime.min.replace(tzinfo=UTC)
