"""Signed manifests: keygen, sign, verify; tampering, wrong keys, unsigned manifests and key
rotation; the CLI commands."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from guardrail import Guard, Manifest, ManifestError, MemoryStore
from guardrail._manifest import key_id, verify_manifest
from guardrail._signing._files import (
    generate_key,
    private_key_pem,
    public_key_pem,
    sign_file,
    sign_text,
    signature_for,
    verify_file,
    write_keypair,
)
from guardrail.cli import ExitCode
from tests.support.delegation import EXAMPLES, run_cli

YAML = """\
# Refunds for one order. Comments and layout above the signature are kept as written.
manifest: 1
task: refund-4711
principal: agent:support-bot
ttl: 15m
tools:
  send_refund:
    args:
      order_id: {equals: ORD-004711, required: true}
      amount: {type: number, min: 0, max: 50}   # at most 50 per call
    budget: {calls: 2}
"""

COMPACT_JSON = json.dumps(
    {"task": "refund-4711", "ttl": "15m", "budget": {"calls": 3},
     "tools": {"send_refund": {"args": {"amount": {"type": "number", "max": 50},
                                        "order_id": "ORD-004711"}}}},
    separators=(",", ":"),
)


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    a_key, a_pub, _ = write_keypair(tmp_path / "a")
    b_key, b_pub, _ = write_keypair(tmp_path / "b")
    return {"a_key": a_key, "a_pub": a_pub, "b_key": b_key, "b_pub": b_pub}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_round_trip_yaml_keeps_the_text_above_the_signature(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    path = _write(tmp_path, "m.yaml", YAML)
    unsigned_digest = Manifest.from_file(path).digest
    sign_file(path, keys["a_key"])
    text = path.read_text()
    assert text.startswith(YAML.rstrip() + "\nsignature:\n")
    assert text.count("signature:") == 1
    manifest = verify_file(path, [keys["a_pub"]])
    assert manifest.digest == unsigned_digest  # the signature is not part of the digest
    assert manifest.signature is not None and manifest.signature["alg"] == "ed25519"
    assert str(manifest.signature["key_id"]).startswith("ed25519:")
    assert Manifest.from_file(path, trusted_keys=[keys["a_pub"]]).task == "refund-4711"
    guard = Guard(path, trusted_keys=[keys["a_pub"]], store=MemoryStore())
    assert guard.check("send_refund", {"order_id": "ORD-004711", "amount": 5}).allowed


def test_round_trip_json(tmp_path: Path, keys: dict[str, Path]) -> None:
    path = _write(tmp_path, "m.json", COMPACT_JSON)
    sign_file(path, keys["a_key"])
    text = path.read_text()
    assert text.startswith(COMPACT_JSON[:-1] + ',"signature":{')
    assert "\n" not in text.strip()  # a compact file stays compact
    assert verify_file(path, [keys["a_pub"]]).task == "refund-4711"
    pretty = _write(tmp_path, "p.json", json.dumps(json.loads(COMPACT_JSON), indent=2) + "\n")
    sign_file(pretty, keys["a_key"])
    assert verify_file(pretty, [keys["a_pub"]]).digest == verify_file(path, [keys["a_pub"]]).digest


def test_one_changed_byte_anywhere_fails(tmp_path: Path, keys: dict[str, Path]) -> None:
    path = _write(tmp_path, "m.json", COMPACT_JSON)
    sign_file(path, keys["a_key"])
    signed = path.read_bytes()
    verify_file(path, [keys["a_pub"]])
    tampered = tmp_path / "t.json"
    for position in range(len(signed)):
        for replacement in {(signed[position] + 1) % 256, ord("x") if signed[position] != ord("x")
                            else ord("y")}:
            tampered.write_bytes(signed[:position] + bytes([replacement]) + signed[position + 1:])
            with pytest.raises(ManifestError):
                verify_file(tampered, [keys["a_pub"]])


@pytest.mark.parametrize(("old", "new"), [
    ("max: 50", "max: 500"),
    ("ttl: 15m", "ttl: 15d"),
    ("calls: 2", "calls: 3"),
    ("task: refund-4711", "task: refund-4712"),
    ("{equals: ORD-004711, required: true}", "{equals: ORD-004711}"),
    ("    budget: {calls: 2}\n", "    budget: {calls: 2}\n  delete_everything: {}\n"),
    ("    budget: {calls: 2}\n", "    budget: {calls: 2}\n    allow_other_args: true\n"),
])
def test_widening_a_signed_yaml_fails(tmp_path: Path, keys: dict[str, Path], old: str, new: str) -> None:
    path = _write(tmp_path, "m.yaml", YAML)
    sign_file(path, keys["a_key"])
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ManifestError, match="does not match its content"):
        verify_file(path, [keys["a_pub"]])
    with pytest.raises(ManifestError):
        Guard(path, trusted_keys=[keys["a_pub"]], store=MemoryStore())


def test_comments_and_layout_are_not_signed(tmp_path: Path, keys: dict[str, Path]) -> None:
    # documented: the signature covers the manifest's data (its digest), not its formatting
    path = _write(tmp_path, "m.yaml", YAML)
    sign_file(path, keys["a_key"])
    path.write_text(path.read_text().replace("# at most 50 per call", "# reworded comment"))
    assert verify_file(path, [keys["a_pub"]]).task == "refund-4711"


def test_wrong_key_and_unsigned(tmp_path: Path, keys: dict[str, Path]) -> None:
    path = _write(tmp_path, "m.yaml", YAML)
    with pytest.raises(ManifestError, match="is not signed, and trusted keys are required"):
        verify_file(path, [keys["a_pub"]])
    with pytest.raises(ManifestError, match="not signed"):
        Guard(path, trusted_keys=[keys["a_pub"]], store=MemoryStore())
    assert Manifest.from_file(path).signature is None  # without trusted keys nothing is required
    sign_file(path, keys["a_key"])
    with pytest.raises(ManifestError, match="which is not a trusted key") as err:
        verify_file(path, [keys["b_pub"]])
    assert key_id(_public(keys["a_pub"])) in str(err.value)  # who signed it
    assert key_id(_public(keys["b_pub"])) in str(err.value)  # whom we trust
    with pytest.raises(ManifestError, match="no trusted keys"):
        verify_file(path, [])


def _public(path: Path) -> Any:
    from guardrail._manifest import load_public_key

    return load_public_key(path)


def test_a_signature_by_another_key_under_a_trusted_key_id_fails(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    # an agent that can write files signs its widened grant with its own key and claims the
    # trusted key's id
    path = _write(tmp_path, "m.yaml", YAML.replace("max: 50", "max: 5000"))
    manifest = Manifest.from_file(path)
    forged = signature_for(manifest, generate_key())
    forged["key_id"] = key_id(_public(keys["a_pub"]))
    data = manifest.model_dump(by_alias=True, exclude_unset=True, mode="json")
    data["signature"] = forged
    with pytest.raises(ManifestError, match="does not match its content"):
        verify_manifest(Manifest.model_validate(data), [keys["a_pub"]])


def test_an_agent_cannot_widen_its_own_grant(tmp_path: Path, keys: dict[str, Path]) -> None:
    path = _write(tmp_path, "m.yaml", YAML)
    sign_file(path, keys["a_key"])
    # 1. it strips the signature and widens
    stripped = path.read_text().split("signature:")[0].replace("max: 50", "max: 5000")
    path.write_text(stripped)
    with pytest.raises(ManifestError, match="not signed"):
        Guard(path, trusted_keys=[keys["a_pub"]], store=MemoryStore())
    # 2. it re-signs with a key of its own
    rogue_key, _, _ = write_keypair(tmp_path / "rogue")
    sign_file(path, rogue_key)
    with pytest.raises(ManifestError, match="not a trusted key"):
        Guard(path, trusted_keys=[keys["a_pub"]], store=MemoryStore())


def test_key_rotation(tmp_path: Path, keys: dict[str, Path]) -> None:
    old = _write(tmp_path, "old.yaml", YAML)
    new = _write(tmp_path, "new.yaml", YAML.replace("refund-4711", "refund-4712"))
    sign_file(old, keys["a_key"])
    sign_file(new, keys["b_key"])
    both = [keys["a_pub"], keys["b_pub"]]
    assert verify_file(old, both).task == "refund-4711"
    assert verify_file(new, both).task == "refund-4712"
    assert verify_manifest(Manifest.from_file(old), both) == key_id(_public(keys["a_pub"]))
    assert verify_manifest(Manifest.from_file(new), both) == key_id(_public(keys["b_pub"]))
    with pytest.raises(ManifestError, match="not a trusted key"):  # the old key is retired
        verify_file(old, [keys["b_pub"]])
    # re-signing with the new key replaces the block
    sign_file(old, keys["b_key"])
    assert old.read_text().count("signature:") == 1
    assert verify_file(old, [keys["b_pub"]]).task == "refund-4711"


def test_trusted_key_forms(tmp_path: Path, keys: dict[str, Path]) -> None:
    path = _write(tmp_path, "m.yaml", YAML)
    sign_file(path, keys["a_key"])
    pem = keys["a_pub"].read_bytes()
    public = _public(keys["a_pub"])
    for form in (public, pem, pem.decode(), str(keys["a_pub"]), keys["a_pub"]):
        assert verify_file(path, [form]).task == "refund-4711"
    assert verify_file(path, keys["a_pub"]).task == "refund-4711"  # one key, not in a list
    with pytest.raises(ManifestError, match="cannot read public key"):
        verify_file(path, [tmp_path / "missing.pub"])
    with pytest.raises(ManifestError, match="not a PEM public key"):
        verify_file(path, [b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"])
    with pytest.raises(ManifestError, match="must be an Ed25519 public key"):
        verify_file(path, [12345])


@pytest.mark.parametrize(("change", "message"), [
    ({"alg": "rsa"}, "unsupported algorithm"),
    ({"extra": "x"}, "unknown key 'extra'"),
    ({"value": "not base64!"}, "not valid base64"),
    ({"value": 5}, "must be strings"),
])
def test_malformed_signature_blocks(keys: dict[str, Path], change: dict[str, Any], message: str) -> None:
    manifest = Manifest.from_yaml(YAML)
    block: dict[str, Any] = {**signature_for(manifest, _private(keys["a_key"])), **change}
    data = manifest.model_dump(by_alias=True, exclude_unset=True, mode="json")
    data["signature"] = block
    with pytest.raises(ManifestError, match=message):
        verify_manifest(Manifest.model_validate(data), [keys["a_pub"]])


def _private(path: Path) -> Any:
    from guardrail._signing._files import load_private_key

    return load_private_key(path)


def test_sign_text_falls_back_to_reemitting(keys: dict[str, Path]) -> None:
    flow = "{task: flow-1, ttl: 5m, tools: {f: {}}}\n"  # a flow mapping cannot take a block
    signed = sign_text(flow, _private(keys["a_key"]), json_format=False)
    assert verify_manifest(Manifest.from_yaml(signed), [keys["a_pub"]])
    assert Manifest.from_yaml(signed).digest == Manifest.from_yaml(flow).digest


def test_sign_refuses_an_invalid_manifest(tmp_path: Path, keys: dict[str, Path]) -> None:
    path = _write(tmp_path, "bad.yaml", "task: x\ntools: {f: {args: {a: {max_lenght: 3}}}}\nttl: 5m\n")
    with pytest.raises(ManifestError, match="max_lenght"):
        sign_file(path, keys["a_key"])


def test_keys_on_disk(tmp_path: Path) -> None:
    private_path, public_path, kid = write_keypair(tmp_path / "k")
    assert stat.S_IMODE(os.stat(private_path).st_mode) == 0o600
    assert private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert kid == key_id(_public(public_path)) == key_id(_private(private_path))
    with pytest.raises(FileExistsError):
        write_keypair(tmp_path / "k")
    key = generate_key()
    assert public_key_pem(key) != private_key_pem(key)
    assert key_id(key) != kid


def test_delegated_child_of_a_verified_parent_needs_no_signature(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    parent_path = tmp_path / "parent.yaml"
    parent_path.write_text((EXAMPLES / "parent.yaml").read_text())
    sign_file(parent_path, keys["a_key"])
    parent = Guard(parent_path, trusted_keys=[keys["a_pub"]], store=MemoryStore())
    child = parent.delegate(EXAMPLES / "child.yaml")
    assert child.manifest.signature is None
    assert child.check("send_refund", {"order_id": "ORD-004711", "amount": 1,
                                       "currency": "EUR"}).allowed


# -- command line ------------------------------------------------------------------------------


def test_cli_keygen_sign_verify(tmp_path: Path) -> None:
    result = run_cli("keygen", "--out", str(tmp_path / "ops"))
    assert result.returncode == 0, result.stderr
    assert "key id:      ed25519:" in result.stdout
    assert (tmp_path / "ops.key").exists() and (tmp_path / "ops.pub").exists()
    again = run_cli("keygen", "--out", str(tmp_path / "ops"))
    assert again.returncode == ExitCode.USAGE and "exists" in again.stderr
    path = _write(tmp_path, "m.yaml", YAML)
    signed = run_cli("sign", "--key", str(tmp_path / "ops.key"), str(path))
    assert signed.returncode == 0, signed.stderr
    assert "ttl but no issued_at" in signed.stderr  # the replay note
    ok = run_cli("verify", "--pub", str(tmp_path / "ops.pub"), str(path))
    assert ok.returncode == 0 and "verified" in ok.stdout
    run_cli("keygen", "--out", str(tmp_path / "other"))
    wrong = run_cli("verify", "--pub", str(tmp_path / "other.pub"), str(path))
    assert wrong.returncode == ExitCode.FAILED and "NOT VERIFIED" in wrong.stdout
    rotated = run_cli("verify", "--pub", str(tmp_path / "other.pub"), "--pub",
                      str(tmp_path / "ops.pub"), str(path))
    assert rotated.returncode == 0
    path.write_text(path.read_text().replace("max: 50", "max: 51"))
    tampered = run_cli("verify", "--pub", str(tmp_path / "ops.pub"), str(path))
    assert tampered.returncode == ExitCode.FAILED and "does not match" in tampered.stdout
    out = tmp_path / "copy.yaml"
    copy = run_cli("sign", "--key", str(tmp_path / "ops.key"), "-o", str(out),
                   str(EXAMPLES / "parent.yaml"))
    assert copy.returncode == 0 and out.exists()
    assert "signature:" not in (EXAMPLES / "parent.yaml").read_text()


def test_one_signature_has_one_spelling(keys: dict[str, Path]) -> None:
    # the last base64 digit before `==` carries 4 unused bits: a twin spelling decodes to the same
    # signature bytes, and is refused so that a signed file has exactly one valid form
    import base64

    manifest = Manifest.from_yaml(YAML)
    block = signature_for(manifest, _private(keys["a_key"]))
    value = block["value"]
    assert value.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    twin = value[:-3] + alphabet[alphabet.index(value[-3]) ^ 1] + "=="
    assert twin != value and base64.b64decode(twin) == base64.b64decode(value)
    data = manifest.model_dump(by_alias=True, exclude_unset=True, mode="json")
    data["signature"] = {**block, "value": twin}
    with pytest.raises(ManifestError, match="not canonical base64"):
        verify_manifest(Manifest.model_validate(data), [keys["a_pub"]])
    data["signature"] = block
    assert verify_manifest(Manifest.model_validate(data), [keys["a_pub"]]) == block["key_id"]
