"""Helpers shared by the delegation, narrower, signing and template tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXAMPLES = REPO / "examples" / "delegation"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m guardrail ARGS` and capture its output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "guardrail", *args],
        capture_output=True, text=True, cwd=cwd or REPO, env=env, timeout=120,
    )


def manifest(task: str, tools: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A manifest mapping (with a 1h ttl unless the test gives a window)."""
    data: dict[str, Any] = {"task": task, "tools": tools}
    if "expires_at" not in extra and "ttl" not in extra:
        data["ttl"] = "1h"
    data.update(extra)
    return data
