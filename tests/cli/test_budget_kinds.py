"""`guardrail check` and `guardrail usage` with per-value, distinct and windowed budgets: which
budget decided, each in words, values shown as digests only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guardrail import Guard
from guardrail._cli._main import main
from guardrail.testing import task_id

MANIFEST = """\
task: {task}
ttl: 1h
budget: {{calls: 10, window: 30m}}
tools:
  pay:
    args: {{payee: {{}}, amount: {{}}}}
    budget: {{calls: 1, sum: {{amount: 100}}, per: payee}}
  mail:
    args: {{to: {{}}}}
    budget: {{distinct: {{to: 1}}}}
"""


def test_check_and_usage_explain_the_budgets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = task_id("cli-kinds")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST.format(task=task))
    store = f"sqlite:///{tmp_path / 'budgets.db'}"
    worker = Guard(manifest, store=store + "?create=1")
    assert worker.authorize("pay", {"payee": "landlord-secret", "amount": 60}).allowed
    assert worker.authorize("mail", {"to": "a@example.com"}).allowed

    pay = '{"payee": "landlord-secret", "amount": 1}'
    assert main(["check", str(manifest), "pay", "--args", pay, "--store", store]) == 3
    out = capsys.readouterr().out
    assert "rule:       at most 1 call per payee" in out
    assert "tools.pay.calls[payee=" in out and "landlord-secret" not in out

    assert main(["check", str(manifest), "pay", "--args", pay.replace("landlord-secret", "shop"),
                 "--store", store]) == 0
    out = capsys.readouterr().out
    assert "calls (2 of 10 used; at most 10 calls in any 30m)" in out
    assert "(0 of 1 used; at most 1 call per payee)" in out

    assert main(["check", str(manifest), "mail", "--args", '{"to": "b@example.com"}',
                 "--store", store]) == 3
    assert "1 of 1 different values of 'to' used" in capsys.readouterr().out

    assert main(["usage", task, "--store", store, "--manifest", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert "(at most 1 call per payee)" in out and "(at most 1 different value of to)" in out
    assert "2 of 10  (at most 10 calls in any 30m)" in out
    assert "landlord-secret" not in out

    assert main(["usage", task, "--store", store, "--manifest", str(manifest), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["usage"]["tools.mail.distinct.to"] == 1.0
    assert any(s.startswith("tools.pay.sum.amount[payee=") and v == 60.0
               for s, v in report["usage"].items())
    assert "landlord-secret" not in json.dumps(report)
