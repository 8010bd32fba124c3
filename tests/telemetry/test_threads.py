"""Exactly one span (and one audit line, one metric count) per decision under 8 threads."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

from guardrail import DelegationDenied
from guardrail._audit import AuditLog, verify
from tests.telemetry.support import Telemetry, key, manifest

THREADS = 8
CALLS = 2000
BUDGET = 1500


def test_one_span_per_decision_with_8_threads(tel: Telemetry, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl", max_bytes=200_000)
    guard = tel.guard(
        manifest(tools={"add": {"args": {"a": {"max": 1000}, "b": {}}, "budget": {"calls": BUDGET}}}),
        audit=audit,
    )

    def add(a: int, b: int) -> int:
        return a + b

    tool = guard.wrap(add)
    barrier = threading.Barrier(THREADS)
    results: Counter[str] = Counter()
    lock = threading.Lock()

    def worker(n: int) -> None:
        local: Counter[str] = Counter()
        barrier.wait()
        for i in range(CALLS // THREADS):
            a = 5000 if i % 10 == 0 else i  # every 10th call breaks a constraint
            try:
                tool(a, n)
            except DelegationDenied as exc:
                local[exc.denial.code.value] += 1
            else:
                local["allow"] += 1
        with lock:
            results.update(local)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    audit.close()

    invalid = THREADS * len(range(0, CALLS // THREADS, 10))
    assert results == {"allow": BUDGET, "argument_invalid": invalid,
                       "budget_exhausted": CALLS - BUDGET - invalid}

    spans = tel.spans()
    assert len(spans) == CALLS
    assert len({s.context.span_id for s in spans if s.context is not None}) == CALLS
    call_ids = [dict(s.attributes or {})["gen_ai.tool.call.id"] for s in spans]
    assert len(set(call_ids)) == CALLS
    outcomes = Counter(
        dict(s.attributes or {}).get("guardrail.denial.code", "allow") for s in spans
    )
    assert outcomes == results

    assert tel.counter() == {
        key(decision="allow", tool="add"): BUDGET,
        key(decision="deny", tool="add", code="argument_invalid"): invalid,
        key(decision="deny", tool="add", code="budget_exhausted"): CALLS - BUDGET - invalid,
    }
    assert sum(p.count for p in tel.histogram().values()) == CALLS

    result = verify(tmp_path / "audit.jsonl")
    assert result.ok, result.summary()
    assert result.lines == CALLS and len(result.files) > 1  # rotated while threads wrote
    from guardrail._audit import iter_records

    records = list(iter_records(tmp_path / "audit.jsonl"))
    assert [r["seq"] for r in records] == list(range(1, CALLS + 1))
    # Each audit line names the span its decision was made in, and each span has one line.
    by_span = {format(s.context.span_id, "016x"): s for s in spans if s.context is not None}
    assert sorted(r["span_id"] for r in records) == sorted(by_span)
    for r in records:
        attrs = dict(by_span[r["span_id"]].attributes or {})
        assert r["call_id"] == attrs["gen_ai.tool.call.id"]
        assert r["outcome"] == attrs["guardrail.decision"]
    assert json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])["seq"] == CALLS
