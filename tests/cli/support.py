"""Running `python -m guardrail` in a child process, with this tree importable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120  # seconds before a hung child fails the test (never a timing assertion)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "adapters"), env.get("PYTHONPATH", "")])
    return env


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m guardrail ARGS`, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "guardrail", *args],
        capture_output=True, text=True, cwd=cwd or ROOT, env=child_env(), timeout=TIMEOUT,
        check=False,
    )


def run_without(modules: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """`guardrail ARGS` in a child where importing each of `modules` fails as if it were not
    installed (`None` in sys.modules)."""
    code = (
        "import sys\n"
        f"for name in {modules!r}:\n"
        "    sys.modules[name] = None\n"
        "from guardrail.cli import main\n"
        f"sys.exit(main({list(args)!r}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, cwd=ROOT, env=child_env(), timeout=TIMEOUT, check=False,
    )


def one_line(stderr: str) -> str:
    """The single line a failed command writes to stderr (fails the test on anything else)."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]
