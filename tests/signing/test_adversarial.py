"""Adversarial: a changed copy of a signed manifest must not pass as the signed one."""

from __future__ import annotations

import pytest

from guardrail import DenialCode, Guard, Manifest, ManifestError, MemoryStore
from guardrail._signing._files import generate_key, sign_text
from guardrail.testing import task_id


def test_a_changed_model_copy_of_a_signed_manifest_does_not_verify() -> None:
    key = generate_key()
    text = f"task: {task_id('adv')}\nttl: 5m\ntools:\n  read: {{args: {{q: {{max_length: 3}}}}}}\n"
    signed = Manifest.from_yaml(sign_text(text, key, json_format=False), trusted_keys=[key.public_key()])
    # model_copy kept the private digest of the original, so the widened copy "verified" and a
    # guard built from it granted delete_all.
    wider = signed.model_copy(update={"tools": {"read": None, "delete_all": None}})
    assert wider.digest != signed.digest
    with pytest.raises(ManifestError, match="signature"):
        Guard(wider, trusted_keys=[key.public_key()], store=MemoryStore())


def test_a_changed_copy_is_checked_against_its_own_rules() -> None:
    manifest = Manifest.model_validate(
        {"task": task_id("adv"), "ttl": "5m", "tools": {"read": None}}
    )
    manifest.compiled()  # cached on the original
    copy = manifest.model_copy(update={"task": task_id("adv")})
    guard = Guard(copy, store=MemoryStore())
    assert guard.task == copy.task
    assert guard.check("read", {}).denial is None
    assert guard.check("read", {}).allowed
    decision = guard.check("nope", {})
    assert decision.denial is not None and decision.denial.task == copy.task
    assert decision.denial.code is DenialCode.TOOL_NOT_ALLOWED
    # An unchanged copy keeps the digest of the manifest as written.
    assert manifest.model_copy().digest == manifest.digest
