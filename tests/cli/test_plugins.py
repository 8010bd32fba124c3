"""Adapters add their commands through the entry point group `guardrail.cli`; the core never
imports them, works without their extras, and says which extra a command needs."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from guardrail._cli._demo import BUDGET_HEADER, run_plain_demo
from guardrail._cli._main import PLUGIN_GROUP, build_parser, main
from guardrail.cli import ExitCode
from tests.cli.support import ROOT, TIMEOUT, child_env, one_line, run_without


def _commands(parser: object) -> dict[str, object]:
    return next(a.choices for a in parser._actions if isinstance(a.choices, dict))  # type: ignore[attr-defined]


def test_the_adapters_register_their_commands() -> None:
    found = {ep.name: ep.value for ep in entry_points(group=PLUGIN_GROUP)}
    assert found == {"mcp-proxy": "guardrail_mcp._cli:register",
                     "demo": "guardrail_langchain._demo:register"}
    commands = _commands(build_parser())
    assert "mcp-proxy" in commands
    assert commands["demo"].get_default("agent_demo") is not None  # type: ignore[attr-defined]


def test_a_command_loads_no_other_adapter() -> None:
    # The frameworks take seconds to import: `guardrail check` must not pay for them.
    code = (
        "import sys\n"
        "from guardrail.cli import main\n"
        "main(['schema'])\n"
        "print(sorted(m for m in ('guardrail_mcp', 'guardrail_langchain', 'mcp', 'langchain_core')"
        " if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=child_env(), timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "[]"


def test_help_works_without_any_extra() -> None:
    done = run_without(["mcp", "langchain_core", "langchain"], "--help")
    assert done.returncode == ExitCode.OK, done.stderr
    text = " ".join(done.stdout.split())
    assert "mcp-proxy (not installed: guardrail_mcp needs the MCP Python SDK" in text
    assert "pip install 'task-guardrail[mcp]'" in text
    assert "demo" in text and "exit codes" in text


def test_a_command_without_its_extra_names_it() -> None:
    done = run_without(["mcp"], "mcp-proxy", "--manifest", "m.yaml", "--", "python", "server.py")
    assert done.returncode == ExitCode.USAGE
    line = one_line(done.stderr)
    assert line.startswith("guardrail mcp-proxy: ")
    assert "pip install 'task-guardrail[mcp]'" in line
    assert done.stdout == ""


@pytest.mark.parametrize("missing", ["langchain_core", "langchain"])
def test_demo_without_langchain_runs_the_plain_demo(missing: str) -> None:
    done = run_without([missing], "demo")
    assert done.returncode == ExitCode.OK, done.stderr
    assert done.stderr.startswith("(running the plain-Python demo; ")
    assert "pip install 'task-guardrail[langchain]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert "DENY" in done.stdout and "revoked" in done.stdout


def test_demo_with_langchain_runs_the_agent(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == ExitCode.OK
    captured = capsys.readouterr()
    assert "a helpdesk agent meets a prompt injection" in captured.out
    assert captured.err == ""


def test_both_demos_word_the_budget_alike() -> None:
    from guardrail_langchain._demo import BUDGET_HEADER as AGENT_HEADER
    from guardrail_langchain._demo import run_demo

    plain, agent = io.StringIO(), io.StringIO()
    assert run_plain_demo(out=plain) == 0
    assert run_demo(out=agent) == 0
    assert AGENT_HEADER == BUDGET_HEADER
    line = re.compile(r"^  (\S+) +(\d+(?:\.\d+)?) of (\d+(?:\.\d+)?) used, (\d+(?:\.\d+)?) left$")
    for text in (plain.getvalue(), agent.getvalue()):
        after = text.split(BUDGET_HEADER + "\n", 1)[1].splitlines()
        rows = [m for m in map(line.match, after) if m]
        assert rows and rows[0].group(1) == "calls", text
        for row in rows:
            used, limit, left = (float(row.group(i)) for i in (2, 3, 4))
            assert used + left == limit
