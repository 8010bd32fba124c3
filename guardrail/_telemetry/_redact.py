"""Keeping secrets out of telemetry: argument values with secret-looking keys are replaced."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_ARGUMENTS_CHARS", "REDACTED", "SECRET_KEYS", "arguments_json", "is_secret_key", "redact"]

SECRET_KEYS = ("password", "passwd", "token", "secret", "api_key", "apikey", "authorization",
               "private_key", "credential", "cookie", "bearer")
# Words matched as a whole part of the name only: inside other words they mean something else
# (`pwd` in `cwd`-like names is rare, `pass` in `passenger` or `auth` in `author` is not).
_SECRET_PARTS = frozenset({"pwd", "pass", "passphrase", "auth", "pin", "jwt", "otp", "sid"})
# Compared with every separator removed, so `api_key`, `apiKey`, `API-KEY` and `apikey` all match.
_SECRET_WORDS = tuple(sorted({word.replace("_", "") for word in SECRET_KEYS}))
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^a-z0-9]+")
REDACTED = "[REDACTED]"
MAX_ARGUMENTS_CHARS = 8192


def is_secret_key(key: str) -> bool:
    """True when a key names a secret in any spelling: snake, kebab, camel or Pascal case, upper
    or lower (`privateKey`, `client-secret`, `X-Api-Key`, `PWD`, `bearer`)."""
    parts = [p for p in _SEPARATORS.split(_CAMEL.sub("_", key).lower()) if p]
    squashed = "".join(parts)
    return any(word in squashed for word in _SECRET_WORDS) or any(p in _SECRET_PARTS for p in parts)


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
