"""`guardrail approvals list|approve|reject --store URL` and `guardrail check` on a call that asks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from guardrail import DenialCode, Guard
from guardrail._cli._main import main
from guardrail.testing import task_id
from tests.cli.support import run
from tests.stores.conftest import redis_server  # noqa: F401 - the session's redis-server
from tests.stores.support import unique_prefix


def write_manifest(tmp_path: Path, task: str) -> Path:
    manifest = tmp_path / "pay.yaml"
    manifest.write_text(
        f"task: {task}\nttl: 1h\ntools:\n  pay:\n    args:\n      amount: {{type: number}}\n"
        "      payee: {type: string}\n"
        "    ask: ['args.amount > 50.0', \"args.payee == 'ACME'\"]\n"
        "    budget: {calls: 5}\n"
    )
    return manifest


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'budgets.db'}"
    server = request.getfixturevalue("redis_server")
    return f"{server.url}?prefix={unique_prefix()}"


def guard_for(manifest: Path, url: str) -> Guard:
    return Guard(manifest, store=url + ("?create=1" if url.startswith("sqlite") else ""))


def test_list_approve_and_the_identical_retry_runs_once(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    task = task_id("cli-approvals")
    worker = guard_for(write_manifest(tmp_path, task), store_url)
    asked = worker.authorize("pay", {"amount": 80.0, "payee": "Bob"})
    assert asked.outcome == "ask" and asked.approval is not None
    rid = asked.approval.id

    assert main(["approvals", "list", "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert rid in out and "pending" in out and "ask:  args.amount > 50.0" in out
    assert '"amount": 80.0' in out  # the person sees what they approve
    assert main(["approvals", "list", "--store", store_url, "--task", "someone-else"]) == 0
    assert "no approval requests" in capsys.readouterr().out

    assert main(["approvals", "approve", rid, "--store", store_url, "--by", "ann",
                 "--reason", "invoice 42", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["answer"]["approved"] is True and answer["answer"]["by"] == "ann"
    assert answer["request"]["status"] == "approved"

    # Answered twice: one line, exit 1.
    assert main(["approvals", "reject", rid, "--store", store_url]) == 1
    assert "was approved before by ann" in capsys.readouterr().err

    ran = worker.authorize("pay", {"amount": 80.0, "payee": "Bob"})
    assert ran.allowed and ran.resolution is not None and ran.resolution.reason == "invoice 42"
    assert worker.authorize("pay", {"amount": 80.0, "payee": "Bob"}).outcome == "ask"
    assert main(["approvals", "approve", rid, "--store", store_url]) == 1
    assert "was used before" in capsys.readouterr().err


def test_reject_refuses_the_retry_once(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    task = task_id("cli-reject")
    worker = guard_for(write_manifest(tmp_path, task), store_url)
    asked = worker.authorize("pay", {"amount": 1.0, "payee": "ACME"})
    assert asked.approval is not None and asked.approval.reason == "args.payee == 'ACME'"
    # --task guards against answering another task's request.
    assert main(["approvals", "reject", asked.approval.id, "--store", store_url,
                 "--task", "other-task"]) == 1
    assert "of task 'other-task'" in capsys.readouterr().err
    assert main(["approvals", "reject", asked.approval.id, "--store", store_url, "--task", task,
                 "--by", "bob", "--reason", "not our supplier"]) == 0
    assert "rejected" in capsys.readouterr().out
    refused = worker.authorize("pay", {"amount": 1.0, "payee": "ACME"})
    assert refused.denial is not None and refused.denial.code is DenialCode.APPROVAL_DENIED
    assert "refused by bob" in refused.denial.message and "not our supplier" in refused.denial.message


def test_unknown_id_and_missing_store_are_one_line_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    Guard(write_manifest(tmp_path, task_id("cli-unknown")), store=url + "?create=1")
    done = run("approvals", "approve", "apr-nope", "--store", url)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "guardrail approvals: no approval request 'apr-nope' in the store "
        "(unknown, or dropped after it expired)"
    )
    done = run("approvals", "list")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "--store" in done.stderr
    done = run("approvals", "list", "--store", f"sqlite:///{tmp_path / 'missing.db'}")
    assert done.returncode == 5 and len(done.stderr.strip().splitlines()) == 1


def test_check_shows_ask_and_its_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = write_manifest(tmp_path, task_id("cli-check-ask"))
    assert main(["check", str(manifest), "pay", "--args", '{"amount": 99.5, "payee": "x"}']) == 3
    out = capsys.readouterr().out
    assert out.startswith("ASK pay: approval_required (a person approves the call)\n")
    assert "  reason:     ask: args.amount > 50.0\n" in out
    assert main(["check", str(manifest), "pay", "--args", '{"amount": 9.5, "payee": "x"}']) == 0
    capsys.readouterr()
    assert main(["check", str(manifest), "pay", "--args", '{"amount": 99.5, "payee": "x"}',
                 "--json"]) == 3
    body: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert body["outcome"] == "ask" and body["ask"] == "args.amount > 50.0"
    assert body["denial"]["code"] == "approval_required"
