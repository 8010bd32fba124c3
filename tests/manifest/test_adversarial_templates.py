"""Adversarial: template parameters that would widen the grant they are inserted into."""

from __future__ import annotations

from typing import Any

import pytest

from guardrail import Guard, Manifest, ManifestError, MemoryStore
from guardrail.testing import task_id

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
        TEMPLATE, task=task_id("adv"), customer="acme", tenant="eu"  # type: ignore[arg-type]
    )
    guard = Guard(manifest, store=MemoryStore())
    assert guard.check("read_file", {"path": "/srv/customers/acme/a.txt"}).allowed
    assert not guard.check("read_file", {"path": "/srv/customers/other/a.txt"}).allowed
    assert guard.check("fetch", {"u": "https://eu.api.example.com/c/acme/x"}).allowed
    assert not guard.check("fetch", {"u": "https://us.api.example.com/c/acme/x"}).allowed
