"""Every command on bad input: one line on stderr, a documented exit code, no traceback, nothing
created on the way (issue 12, item 6), and the one exit code table behind all of them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from guardrail import Manifest
from guardrail._cli._main import build_parser, main
from guardrail._narrowing import narrower
from guardrail.cli import ExitCode
from tests.cli.support import ROOT, TIMEOUT, child_env, one_line, run

MANIFEST = "manifest: 1\ntask: errors\nttl: 15m\ntools:\n  read: {args: {path: {starts_with: /srv}}}\n"


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST, "utf-8")
    return path


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the table -----------------------------------------------------------------------------------


def test_one_table_of_distinct_codes_in_the_help() -> None:
    assert len({int(code) for code in ExitCode}) == len(ExitCode)
    # (Not main(["--help"]) under capsys: the MCP SDK binds sys.stderr when first imported.)
    out = " ".join(build_parser().format_help().split())
    for code in ExitCode:
        assert f"{code.value} {code.name.lower()} {' '.join(code.meaning.split())}" in out


def test_the_narrowing_report_uses_the_table() -> None:
    parent = Manifest.model_validate({"task": "p", "ttl": "1h", "tools": {"f": {"args": {
        "n": {"max": 10}}}}})
    same = Manifest.model_validate({"task": "c", "ttl": "1h", "tools": {"f": {"args": {
        "n": {"max": 5}}}}})
    wider = Manifest.model_validate({"task": "c", "ttl": "1h", "tools": {"f": {"args": {
        "n": {"max": 50}}}}})
    assert narrower(same, parent).exit_code is ExitCode.OK
    assert narrower(wider, parent).exit_code is ExitCode.FAILED


def test_no_command_module_numbers_its_own_exits() -> None:
    # The five private copies this table replaced (EXIT_USAGE = 2, EXIT_UNAVAILABLE = 4, ...).
    sources = [*(ROOT / "guardrail").rglob("*.py"), *(ROOT / "adapters").rglob("_cli.py")]
    offenders = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in sources
        for line in path.read_text("utf-8").splitlines()
        if line.startswith("EXIT_")
    ]
    assert offenders == []


# -- in-process: every command, each kind of bad input -------------------------------------------


def _cases(tmp: Path, good: Path) -> list[tuple[list[str], ExitCode, str]]:
    missing = str(tmp / "missing.yaml")
    notes = tmp / "notes.txt"
    notes.write_text("not a manifest: [", "utf-8")
    junk_key = tmp / "junk.key"
    junk_key.write_text("junk", "utf-8")
    return [
        (["validate", missing], ExitCode.FAILED, ""),  # validate's answer is on stdout
        (["check", missing, "read"], ExitCode.USAGE, "invalid manifest: cannot read"),
        (["check", str(good), "read", "--args", "{"], ExitCode.USAGE, "--args is not valid JSON"),
        (["check", str(good), "read", "--store", "ftp://x"], ExitCode.USAGE, "--store:"),
        (["check", str(good), "read", "--store", "sqlite:////no/dir/x.db"], ExitCode.UNAVAILABLE,
         "--store: store unavailable:"),
        (["narrower", str(good), missing], ExitCode.USAGE, "PARENT "),
        (["narrower", str(notes), str(good)], ExitCode.USAGE, "CHILD "),
        (["keygen", "--out", str(tmp / "no" / "dir" / "k")], ExitCode.USAGE,
         "cannot write the key files"),
        (["sign", str(good), "--key", str(tmp / "none.key")], ExitCode.USAGE,
         "key file: cannot read private key"),
        (["sign", str(good), "--key", str(junk_key)], ExitCode.USAGE,
         "key file: " + str(junk_key) + ": not an unencrypted PEM private key"),
        (["sign", str(notes), "--key", str(junk_key)], ExitCode.USAGE, "key file: "),
        (["verify", str(good), "--pub", str(tmp / "none.pub")], ExitCode.USAGE,
         f"--pub {tmp / 'none.pub'}: cannot read public key"),
        (["verify", str(good), "--pub", str(junk_key)], ExitCode.USAGE,
         f"--pub {junk_key}: {junk_key}: not a PEM public key"),
        (["render", missing, "--task", "t"], ExitCode.USAGE, "invalid template: cannot read template"),
        (["render", str(good), "--task", "t", "--param", "x"], ExitCode.USAGE,
         "--param 'x': write name=value"),
        (["report", missing], ExitCode.USAGE, "cannot read"),
        (["audit", "verify", str(tmp / "missing.jsonl")], ExitCode.USAGE, ""),
        (["revoke", "--store", "ftp://x", "t"], ExitCode.USAGE, "unknown store URL scheme"),
        (["usage", "--store", "sqlite:////no/dir/x.db", "t"], ExitCode.UNAVAILABLE,
         "store unavailable"),
        (["demo", "--plain", "--trace", "carrier-pigeon"], ExitCode.USAGE,
         "--trace carrier-pigeon:"),
        (["demo", "--plain", "--trace", "jsonl:/proc/x.jsonl"], ExitCode.USAGE,
         "--trace jsonl:/proc/x.jsonl: cannot open /proc/x.jsonl"),
        (["demo", "--plain", "--trace", f"jsonl:{tmp}/no/dir/x.jsonl"], ExitCode.USAGE,
         f"no such directory: {tmp}/no/dir"),
    ]


def test_every_command_fails_in_one_line(
    tmp_path: Path, good: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv, code, says in _cases(tmp_path, good):
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        if code != ExitCode.FAILED:
            line = one_line(err)
            assert line.startswith(f"guardrail {argv[0]}"), line
            assert says in line, (argv, line)
    # Nothing was created on the way: no key files, no trace directories.
    assert not (tmp_path / "no").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.key", "m.yaml", "notes.txt"]


def test_usage_errors_exit_with_the_usage_code(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["check", "only-a-file"], ["no-such-command"], ["validate"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == ExitCode.USAGE
        assert "Traceback" not in capsys.readouterr().err


# -- in a child process: pipes, trace files, trace endpoints -------------------------------------


def test_a_closed_pipe_ends_quietly() -> None:
    # `guardrail schema | head -1`: the reader is gone before the schema is written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "guardrail", "schema"], stdout=write_end,
            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=child_env(), timeout=TIMEOUT,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == ExitCode.BROKEN_PIPE
    assert done.stderr == ""


def test_schema_through_head_prints_its_start() -> None:
    done = subprocess.run(
        f"{sys.executable} -m guardrail schema | head -n 1", shell=True, capture_output=True,
        text=True, cwd=ROOT, env=child_env(), timeout=TIMEOUT, check=False,
    )
    assert done.stdout == "{\n"
    assert done.stderr == ""


def test_trace_files_are_opened_or_refused(tmp_path: Path) -> None:
    done = run("demo", "--plain", "--trace", "jsonl:/proc/x.jsonl")
    assert done.returncode == ExitCode.USAGE
    assert "cannot open /proc/x.jsonl" in one_line(done.stderr)
    assert done.stdout == ""  # refused before the demo ran

    nested = tmp_path / "nonexistent" / "dir" / "x.jsonl"
    done = run("demo", "--plain", "--trace", f"jsonl:{nested}")
    assert done.returncode == ExitCode.USAGE
    assert f"no such directory: {nested.parent}" in one_line(done.stderr)
    assert not (tmp_path / "nonexistent").exists()

    spans = tmp_path / "spans.jsonl"
    done = run("demo", "--plain", "--trace", f"jsonl:{spans}")
    assert done.returncode == ExitCode.OK, done.stderr
    assert spans.read_text("utf-8").count('"guardrail.decision"') >= 16


def test_an_unreachable_otlp_endpoint_is_reported() -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}/v1/traces"
    done = run("demo", "--plain", "--trace", f"otlp:{endpoint}")
    assert "Budget left" in done.stdout  # the demo ran
    assert done.returncode == ExitCode.UNAVAILABLE
    line = one_line(done.stderr)
    assert line.startswith(f"guardrail demo: --trace otlp:{endpoint}: spans not exported")
