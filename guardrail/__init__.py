"""task-guardrail: per-task delegation manifests for AI agent tool calls.

Every tool call is checked against a delegation manifest (allowed tools, argument constraints,
budgets, expiry) before the tool runs; what is not granted is denied with a structured `Denial`;
every decision is traced with OpenTelemetry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._audit._log import AuditLog, AuditLogError
from ._authoring import AuthoringError, Skeleton, Suggestion, skeleton_manifest, suggest_manifest
from ._errors import (
    ArgumentViolation,
    BudgetExhausted,
    DelegationDenied,
    DelegationExpired,
    DelegationRevoked,
    GuardrailError,
    ManifestError,
    StoreUnavailable,
    ToolNotAllowed,
)
from ._manifest._models import Budget, Constraint, Manifest, ToolGrant, UrlSpec, parse_duration
from ._manifest._schema import json_schema_defaults
from ._manifest._templates import render_template
from ._narrowing import Finding, NarrowerReport, narrower
from ._outcome import BudgetUse, Decision, Denial, DenialCode, Outcome
from ._runtime._guard import AuditSink, Guard, Mode
from ._signing._files import key_id, sign_file, verify_file, verify_manifest, write_keypair
from ._stores._memory import BudgetStore, Charge, MemoryStore, Overrun, default_store
from ._stores._retry import RetryPolicy
from ._stores._sqlite import SQLiteStore
from ._stores._url import open_store
from ._telemetry._export import JsonlSpanExporter
from ._telemetry._setup import configure_tracing
from ._text import __version__

if TYPE_CHECKING:
    from ._stores._redis import RedisStore


def __getattr__(name: str) -> object:
    # RedisStore loads lazily, so `import guardrail` never needs redis-py.
    if name == "RedisStore":
        from ._stores._redis import RedisStore

        return RedisStore
    raise AttributeError(f"module 'guardrail' has no attribute {name!r}")


__all__ = [
    "ArgumentViolation",
    "AuditLog",
    "AuditLogError",
    "AuditSink",
    "AuthoringError",
    "Budget",
    "BudgetExhausted",
    "BudgetStore",
    "BudgetUse",
    "Charge",
    "Constraint",
    "Decision",
    "DelegationDenied",
    "DelegationExpired",
    "DelegationRevoked",
    "Denial",
    "DenialCode",
    "Finding",
    "Guard",
    "GuardrailError",
    "JsonlSpanExporter",
    "Manifest",
    "ManifestError",
    "MemoryStore",
    "Mode",
    "NarrowerReport",
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
