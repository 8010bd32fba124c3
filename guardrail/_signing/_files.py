"""Making keys and signing manifest files (`guardrail keygen`, `guardrail sign`).

What a signature covers and how it is verified is part of reading a manifest:
`guardrail._manifest._signature`. Signing writes the signature block into the manifest file,
keeping the text above it as written where it can, and checks that the result verifies.
`cryptography` is imported when a key is first made or read, not by `import guardrail`.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from yaml.nodes import MappingNode, ScalarNode

from .._errors import ManifestError
from .._manifest import Manifest, load_yaml, read_text
from .._manifest._signature import (
    BLOCK_KEYS,
    SIGNATURE_ALG,
    key_id,
    load_public_key,
    pem_bytes,
    reason,
    signed_message,
    verify_manifest,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from .._manifest._signature import KeySource

__all__ = [
    "generate_key",
    "load_private_key",
    "private_key_pem",
    "public_key_pem",
    "sign_file",
    "sign_text",
    "signature_for",
    "verify_file",
    "write_keypair",
]


# -- keys --------------------------------------------------------------------------------------


def generate_key() -> Ed25519PrivateKey:
    """A new Ed25519 private key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    public = load_public_key(key)
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(source: Ed25519PrivateKey | bytes | str | os.PathLike[str]) -> Ed25519PrivateKey:
    """An Ed25519 private key from a key object, PEM bytes/text or a PEM file (unencrypted)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    if isinstance(source, Ed25519PrivateKey):
        return source
    data, label = pem_bytes(source, "private key")
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ManifestError(f"{label}: not an unencrypted PEM private key ({reason(exc)})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ManifestError(f"{label}: not an Ed25519 key (use `guardrail keygen`)")
    return key


def write_keypair(prefix: str | os.PathLike[str], *, force: bool = False) -> tuple[Path, Path, str]:
    """Write `PREFIX.key` (private, mode 0600) and `PREFIX.pub`; returns both paths and the key id.
    Refuses to overwrite existing files unless `force`."""
    base = Path(prefix)
    private_path = base.with_name(base.name + ".key")
    public_path = base.with_name(base.name + ".pub")
    if not force:
        for path in (private_path, public_path):
            if path.exists():
                raise FileExistsError(f"{path} exists (use --force to overwrite)")
    key = generate_key()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(private_path, flags, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private_key_pem(key))
    os.chmod(private_path, 0o600)
    public_path.write_bytes(public_key_pem(key))
    return private_path, public_path, key_id(key)


# -- signing -----------------------------------------------------------------------------------


def signature_for(manifest: Manifest, key: Ed25519PrivateKey) -> dict[str, str]:
    """The signature block for a manifest (over its digest)."""
    value = key.sign(signed_message(manifest.digest))
    return {
        "alg": SIGNATURE_ALG,
        "key_id": key_id(key),
        "value": base64.b64encode(value).decode("ascii"),
    }


def sign_text(text: str, key: Ed25519PrivateKey, *, json_format: bool, source: str | None = None) -> str:
    """The manifest text with a signature block added (an old one replaced).

    YAML: the block is appended at the end and everything above it is kept as written (comments
    included); JSON: the block is inserted before the closing brace. When that cannot be done
    safely (a flow-style or indented top level, a signature block that is not last) the manifest is
    re-emitted instead. Either way the result is checked: it must load to the same digest and
    verify with the key's public half.
    """
    if json_format:
        manifest = Manifest.from_json(text, source=source)
    else:
        manifest = Manifest.from_yaml(text, source=source)
    block = signature_for(manifest, key)
    candidates = []
    appended = (
        _json_insert(text, block, manifest) if json_format else _yaml_append(text, block, manifest)
    )
    if appended is not None:
        candidates.append(appended)
    candidates.append(_reemit(text, block, json_format, source))
    public = key.public_key()
    for candidate in candidates:
        if _round_trips(candidate, manifest.digest, block, public, json_format):
            return candidate
    raise ManifestError("could not write the signature block so that it round-trips", source=source)


def _round_trips(
    text: str, digest: str, block: dict[str, str], public: Ed25519PublicKey, json_format: bool
) -> bool:
    try:
        loaded = (
            Manifest.from_json(text, trusted_keys=[public])
            if json_format
            else Manifest.from_yaml(text, trusted_keys=[public])
        )
    except ManifestError:
        return False
    return loaded.digest == digest and loaded.signature == block


def _yaml_block(block: Mapping[str, str]) -> str:
    lines = ["signature:"]
    lines += [f"  {k}: {json.dumps(block[k])}" for k in BLOCK_KEYS]
    return "\n".join(lines) + "\n"


def _yaml_append(text: str, block: dict[str, str], manifest: Manifest) -> str | None:
    body = text
    if manifest.signature is not None:
        # Cut the old block when it is the last top-level entry (as `sign` writes it).
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            return None
        if not isinstance(root, MappingNode) or not root.value:
            return None
        key_node, _ = root.value[-1]
        if not isinstance(key_node, ScalarNode) or key_node.value != "signature":
            return None
        start = key_node.start_mark.index
        if key_node.start_mark.column != 0:
            return None
        body = text[:start]
    body = body.rstrip()
    if not body:
        return None
    return body + "\n" + _yaml_block(block)


def _json_insert(text: str, block: dict[str, str], manifest: Manifest) -> str | None:
    if manifest.signature is not None:
        return None
    stripped = text.rstrip()
    if not stripped.endswith("}"):
        return None
    head = stripped[:-1].rstrip()
    if head.endswith("{"):
        return None  # an empty object is not a manifest anyway
    if "\n" in stripped:
        insertion = ',\n  "signature": ' + json.dumps(block) + "\n}"
    else:
        insertion = ',"signature":' + json.dumps(block, separators=(",", ":")) + "}"
    return head + insertion + ("\n" if text.endswith("\n") else "")


def _reemit(text: str, block: dict[str, str], json_format: bool, source: str | None) -> str:
    if json_format:
        data = json.loads(text)
        data["signature"] = block
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    data, _, problems = load_yaml(text, source)
    if problems:
        raise ManifestError(problems, source=source)
    data = {k: v for k, v in data.items() if k != "signature"}
    dumped = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return dumped.rstrip() + "\n" + _yaml_block(block)


def sign_file(
    path: str | os.PathLike[str],
    key: Ed25519PrivateKey | bytes | str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
) -> Path:
    """Sign a manifest file in place (or write the signed copy to `out`); returns the path written."""
    p = Path(path)
    private = load_private_key(key)
    text = read_text(p)
    signed = sign_text(text, private, json_format=p.suffix.lower() == ".json", source=str(p))
    target = Path(out) if out is not None else p
    target.write_text(signed, encoding="utf-8")
    return target


# -- verifying ---------------------------------------------------------------------------------


def verify_file(path: str | os.PathLike[str], trusted_keys: Sequence[Any] | KeySource) -> Manifest:
    """Load a manifest file and verify its signature (`ManifestError` when it does not verify)."""
    manifest = Manifest.from_file(Path(path))
    verify_manifest(manifest, trusted_keys)
    return manifest
