"""task-guardrail: per-task delegation manifests for AI agent tool calls.

Every tool call is checked against a delegation manifest (allowed tools, argument constraints,
budgets, expiry) before the tool runs; what is not granted is denied with a structured `Denial`;
every decision is traced with OpenTelemetry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

from ._audit import AuditLog, AuditLogError
from ._decision import Decision, Outcome
from ._denial import BudgetUse, Denial, DenialCode
from ._exceptions import (
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
from ._export import JsonlSpanExporter
from ._guard import AuditSink, Guard, Mode
from ._manifest import Budget, Constraint, Manifest, ToolGrant, UrlSpec, parse_duration
from ._narrower import Finding, NarrowerReport, narrower
from ._schema import json_schema_defaults
from ._signing import key_id, sign_file, verify_file, verify_manifest, write_keypair
from ._sqlite_store import SQLiteStore
from ._store import BudgetStore, Charge, MemoryStore, Overrun, default_store
from ._store_url import RetryPolicy, open_store
from ._templates import render_template
from ._tracing import configure_tracing

if TYPE_CHECKING:
    from ._redis_store import RedisStore


def __getattr__(name: str) -> object:
    # RedisStore loads lazily, so `import guardrail` never needs redis-py.
    if name == "RedisStore":
        from ._redis_store import RedisStore

        return RedisStore
    raise AttributeError(f"module 'guardrail' has no attribute {name!r}")


__all__ = [
    "ArgumentViolation",
    "AuditLog",
    "AuditLogError",
    "AuditSink",
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
    "StoreUnavailable",
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
    "verify_file",
    "verify_manifest",
    "write_keypair",
]
