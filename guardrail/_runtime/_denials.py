"""The texts of denials and the `Decision` that carries one: every sentence a model or a person
reads when the guard says no is written here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from .. import _provenance
from .._outcome import Approval, ApprovalRequest, BudgetUse, Decision, Denial, DenialCode, FoundIn
from .._policy import Violation
from .._policy._budgets import duration_text
from .._policy._compiled import CompiledManifest
from .._policy._conditions import CelError, Condition
from .._stores import Overrun
from .._text import iso, num, short
from ._chain import Chain

__all__ = ["Denials"]


class Denials:
    """Builds the denying `Decision`s of one guard: which link denied (by depth), its identity, the
    guard's clock for `at`, and whether the guard's mode blocks."""

    __slots__ = ("_chain", "_clock", "_enforced")

    def __init__(self, chain: Chain, clock: Callable[[], float], enforced: bool) -> None:
        self._chain = chain
        self._clock = clock
        self._enforced = enforced

    def deny(
        self,
        code: DenialCode,
        message: str,
        tool: object,
        call_id: str | None,
        *,
        argument: str | None = None,
        constraint: str | None = None,
        budget: BudgetUse | None = None,
        found_in: FoundIn | None = None,
        depth: int = 0,
        approval: ApprovalRequest | None = None,
        resolution: Approval | None = None,
        approval_id: str | None = None,
    ) -> Decision:
        links = self._chain.links
        link = links[min(depth, len(links) - 1)]
        denial = Denial(
            code=code,
            message=message,
            tool=tool if isinstance(tool, str) else repr(tool),
            argument=argument,
            constraint=constraint,
            budget=budget,
            found_in=found_in,
            task=link.task,
            principal=link.principal,
            manifest_digest=link.digest,
            call_id=call_id if call_id is None else str(call_id),  # an int id must not crash
            depth=depth,
            at=self._now(),
            approval_id=approval_id if approval is None else approval.id,
        )
        return Decision(
            False, denial.tool or "", call_id, denial, enforced=self._enforced,
            approval=approval, resolution=resolution,
        )

    def _now(self) -> datetime:
        # The guard's clock, so that a denial's `at` agrees with the window it was judged in.
        try:
            return datetime.fromtimestamp(float(self._clock()), UTC)
        except Exception:
            return datetime.now(UTC)

    # -- one method per kind of denial, in the order the guard checks ---------------------------

    def revoked(self, reason: str, tool: object, call_id: str | None) -> Decision:
        detail = f": {short(reason, 200)}" if reason else ""
        task = self._chain.own.task
        return self.deny(
            DenialCode.REVOKED, f"The delegation for task {task!r} was revoked{detail}.",
            tool, call_id,
        )

    def outside_window(
        self, link: CompiledManifest, depth: int, now: float, tool: object, call_id: str | None
    ) -> Decision:
        """`not_yet_valid` before the link's `not_before`, else `expired`."""
        if link.not_before_ts is not None and now < link.not_before_ts:
            code = DenialCode.NOT_YET_VALID
            message = f"is not valid before {iso(link.not_before_ts)}"
        else:
            code, message = DenialCode.EXPIRED, f"expired at {iso(link.expires_ts)}"
        return self.deny(
            code, f"The delegation for task {link.task!r} {message}.", tool, call_id, depth=depth
        )

    def tool_not_allowed(
        self, link: CompiledManifest, depth: int, tool: object, call_id: str | None
    ) -> Decision:
        name = tool if isinstance(tool, str) else repr(tool)
        return self.deny(
            DenialCode.TOOL_NOT_ALLOWED,
            f"Tool {short(name)!r} is not granted by the delegation for task {link.task!r}.",
            name, call_id, depth=depth,
        )

    def not_an_object(self, args: object, depth: int, tool: str, call_id: str | None) -> Decision:
        return self.deny(
            DenialCode.ARGUMENT_INVALID,
            f"The arguments of tool {tool!r} must be an object, not {type(args).__name__}.",
            tool, call_id, constraint='type: "object"', depth=depth,
        )

    def violation(self, found: Violation, depth: int, tool: str, call_id: str | None) -> Decision:
        arg = short(found.dotted, 200)
        if found.code is DenialCode.ARGUMENT_NOT_ALLOWED:
            message = f"Argument {arg!r} is not granted for tool {tool!r}."
        elif found.code is DenialCode.ARGUMENT_MISSING:
            message = f"Required argument {arg!r} of tool {tool!r} is missing."
        else:
            message = (
                f"Argument {arg!r} of tool {tool!r} does not satisfy "
                f"{short(found.constraint or 'its constraint', 300)}."
            )
        return self.deny(
            found.code, message, tool, call_id,
            argument=arg, constraint=found.constraint, depth=depth,
        )

    def untrusted(
        self, found: Violation, hit: _provenance.Record | None, depth: int, tool: str,
        call_id: str | None,
    ) -> Decision:
        """`argument_untrusted`: where the value was found (tool and call), never the value."""
        arg = short(found.dotted, 200)
        constraint = found.constraint or "provenance: trusted"
        found_in: FoundIn | None = None
        if hit is _provenance.FULL:
            found_in = FoundIn(tool="")
            message = (
                f"Argument {arg!r} of tool {tool!r} cannot be shown to be trusted: the task's "
                "recorded tool results passed their cap, so provenance checks deny."
            )
        elif hit is not None:
            found_in = FoundIn(tool=hit.tool, call_id=hit.call_id)
            call = f" (call {short(hit.call_id, 100)})" if hit.call_id else ""
            message = (
                f"Argument {arg!r} of tool {tool!r} holds text found in the result of tool "
                f"{short(hit.tool, 100)!r}{call}, which is untrusted; it must come from the "
                "task's inputs or the manifest."
            )
        else:
            message = (
                f"Argument {arg!r} of tool {tool!r} does not come from where it must: "
                f"{short(constraint, 300)}."
            )
        return self.deny(
            DenialCode.ARGUMENT_UNTRUSTED, message, tool, call_id,
            argument=arg, constraint=constraint, found_in=found_in, depth=depth,
        )

    def condition_failed(
        self, condition: Condition, result: object, depth: int, tool: str, call_id: str | None
    ) -> Decision:
        # Why, without the engine's error text or the result's value: either may quote an
        # argument, and denials hold no argument values.
        if isinstance(result, CelError):
            why = f"evaluated to an error ({result.code})"
        elif result is False:
            why = "is false"
        else:
            why = f"is not a boolean (it is {_cel_type(result)})"
        written = f"when: {condition.source}"
        return self.deny(
            DenialCode.CONDITION_FAILED,
            f"The condition of tool {tool!r} {why}: {short(condition.source, 300)}.",
            tool, call_id, constraint=written, depth=depth,
        )

    def exhausted(self, overrun: Overrun, tool: str, call_id: str | None) -> Decision:
        charge, used = overrun
        scope, _, per = charge.scope.partition("[")
        if per:  # "arg=digest]": the value's own share, named by its digest only
            arg, _, digest = per.rstrip("]").partition("=")
            whose = (f" for this call's value of {arg!r}" if digest == "-" or not digest
                     else f" for this call's value of {arg!r} (digest {digest[:12]})")
        else:
            whose = ""
        within = f" in the last {duration_text(charge.window)}" if charge.window else ""
        if charge.member:
            arg = scope.rsplit(".", 1)[-1]
            message = (
                f"Budget {scope!r}{whose} of task {charge.task!r} is exhausted: {num(used)} of "
                f"{num(charge.limit)} different values of {arg!r} used{within}, and this call's "
                "would be a new one."
            )
        elif scope.endswith("calls"):
            message = (
                f"Budget {scope!r}{whose} of task {charge.task!r} is exhausted: "
                f"{num(used)} of {num(charge.limit)} calls used{within}."
            )
        else:
            message = (
                f"Budget {scope!r}{whose} of task {charge.task!r} would be exceeded: "
                f"{num(used)} of {num(charge.limit)} already used{within}."
            )
        return self.deny(
            DenialCode.BUDGET_EXHAUSTED, message, tool, call_id,
            budget=BudgetUse(scope=charge.scope, limit=charge.limit, used=used),
            depth=self._chain.depth_of(charge.task),
        )

    # -- approvals (`ask`) ------------------------------------------------------------------------

    def asking(
        self, request: ApprovalRequest, depth: int, error: str | None, shared: bool,
        call_id: str | None, *, stored: bool = True,
    ) -> Decision:
        """`approval_required`: the call waits for a person (outcome `ask`)."""
        why = f" (it evaluated to an error, {error})" if error is not None else ""
        if stored:
            where = f"request {request.id} is pending until {iso(request.expires_ts)}"
        elif self._enforced:
            where = "nothing was stored (a dry-run check)"
        else:
            where = "shadow mode: the call runs without asking"
        alone = "" if shared or not stored else (
            " The store keeps no approval requests: it can be approved in this process only "
            "(Guard.approve, approval=), or give the guard an approver."
        )
        return self.deny(
            DenialCode.APPROVAL_REQUIRED,
            f"Tool {request.tool!r} needs a person's approval: ask: "
            f"{short(request.reason, 300)}{why}; {where}.{alone}",
            request.tool, call_id, constraint=f"ask: {request.reason}", depth=depth,
            approval=request,
        )

    def refused(
        self, request: ApprovalRequest, approval: Approval, depth: int, call_id: str | None
    ) -> Decision:
        """`approval_denied`: a person (or the approver) said no."""
        by = f" by {short(approval.by, 100)}" if approval.by else ""
        why = f": {short(approval.reason, 300)}" if approval.reason else ""
        return self.deny(
            DenialCode.APPROVAL_DENIED,
            f"The call of tool {request.tool!r} was refused{by} (request {request.id}){why}.",
            request.tool, call_id, constraint=f"ask: {request.reason}", depth=depth,
            approval=request, resolution=approval,
        )

    def unusable(
        self, status: str, request_id: str, found: ApprovalRequest | None, call: ApprovalRequest,
        call_id: str | None,
    ) -> Decision:
        """`approval_denied` for an approval that cannot be used for this call; `approval_expired`
        for one that came too late."""
        code = DenialCode.APPROVAL_DENIED
        rid = short(request_id, 100)
        if status == "expired":
            code = DenialCode.APPROVAL_EXPIRED
            assert found is not None
            message = f"Approval {rid} expired at {iso(found.expires_ts)}; the call asks again."
        elif status == "used":
            message = f"Approval {rid} was used before: an approval allows one call."
        elif status == "mismatch":
            assert found is not None
            if found.task != call.task:
                what = f"task {found.task!r}, not {call.task!r}"
            elif found.tool != call.tool:
                what = f"tool {found.tool!r}, not {call.tool!r}"
            else:
                what = "the same tool with other arguments"
            message = f"Approval {rid} is for another call ({what}): it approves only that call."
        else:
            message = f"There is no approval request {rid!r} (unknown, or dropped after it expired)."
        return self.deny(
            code, message, call.tool, call_id, constraint=f"ask: {call.reason}",
            approval=found if status in ("expired", "used") else None, approval_id=rid,
        )

    # -- the guard's own failures (fail closed) ---------------------------------------------------

    def store_unavailable(self, exc: Exception, tool: object, call_id: str | None) -> Decision:
        return self.deny(
            DenialCode.STORE_UNAVAILABLE,
            f"The budget store is unavailable ({short(str(exc) or 'no detail', 200)}); "
            "the call is denied.",
            tool, call_id,
        )

    def internal_error(self, exc: BaseException, tool: object, call_id: str | None) -> Decision:
        return self.deny(
            DenialCode.INTERNAL_ERROR,
            f"The guard failed while deciding ({type(exc).__name__}); the call is denied.",
            tool, call_id,
        )

    def audit_failed(self, exc: BaseException, decision: Decision) -> Decision:
        return self.deny(
            DenialCode.INTERNAL_ERROR,
            f"The decision could not be written to the audit log ({type(exc).__name__}); "
            "the call is denied.",
            decision.tool, decision.call_id,
        )


def _cel_type(value: object) -> str:
    names = {type(None): "null", bool: "bool", int: "int", float: "double", str: "string",
             bytes: "bytes", list: "list", dict: "map"}
    return names.get(type(value), "a " + type(value).__name__)
