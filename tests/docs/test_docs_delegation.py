"""The docs' delegation, signing and template pages run as written: the python and bash blocks of
their `delegation-examples` sections, in that page order, every ```python block in one namespace,
every ```bash block with `bash -e`, in a scratch copy of the examples."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.delegation import EXAMPLES, REPO

DOCS = REPO / "docs"
PAGES = ["concepts/delegation.md", "concepts/signing.md", "concepts/templates.md"]
SECTION = re.compile(r"<!-- delegation-examples:start.*?<!-- delegation-examples:end -->", re.S)


def _blocks() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for page in PAGES:
        sections = SECTION.findall((DOCS / page).read_text("utf-8"))
        assert sections, f"docs/{page} has no delegation-examples section"
        for section in sections:
            found.extend(re.findall(r"^```(python|bash)\n(.*?)^```", section, re.S | re.M))
    return found


def test_docs_have_python_and_shell_examples() -> None:
    kinds = [kind for kind, _ in _blocks()]
    assert kinds.count("python") >= 3 and kinds.count("bash") >= 3


def test_docs_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "examples" / "delegation")
    monkeypatch.chdir(tmp_path)
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    namespace: dict[str, object] = {}
    python_out, shell_out = [], []
    for kind, code in _blocks():
        if kind == "python":
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(compile(code, "docs/concepts (delegation examples)", "exec"), namespace)
            python_out.append(buffer.getvalue())
        else:
            result = subprocess.run(["bash", "-e", "-c", code], capture_output=True, text=True,
                                    env=env, cwd=tmp_path, timeout=300)
            assert result.returncode == 0, result.stdout + result.stderr
            shell_out.append(result.stdout)
    delegation, signing, template = python_out
    lines = delegation.splitlines()
    assert lines[0].startswith("case-4711/sub-") and lines[1] == "1"
    assert "'tools.send_refund.sum.amount': 40.0" in lines[2]
    assert lines[3].startswith("argument_invalid 0 case-4711/sub-")
    assert lines[4] == "argument_invalid 1 case-4711"
    assert "tools.delete_ticket: a child may name only tools its parent grants" in lines[5]
    assert lines[6] == "revoked"
    narrower_out, sign_out, render_out = shell_out
    assert narrower_out.startswith("NARROWER:")
    assert "NOT NARROWER:" in narrower_out and "exit 1" in narrower_out
    assert "UNPROVABLE:" in narrower_out and "exit 4" in narrower_out
    assert "case.yaml: verified" in sign_out and "NOT VERIFIED" in sign_out
    assert sign_out.rstrip().endswith("exit 1")
    assert "does not match its content" in signing and "is not signed" in signing
    assert template.strip() == "50"
    assert "task: case-4711/refund" in render_out and "path_within: /srv/customers/acme" in render_out
