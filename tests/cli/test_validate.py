"""`guardrail validate` says what a file is and what is wrong with it (issue 12, item 9); every
positional argument has help; counts are pluralised."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from guardrail import Manifest
from guardrail._cli._main import build_parser, main
from guardrail._narrowing import narrower
from guardrail.cli import ExitCode
from tests.cli.support import ROOT

TEMPLATE = ROOT / "examples" / "delegation" / "refund_template.yaml"


def _validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate", str(path)])
    return code, capsys.readouterr().out


def test_a_template_is_named_as_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _validate(TEMPLATE, capsys)
    assert code == ExitCode.FAILED
    assert out.splitlines() == [
        f"{TEMPLATE}: INVALID: this is a template: use `guardrail render {TEMPLATE} --task TASK "
        "--param order=VALUE --param limit=VALUE --param customer=VALUE`"
    ]
    # The command it suggests works.
    assert main(["render", str(TEMPLATE), "--task", "t-1", "--param", "order=ORD-000001",
                 "--param", "limit=5", "--param", "customer=acme"]) == ExitCode.OK


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes"])
def test_a_yaml_11_boolean_gets_a_hint(
    word: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(f"task: t\nttl: 5m\ntools:\n  a:\n    allow_other_args: {word}\n", "utf-8")
    code, out = _validate(path, capsys)
    assert code == ExitCode.FAILED
    assert (f"  - tools.a.allow_other_args (line 5): Input should be a valid boolean (got the string "
            f"'{word}': manifests are read as YAML 1.2, where only true and false are booleans)"
            in out.splitlines())


def test_other_type_errors_get_no_boolean_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("task: t\nttl: 5m\ntools:\n  a:\n    allow_other_args: maybe\n", "utf-8")
    code, out = _validate(path, capsys)
    assert code == ExitCode.FAILED
    assert "valid boolean" in out and "YAML 1.2" not in out


def test_an_expired_manifest_is_valid_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.yaml"
    path.write_text("task: t\nexpires_at: 2020-01-01T00:00:00Z\ntools:\n  a: {}\n", "utf-8")
    code, out = _validate(path, capsys)
    assert code == ExitCode.OK
    lines = out.splitlines()
    assert lines[0].startswith(f"{path}: ok (task t, 1 tool, expires 2020-01-01T00:00:00+00:00")
    assert lines[1] == ("  warning: expired at 2020-01-01T00:00:00Z: a guard denies every call "
                        "(`expired`) until it is renewed")


def test_a_current_manifest_has_no_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("task: t\nttl: 5m\ntools:\n  a: {}\n  b: {}\n", "utf-8")
    code, out = _validate(path, capsys)
    assert code == ExitCode.OK
    assert len(out.splitlines()) == 1 and "2 tools" in out


def test_every_positional_argument_has_help() -> None:
    missing: list[str] = []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    walk(sub, f"{name} {sub_name}")
            elif not action.option_strings and not action.help:
                missing.append(f"{name}: {action.dest}")

    walk(build_parser(), "guardrail")
    assert missing == []


def test_narrower_counts_one_call() -> None:
    parent = Manifest.model_validate({"task": "p", "ttl": "1h", "tools": {"f": {"budget": {"calls": 3}}}})
    child = Manifest.model_validate({"task": "c", "ttl": "1h", "tools": {"f": {"budget": {"calls": 1}}}})
    details = [f.detail for f in narrower(child, parent).findings]
    assert "the child allows at most 1 call here" in details
    two = Manifest.model_validate({"task": "c", "ttl": "1h", "tools": {"f": {"budget": {"calls": 2}}}})
    assert "the child allows at most 2 calls here" in [f.detail for f in narrower(two, parent).findings]
