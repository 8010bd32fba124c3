"""Keys and signed files (layer 3): `guardrail keygen` and `guardrail sign`. Verifying a signed
manifest is part of reading it: `guardrail._manifest._signature`."""

from ._files import (
    generate_key,
    load_private_key,
    private_key_pem,
    public_key_pem,
    sign_file,
    sign_text,
    signature_for,
    verify_file,
    write_keypair,
)

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
