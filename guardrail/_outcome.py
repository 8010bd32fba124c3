"""What the guard decides: `Decision`, and the one shape of a denial (`Denial`), raised, rendered to
the model, written to spans and printed by the CLI; and the two records of the third outcome,
`ask`: the `ApprovalRequest` a call puts to a person, and the person's `Approval`."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import operator
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._errors import DelegationDenied, exception_for


class DenialCode(StrEnum):
    """Why a call was denied, in the order the guard checks.

    Each code raises one `DelegationDenied` subclass (the table is in `guardrail._errors`). The last
    three are approvals (`ask`): `approval_required` while no person has approved the call (the
    decision's outcome is `ask`), `approval_denied` when a person (or the approver) refused it or
    the approval given is not for this call, `approval_expired` when it came too late. The last
    two are the guard's own failures, decided fail-closed: `store_unavailable` when the budget
    store raised `StoreUnavailable` while deciding, `internal_error` when the checker or the audit
    log failed.
    """

    REVOKED = "revoked"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    TOOL_NOT_ALLOWED = "tool_not_allowed"
    ARGUMENT_NOT_ALLOWED = "argument_not_allowed"
    ARGUMENT_MISSING = "argument_missing"
    ARGUMENT_INVALID = "argument_invalid"
    ARGUMENT_UNTRUSTED = "argument_untrusted"
    CONDITION_FAILED = "condition_failed"
    BUDGET_EXHAUSTED = "budget_exhausted"
    APPROVAL_REQUIRED = "approval_required"
    APPROVAL_DENIED = "approval_denied"
    APPROVAL_EXPIRED = "approval_expired"
    STORE_UNAVAILABLE = "store_unavailable"
    INTERNAL_ERROR = "internal_error"


class BudgetUse(BaseModel):
    """Which budget a call would overrun: its scope, its limit and what was used before the call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: str
    limit: float
    used: float


class FoundIn(BaseModel):
    """The recorded tool result an `argument_untrusted` value was found in: which tool returned
    it, in which call (never the value). `tool` is empty when the task's recorded results passed
    their cap, so the value could not be ruled out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str
    call_id: str | None = None


class Denial(BaseModel):
    """A structured denial. Holds no argument values, so it is safe to log and to show the model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: DenialCode
    message: str
    tool: str | None = None
    argument: str | None = None
    constraint: str | None = None
    budget: BudgetUse | None = None
    found_in: FoundIn | None = None
    task: str | None = None
    principal: str | None = None
    manifest_digest: str | None = None
    call_id: str | None = None
    depth: int = Field(default=0, description="0 for the guard's own manifest, 1 for its parent, ...")
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    approval_id: str | None = Field(
        default=None, description="The approval request this denial is about (approval codes only)."
    )

    def for_model(self) -> dict[str, Any]:
        """The short object a model sees as the tool's error, enough to recover from."""
        out = {
            "denied": True,
            "code": self.code.value,
            "tool": self.tool,
            "argument": self.argument,
            "constraint": self.constraint,
            "message": self.message,
        }
        if self.approval_id is not None:
            out["approval_id"] = self.approval_id
        return out

    def to_model_json(self) -> str:
        return json.dumps(self.for_model(), ensure_ascii=False)

    def to_exception(
        self, *, guard: object | None = None, request: ApprovalRequest | None = None
    ) -> DelegationDenied:
        """The matching `DelegationDenied` subclass; `guard`: the guard raising it (see
        `Guard.owns`); `request`: the pending `ApprovalRequest` of an `approval_required`."""
        return exception_for(self, guard=guard, request=request)

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"


class ApprovalRequest(BaseModel):
    """A call put to a person (outcome `ask`): bound to its task, tool and the canonical JSON of
    its arguments (`args_digest`), used once, valid until `expires_at`.

    `reason` is the ask rule that asked, as written (`true` for `ask: true`). `args` are the
    arguments as checked (in JSON form), so the person sees what they approve; they are kept in
    the task's store until the request expires and are never written to denials or telemetry.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    task: str
    tool: str
    args_digest: str
    reason: str
    created_at: datetime
    expires_at: datetime
    args: dict[str, Any] = Field(default_factory=dict)
    principal: str | None = None

    @property
    def expires_ts(self) -> float:
        return self.expires_at.timestamp()


class Approval(BaseModel):
    """A person's answer to an `ApprovalRequest`: approved or not, by whom, why, when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    approved: bool
    by: str | None = None
    reason: str | None = None
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def canonical_args(args: Mapping[str, Any]) -> Any:
    """`args` as plain JSON data, the same for equal calls: what an approval is bound to. Values
    JSON has no form for (a NaN, bytes, an object) are tagged with their type."""
    return _plain(args)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, Mapping):
        return {
            (k if isinstance(k, str) else f"${type(k).__name__}:{k!r}"): _plain(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return {f"${type(value).__qualname__}": repr(value)}


def args_digest(plain: Any) -> str:
    """sha256 of the canonical JSON of `canonical_args(...)`'s result."""
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


Outcome = Literal["allow", "deny", "ask", "shadow_deny", "shadow_ask"]

# Call ids without uuid4 on the hot path: a per-process random prefix and a counter.
_CALL_PREFIX = os.urandom(4).hex()
_call_counter = itertools.count(1)


def new_call_id() -> str:
    """A call id unique in this process and, by its random prefix, across processes."""
    return f"call-{_CALL_PREFIX}-{next(_call_counter)}"


try:  # the C descriptor namedtuple uses for its fields: a read as fast as a slot's
    from collections import _tuplegetter  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - other interpreters

    def _tuplegetter(index: int, doc: str) -> Any:
        return property(operator.itemgetter(index), doc=doc)


_new_tuple = tuple.__new__


class Decision(tuple[Any, ...]):
    """What the guard decided for one call.

    Immutable: the guard hands one cached allow to every anonymous `check` of a tool, so nothing
    may change it. A tuple underneath (immutable in C, built about as fast as a slots object, on
    every call), compared and hashed by identity like any object; its fields are read by name.

    `allowed` is true when the manifest grants the call. In shadow mode a denied call has
    `allowed=False` and `enforced=False` (outcome `shadow_deny`): it is reported, not blocked.

    `outcome` is `allow`, `deny` or `ask`. An `ask` (a person must approve the call) is also a
    denial, code `approval_required`, so code that knows only allow/deny fails closed; its
    `approval` is the pending `ApprovalRequest`. A call allowed (or refused) by a person carries
    its request in `approval` and the person's answer in `resolution`. In shadow mode an ask is
    `shadow_ask`: reported, not blocked.
    """

    __slots__ = ()

    if TYPE_CHECKING:  # read-only to type checkers too

        @property
        def allowed(self) -> bool: ...
        @property
        def tool(self) -> str: ...
        @property
        def call_id(self) -> str | None: ...
        @property
        def denial(self) -> Denial | None: ...
        @property
        def enforced(self) -> bool: ...
        @property
        def outcome(self) -> Outcome: ...
        @property
        def blocks(self) -> bool:
            """True when the call must not run."""
        @property
        def approval(self) -> ApprovalRequest | None: ...
        @property
        def resolution(self) -> Approval | None: ...

    else:
        allowed = _tuplegetter(0, "True when the manifest grants the call.")
        tool = _tuplegetter(1, "The tool called.")
        call_id = _tuplegetter(2, "The call's id (None for an anonymous check).")
        denial = _tuplegetter(3, "Why the call was denied, or None.")
        enforced = _tuplegetter(4, "False in shadow mode: a denial is reported, not blocked.")
        outcome = _tuplegetter(5, "`allow`, `deny`, `ask`, `shadow_deny` or `shadow_ask`.")
        blocks = _tuplegetter(6, "True when the call must not run.")
        approval = _tuplegetter(7, "The call's `ApprovalRequest` when it was put to a person.")
        resolution = _tuplegetter(8, "The person's `Approval` (or refusal), once given.")

    def __new__(
        cls,
        allowed: bool,
        tool: str,
        call_id: str | None = None,
        denial: Denial | None = None,
        enforced: bool = True,
        approval: ApprovalRequest | None = None,
        resolution: Approval | None = None,
    ) -> Decision:
        if allowed:
            return _new_tuple(
                cls, (allowed, tool, call_id, denial, enforced, "allow", False, approval, resolution)
            )
        if denial is not None and denial.code == "approval_required":
            outcome = "ask" if enforced else "shadow_ask"
        else:
            outcome = "deny" if enforced else "shadow_deny"
        return _new_tuple(
            cls, (allowed, tool, call_id, denial, enforced, outcome, enforced, approval, resolution)
        )

    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def __reduce__(self) -> tuple[type[Decision], tuple[Any, ...]]:
        return type(self), (
            self.allowed, self.tool, self.call_id, self.denial, self.enforced, self.approval,
            self.resolution,
        )

    def raise_for_denial(self) -> None:
        """Raise the matching `DelegationDenied` subclass if this decision blocks the call
        (`ApprovalRequired`, with the request, for an `ask`)."""
        if self.denial is not None and self.enforced:
            raise self.denial.to_exception(request=self.approval)

    def __repr__(self) -> str:
        if self.denial is None:
            return f"<Decision allow {self.tool!r} call_id={self.call_id!r}>"
        return f"<Decision {self.outcome} {self.tool!r} {self.denial.code.value}: {self.denial.message}>"
