"""The hash-chained decision log (layer 4): `AuditLog` writes it, `verify` checks it."""

from __future__ import annotations

from .._errors import AuditLogError
from ._chain import GENESIS, log_files, rotated_files
from ._log import AuditLog, GuardView
from ._reader import BadLine, VerifyResult, iter_records, verify

__all__ = [
    "GENESIS",
    "AuditLog",
    "AuditLogError",
    "BadLine",
    "GuardView",
    "VerifyResult",
    "iter_records",
    "log_files",
    "rotated_files",
    "verify",
]
