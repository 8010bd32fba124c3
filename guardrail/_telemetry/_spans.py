"""Writing guard decisions onto spans, with the OpenTelemetry API only (no SDK)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, Status, StatusCode

from .._text import __version__
from ._names import (
    APPROVAL_BY,
    APPROVAL_ID,
    APPROVAL_OUTCOME,
    DECISION,
    DENIAL_ARGUMENT,
    DENIAL_BUDGET_LIMIT,
    DENIAL_BUDGET_SCOPE,
    DENIAL_BUDGET_USED,
    DENIAL_CODE,
    DENIAL_CONSTRAINT,
    DENIAL_DEPTH,
    DENIAL_EVENT,
    DENIAL_FOUND_IN_CALL_ID,
    DENIAL_FOUND_IN_TOOL,
    DENIAL_MESSAGE,
    ERROR_TYPE,
    GEN_AI_TOOL_CALL_ID,
    INSTRUMENTATION_NAME,
)

if TYPE_CHECKING:
    from .._outcome import Decision

__all__ = [
    "annotate", "approval_attributes", "approval_outcome", "denial_attributes", "get_meter",
    "get_tracer", "record_tool_error",
]


def get_tracer(provider: trace.TracerProvider | None) -> trace.Tracer:
    return trace.get_tracer(INSTRUMENTATION_NAME, __version__, tracer_provider=provider)


def get_meter(provider: metrics.MeterProvider | None) -> metrics.Meter:
    return metrics.get_meter(INSTRUMENTATION_NAME, __version__, meter_provider=provider)


def denial_attributes(decision: Decision) -> dict[str, Any]:
    denial = decision.denial
    assert denial is not None
    attrs: dict[str, Any] = {
        DENIAL_CODE: denial.code.value,
        DENIAL_MESSAGE: denial.message,
        DENIAL_DEPTH: denial.depth,
    }
    if denial.argument is not None:
        attrs[DENIAL_ARGUMENT] = denial.argument
    if denial.constraint is not None:
        attrs[DENIAL_CONSTRAINT] = denial.constraint
    if denial.budget is not None:
        attrs[DENIAL_BUDGET_SCOPE] = denial.budget.scope
        attrs[DENIAL_BUDGET_LIMIT] = denial.budget.limit
        attrs[DENIAL_BUDGET_USED] = denial.budget.used
    if denial.found_in is not None:
        attrs[DENIAL_FOUND_IN_TOOL] = denial.found_in.tool
        if denial.found_in.call_id is not None:
            attrs[DENIAL_FOUND_IN_CALL_ID] = denial.found_in.call_id
    return attrs


def approval_outcome(decision: Decision) -> str | None:
    """What became of the call's approval request: `approved`, `rejected` (by a person or the
    approver, or an approval that cannot be used for the call), `pending`, `expired`; None for
    a call that did not ask."""
    denial = decision.denial
    if decision.approval is None and (denial is None or denial.approval_id is None):
        return None
    if decision.outcome == "shadow_ask":
        return None  # nobody was asked: there is no request to speak of
    if denial is not None and denial.code == "approval_expired":
        return "expired"
    if decision.resolution is not None:
        return "approved" if decision.resolution.approved else "rejected"
    if decision.outcome in ("ask", "shadow_ask"):
        return "pending"
    return "rejected"


def approval_attributes(decision: Decision) -> dict[str, Any]:
    """The approval attributes of a decision's span (none for a call that did not ask)."""
    outcome = approval_outcome(decision)
    if outcome is None:
        return {}
    request = decision.approval
    denial = decision.denial
    rid = request.id if request is not None else denial.approval_id if denial is not None else None
    attrs: dict[str, Any] = {APPROVAL_OUTCOME: outcome}
    if rid is not None:
        attrs[APPROVAL_ID] = rid
    resolution = decision.resolution
    if resolution is not None and resolution.by:
        attrs[APPROVAL_BY] = resolution.by
    return attrs


def annotate(span: Span, decision: Decision) -> None:
    """Write a decision onto its tool span."""
    denial = decision.denial
    # One set_attributes call: the SDK takes its span lock once per call.
    attrs: dict[str, Any] = denial_attributes(decision) if denial is not None else {}
    if decision.approval is not None or (denial is not None and denial.approval_id is not None):
        attrs.update(approval_attributes(decision))
    attrs[DECISION] = decision.outcome
    if decision.call_id is not None:
        attrs[GEN_AI_TOOL_CALL_ID] = decision.call_id
    span.set_attributes(attrs)
    if denial is None:
        return
    event: dict[str, str | int | float] = {
        "code": denial.code.value,
        "message": denial.message,
        "tool": denial.tool or "",
        "argument": denial.argument or "",
        "constraint": denial.constraint or "",
        "task": denial.task or "",
        "principal": denial.principal or "",
        "manifest_digest": denial.manifest_digest or "",
        "call_id": denial.call_id or "",
        "depth": denial.depth,
        "at": denial.at.isoformat(),
    }
    if denial.budget is not None:
        event["budget.scope"] = denial.budget.scope
        event["budget.limit"] = denial.budget.limit
        event["budget.used"] = denial.budget.used
    if denial.found_in is not None:
        event["found_in.tool"] = denial.found_in.tool
        event["found_in.call_id"] = denial.found_in.call_id or ""
    span.add_event(DENIAL_EVENT, event)
    if decision.enforced:
        span.set_attribute(ERROR_TYPE, denial.code.value)
        span.set_status(Status(StatusCode.ERROR, denial.message))


def record_tool_error(span: Span, exc: BaseException, record_values: bool) -> None:
    """A tool that raised: status ERROR and an `exception` event. The exception's message may hold
    argument values, so it is recorded only when values are."""
    cls = type(exc)
    # The fully qualified name, as the OTel error conventions ask (builtins stay short).
    kind = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    attrs = {"exception.type": kind}
    if record_values:
        attrs["exception.message"] = str(exc)
    span.add_event("exception", attrs)
    span.set_attribute(ERROR_TYPE, kind)
    span.set_status(Status(StatusCode.ERROR, kind))
