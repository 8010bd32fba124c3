"""guardrail.report: records from JSONL traces, decision logs and spans in memory; the DataFrame."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from guardrail import DelegationDenied, Guard, MemoryStore
from guardrail import report as report_api
from guardrail.report import Record, from_spans, load, to_dataframe
from tests.report.support import HOSTILE_TOOL, REFUND, SCRIPT, guarded_run


def test_public_names() -> None:
    assert set(report_api.__all__) == {"Record", "from_spans", "load", "to_dataframe", "to_html"}


def test_load_a_trace(tmp_path: Path) -> None:
    run = guarded_run(tmp_path)
    records = load(run.trace)
    assert all(isinstance(r, Record) and r.source == "span" for r in records)
    main = [r for r in records if r.task == run.parent_task]
    assert [(r.tool, r.decision, r.code) for r in main] == [(t, d, c) for t, _, d, c in SCRIPT]
    refused = main[1]
    assert (refused.argument, refused.constraint) == ("amount", "max: 50")
    assert refused.principal == "agent:support-bot"
    assert refused.message and "max: 50" in refused.message and refused.denied
    assert refused.time is not None and refused.time.tzinfo is not None
    assert refused.trace_id and refused.span_id and refused.call_id and refused.mode == "enforce"
    budget = main[3]
    assert (budget.budget_scope, budget.budget_limit, budget.budget_used) == (
        "tools.send_refund.sum.amount", 80.0, 45.0)
    assert budget.constraint is None
    allowed = main[0]
    assert not allowed.denied and allowed.code is None and allowed.denied_by is None
    assert allowed.depth == 0 and allowed.duration_ms is not None


def test_a_sub_agent_denied_by_its_parent_names_both(tmp_path: Path) -> None:
    run = guarded_run(tmp_path)
    [child] = [r for r in load(run.trace) if r.task == run.child_task]
    assert child.depth == 1 and child.code == "argument_invalid" and child.constraint == "min: 0"
    assert child.denied_by == run.parent_task  # the link that denied


def test_shadow_denials(tmp_path: Path) -> None:
    run = guarded_run(tmp_path)
    [shadow] = [r for r in load(run.trace) if r.task == "shadow-1"]
    assert (shadow.decision, shadow.code, shadow.mode, shadow.denied) == (
        "shadow_deny", "tool_not_allowed", "shadow", True)


def test_load_a_decision_log(tmp_path: Path) -> None:
    run = guarded_run(tmp_path)
    from_log = [r for r in load(run.audit) if r.task == run.parent_task]
    assert all(r.source == "audit" for r in from_log)
    assert [(r.tool, r.decision, r.code) for r in from_log] == [(t, d, c) for t, _, d, c in SCRIPT]
    budget = from_log[3]
    assert (budget.budget_scope, budget.budget_limit, budget.budget_used) == (
        "tools.send_refund.sum.amount", 80.0, 45.0)
    # The same calls as the trace: the log carries the spans' ids.
    spans = {r.span_id for r in load(run.trace)}
    assert {r.span_id for r in from_log} <= spans


def test_from_spans_matches_the_file() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    guard = Guard(REFUND, store=MemoryStore(), tracer_provider=provider)
    refund = guard.wrap(lambda order_id, amount, currency="EUR": "ok", name="send_refund")
    refund("ORD-004711", 10)
    with pytest.raises(DelegationDenied):
        refund("ORD-004711", 51)
    with provider.get_tracer("other").start_as_current_span("not a tool call"):
        pass
    records = from_spans(exporter.get_finished_spans())
    assert [(r.decision, r.code, r.argument) for r in records] == [
        ("allow", None, None), ("deny", "argument_invalid", "amount")]


def test_other_spans_and_lines_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [
        {"name": "http GET", "attributes": {"http.method": "GET"}},
        {"name": "x", "attributes": {"guardrail.decision": "maybe"}},  # not a decision
        {"v": 1, "outcome": "allow", "tool": "t", "task": "k"},
        [1, 2, 3],
        "text",
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    [record] = load(path)
    assert (record.tool, record.task, record.decision, record.source) == ("t", "k", "allow", "audit")


def test_a_line_that_is_not_json_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "torn.jsonl"
    path.write_text('{"outcome": "allow", "tool": "t", "task": "k"}\n{"outcome": "de\n')
    with pytest.raises(ValueError, match=r"torn\.jsonl:2: not a JSON line"):
        load(path)
    with pytest.raises(OSError):
        load(tmp_path / "missing.jsonl")


def test_odd_values_in_a_trace_never_become_numbers_or_crash(tmp_path: Path) -> None:
    # A trace file is input: wrong types are shown as text or dropped, never trusted as numbers.
    path = tmp_path / "odd.jsonl"
    span = {
        "start_time_unix_nano": "soon", "start_time": "not a time", "duration_ms": True,
        "attributes": {
            "guardrail.decision": "deny", "gen_ai.tool.name": ["a", "list"],
            "guardrail.task": 7, "guardrail.denial.code": None,
            "guardrail.denial.budget.scope": "calls", "guardrail.denial.budget.limit": True,
            "guardrail.denial.budget.used": float("nan"), "guardrail.delegation.depth": "1",
        },
        "events": ["not an event", {"name": "guardrail.denial", "attributes": {"code": "revoked"}}],
    }
    audit = {"outcome": "deny", "tool": None, "task": None, "time": 5,
             "denial": {"code": "budget_exhausted", "budget": {"scope": "calls", "limit": "20", "used": 3}}}
    path.write_text(json.dumps(span).replace("NaN", "NaN") + "\n" + json.dumps(audit) + "\n")
    first, second = load(path)
    assert first.tool == '["a", "list"]' and first.task == "7" and first.code == "revoked"
    assert first.time is None and first.duration_ms is None and first.depth is None
    assert first.budget_limit is None and first.budget_used is None
    assert second.tool == "" and second.task == "" and second.time is None
    assert (second.budget_scope, second.budget_limit, second.budget_used) == ("calls", None, 3.0)


def test_to_dataframe(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas", reason="needs the notebooks extra: pip install '.[notebooks]'")
    run = guarded_run(tmp_path)
    records = load(run.trace)
    frame = to_dataframe(reversed(records))
    assert list(frame.columns) == [f for f in Record.__dataclass_fields__]
    assert len(frame) == len(records)
    assert isinstance(frame["time"].dtype, pd.DatetimeTZDtype)
    assert frame["time"].is_monotonic_increasing  # sorted by time whatever the input order
    counts = frame[frame.task == run.parent_task].groupby("decision").size().to_dict()
    assert counts == {"allow": 3, "deny": 5}
    assert frame.loc[frame.tool == HOSTILE_TOOL, "code"].tolist() == ["tool_not_allowed"]
    empty = to_dataframe([])
    assert list(empty.columns) == list(frame.columns) and empty.empty
