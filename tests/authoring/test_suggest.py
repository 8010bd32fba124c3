"""`guardrail suggest`: the least-privilege manifest learned from decisions recorded with values
(JSONL spans, OTLP JSON, decision logs), its explanation and the check against a ceiling."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrail import AuthoringError, Guard, Manifest, MemoryStore, suggest_manifest
from tests.authoring.support import Recorder, call, lines, run_cli, wide

TOOLS = ("read_ticket", "send_refund", "read_file", "fetch", "tag", "configure")
TOKEN = "sk-live-0123456789abcdef"
BODY = "Hi Sam, your account was locked after several failed logins; I have sent you an unlock link."


def episode(i: int) -> list[tuple[str, dict[str, Any]]]:
    """Task i's calls: what a helpdesk agent did on eight ordinary tasks."""
    calls: list[tuple[str, dict[str, Any]]] = [
        ("read_ticket", {"queue": "support-eu", "ticket_id": f"T-10{i:02d}"}),
        ("send_refund", {"order_id": f"ORD-00{4700 + i}", "amount": 10.5 + 3 * i,
                         "currency": "EUR" if i % 2 else "GBP", "reply": BODY + f" ({i})"}),
        ("read_file", {"path": f"/srv/tickets/2026/T-10{i:02d}.txt"}),
        ("fetch", {"url": f"https://api.example.com/v1/orders/{i}", "api_token": TOKEN}),
        ("tag", {"tags": ["refund", "eu"][: i % 3], "weight": i}),
        ("configure", {"options": {"depth": i, "mode": "fast" if i % 2 else "safe"},
                       "dry_run": bool(i % 2)}),
    ]
    if i % 4 == 0:
        calls.append(("read_ticket", {"queue": "support-eu", "ticket_id": f"T-20{i:02d}", "note": None}))
    return calls


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[Recorder]:
    recorder = Recorder(tmp_path, audit=True)
    for i in range(8):
        guard = recorder.guard(wide(f"case-{i}", *TOOLS))
        for tool, args in episode(i):
            assert call(guard, tool, args)
        assert call(guard, "export_customers", {"queue": "billing-vip"})  # shadow: runs, denied
    recorder.close()
    yield recorder


def constraints(m: Manifest, tool: str) -> dict[str, Any]:
    grant = m.grant(tool)
    assert grant is not None
    return {name: c.spec() for name, c in grant.args.items()}


def test_learns_the_narrowest_readable_constraints(recorded: Recorder) -> None:
    s = suggest_manifest(recorded.spans_path)
    m = s.manifest
    assert list(m.tools) == list(TOOLS)  # export_customers was denied: not learned
    assert s.denied == {"export_customers": 8}
    assert constraints(m, "read_ticket") == {
        "queue": {"equals": "support-eu", "required": True},
        "ticket_id": {"pattern": "^T-[0-9]{4}$", "required": True},
    }  # `note: null` counts as left out: not passed to the tool, not recorded, not learned
    refund = constraints(m, "send_refund")
    assert refund["order_id"] == {"pattern": "^ORD-[0-9]{6}$", "required": True}
    assert refund["amount"] == {"type": "number", "min": 10.5, "max": 31.5, "required": True}
    assert refund["currency"] == {"one_of": ["EUR", "GBP"], "required": True}
    assert refund["reply"]["type"] == "string" and "equals" not in refund["reply"]  # free text
    assert constraints(m, "read_file") == {"path": {"path_within": "/srv/tickets/2026", "required": True}}
    assert constraints(m, "fetch") == {
        "url": {"url": {"schemes": ["https"], "hosts": ["api.example.com"], "path_prefix": "/v1/orders"},
                "required": True},
        "api_token": {"required": True},  # redacted when recorded: never written
    }
    assert constraints(m, "tag") == {
        "tags": {"one_of": [["refund", "eu"], ["refund"], []], "required": True},
        "weight": {"type": "integer", "min": 0, "max": 7, "required": True},
    }
    assert constraints(m, "configure") == {
        "options": {"type": "object", "required": True, "fields": {
            "depth": {"type": "integer", "min": 0, "max": 7, "required": True},
            "mode": {"one_of": ["fast", "safe"], "required": True}}},
        "dry_run": {"type": "boolean", "required": True},
    }
    assert m.budget is not None and m.budget.calls == 7  # case-0 and case-4 made 6 + 1
    assert {t: g.budget.calls for t, g in m.tools.items() if g and g.budget} == {
        "read_ticket": 2, "send_refund": 1, "read_file": 1, "fetch": 1, "tag": 1, "configure": 1}
    assert m.ttl == "1m"
    assert not any(g and g.allow_other_args for g in m.tools.values())
    assert TOKEN not in s.yaml and BODY not in s.yaml


def test_the_suggestion_allows_what_was_observed_and_denies_the_rest(recorded: Recorder) -> None:
    m = suggest_manifest(recorded.spans_path, task="case-x").manifest
    for i in range(8):
        guard = Guard(m, store=MemoryStore())
        for tool, args in episode(i):
            decision = guard.authorize(tool, args)
            assert decision.allowed, (i, tool, decision.denial)
    guard = Guard(m, store=MemoryStore())
    for tool, args in [
        ("export_customers", {"queue": "billing-vip"}),
        ("read_ticket", {"queue": "billing-vip", "ticket_id": "T-1001"}),
        ("read_ticket", {"queue": "support-eu", "ticket_id": "T-100"}),
        ("read_ticket", {"queue": "support-eu"}),
        ("send_refund", {"order_id": "ORD-004701", "amount": 500, "currency": "EUR", "reply": "x"}),
        ("send_refund", {"order_id": "ORD-004701", "amount": 20, "currency": "USD", "reply": "x"}),
        ("read_file", {"path": "/srv/tickets/2026/../../../etc/passwd"}),
        ("fetch", {"url": "https://paste.example.net/v1/orders/1", "api_token": "t"}),
        ("fetch", {"url": "https://api.example.com/admin", "api_token": "t"}),
        ("tag", {"tags": ["refund", "eu"], "weight": 1, "extra": True}),
        ("configure", {"options": {"depth": 1, "mode": "fast", "sudo": True}, "dry_run": False}),
    ]:
        assert not guard.check(tool, args).allowed, (tool, args)
    assert guard.authorize("read_file", {"path": "/srv/tickets/2026/a.txt"}).allowed
    assert guard.authorize("read_file", {"path": "/srv/tickets/2026/b.txt"}).denial.code.value == (  # type: ignore[union-attr]
        "budget_exhausted")


def test_otlp_json_and_the_decision_log_give_the_same_manifest(recorded: Recorder) -> None:
    from_spans = suggest_manifest(recorded.spans_path).manifest
    otlp = recorded.write_otlp()
    assert suggest_manifest(otlp).manifest.tools == from_spans.tools
    assert suggest_manifest(recorded.audit_path).manifest.tools == from_spans.tools
    # One OTLP document spread over lines (as a pretty-printed export is).
    first = json.loads(otlp.read_text().splitlines()[0])
    requests = [json.loads(line) for line in otlp.read_text().splitlines()]
    merged = {"resourceSpans": [rs for r in requests for rs in r["resourceSpans"]]}
    pretty = otlp.with_name("pretty.json")
    pretty.write_text(json.dumps(merged, indent=2))
    assert "resourceSpans" in first
    assert suggest_manifest(pretty).manifest.tools == from_spans.tools


def test_the_same_decisions_in_spans_and_the_log_are_counted_once(recorded: Recorder) -> None:
    both = suggest_manifest([recorded.spans_path, recorded.audit_path]).manifest
    alone = suggest_manifest(recorded.spans_path).manifest
    assert both.budget == alone.budget
    assert {t: g.budget for t, g in both.tools.items() if g} == {
        t: g.budget for t, g in alone.tools.items() if g}


def test_margin_widens_ranges_and_lengths(recorded: Recorder) -> None:
    m = suggest_manifest(recorded.spans_path, margin=0.1).manifest
    refund = constraints(m, "send_refund")
    assert refund["amount"] == {"type": "number", "min": 9.4, "max": 34.7, "required": True}
    assert constraints(m, "tag")["weight"] == {"type": "integer", "min": 0, "max": 8, "required": True}
    low, high = refund["reply"]["min_length"], refund["reply"]["max_length"]
    exact = suggest_manifest(recorded.spans_path).manifest
    assert (low, high) != (constraints(exact, "send_refund")["reply"]["min_length"],
                           constraints(exact, "send_refund")["reply"]["max_length"])
    done = run_cli("suggest", str(recorded.spans_path), "--margin", "10%")
    assert done.returncode == 0, done.stderr
    assert Manifest.from_yaml(done.stdout).tools == m.tools
    assert run_cli("suggest", str(recorded.spans_path), "--margin", "-1").returncode == 2
    with pytest.raises(AuthoringError, match="--margin"):
        suggest_manifest(recorded.spans_path, margin=float("nan"))


def test_cli_explain_and_out(recorded: Recorder, tmp_path: Path) -> None:
    out = tmp_path / "learned.yaml"
    done = run_cli("suggest", str(recorded.spans_path), "--explain", "--task", "case-9", "--out", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text.startswith("# Suggested by guardrail suggest from 50 allowed calls in 8 tasks")
    assert "ticket_id: {pattern: '^T-[0-9]{4}$', required: true}  # 10 values seen, all of" in text
    assert Manifest.from_file(out).task == "case-9"
    explain = done.stdout
    assert "tools.read_ticket: 10 allowed calls in 8 tasks" in explain
    assert ('args.queue: one value in 10 calls ("support-eu"): equals; given in every call: required'
            in explain)
    assert "args.note" not in explain  # a null is a left-out argument (issue 11 item 11)
    assert "args.amount: 8 distinct values in 8 calls (more than 5), from 10.5 to 31.5" in explain
    assert "args.api_token: its value was redacted when recorded" in explain
    assert "budget.calls 2: the most calls of read_ticket in one task (case-0)" in explain
    assert "not learned from: 8 denied calls (export_customers 8)" in explain
    assert "ttl 1m: the longest task" in explain
    assert "wrote " in done.stderr
    # Without --out the manifest goes to stdout, the explanation to stderr.
    plain = run_cli("suggest", str(recorded.spans_path), "--explain")
    assert plain.stdout.startswith("# Suggested") and "tools.read_ticket:" in plain.stderr


# -- a ceiling --------------------------------------------------------------------------------

CEILING = {
    "manifest": 1, "task": "org-ceiling", "ttl": "1h", "budget": {"calls": 40},
    "tools": {
        "read_ticket": {"args": {"queue": ["support-eu", "support-uk"],
                                 "ticket_id": {"pattern": "^T-[12][0-9]{3}$"}, "note": {}}},
        "send_refund": {"args": {"order_id": {"starts_with": "ORD-"},
                                 "amount": {"type": "number", "max": 100},
                                 "currency": {}, "reply": {"type": "string"}},
                        "budget": {"calls": 3, "sum": {"amount": 150}}},
        "read_file": {"args": {"path": {"path_within": "/srv/tickets"}}},
        "fetch": {"args": {"url": {"url": {"hosts": ["*.example.com"]}}, "api_token": {}}},
        "tag": {"allow_other_args": True},
        "configure": {"allow_other_args": True},
    },
}


def test_within_a_ceiling_proves_the_suggestion_narrower(recorded: Recorder, tmp_path: Path) -> None:
    ceiling = tmp_path / "ceiling.yaml"
    Manifest.model_validate(CEILING).to_file(ceiling)
    s = suggest_manifest(recorded.spans_path, within=ceiling)
    assert s.within is not None and s.within.ok, s.within.format()
    # A learned pattern cannot be compared with the ceiling's pattern or prefix: those arguments
    # fall back to the values seen.
    assert s.within.narrowed == ["read_ticket.ticket_id", "send_refund.order_id"]
    assert constraints(s.manifest, "read_ticket")["ticket_id"]["one_of"][:2] == ["T-1000", "T-1001"]
    # The ceiling limits the sum of refunds: so does the suggestion, to the most one task refunded.
    refund = s.manifest.grant("send_refund")
    assert refund is not None and refund.budget is not None and refund.budget.sum == {"amount": 31.5}
    out = tmp_path / "learned.yaml"
    done = run_cli("suggest", str(recorded.spans_path), "--within", str(ceiling), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "NARROWER: every call the suggestion allows is allowed by the ceiling" in done.stdout
    assert run_cli("narrower", str(out), str(ceiling)).returncode == 0


def test_wider_than_the_ceiling_names_the_offending_call_and_writes_nothing(
    recorded: Recorder, tmp_path: Path
) -> None:
    tight = dict(CEILING, tools={k: v for k, v in CEILING["tools"].items() if k != "configure"})
    tight["tools"]["read_file"] = {"args": {"path": {"path_within": "/srv/tickets/2025"}}}
    ceiling = tmp_path / "ceiling.yaml"
    Manifest.model_validate(tight).to_file(ceiling)
    out = tmp_path / "learned.yaml"
    done = run_cli("suggest", str(recorded.spans_path), "--within", str(ceiling), "--out", str(out))
    assert done.returncode == 1
    assert not out.exists() and done.stdout == ""
    err = done.stderr
    assert f"OFFENDING CALL {recorded.spans_path}:" in err
    assert "configure(options=" in err and "tool_not_allowed: the ceiling does not grant 'configure'" in err
    assert "argument 'path' fails path_within: \"/srv/tickets/2025\"" in err
    assert "NOT NARROWER" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: x\n")
    assert "--within" in run_cli("suggest", str(recorded.spans_path), "--within", str(bad)).stderr


# -- bad input --------------------------------------------------------------------------------


def test_a_trace_without_values_says_values_are_needed(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path)
    guard = recorder.guard(wide("t", "read_ticket"), record_values=False)
    assert call(guard, "read_ticket", {"queue": "support-eu"})
    recorder.close()
    done = run_cli("suggest", str(recorder.spans_path))
    assert done.returncode == 2 and done.stdout == ""
    assert "recorded without argument values" in done.stderr
    assert "record_values=True" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_trace_where_some_calls_lack_values_names_the_first(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path)
    assert call(recorder.guard(wide("a", "t")), "t", {"x": 1})
    assert call(recorder.guard(wide("b", "t"), record_values=False), "t", {"x": 2})
    recorder.close()
    with pytest.raises(AuthoringError, match=r"spans.jsonl:2: the allowed call of 't' was recorded "
                       r"without argument values \(1 of 2"):
        suggest_manifest(recorder.spans_path)


def test_truncated_values_are_not_learned_from(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path)
    assert call(recorder.guard(wide("a", "t")), "t", {"blob": "x" * 10_000})
    recorder.close()
    with pytest.raises(AuthoringError, match=r"spans.jsonl:1: .*cut at 8192 characters"):
        suggest_manifest(recorder.spans_path)


def test_only_denied_calls_is_an_error(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path)
    guard = recorder.guard(wide("a", "t"), mode="enforce")
    assert not call(guard, "other", {"x": 1})
    recorder.close()
    with pytest.raises(AuthoringError, match=r"no allowed calls to learn from .*1 deny.*not learned from"):
        suggest_manifest(recorder.spans_path)


@pytest.mark.parametrize(("content", "message"), [
    ("", "is empty"),
    ("\n\n", "is empty"),
    ('{"format": "guardrail.span/1", "name": "other", "attributes": {}}\n', "no guard decisions"),
    ('{"a": 1}\n[1, 2]\n', "no guard decisions"),
    ('{"a": 1}\nnot json\n', "trace.jsonl:2: not a JSON line"),
])
def test_bad_traces_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text(content)
    done = run_cli("suggest", str(path))
    assert done.returncode == 2 and done.stdout == ""
    assert message in done.stderr


def test_a_call_without_a_usable_tool_name_is_named(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    spans = [hand_span("a", "ok", {"x": 1}, 1.0, 1.1), hand_span("a", "", {"x": 1}, 1.0, 1.1)]
    path.write_text("\n".join(spans) + "\n")
    with pytest.raises(AuthoringError, match=r"trace.jsonl:2: an allowed call of a tool named ''"):
        suggest_manifest(path)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00")
    assert "cannot read" in run_cli("suggest", str(tmp_path / "none.jsonl")).stderr
    assert "not UTF-8" in run_cli("suggest", str(tmp_path / "bin.jsonl")).stderr


def hand_span(task: str, tool: str, args: dict[str, Any], start: float, end: float,
              decision: str = "allow") -> str:
    """A span line in the documented `guardrail.span/1` shape, written by hand."""
    return json.dumps({
        "format": "guardrail.span/1", "name": f"execute_tool {tool}",
        "start_time_unix_nano": int(start * 1e9), "end_time_unix_nano": int(end * 1e9),
        "attributes": {"guardrail.decision": decision, "guardrail.task": task,
                       "gen_ai.tool.name": tool, "gen_ai.tool.call.arguments": json.dumps(args)},
    })


@pytest.mark.parametrize(("seconds", "ttl"), [(0.2, "1m"), (60, "1m"), (61, "2m"), (9000, "150m"),
                                              (108_000, "30h")])
def test_the_ttl_covers_the_longest_task(tmp_path: Path, seconds: float, ttl: str) -> None:
    path = tmp_path / "trace.jsonl"
    t0 = 1_800_000_000.0
    path.write_text("\n".join([
        hand_span("long", "t", {"x": 1}, t0, t0 + 0.1),
        hand_span("long", "t", {"x": 1}, t0 + seconds - 0.1, t0 + seconds),
        hand_span("short", "t", {"x": 1}, t0, t0 + 0.01),
        hand_span("short", "t", {"x": 1}, t0 + 0.05, t0 + 0.05, decision="shadow_deny"),
    ]) + "\n")
    s = suggest_manifest(path)
    assert s.manifest.ttl == ttl
    assert any(line.startswith(f"ttl {ttl}: the longest task (long)") for line in s.explanation)


# -- property: whatever was allowed, the suggestion allows --------------------------------------

texts = st.text(max_size=12) | st.sampled_from(["/srv/a/b", "/srv/a/c/d", "https://x.example.com/a/b",
                                                "http://[::1]:8080/x", "T-0001", "[REDACTED]", ""])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(-1e6, 1e6, allow_nan=False), texts)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3),
                      max_leaves=6)
calls = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(["t1", "t2"]),
              st.dictionaries(st.sampled_from(["p", "q", "r"]), values, max_size=3)),
    min_size=1, max_size=30,
)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls, st.sampled_from([0.0, 0.25]))
def test_generated_traces_the_suggestion_allows_every_observed_call(
    observed: list[tuple[int, str, dict[str, Any]]], margin: float
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        recorder = Recorder(Path(directory))
        guards = {n: recorder.guard(wide(f"task-{n}", "t1", "t2")) for n in range(3)}
        for n, tool, args in observed:
            assert call(guards[n], tool, args)
        recorder.close()
        assert len(lines(recorder.spans_path)) == len(observed)
        s = suggest_manifest(recorder.spans_path, margin=margin)
    back = Manifest.from_yaml(s.yaml)
    assert back.tools == s.manifest.tools
    for n in range(3):
        guard = Guard(back, store=MemoryStore())
        for task, tool, args in observed:
            if task == n:
                decision = guard.authorize(tool, args)
                assert decision.allowed, (tool, args, decision.denial)
