"""`guardrail check --store URL` sees what a fleet spent and revoked, and charges nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrail import Guard
from guardrail._cli._main import main
from guardrail.testing import task_id


def test_check_against_a_shared_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = task_id("cli-store")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(f"task: {task}\nttl: 1h\ntools: {{export: {{budget: {{calls: 2}}}}}}\n")
    store = f"sqlite:///{tmp_path / 'budgets.db'}"
    worker = Guard(manifest, store=store + "?create=1")
    assert worker.authorize("export", {}).allowed

    assert main(["check", str(manifest), "export", "--store", store]) == 0
    assert main(["check", str(manifest), "export", "--store", store]) == 0  # check charges nothing
    assert worker.usage()["tools.export.calls"]["used"] == 1.0

    assert worker.authorize("export", {}).allowed
    assert main(["check", str(manifest), "export", "--store", store]) == 3
    assert "budget_exhausted" in capsys.readouterr().out
    assert main(["check", str(manifest), "export"]) == 0  # a fresh memory store knows nothing

    worker.revoke("incident")
    assert main(["check", str(manifest), "export", "--store", store, "--json"]) == 3
    assert '"code": "revoked"' in capsys.readouterr().out
