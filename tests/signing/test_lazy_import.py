"""`cryptography` is imported when a key is first used, not by `import guardrail`; reading and
verifying a signed manifest (in `_manifest`) does not need the signing package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)


def test_import_guardrail_does_not_import_cryptography() -> None:
    result = _run("import guardrail, sys; assert 'cryptography' not in sys.modules, 'loaded'")
    assert result.returncode == 0, result.stderr


def test_verifying_a_manifest_loads_cryptography_when_needed_and_not_the_signing_package() -> None:
    code = """
import sys
import guardrail
from guardrail import Manifest, ManifestError
sys.modules.pop('guardrail._signing._files', None)
text = 'task: t\\nttl: 5m\\ntools: {f: }\\n'
try:
    Manifest.from_yaml(text, trusted_keys=[b'not a key'])
except ManifestError as exc:
    assert 'not a PEM public key' in str(exc), exc
else:
    raise AssertionError('an unusable key verified a manifest')
assert 'cryptography' in sys.modules
assert 'guardrail._signing._files' not in sys.modules
"""
    result = _run(code)
    assert result.returncode == 0, result.stderr
