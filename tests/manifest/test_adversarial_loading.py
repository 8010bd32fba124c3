"""Adversarial: manifests a YAML quirk or an absurd value could silently widen or crash on."""

from __future__ import annotations

import pytest

from guardrail import Guard, Manifest, ManifestError, MemoryStore
from guardrail.testing import task_id


def _yaml(tools: str) -> str:
    return f"task: {task_id('adv')}\nttl: 5m\n{tools}"


@pytest.mark.parametrize("key", ["a", "amount"])  # one character, and more than one
def test_earlier_merged_mapping_wins_whatever_the_key_length(key: str) -> None:
    # YAML: "keys in mapping nodes earlier in the sequence override keys in later ones".
    # PyYAML 6.0.4 dedups merged keys by object identity, so for any key longer than one
    # character the *later* (looser) mapping won: a manifest silently widened.
    text = _yaml(
        "tools:\n"
        "  refund:\n"
        "    args:\n"
        f"      <<: [{{{key}: {{max: 50}}}}, {{{key}: {{}}}}]\n"
    )
    manifest = Manifest.from_yaml(text)
    grant = manifest.tools["refund"]
    assert grant is not None
    assert grant.args[key].max == 50, "the earlier merged mapping must win (YAML merge spec)"
    guard = Guard(manifest, store=MemoryStore())
    assert not guard.check("refund", {key: 5000}).allowed


def test_merge_precedence_through_anchors() -> None:
    text = _yaml(
        "tools:\n"
        "  base: &loose {args: {amount: {}}, allow_other_args: true}\n"
        "  refund:\n"
        "    <<: [{args: {amount: {max: 50}}, allow_other_args: false}, *loose]\n"
    )
    grant = Manifest.from_yaml(text).tools["refund"]
    assert grant is not None
    assert grant.allow_other_args is False
    assert grant.args["amount"].max == 50


def test_explicit_keys_still_override_merged_ones() -> None:
    text = _yaml(
        "tools:\n"
        "  f: {args: &c {queue: eu, limit: {max: 10}}}\n"
        "  g:\n    args:\n      <<: *c\n      limit: {max: 5}\n"
    )
    grant = Manifest.from_yaml(text).tools["g"]
    assert grant is not None
    assert grant.args["limit"].max == 5 and grant.args["queue"].equals == "eu"


def test_a_mapping_that_merges_itself_is_an_error() -> None:
    with pytest.raises(ManifestError, match="merge"):
        Manifest.from_yaml(_yaml("tools:\n  t: &a {<<: *a}\n"))


@pytest.mark.parametrize("ttl", ["100000000000d", 1e308, "3000000d"])
def test_a_ttl_past_year_9999_is_a_manifest_error_not_an_overflow(ttl: object) -> None:
    # Was: OverflowError out of Guard(...) / guardrail validate.
    with pytest.raises(ManifestError, match="ttl"):
        Manifest.model_validate({"task": "t", "ttl": ttl, "tools": {}})
    with pytest.raises(ManifestError, match="ttl"):
        Manifest.from_yaml(f"task: t\nttl: {ttl}\ntools: {{}}\n")
