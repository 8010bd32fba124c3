"""The docs' examples run as written, and print what the pages say they print."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.docs.support import DOCS, REPO, Block, all_blocks, needs_extras, output_matches, runnable

RUNNABLE = runnable()


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_docs_have_runnable_examples_on_every_concept_and_adapter_page() -> None:
    pages = {b.page for b in RUNNABLE}
    for page in ("getting-started.md", "concepts/manifest.md", "concepts/authoring.md",
                 "concepts/decisions.md", "concepts/budgets.md", "concepts/stores.md", "concepts/modes.md",
                 "adapters/langchain.md", "adapters/mcp.md", "adapters/openai-agents.md",
                 "telemetry.md", "reports.md"):
        assert page in pages, f"docs/{page} has no runnable example"


def test_every_python_block_is_run() -> None:
    # A python block that no test runs would rot: each is marked runnable, or lives in a section
    # that its own test runs in order.
    unrun = [b.id for b in all_blocks() if b.lang == "python" and b.marker != "run" and not b.in_section]
    assert unrun == [], f"python blocks neither marked <!-- run --> nor in a tested section: {unrun}"


def test_every_output_block_follows_a_runnable_block() -> None:
    blocks = all_blocks()
    orphans = [
        b.id for i, b in enumerate(blocks)
        if b.marker == "output" and (i == 0 or blocks[i - 1].marker != "run" or blocks[i - 1].page != b.page)
    ]
    assert orphans == []


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_docs_python_block_runs(block: Block) -> None:
    assert block.lang == "python", f"{block.id}: only python blocks can be marked runnable"
    needs_extras(block.code)
    result = _run(block.code)
    assert result.returncode == 0, f"docs/{block.id} failed:\n{result.stderr}"
    if block.output is not None:
        problem = output_matches(block.output, result.stdout)
        assert problem is None, f"docs/{block.id}: {problem}\nprinted:\n{result.stdout}"


def test_output_matching_is_strict() -> None:
    # The matcher the examples rely on: order matters, lines must match whole, ... is a wildcard.
    printed = "a 1\nb 2\nc 3\n"
    assert output_matches("a 1\nc 3", printed) is None
    assert output_matches("a ...\nc ...", printed) is None
    assert output_matches("c 3\na 1", printed) is not None
    assert output_matches("a", printed) is not None
    assert output_matches("a 1\nd 4", printed) is not None


def _getting_started_example() -> str:
    [block] = [b for b in RUNNABLE if b.page == "getting-started.md"]
    return block.code


def test_ten_line_example_prints_the_denials() -> None:
    result = _run(_getting_started_example())
    assert result.returncode == 0, result.stderr
    assert "argument_invalid amount max: 50" in result.stdout
    assert "tool_not_allowed" in result.stdout
    assert "'used': 45.0" in result.stdout


def _commands(text: str) -> list[str]:
    return re.findall(r"<!-- fresh-machine:\w+ -->\n```bash\n(.*?)```", text, re.S)


def test_fresh_machine_commands_are_the_readmes_and_true() -> None:
    readme = (REPO / "README.md").read_text("utf-8")
    page = (DOCS / "getting-started.md").read_text("utf-8")
    demo, tests = _commands(page)
    assert _commands(readme) == [demo, tests]
    assert demo.strip() == (
        "python3 -m venv .venv && .venv/bin/pip install -q '.[langchain]' && .venv/bin/guardrail demo"
    )
    assert tests.strip() == "bash .ci/run"
    ci = (REPO / ".ci" / "run").read_text("utf-8")
    # What the pages promise the CI script does.
    for step in ("pip install -q -e '.[all]'", "ruff", "mypy", "pytest", "--nbmake",
                 "mkdocs\" build --strict", "redis-server", "chromium"):
        assert step in ci, f".ci/run does not run {step}"
    pyproject = (REPO / "pyproject.toml").read_text("utf-8")
    assert re.search(r"^langchain = \[", pyproject, re.M)
    assert 'guardrail = "guardrail' in pyproject
