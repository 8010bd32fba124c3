"""task-guardrail: per-task delegation manifests for AI agent tool calls.

Every tool call is checked against a delegation manifest (allowed tools, argument constraints,
budgets, expiry) before the tool runs; what is not granted is denied with a structured `Denial`;
every decision is traced with OpenTelemetry.
"""

from __future__ import annotations

__version__ = "0.1.0"

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
from ._guard import AuditSink, Guard, Mode
from ._manifest import Budget, Constraint, Manifest, ToolGrant, UrlSpec, parse_duration
from ._store import BudgetStore, Charge, MemoryStore, Overrun, default_store

__all__ = [
    "ArgumentViolation",
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
    "Guard",
    "GuardrailError",
    "Manifest",
    "ManifestError",
    "MemoryStore",
    "Mode",
    "Outcome",
    "Overrun",
    "StoreUnavailable",
    "ToolGrant",
    "ToolNotAllowed",
    "UrlSpec",
    "__version__",
    "default_store",
    "parse_duration",
]
