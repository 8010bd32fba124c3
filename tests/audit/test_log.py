"""The decision log: every decision once and in order, a hash chain that names the first bad line,
rotation that keeps the chain, and concurrent writers (threads, processes, fork)."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import format_span_id, format_trace_id

from guardrail import Decision, DelegationDenied, Guard, MemoryStore
from guardrail._audit import GENESIS, AuditLog, AuditLogError, iter_records, log_files, verify
from tests.telemetry.support import Telemetry, manifest

HERE = Path(__file__).parent


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(lines))


def reseal(line: str, **changes: Any) -> str:
    """A line edited by someone who also recomputed its own hash."""
    obj = json.loads(line)
    obj.pop("hash")
    obj.update(changes)
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    return body[:-1].decode() + f',"hash":"{digest}"}}\n'


def make_log(tmp_path: Path, n: int = 6, **kw: Any) -> tuple[Path, Guard]:
    path = tmp_path / "audit.jsonl"
    guard = Guard(manifest(), store=MemoryStore(), audit=AuditLog(path, **kw))
    for i in range(n):
        guard.authorize("send", {"to": "ann@example.com", "amount": 60 if i % 3 == 2 else 1})
    return path, guard


# -- contents ------------------------------------------------------------------------------


def test_every_decision_once_in_order(tel: Telemetry, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    guard = tel.guard(manifest(), audit=audit)
    decisions: list[Decision] = []

    def send(**kwargs: Any) -> str:
        return "ok"

    calls: list[tuple[str, Mapping[str, Any]]] = [
        ("send", {"to": "ann@example.com"}),
        ("send", {"to": "bad"}),
        ("rm", {}),
        ("send", {"to": "bob@example.com", "amount": 5}),
        ("lookup", {"query": "x"}),
    ]
    for tool, args in calls:
        guard.check(tool, args)  # a dry run: counted in the metrics, not in the decision log
        decisions.append(guard.authorize(tool, args))
    for tool, args in calls:
        with contextlib.suppress(DelegationDenied):
            guard.invoke(tool, send, args, call_id=f"inv-{tool}-{len(args)}")
    records = list(iter_records(path))
    assert len(records) == len(calls) + len(calls)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    direct, invoked = records[: len(calls)], records[len(calls):]
    for record, decision in zip(direct, decisions, strict=True):
        assert record["outcome"] == decision.outcome
        assert record["tool"] == decision.tool
        assert record["call_id"] == decision.call_id
        assert record["task"] == guard.task
        assert record["principal"] == "agent:test"
        assert record["manifest_digest"] == guard.manifest.digest
        assert record["mode"] == "enforce"
        assert record["trace_id"] is None and record["span_id"] is None  # no current span
        if decision.denial is None:
            assert record["denial"] is None
        else:
            assert record["denial"] == decision.denial.model_dump(mode="json")
        assert "args" not in record
    assert [r["outcome"] for r in invoked] == ["allow", "deny", "deny", "deny", "allow"]
    # (the 4th invoke runs out of the 3-call budget of `send`)
    assert invoked[3]["denial"]["code"] == "budget_exhausted"
    spans = tel.spans()
    assert len(spans) == len(calls)
    for record, span in zip(invoked, spans, strict=True):
        assert span.context is not None
        assert record["trace_id"] == format_trace_id(span.context.trace_id)
        assert record["span_id"] == format_span_id(span.context.span_id)
        assert record["call_id"] == dict(span.attributes or {})["gen_ai.tool.call.id"]
    assert verify(path).ok


def test_shadow_mode_is_audited_as_shadow_deny(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    guard = Guard(manifest(), store=MemoryStore(), mode="shadow", audit=AuditLog(path))
    assert guard.invoke("rm", lambda: "ran anyway", {}) == "ran anyway"
    (record,) = iter_records(path)
    assert record["outcome"] == "shadow_deny"
    assert record["mode"] == "shadow"
    assert record["denial"]["code"] == "tool_not_allowed"


def test_the_line_is_written_before_the_tool_runs(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    guard = Guard(manifest(), store=MemoryStore(), audit=AuditLog(path, fsync=True))
    seen: list[list[dict[str, Any]]] = []

    def send(**kwargs: Any) -> str:
        seen.append(list(iter_records(path)))  # read by another handle: already in the file
        return "ok"

    guard.invoke("send", send, {"to": "ann@example.com"}, call_id="first")
    assert [[r["call_id"] for r in s] for s in seen] == [["first"]]


def test_a_failing_audit_write_denies_and_the_tool_does_not_run(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"not": "an audit line"}\n')  # chaining onto this is impossible
    guard = Guard(manifest(), store=MemoryStore(), audit=AuditLog(path))
    ran: list[bool] = []
    with pytest.raises(DelegationDenied) as info:
        guard.invoke("send", lambda **kw: ran.append(True), {"to": "ann@example.com"})
    assert info.value.denial.code.value == "internal_error"
    assert "audit log" in info.value.denial.message
    assert not ran


def test_a_torn_last_line_is_refused(tmp_path: Path) -> None:
    path, _ = make_log(tmp_path, 3)
    with open(path, "a") as fh:
        fh.write('{"v":1,"seq":4,')  # a crash in the middle of a write
    audit = AuditLog(path)
    guard = Guard(manifest(), store=MemoryStore(), audit=audit)
    denial = guard.authorize("send", {"to": "ann@example.com"}).denial
    assert denial is not None and denial.code.value == "internal_error"
    with pytest.raises(AuditLogError, match="incomplete"):
        audit.append({"x": 1})
    result = verify(path)
    assert not result.ok and result.bad is not None
    assert (result.bad.line, result.bad.reason) == (4, "incomplete line (no newline at the end)")


# -- verify --------------------------------------------------------------------------------


def test_verify_intact(tmp_path: Path) -> None:
    path, _ = make_log(tmp_path, 6)
    result = verify(path)
    assert result.ok and result.bad is None
    assert (result.lines, result.first_seq, result.last_seq) == (6, 1, 6)
    last = json.loads(lines_of(path)[-1])
    assert result.head == last["hash"]
    first = json.loads(lines_of(path)[0])
    assert first["prev"] == GENESIS


def test_verify_names_an_edited_line(tmp_path: Path) -> None:
    path, _ = make_log(tmp_path, 6)
    lines = lines_of(path)
    lines[2] = lines[2].replace('"outcome":"deny"', '"outcome":"allow"')
    assert '"outcome":"allow"' in lines[2]
    write_lines(path, lines)
    result = verify(path)
    assert result.bad is not None
    assert (result.bad.file, result.bad.line) == (str(path), 3)
    assert "edited" in result.bad.reason
    assert result.lines == 2


def test_verify_names_an_edited_line_whose_hash_was_recomputed(tmp_path: Path) -> None:
    path, _ = make_log(tmp_path, 6)
    lines = lines_of(path)
    lines[2] = reseal(lines[2], outcome="allow", denial=None)
    write_lines(path, lines)
    result = verify(path)
    assert result.bad is not None
    assert result.bad.line == 4  # line 3 is consistent with itself; line 4 no longer follows it
    assert "line before was edited" in result.bad.reason


def test_verify_names_a_deleted_line(tmp_path: Path) -> None:
    path, _ = make_log(tmp_path, 6)
    lines = lines_of(path)
    del lines[3]
    write_lines(path, lines)
    result = verify(path)
    assert result.bad is not None
    assert result.bad.line == 4
    assert "seq 5 after 3" in result.bad.reason and "missing" in result.bad.reason


def test_verify_names_a_deleted_first_line_unless_partial(tmp_path: Path) -> None:
    path, _ = make_log(tmp_path, 4)
    write_lines(path, lines_of(path)[1:])
    result = verify(path)
    assert result.bad is not None and result.bad.line == 1
    assert "starts at seq 2" in result.bad.reason
    partial = verify(path, partial=True)
    assert partial.ok and partial.first_seq == 2 and partial.notes


def test_verify_names_reordered_and_repeated_lines(tmp_path: Path) -> None:
    path, _ = make_log(tmp_path, 6)
    lines = lines_of(path)
    swapped = lines[:]
    swapped[1], swapped[2] = swapped[2], swapped[1]
    write_lines(path, swapped)
    result = verify(path)
    assert result.bad is not None and result.bad.line == 2
    repeated = [*lines[:4], lines[3], *lines[4:]]
    write_lines(path, repeated)
    result = verify(path)
    assert result.bad is not None and result.bad.line == 5
    assert "moved or repeated" in result.bad.reason


def test_verify_rejects_garbage_and_missing_files(tmp_path: Path) -> None:
    path, _ = make_log(tmp_path, 3)
    lines = lines_of(path)
    write_lines(path, [lines[0], "hello\n", *lines[1:]])
    result = verify(path)
    assert result.bad is not None and result.bad.line == 2 and "not an audit line" in result.bad.reason
    with pytest.raises(FileNotFoundError):
        verify(tmp_path / "nope.jsonl")


def test_anchor(tmp_path: Path) -> None:
    path, guard = make_log(tmp_path, 3)
    head = verify(path).head
    assert head is not None
    for _ in range(3):
        guard.authorize("lookup", {"query": "q"})
    assert verify(path, anchor=head).ok
    bogus = verify(path, anchor="sha256:" + "1" * 64)
    assert bogus.bad is not None and "anchor" in bogus.bad.reason


def test_a_log_reopened_later_continues_the_chain(tmp_path: Path) -> None:
    path, _ = make_log(tmp_path, 3)
    make_log(tmp_path, 3)  # a new AuditLog (another run) on the same file
    result = verify(path)
    assert result.ok and result.lines == 6


# -- rotation ------------------------------------------------------------------------------


def test_rotation_keeps_the_chain(tmp_path: Path) -> None:
    path, _ = make_log(tmp_path, 40, max_bytes=4000)
    files = log_files(path)
    assert len(files) >= 4
    assert [f.name for f in files[:-1]] == [f"audit.jsonl.{i:06d}" for i in range(1, len(files))]
    for f in files:
        assert f.stat().st_size <= 4000
    # The first line of each file carries the hash of the last line of the file before.
    for before, after in itertools.pairwise(files):
        last = json.loads(before.read_text().splitlines()[-1])
        first = json.loads(after.read_text().splitlines()[0])
        assert first["prev"] == last["hash"]
        assert first["seq"] == last["seq"] + 1
    result = verify(path)
    assert result.ok and result.lines == 40 and result.files == [str(f) for f in files]
    assert [r["seq"] for r in iter_records(path)] == list(range(1, 41))


def test_rotation_tampering_is_found_in_the_right_file(tmp_path: Path) -> None:
    path, _ = make_log(tmp_path, 40, max_bytes=4000)
    files = log_files(path)
    # Edit the second rotated file.
    lines = lines_of(files[1])
    lines[1] = lines[1].replace('"tool":"send"', '"tool":"sned"')
    write_lines(files[1], lines)
    result = verify(path)
    assert result.bad is not None and (result.bad.file, result.bad.line) == (str(files[1]), 2)
    # Remove a whole rotated file in the middle: the next file does not follow.
    path2, _ = make_log(tmp_path / "b", 40, max_bytes=4000)
    files2 = log_files(path2)
    files2[1].unlink()
    result = verify(path2)
    assert result.bad is not None and (result.bad.file, result.bad.line) == (str(files2[2]), 1)
    assert "missing" in result.bad.reason


def test_rotation_with_keep_removes_old_files_and_verifies_as_partial(tmp_path: Path) -> None:
    path, _ = make_log(tmp_path, 40, max_bytes=4000, keep=2)
    files = log_files(path)
    assert len(files) == 3  # two rotated files and the live one
    assert files[0].name != "audit.jsonl.000001"
    assert not verify(path).ok
    result = verify(path, partial=True)
    assert result.ok and result.last_seq == 40 and result.first_seq is not None
    assert result.first_seq > 1


def test_rotation_by_another_audit_log_on_the_same_path(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    a = Guard(manifest(), store=MemoryStore(), audit=AuditLog(path, max_bytes=3000))
    b = Guard(manifest(), store=MemoryStore(), audit=AuditLog(path, max_bytes=3000))
    for i in range(30):
        (a if i % 3 else b).authorize("lookup", {"query": str(i)})
    result = verify(path)
    assert result.ok and result.lines == 30 and len(result.files) > 2


def test_invalid_settings() -> None:
    with pytest.raises(ValueError):
        AuditLog("x.jsonl", max_bytes=0)
    with pytest.raises(ValueError):
        AuditLog("x.jsonl", keep=0)


# -- concurrency ---------------------------------------------------------------------------


def test_eight_threads_give_one_valid_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path, max_bytes=50_000)
    guards = [Guard(manifest(), store=MemoryStore(), audit=audit) for _ in range(8)]
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        for i in range(250):
            guards[n].authorize("lookup", {"query": f"{n}-{i}"}, call_id=f"{n}-{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = verify(path)
    assert result.ok, result.summary()
    assert result.lines == 2000
    call_ids = [r["call_id"] for r in iter_records(path)]
    assert sorted(call_ids) == sorted(f"{n}-{i}" for n in range(8) for i in range(250))
    # Each thread's own calls appear in the order it made them.
    for n in range(8):
        mine = [c for c in call_ids if c.startswith(f"{n}-")]
        assert mine == [f"{n}-{i}" for i in range(250)]


def test_several_processes_give_one_valid_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "audit_worker.py"), str(path), str(go), "300", "40000", str(n)],
            env=env,
        )
        for n in range(4)
    ]
    go.touch()
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    result = verify(path)
    assert result.ok, result.summary()
    assert result.lines == 1200 and len(result.files) > 2
    records = list(iter_records(path))
    assert len({r["pid"] for r in records}) == 4
    for n in range(4):
        mine = [r["call_id"] for r in records if r["task"] == f"proc-{n}"]
        assert mine == [f"p{n}-{i}" for i in range(300)]
    # (How the four processes interleave is up to the scheduler, so it is not asserted: with any
    # interleaving the chain above must verify and each process's lines keep their order.)


def test_a_forked_child_writes_into_the_same_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    guard = Guard(manifest(), store=MemoryStore(), audit=audit)
    guard.authorize("lookup", {"query": "parent-1"}, call_id="parent-1")
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            for i in range(50):
                guard.authorize("lookup", {"query": "c"}, call_id=f"child-{i}")
        except BaseException:
            code = 1
        os._exit(code)
    for i in range(50):
        guard.authorize("lookup", {"query": "p"}, call_id=f"parent-{i + 2}")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    guard.authorize("lookup", {"query": "p"}, call_id="parent-last")
    result = verify(path)
    assert result.ok, result.summary()
    assert result.lines == 102
    assert sum(1 for r in iter_records(path) if r["call_id"].startswith("child-")) == 50


def test_a_failed_audit_write_is_counted_as_the_denial_it_became(tel: Telemetry, tmp_path: Path) -> None:
    from tests.telemetry.support import key

    path = tmp_path / "a.jsonl"
    path.write_text("garbage without a newline")
    guard = tel.guard(manifest(), audit=AuditLog(path))
    with pytest.raises(DelegationDenied):
        guard.invoke("send", lambda **kw: None, {"to": "ann@example.com"})
    assert tel.counter() == {key(decision="deny", tool="send", code="internal_error"): 1}
    (span,) = tel.spans()
    assert dict(span.attributes or {})["guardrail.denial.code"] == "internal_error"
