"""Adversarial: URL paths a backend resolves outside `path_prefix`."""

from __future__ import annotations

from typing import Any

import pytest

from guardrail import Guard, MemoryStore
from guardrail.testing import task_id


def _guard(args: dict[str, Any]) -> Guard:
    manifest = {"task": task_id("adv"), "ttl": "5m", "tools": {"fetch": {"args": args}}}
    return Guard(manifest, store=MemoryStore())


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1/..;/admin",  # Tomcat / Jetty / Spring read `..;` as `..`
        "https://api.example.com/v1/.;x/../../admin",
        "https://api.example.com/v1/%252e%252e/admin",  # decoded twice: `..`
        "https://api.example.com/v1/%252E%252e%252fadmin",
        "https://api.example.com/v1/x%255cadmin",
    ],
)
def test_url_path_tricks_outside_the_prefix_are_denied(url: str) -> None:
    guard = _guard({"u": {"url": {"hosts": ["api.example.com"], "path_prefix": "/v1"}}})
    decision = guard.check("fetch", {"u": url})
    assert not decision.allowed, f"{url} must not pass path_prefix /v1"


@pytest.mark.parametrize(
    "url", ["https://api.example.com/v1/a;b/c", "https://api.example.com/v1/100%25/x",
            "https://api.example.com/v1/x..;y"],
)
def test_ordinary_url_paths_still_pass(url: str) -> None:
    guard = _guard({"u": {"url": {"hosts": ["api.example.com"], "path_prefix": "/v1"}}})
    assert guard.check("fetch", {"u": url}).allowed
