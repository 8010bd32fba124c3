"""Keeping secrets out of telemetry: argument values with secret-looking keys are replaced."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_ARGUMENTS_CHARS", "REDACTED", "SECRET_KEYS", "arguments_json", "is_secret_key", "redact"]

SECRET_KEYS = ("password", "passwd", "token", "secret", "api_key", "apikey", "authorization",
               "private_key", "credential", "cookie")
REDACTED = "[REDACTED]"
MAX_ARGUMENTS_CHARS = 8192


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
