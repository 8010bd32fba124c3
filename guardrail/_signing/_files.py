"""Signed manifests: an Ed25519 signature over the manifest digest.

The signature block sits in the manifest itself::

    signature:
      alg: ed25519
      key_id: ed25519:<first 32 hex digits of sha256(raw public key)>
      value: <base64 of the signature>

What is signed is `manifest.digest` (sha256 of the canonical JSON of the manifest as written,
minus its `signature` key), prefixed with a fixed context string so that a signature made for a
manifest cannot be reused for anything else. Changing any key or value of a signed manifest changes
its digest, so the signature no longer verifies. Comments and layout are not part of the digest.

`verify_manifest(manifest, trusted_keys)` refuses unsigned, tampered and wrongly-signed manifests
with a `ManifestError`. Several trusted keys may be given (key rotation): the manifest's `key_id`
picks the one to verify with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )
except ImportError as exc:  # pragma: no cover - depends on the install
    # Fails closed: a manifest that must be verified is not loaded without the library.
    raise ImportError(
        "signed manifests need the 'cryptography' package: pip install cryptography"
    ) from exc

from .._errors import ManifestError
from .._manifest._data import load_yaml
from .._manifest._models import Manifest

__all__ = [
    "SIGNATURE_ALG",
    "generate_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "private_key_pem",
    "public_key_pem",
    "sign_file",
    "sign_text",
    "signature_for",
    "verify_file",
    "verify_manifest",
    "write_keypair",
]

SIGNATURE_ALG = "ed25519"
_CONTEXT = b"guardrail manifest signature v1\n"
_BLOCK_KEYS = ("alg", "key_id", "value")

KeySource = Ed25519PublicKey | Ed25519PrivateKey | bytes | str | os.PathLike[str]


def _message(digest: str) -> bytes:
    return _CONTEXT + digest.encode("ascii")


# -- keys --------------------------------------------------------------------------------------


def generate_key() -> Ed25519PrivateKey:
    """A new Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The fingerprint of a public key: `ed25519:` and 32 hex digits of sha256 of its raw bytes."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{SIGNATURE_ALG}:{hashlib.sha256(raw).hexdigest()[:32]}"


def _pem_bytes(source: bytes | str | os.PathLike[str], what: str) -> tuple[bytes, str]:
    """The PEM bytes of a key given as PEM bytes, PEM text or a path, and a label for errors."""
    if isinstance(source, bytes):
        return source, what
    if isinstance(source, str) and source.lstrip().startswith("-----BEGIN"):
        return source.encode("ascii", "replace"), what
    path = Path(source)
    try:
        return path.read_bytes(), str(path)
    except OSError as exc:
        raise ManifestError(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None


def load_private_key(source: Ed25519PrivateKey | bytes | str | os.PathLike[str]) -> Ed25519PrivateKey:
    """An Ed25519 private key from a key object, PEM bytes/text or a PEM file (unencrypted)."""
    if isinstance(source, Ed25519PrivateKey):
        return source
    data, label = _pem_bytes(source, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ManifestError(
            f"{label}: not an unencrypted PEM private key ({_short_reason(exc)})"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ManifestError(f"{label}: not an Ed25519 key (use `guardrail keygen`)")
    return key


def load_public_key(source: KeySource) -> Ed25519PublicKey:
    """An Ed25519 public key from a key object (a private key gives its public half), PEM
    bytes/text or a PEM file."""
    if isinstance(source, Ed25519PublicKey):
        return source
    if isinstance(source, Ed25519PrivateKey):
        return source.public_key()
    if not isinstance(source, bytes | str | os.PathLike):
        raise ManifestError(
            f"a trusted key must be an Ed25519 public key, PEM bytes or text, or a path, "
            f"not {type(source).__name__}"
        )
    data, label = _pem_bytes(source, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ManifestError(f"{label}: not a PEM public key ({_short_reason(exc)})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ManifestError(f"{label}: not an Ed25519 public key")
    return key


def _short_reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


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
    value = key.sign(_message(manifest.digest))
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
    lines += [f"  {k}: {json.dumps(block[k])}" for k in _BLOCK_KEYS]
    return "\n".join(lines) + "\n"


def _yaml_append(text: str, block: dict[str, str], manifest: Manifest) -> str | None:
    import yaml
    from yaml.nodes import MappingNode, ScalarNode

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
    import yaml

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
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"cannot read manifest: {exc.strerror or exc}", source=str(p)) from None
    except UnicodeDecodeError:
        raise ManifestError("the manifest is not UTF-8 text", source=str(p)) from None
    signed = sign_text(text, private, json_format=p.suffix.lower() == ".json", source=str(p))
    target = Path(out) if out is not None else p
    target.write_text(signed, encoding="utf-8")
    return target


# -- verifying ---------------------------------------------------------------------------------


def _trusted(trusted_keys: Any) -> dict[str, Ed25519PublicKey]:
    if isinstance(trusted_keys, str | bytes | os.PathLike | Ed25519PublicKey | Ed25519PrivateKey):
        trusted_keys = [trusted_keys]
    if not isinstance(trusted_keys, Sequence | set | frozenset):
        raise ManifestError("trusted_keys must be a list of public keys, PEM data or paths")
    keys: dict[str, Ed25519PublicKey] = {}
    for source in trusted_keys:
        public = load_public_key(source)
        keys[key_id(public)] = public
    if not keys:
        raise ManifestError("no trusted keys were given: a signed manifest cannot be verified")
    return keys


def verify_manifest(manifest: Manifest, trusted_keys: Sequence[Any] | KeySource) -> str:
    """Check that `manifest` carries a valid signature by one of `trusted_keys` (public key
    objects, PEM bytes or text, or paths). Returns the key id that verified it; raises
    `ManifestError` for an unsigned, malformed, tampered or untrusted signature."""
    keys = _trusted(trusted_keys)
    block = manifest.signature
    task = manifest.task
    if block is None:
        raise ManifestError(
            f"manifest for task {task!r} is not signed, and trusted keys are required "
            "(sign it with `guardrail sign --key KEY FILE`)"
        )
    unknown = sorted(set(block) - set(_BLOCK_KEYS))
    missing = [k for k in _BLOCK_KEYS if k not in block]
    if unknown or missing:
        detail = "; ".join(
            [*(f"unknown key {k!r}" for k in unknown), *(f"missing {k!r}" for k in missing)]
        )
        raise ManifestError(f"signature: malformed signature block ({detail})")
    alg, kid, value = block["alg"], block["key_id"], block["value"]
    if alg != SIGNATURE_ALG:
        raise ManifestError(f"signature.alg: unsupported algorithm {alg!r} (only {SIGNATURE_ALG!r})")
    if not isinstance(kid, str) or not isinstance(value, str):
        raise ManifestError("signature: key_id and value must be strings")
    public = keys.get(kid)
    if public is None:
        raise ManifestError(
            f"manifest for task {task!r} is signed by key {kid[:60]!r}, which is not a trusted "
            f"key (trusted: {', '.join(sorted(keys))})"
        )
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ManifestError("signature.value: not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != value:
        # Unused low bits before the padding would let one signature be written several ways.
        raise ManifestError("signature.value: not canonical base64")
    try:
        public.verify(raw, _message(manifest.digest))
    except InvalidSignature:
        raise ManifestError(
            f"manifest for task {task!r}: the signature does not match its content "
            f"(changed after signing, or not signed by {kid})"
        ) from None
    return kid


def verify_file(path: str | os.PathLike[str], trusted_keys: Sequence[Any] | KeySource) -> Manifest:
    """Load a manifest file and verify its signature (`ManifestError` when it does not verify)."""
    manifest = Manifest.from_file(Path(path))
    verify_manifest(manifest, trusted_keys)
    return manifest
