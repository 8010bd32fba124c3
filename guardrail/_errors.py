"""One hierarchy for every error the library raises.

    GuardrailError(Exception)
    +-- ManifestError(ValueError)          a manifest that cannot be used; `problems` lists each
    +-- StoreUnavailable                   the budget store failed (after its retries)
    +-- AuditLogError(OSError)             the decision log cannot be appended to
    +-- AuthoringError(ValueError)         `init`/`suggest` input a manifest cannot be written from
    +-- NotJson(ValueError)                arguments `normalize_arguments` cannot copy as JSON data
    +-- ApprovalError(ValueError)          `Guard.approve`/`reject` of a request that cannot be
    |                                      answered (unknown, answered before, used, expired)
    +-- DelegationDenied(PermissionError)  the guard denied a call; `denial` says why:
        +-- DelegationRevoked              revoked
        +-- DelegationExpired              expired, not_yet_valid
        +-- ToolNotAllowed                 tool_not_allowed
        +-- ArgumentViolation              argument_not_allowed, argument_missing, argument_invalid
        |   +-- ArgumentUntrusted          argument_untrusted (copied from an untrusted tool result)
        |   +-- ConditionFailed            condition_failed (a grant's `when` was not true)
        +-- BudgetExhausted                budget_exhausted
        +-- ApprovalRequired               approval_required (outcome `ask`); `request` is pending
        +-- ApprovalDenied                 approval_denied, approval_expired
        (DelegationDenied itself)          store_unavailable, internal_error

Every `DenialCode` maps to exactly one class (`_BY_CODE`; a test asserts the table is total).

`StoreUnavailable` and the `store_unavailable` denial are one failure seen from two sides. The
exception is what a store raises when it cannot be reached; it reaches the caller of the methods
that talk to the store directly (`Guard.revoke`, `Guard.revoked`, `Guard.usage`, `Guard.delegate`,
the stores themselves). A *decision* never raises it: `authorize` and `check` catch it and deny
with code `store_unavailable` (fail closed), so `invoke` and `wrap` raise `DelegationDenied` with
that code. `store_unavailable` and `internal_error` are the guard's failures, not the call's,
which is why they raise the base class rather than one of the kinds a caller may recover from
by changing the call.

Messages describe the problem for a library caller; the CLI words its own advice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._outcome import ApprovalRequest, Denial


class GuardrailError(Exception):
    """Base class of every error raised by guardrail."""


class ManifestError(GuardrailError, ValueError):
    """A manifest that cannot be used. `problems` lists every problem, each naming where it is."""

    def __init__(self, problems: Sequence[str] | str, *, source: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [problems]
        self.problems: list[str] = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        if len(self.problems) == 1:
            text = f"{where}invalid manifest: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            text = f"{where}invalid manifest, {len(self.problems)} problems:\n{lines}"
        super().__init__(text)


class NotJson(GuardrailError, ValueError):
    """Arguments that cannot be copied as JSON data (`normalize_arguments`). `path` is where inside
    the arguments (keys and list indexes, the argument's name first), `problem` what is wrong
    there: a value of another type, a key that is not a string, nesting too deep, a cycle."""

    def __init__(self, path: list[str | int], problem: str) -> None:
        self.path = path
        self.problem = problem
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        super().__init__(f"arguments{where}: {problem}")


class StoreUnavailable(GuardrailError):
    """The budget store could not be reached (after its retries). Raised by the store; while deciding,
    the guard turns it into a `store_unavailable` denial (see the module docstring)."""


class AuditLogError(GuardrailError, OSError):
    """The decision log cannot be appended to (its last line is incomplete or not a log line)."""


class AuthoringError(GuardrailError, ValueError):
    """Input that a manifest cannot be written from (a trace without values, an empty trace, a
    tool registry that is not one). The message names the problem and where it is."""


class ApprovalError(GuardrailError, ValueError):
    """An approval request that cannot be answered: `status` is `missing` (no such request, or
    dropped after it expired), `decided` (answered before), `used` or `expired`."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


class DelegationDenied(GuardrailError, PermissionError):
    """A call the delegation does not grant. `denial` says why.

    `guard` is the guard whose decision raised it (None when built by hand): adapters use
    `Guard.owns(exc)` to tell their own guard's denial from a `DelegationDenied` that the tool
    itself raised (a tool that calls another guarded tool), which is the tool's error."""

    def __init__(self, denial: Denial, *, guard: object | None = None) -> None:
        self.denial = denial
        self.guard = guard
        super().__init__(str(denial))


class ToolNotAllowed(DelegationDenied):
    """The tool is not named in the manifest."""


class ArgumentViolation(DelegationDenied):
    """An argument is not allowed, missing, or fails a constraint."""


class ArgumentUntrusted(ArgumentViolation):
    """An argument holds text copied from an untrusted tool result of the task (`provenance:
    trusted`), or does not come from the results it must come from (`from_results`). `denial.found_in`
    names the tool and call whose result held it."""


class ConditionFailed(ArgumentViolation):
    """The grant's `when` condition was not true for the call. A subclass of `ArgumentViolation`:
    a condition relates the call's arguments (to each other, to the time, to the task), so code
    that catches argument problems to let the model fix its call catches this too."""


class BudgetExhausted(DelegationDenied):
    """A call or sum budget would be exceeded."""


class ApprovalRequired(DelegationDenied):
    """The call needs a person's approval (the grant's `ask`). `request` is the pending
    `ApprovalRequest`: approve it (`Guard.approve`, `guardrail approvals approve ID`) and retry
    the identical call, or pass `approval=` to `authorize` / `invoke`."""

    def __init__(
        self, denial: Denial, *, guard: object | None = None, request: ApprovalRequest | None = None
    ) -> None:
        super().__init__(denial, guard=guard)
        self.request = request


class ApprovalDenied(DelegationDenied):
    """A person (or the guard's approver) refused the call, or the approval given cannot be used
    for it: for another call or task, used before, unknown, or expired (`approval_expired`)."""


class DelegationExpired(DelegationDenied):
    """The delegation is outside its validity window (expired or not yet valid)."""


class DelegationRevoked(DelegationDenied):
    """The task's delegation was revoked."""


# Keyed by the code's value (DenialCode is a str enum), so this module needs no runtime import of it.
_BY_CODE: dict[str, type[DelegationDenied]] = {
    "revoked": DelegationRevoked,
    "not_yet_valid": DelegationExpired,
    "expired": DelegationExpired,
    "tool_not_allowed": ToolNotAllowed,
    "argument_not_allowed": ArgumentViolation,
    "argument_missing": ArgumentViolation,
    "argument_invalid": ArgumentViolation,
    "argument_untrusted": ArgumentUntrusted,
    "condition_failed": ConditionFailed,
    "budget_exhausted": BudgetExhausted,
    "approval_required": ApprovalRequired,
    "approval_denied": ApprovalDenied,
    "approval_expired": ApprovalDenied,
    # The guard could not decide (store down, checker or audit log failed): no kind of call to
    # name, so the base class.
    "store_unavailable": DelegationDenied,
    "internal_error": DelegationDenied,
}


def exception_for(
    denial: Denial, *, guard: object | None = None, request: ApprovalRequest | None = None
) -> DelegationDenied:
    """The `DelegationDenied` subclass for a denial's code (see the table above); `request`: the
    pending request an `ApprovalRequired` carries."""
    # A code missing from the table (a future one) still raises, as the base class.
    cls = _BY_CODE.get(denial.code, DelegationDenied)
    if cls is ApprovalRequired:
        return ApprovalRequired(denial, guard=guard, request=request)
    return cls(denial, guard=guard)
