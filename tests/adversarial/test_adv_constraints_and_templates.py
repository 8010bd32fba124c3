"""Adversarial: URL paths a backend resolves outside `path_prefix`, and template parameters that
would widen the grant they are inserted into."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from guardrail import Guard, Manifest, ManifestError, MemoryStore


def _guard(args: dict[str, Any]) -> Guard:
    manifest = {"task": f"adv-{uuid.uuid4().hex}", "ttl": "5m", "tools": {"fetch": {"args": args}}}
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


TEMPLATE: dict[str, Any] = {
    "params": {"customer": "string", "tenant": "string"},
    "ttl": "5m",
    "tools": {
        "read_file": {"args": {"path": {"path_within": "/srv/customers/${customer}"}}},
        "fetch": {"args": {"u": {"url": {"hosts": ["${tenant}.api.example.com"],
                                         "path_prefix": "/c/${customer}"}}}},
    },
}


@pytest.mark.parametrize("customer", ["", "/", "//"])
def test_a_path_parameter_cannot_be_empty_and_widen_to_the_parent(customer: str) -> None:
    # '/srv/customers/${customer}' with '' (or '/') normalised to '/srv/customers': every
    # customer's files.
    with pytest.raises(ManifestError, match="customer"):
        Manifest.from_template(TEMPLATE, task="t", customer=customer, tenant="acme")  # type: ignore[arg-type]


def test_a_host_parameter_cannot_become_a_wildcard() -> None:
    with pytest.raises(ManifestError, match="tenant"):
        Manifest.from_template(TEMPLATE, task="t", customer="acme", tenant="*")  # type: ignore[arg-type]


def test_ordinary_parameters_still_render() -> None:
    manifest = Manifest.from_template(
        TEMPLATE, task=f"adv-{uuid.uuid4().hex}", customer="acme", tenant="eu"  # type: ignore[arg-type]
    )
    guard = Guard(manifest, store=MemoryStore())
    assert guard.check("read_file", {"path": "/srv/customers/acme/a.txt"}).allowed
    assert not guard.check("read_file", {"path": "/srv/customers/other/a.txt"}).allowed
    assert guard.check("fetch", {"u": "https://eu.api.example.com/c/acme/x"}).allowed
    assert not guard.check("fetch", {"u": "https://us.api.example.com/c/acme/x"}).allowed
