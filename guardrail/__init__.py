"""task-guardrail: per-task delegation manifests for AI agent tool calls.

Every tool call is checked against a delegation manifest (allowed tools, argument constraints,
budgets, expiry) before the tool runs; what is not granted is denied with a structured `Denial`;
every decision is traced with OpenTelemetry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _stores, _telemetry
from ._audit import AuditLog, AuditLogError
from ._authoring import AuthoringError, Skeleton, Suggestion, skeleton_manifest, suggest_manifest
from ._errors import (
    ApprovalDenied,
    ApprovalError,
    ApprovalRequired,
    ArgumentUntrusted,
    ArgumentViolation,
    BudgetExhausted,
    ConditionFailed,
    DelegationDenied,
    DelegationExpired,
    DelegationRevoked,
    GuardrailError,
    ManifestError,
    NotJson,
    StoreUnavailable,
    ToolNotAllowed,
)
from ._manifest import (
    Budget,
    Constraint,
    Manifest,
    ToolGrant,
    UrlSpec,
    json_schema_defaults,
    key_id,
    parse_duration,
    render_template,
    verify_manifest,
)
from ._narrowing import Finding, NarrowerReport, narrower
from ._outcome import (
    Approval,
    ApprovalRequest,
    BudgetUse,
    Decision,
    Denial,
    DenialCode,
    FoundIn,
    Outcome,
)
from ._policy._normalize import normalize_arguments
from ._runtime import Approver, AuditSink, Guard, Mode
from ._signing._files import sign_file, verify_file, write_keypair
from ._stores import (
    AsyncBudgetStore,
    BudgetStore,
    Charge,
    MemoryStore,
    Overrun,
    RetryPolicy,
    SQLiteStore,
    default_store,
    open_store,
)
from ._text import __version__

if TYPE_CHECKING:
    from ._stores import AsyncRedisStore, RedisStore
    from ._telemetry import JsonlSpanExporter, configure_tracing

# Loaded on first use, so that `import guardrail` needs neither redis-py nor the OpenTelemetry SDK.
_LAZY = {
    "RedisStore": _stores, "AsyncRedisStore": _stores,
    "JsonlSpanExporter": _telemetry, "configure_tracing": _telemetry,
}


def __getattr__(name: str) -> object:
    package = _LAZY.get(name)
    if package is None:
        raise AttributeError(f"module 'guardrail' has no attribute {name!r}")
    return getattr(package, name)


__all__ = [
    "Approval",
    "ApprovalDenied",
    "ApprovalError",
    "ApprovalRequest",
    "ApprovalRequired",
    "Approver",
    "ArgumentUntrusted",
    "ArgumentViolation",
    "AsyncBudgetStore",
    "AsyncRedisStore",
    "AuditLog",
    "AuditLogError",
    "AuditSink",
    "AuthoringError",
    "Budget",
    "BudgetExhausted",
    "BudgetStore",
    "BudgetUse",
    "Charge",
    "ConditionFailed",
    "Constraint",
    "Decision",
    "DelegationDenied",
    "DelegationExpired",
    "DelegationRevoked",
    "Denial",
    "DenialCode",
    "Finding",
    "FoundIn",
    "Guard",
    "GuardrailError",
    "JsonlSpanExporter",
    "Manifest",
    "ManifestError",
    "MemoryStore",
    "Mode",
    "NarrowerReport",
    "NotJson",
    "Outcome",
    "Overrun",
    "RedisStore",
    "RetryPolicy",
    "SQLiteStore",
    "Skeleton",
    "StoreUnavailable",
    "Suggestion",
    "ToolGrant",
    "ToolNotAllowed",
    "UrlSpec",
    "__version__",
    "configure_tracing",
    "default_store",
    "json_schema_defaults",
    "key_id",
    "narrower",
    "normalize_arguments",
    "open_store",
    "parse_duration",
    "render_template",
    "sign_file",
    "skeleton_manifest",
    "suggest_manifest",
    "verify_file",
    "verify_manifest",
    "write_keypair",
]
