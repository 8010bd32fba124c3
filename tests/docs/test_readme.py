"""The README's Python examples run as written (each in a fresh interpreter, from the repo root),
and its links into the docs lead somewhere. The examples that used to live in the README are now
on the docs pages, run by tests/docs/test_docs_examples.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.support import needs_extras

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "README.md").read_text("utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, re.S)


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 1


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index: int) -> None:
    needs_extras(BLOCKS[index])
    result = subprocess.run(
        [sys.executable, "-c", BLOCKS[index]],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_readme_ten_line_example_prints_the_denials() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCKS[0]], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert "argument_invalid amount max: 50" in result.stdout
    assert "tool_not_allowed" in result.stdout
    assert "'used': 45.0" in result.stdout


def test_readme_ten_line_example_is_the_getting_started_one() -> None:
    page = (ROOT / "docs" / "getting-started.md").read_text("utf-8")
    assert BLOCKS[0] in page


def test_readme_links_lead_to_files() -> None:
    links = re.findall(r"\]\(([^)#]+)\)", TEXT)
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert len(local) >= 15
    missing = [link for link in local if not (ROOT / link).exists()]
    assert missing == []
