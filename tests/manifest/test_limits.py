"""Oversized manifests are refused before they are parsed, and YAML nodes are counted while they are
composed (issue 11, item 10). Behaviour only: the error and its message, no timings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guardrail import Manifest, ManifestError
from guardrail._manifest import _data


def _many_tools(count: int) -> str:
    lines = ["task: t-limits", "ttl: 5m", "tools:"]
    lines += [f"  tool_{i}: {{}}" for i in range(count)]
    return "\n".join(lines) + "\n"


def test_a_manifest_larger_than_the_byte_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    text = _many_tools(200_000)  # about 3.4 MB
    assert len(text) > _data.MAX_BYTES
    with pytest.raises(ManifestError, match=r"more than the limit of 1048576 bytes"):
        Manifest.from_yaml(text)
    path = tmp_path / "big.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=r"bytes, more than the limit of 1048576 bytes") as info:
        Manifest.from_file(path)
    assert info.value.source == str(path)


def test_a_huge_comment_only_file_is_refused_by_size(tmp_path: Path) -> None:
    path = tmp_path / "comments.yaml"
    path.write_text("# nothing but a comment\n" * 900_000)  # about 21 MB
    with pytest.raises(ManifestError, match=r"GUARDRAIL_MAX_MANIFEST_BYTES"):
        Manifest.from_file(path)


def test_json_text_is_held_to_the_same_limit() -> None:
    text = json.dumps({"task": "t", "ttl": "5m", "tools": {f"t{i}": {} for i in range(100_000)}})
    assert len(text) > _data.MAX_BYTES
    with pytest.raises(ManifestError, match=r"more than the limit"):
        Manifest.from_json(text)


def test_the_byte_limit_is_counted_in_utf8_bytes() -> None:
    # 300k three-byte characters: under the limit in characters, over it in bytes.
    text = "task: t\nttl: 5m\ntools: {}\n# " + "€" * 400_000 + "\n"
    assert len(text) < _data.MAX_BYTES < len(text.encode())
    with pytest.raises(ManifestError, match=r"more than the limit"):
        Manifest.from_yaml(text)


def test_the_limit_can_be_raised_with_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "task: t-env\nttl: 5m\ntools: {read: {}}\n" + "# padding\n" * 120_000
    with pytest.raises(ManifestError):
        Manifest.from_yaml(text)
    monkeypatch.setenv("GUARDRAIL_MAX_MANIFEST_BYTES", str(4 << 20))
    assert Manifest.from_yaml(text).task == "t-env"
    monkeypatch.setenv("GUARDRAIL_MAX_MANIFEST_BYTES", "lots")
    with pytest.raises(ManifestError, match="must be a positive number of bytes"):
        Manifest.from_yaml(text)


def test_nodes_are_counted_while_composing_with_the_count_and_limit_in_the_message() -> None:
    # Under the byte limit, over the node limit: refused while composing, naming both numbers.
    text = "task: t\nttl: 5m\ntools: {}\nx: [" + "0," * 150_000 + "0]\n"
    assert len(text) < _data.MAX_BYTES
    with pytest.raises(ManifestError) as info:
        Manifest.from_yaml(text, source="nodes.yaml")
    message = str(info.value)
    assert "more than 100000 values" in message
    assert "100001 read so far" in message
    assert info.value.source == "nodes.yaml"


def test_a_manifest_within_the_limits_still_loads() -> None:
    manifest = Manifest.from_yaml(_many_tools(2_000))
    assert len(manifest.tools) == 2_000
