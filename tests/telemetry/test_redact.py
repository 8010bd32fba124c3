"""Redaction matches secret words in any spelling of a key (issue 11, item 6)."""

from __future__ import annotations

import json

import pytest

from guardrail._telemetry._redact import REDACTED, arguments_json, is_secret_key, redact

SECRET_SPELLINGS = [
    "privateKey", "PrivateKey", "private-key", "PRIVATE_KEY", "pwd", "PWD", "user_pwd", "bearer",
    "Bearer", "bearerToken", "apiKey", "ApiKey", "X-Api-Key", "api-key", "client-secret",
    "clientSecret", "secretKey", "secret_key", "password", "userPassword", "db_pass", "authToken",
    "x-auth", "Authorization", "passwd", "sessionCookie", "credentials",
]


@pytest.mark.parametrize("key", SECRET_SPELLINGS)
def test_secret_keys_are_recognised_in_every_spelling(key: str) -> None:
    assert is_secret_key(key), key


@pytest.mark.parametrize(
    "key", ["path", "query", "amount", "author", "passenger", "compass", "body", "accept", "to"]
)
def test_ordinary_keys_are_not_redacted(key: str) -> None:
    assert not is_secret_key(key)


def test_record_values_json_has_no_secret_in_clear() -> None:
    args = {key: f"VALUE-{i}" for i, key in enumerate(SECRET_SPELLINGS)}
    args["nested"] = {"privateKey": "VALUE-nested", "list": [{"clientSecret": "VALUE-list"}]}
    text = arguments_json(args)
    assert "VALUE-" not in text, text
    assert json.loads(text)["nested"]["privateKey"] == REDACTED
    assert redact({"path": "/tmp/x"}) == {"path": "/tmp/x"}
