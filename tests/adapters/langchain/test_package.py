"""The adapter package itself (imports, extras) and the LangChain demo."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import guardrail_langchain
import pytest
from guardrail_langchain._demo import HELPDESK_YAML, run_demo

from guardrail import Manifest
from tests.adapters.langchain.support import Spans

ROOT = Path(__file__).resolve().parents[3]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter with this test run's import path."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'adapters'}", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_import_without_langchain_names_the_extra() -> None:
    # `None` in sys.modules makes `import langchain_core` fail as if it were not installed.
    done = _python(
        "import sys\n"
        "sys.modules['langchain_core'] = None\n"
        "try:\n"
        "    import guardrail_langchain\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    print('imported')\n"
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'task-guardrail[langchain]'" in done.stdout
    assert "imported" not in done.stdout


def test_guard_tools_work_without_langchain_agents() -> None:
    done = _python(
        "import sys\n"
        "sys.modules['langchain'] = None\n"
        "import guardrail_langchain\n"
        "print(guardrail_langchain.guard_tools.__name__)\n"
        "try:\n"
        "    guardrail_langchain.DelegationMiddleware\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "guard_tools"
    assert "DelegationMiddleware needs LangChain v1 agents" in lines[1]
    assert "task-guardrail[langchain]" in lines[1]


def test_public_names() -> None:
    for name in guardrail_langchain.__all__:
        assert getattr(guardrail_langchain, name) is not None
    with pytest.raises(AttributeError):
        guardrail_langchain.NotAThing  # noqa: B018
    assert (Path(guardrail_langchain.__file__).parent / "py.typed").is_file()


def test_example_manifest_is_the_demo_manifest() -> None:
    text = (ROOT / "examples" / "helpdesk.yaml").read_text(encoding="utf-8")
    assert text == HELPDESK_YAML
    manifest = Manifest.from_file(ROOT / "examples" / "helpdesk.yaml")
    assert manifest.task == "helpdesk-T-1042"
    assert set(manifest.tools) == {"read_ticket", "post_reply"}


def test_notebook_writes_the_example_manifest() -> None:
    notebook = json.loads((ROOT / "notebooks" / "scoped_agent_run.ipynb").read_text(encoding="utf-8"))
    sources = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    [cell] = [source for source in sources if source.startswith('HELPDESK_YAML = """')]
    written = cell.split('"""')[1]
    example = Manifest.from_file(ROOT / "examples" / "helpdesk.yaml")
    assert Manifest.from_yaml(written).digest == example.digest
    # Committed with its outputs, so it reads well where it is browsed (tests/docs/test_notebooks.py).
    assert all(c["execution_count"] for c in notebook["cells"] if c["cell_type"] == "code")


def test_demo_runs_and_the_manifest_holds(spans: Spans) -> None:
    out = io.StringIO()
    assert run_demo(out=out, tracer_provider=spans.provider) == 0
    # Long lines are wrapped for the terminal; compare with the wrapping undone.
    text = " ".join(out.getvalue().split())
    assert "read_ticket(queue='support-eu', ticket_id='T-1042') allowed, returns the ticket:" in text
    assert "DENIED argument_invalid argument 'queue' fails equals" in text
    assert "export_customers(queue='billing-vip'" in text
    assert "DENIED tool_not_allowed" in text
    assert "DENIED budget_exhausted budget tools.post_reply.calls: 1 of 1 used" in text
    assert "allowed, returns: Reply posted on T-1042." in text
    assert "tools.post_reply.calls 1 of 1 used, 0 left" in text
    assert "calls 2 of 6 used, 4 left" in text
    assert "No customer record left the helpdesk." in text
    # The denials as the model saw them: the JSON objects, verbatim.
    decoder = json.JSONDecoder()
    seen = [decoder.raw_decode(part)[0] for part in text.split("the model sees: ")[1:]]
    assert [(d["code"], d["tool"]) for d in seen] == [
        ("argument_invalid", "read_ticket"),
        ("tool_not_allowed", "export_customers"),
        ("budget_exhausted", "post_reply"),
    ]
    decisions = sorted(
        (str(s.attributes["gen_ai.tool.name"]), str(s.attributes["guardrail.decision"]))
        for s in spans.tool_spans()
        if s.attributes is not None
    )
    assert decisions == [
        ("export_customers", "deny"),
        ("post_reply", "allow"),
        ("post_reply", "deny"),
        ("read_ticket", "allow"),
        ("read_ticket", "deny"),
    ]


def test_demo_runs_twice_in_one_process() -> None:
    # Each run has a store of its own, so the second run has the whole budget again.
    assert run_demo(out=io.StringIO()) == 0
    assert run_demo(out=io.StringIO()) == 0
