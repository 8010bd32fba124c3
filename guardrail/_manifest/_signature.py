"""Verifying a signed manifest: part of reading one (`Manifest.from_file(..., trusted_keys=)`).

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
picks the one to verify with. Making keys and signing files is `guardrail._signing`.

`cryptography` is imported when a key is first used, not by `import guardrail`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .._errors import ManifestError
from .._text import short

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    KeySource = Ed25519PublicKey | Ed25519PrivateKey | bytes | str | os.PathLike[str]

__all__ = [
    "BLOCK_KEYS",
    "SIGNATURE_ALG",
    "key_id",
    "load_public_key",
    "pem_bytes",
    "signed_message",
    "verify_manifest",
]

SIGNATURE_ALG = "ed25519"
BLOCK_KEYS = ("alg", "key_id", "value")
_CONTEXT = b"guardrail manifest signature v1\n"


class Signed(Protocol):
    """What verification reads of a manifest."""

    @property
    def task(self) -> str: ...

    @property
    def digest(self) -> str: ...

    @property
    def signature(self) -> Mapping[str, Any] | None: ...


def signed_message(digest: str) -> bytes:
    """The bytes a manifest signature signs."""
    return _CONTEXT + digest.encode("ascii")


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The fingerprint of a public key: `ed25519:` and 32 hex digits of sha256 of its raw bytes."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return f"{SIGNATURE_ALG}:{hashlib.sha256(raw).hexdigest()[:32]}"


def pem_bytes(source: bytes | str | os.PathLike[str], what: str) -> tuple[bytes, str]:
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


def reason(exc: Exception) -> str:
    """The first line of an exception's message, short enough for one problem."""
    return short(str(exc).splitlines()[0], 160) if str(exc) else type(exc).__name__


def load_public_key(source: KeySource) -> Ed25519PublicKey:
    """An Ed25519 public key from a key object (a private key gives its public half), PEM
    bytes/text or a PEM file."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if isinstance(source, Ed25519PublicKey):
        return source
    if isinstance(source, Ed25519PrivateKey):
        return source.public_key()
    if not isinstance(source, bytes | str | os.PathLike):
        raise ManifestError(
            f"a trusted key must be an Ed25519 public key, PEM bytes or text, or a path, "
            f"not {type(source).__name__}"
        )
    data, label = pem_bytes(source, "public key")
    try:
        key = load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ManifestError(f"{label}: not a PEM public key ({reason(exc)})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ManifestError(f"{label}: not an Ed25519 public key")
    return key


def _trusted(trusted_keys: Any) -> dict[str, Ed25519PublicKey]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

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


def verify_manifest(manifest: Signed, trusted_keys: Sequence[Any] | KeySource) -> str:
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
    unknown = sorted(set(block) - set(BLOCK_KEYS))
    missing = [k for k in BLOCK_KEYS if k not in block]
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
    from cryptography.exceptions import InvalidSignature

    try:
        public.verify(raw, signed_message(manifest.digest))
    except InvalidSignature:
        raise ManifestError(
            f"manifest for task {task!r}: the signature does not match its content "
            f"(changed after signing, or not signed by {kid})"
        ) from None
    return kid
