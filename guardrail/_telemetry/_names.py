"""OpenTelemetry names and helpers. The GenAI constants in opentelemetry-semantic-conventions
are incubating (and marked deprecated), so the names are defined here once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, Status, StatusCode

if TYPE_CHECKING:
    from .._outcome import Decision

INSTRUMENTATION_NAME = "guardrail"

# GenAI semantic conventions
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
ERROR_TYPE = "error.type"
EXECUTE_TOOL = "execute_tool"

# guardrail's own
DECISION = "guardrail.decision"
TASK = "guardrail.task"
PRINCIPAL = "guardrail.principal"
MANIFEST_DIGEST = "guardrail.manifest.digest"
MODE = "guardrail.mode"
DENIAL_CODE = "guardrail.denial.code"
DENIAL_ARGUMENT = "guardrail.denial.argument"
DENIAL_CONSTRAINT = "guardrail.denial.constraint"
DENIAL_MESSAGE = "guardrail.denial.message"
DENIAL_BUDGET_SCOPE = "guardrail.denial.budget.scope"
DENIAL_BUDGET_LIMIT = "guardrail.denial.budget.limit"
DENIAL_BUDGET_USED = "guardrail.denial.budget.used"
DENIAL_DEPTH = "guardrail.denial.depth"
DELEGATION_DEPTH = "guardrail.delegation.depth"
DELEGATION_CHAIN = "guardrail.delegation.chain"
DENIAL_EVENT = "guardrail.denial"

# metrics
DECISIONS_COUNTER = "guardrail.decisions"
CHECK_DURATION = "guardrail.check.duration"
OTHER_TOOL = "_not_granted_"  # metric attribute for tools outside the manifest: bounded cardinality

SECRET_KEYS = ("password", "passwd", "token", "secret", "api_key", "apikey", "authorization",
               "private_key", "credential", "cookie")
REDACTED = "[REDACTED]"
MAX_ARGUMENTS_CHARS = 8192


def get_tracer(provider: trace.TracerProvider | None) -> trace.Tracer:
    from .._text import __version__

    return trace.get_tracer(INSTRUMENTATION_NAME, __version__, tracer_provider=provider)


def get_meter(provider: metrics.MeterProvider | None) -> metrics.Meter:
    from .._text import __version__

    return metrics.get_meter(INSTRUMENTATION_NAME, __version__, meter_provider=provider)


def is_secret_key(key: str) -> bool:
    lowered = key.lower().replace("-", "_")
    return any(word in lowered for word in SECRET_KEYS)


def redact(value: Any, depth: int = 0) -> Any:
    """A JSON-able copy of `value` with the values of secret-looking keys replaced."""
    if depth > 32:
        return "[TOO DEEP]"
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if is_secret_key(str(k)) else redact(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, depth + 1) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def arguments_json(args: Mapping[str, Any]) -> str:
    text = json.dumps(redact(args), ensure_ascii=False, default=repr)
    if len(text) > MAX_ARGUMENTS_CHARS:
        text = text[:MAX_ARGUMENTS_CHARS] + "...[truncated]"
    return text


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
    return attrs


def annotate(span: Span, decision: Decision) -> None:
    """Write a decision onto its tool span."""
    denial = decision.denial
    # One set_attributes call: the SDK takes its span lock once per call.
    attrs: dict[str, Any] = denial_attributes(decision) if denial is not None else {}
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
