"""The command line, run in-process through `guardrail._cli._main.main`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from guardrail import Manifest
from guardrail._cli._main import main
from guardrail.cli import ExitCode

MANIFEST = """\
manifest: 1
task: cli-task
principal: agent:cli
ttl: 15m
tools:
  send_refund:
    args:
      order_id: {starts_with: ORD-, required: true}
      amount: {type: number, min: 0, max: 50}
    budget: {calls: 1}
  read_file:
    args:
      path: {path_within: /srv/tickets}
"""


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(MANIFEST, "utf-8")
    return path


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(MANIFEST.replace("max: 50", "max_lenght: 50").replace("ttl: 15m\n", ""), "utf-8")
    return path


def test_validate_ok(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert f"{good}: ok" in out
    assert "cli-task" in out and "2 tools" in out
    assert Manifest.from_file(good).digest in out


def test_validate_invalid(good: Path, bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{good}: ok" in out
    assert f"{bad}: INVALID" in out
    assert "max_lenght" in out and "(line 8)" in out
    assert "every delegation must end" in out


def test_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().out


def test_check_allow(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(good), "send_refund", "--args", '{"order_id": "ORD-1", "amount": 50}'])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("ALLOW send_refund")
    assert "cli-task" in out
    # check charges nothing: a second check with a one-call budget still allows
    assert main(["check", str(good), "send_refund", "--args", '{"order_id": "ORD-1"}']) == 0


@pytest.mark.parametrize(
    ("tool", "args", "code", "argument", "constraint"),
    [
        ("send_refund", '{"order_id": "ORD-1", "amount": 51}', "argument_invalid", "amount", "max: 50"),
        ("send_refund", '{"order_id": "ORD-1", "amount": true}', "argument_invalid", "amount",
         'type: "number"'),
        ("send_refund", '{"amount": 5}', "argument_missing", "order_id", "required: true"),
        ("send_refund", '{"order_id": "ORD-1", "note": "x"}', "argument_not_allowed", "note", None),
        ("read_file", '{"path": "/srv/tickets/../../etc/passwd"}', "argument_invalid", "path",
         'path_within: "/srv/tickets"'),
        ("delete_customer", None, "tool_not_allowed", None, None),
    ],
)
def test_check_deny(good: Path, capsys: pytest.CaptureFixture[str], tool: str, args: str | None,
                    code: str, argument: str | None, constraint: str | None) -> None:
    argv = ["check", str(good), tool] + (["--args", args] if args is not None else [])
    assert main(argv) == 3
    out = capsys.readouterr().out
    assert out.startswith(f"DENY {tool}: {code}")
    if argument:
        assert f"argument:   {argument}" in out
    if constraint:
        assert f"constraint: {constraint}" in out
    assert main([*argv, "--json"]) == 3
    body = json.loads(capsys.readouterr().out)
    assert body["allowed"] is False
    assert body["tool"] == tool and body["task"] == "cli-task"
    assert body["manifest_digest"] == Manifest.from_file(good).digest
    denial = body["denial"]
    assert denial["code"] == code
    assert denial["argument"] == argument
    assert denial["constraint"] == constraint
    assert denial["task"] == "cli-task" and denial["principal"] == "agent:cli"


def test_check_json_allow(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(good), "read_file", "--args", '{"path": "/srv/tickets/a"}', "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["allowed"] is True and "denial" not in body


def test_check_bad_inputs(good: Path, bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(bad), "send_refund"]) == ExitCode.USAGE
    assert "max_lenght" in capsys.readouterr().err
    assert main(["check", str(good), "send_refund", "--args", "{not json"]) == ExitCode.USAGE
    assert "--args" in capsys.readouterr().err
    assert main(["check", str(good), "send_refund", "--args", "[1, 2]"]) == ExitCode.USAGE
    assert "JSON object" in capsys.readouterr().err
    deep = "[" * 100_000 + "]" * 100_000
    assert main(["check", str(good), "send_refund", "--args", '{"order_id": ' + deep + "}"]) in (2, 3)
    capsys.readouterr()


def test_check_nan_argument_is_denied(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("NaN", "Infinity", "-Infinity", '"50"'):
        argv = ["check", str(good), "send_refund", "--args", f'{{"order_id": "ORD-1", "amount": {value}}}']
        assert main(argv) == 3, value
        assert "amount" in capsys.readouterr().out


def test_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == json.loads(json.dumps(Manifest.json_schema()))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    from guardrail._manifest._data import load_yaml

    assert list(validator.iter_errors(load_yaml(MANIFEST)[0])) == []


def test_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for code in ("argument_invalid", "tool_not_allowed", "budget_exhausted"):
        assert code in out, code


def test_demo_plain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--plain"]) == 0
    out = capsys.readouterr().out
    assert "ALLOW" in out and "DENY" in out
    for code in ("argument_invalid", "argument_missing", "argument_not_allowed", "budget_exhausted",
                 "tool_not_allowed", "expired", "revoked"):
        assert code in out, code
    assert "Budget left" in out


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["check", "only-a-file"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert "guardrail" in capsys.readouterr().out
