"""The JSONL span exporter, `configure_tracing`, the report, and the CLI commands."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from guardrail import DelegationDenied, Guard, MemoryStore, _cli
from guardrail._audit import AuditLog
from guardrail._telemetry._export import SPAN_FORMAT, JsonlSpanExporter, read_spans
from guardrail._telemetry._report import DenialGroup, load_report, render_report
from guardrail._telemetry._setup import configure_tracing
from tests.telemetry.support import manifest

SPAN_KEYS = [
    "format", "name", "trace_id", "span_id", "parent_span_id", "kind", "start_time", "end_time",
    "start_time_unix_nano", "end_time_unix_nano", "duration_ms", "status", "attributes", "events",
    "links", "resource", "scope",
]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`guardrail._cli.main`, the command line in-process."""
    return _cli.main


def scoped_run(guard: Guard) -> None:
    """A small scripted agent: 4 allowed calls, 5 denials of 4 kinds."""

    def send(**kwargs: Any) -> str:
        return "ok"

    script: list[tuple[str, dict[str, Any]]] = [
        ("send", {"to": "ann@example.com", "amount": 5}),
        ("send", {"to": "ann@example.com", "amount": 500}),
        ("send", {"to": "ann@example.com", "amount": 40}),
        ("lookup", {"query": "refunds"}),
        ("send", {"to": "x@evil.example"}),
        ("delete_all", {}),
        ("send", {"to": "bob@example.com", "amount": 1}),
        ("send", {"to": "cat@example.com", "amount": 1}),
        ("send", {"to": "dan@example.com", "amount": 1}),
    ]
    for tool, args in script:
        with contextlib.suppress(DelegationDenied):
            guard.invoke(tool, send, args)


def traced_run(path: Path, **guard_kw: Any) -> Guard:
    provider = configure_tracing(f"jsonl:{path}")
    guard = Guard(manifest(), store=MemoryStore(), tracer_provider=provider, **guard_kw)
    scoped_run(guard)
    provider.shutdown()
    return guard


# -- exporter --------------------------------------------------------------------------------


def test_jsonl_exporter_shape(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    guard = traced_run(path)
    spans = list(read_spans(path))
    assert len(spans) == 9
    for span in spans:
        assert list(span) == SPAN_KEYS
        assert span["format"] == SPAN_FORMAT
        assert span["kind"] == "INTERNAL"
        assert len(span["trace_id"]) == 32 and len(span["span_id"]) == 16
        assert span["parent_span_id"] is None
        assert span["start_time"].endswith("Z") and span["end_time"].endswith("Z")
        assert span["end_time_unix_nano"] >= span["start_time_unix_nano"]
        assert span["duration_ms"] >= 0
        assert span["scope"]["name"] == "guardrail"
        assert span["resource"]["service.name"] == "guardrail"
        assert list(span["attributes"]) == sorted(span["attributes"])
    denied = spans[1]
    assert denied["name"] == "execute_tool send"
    assert denied["status"]["code"] == "ERROR"
    assert denied["attributes"]["guardrail.denial.code"] == "argument_invalid"
    assert denied["attributes"]["guardrail.task"] == guard.task
    (event,) = denied["events"]
    assert event["name"] == "guardrail.denial"
    assert event["attributes"]["constraint"] == "max: 50"
    assert event["time"].endswith("Z") and isinstance(event["time_unix_nano"], int)
    assert spans[0]["status"] == {"code": "UNSET", "description": None}
    assert spans[0]["events"] == []


def test_jsonl_exporter_appends_nested_spans_and_stream_target(tmp_path: Path) -> None:
    buf = io.StringIO()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonlSpanExporter(buf)))
    guard = Guard(manifest(), store=MemoryStore(), tracer_provider=provider)
    with provider.get_tracer("agent").start_as_current_span("invoke_agent"):
        guard.invoke("lookup", lambda query: query, {"query": "q"})
    provider.shutdown()
    child, parent = (json.loads(line) for line in buf.getvalue().splitlines())
    assert child["parent_span_id"] == parent["span_id"]
    assert child["trace_id"] == parent["trace_id"]
    assert parent["name"] == "invoke_agent"
    assert not buf.closed  # a stream it was given is not closed

    exporter = JsonlSpanExporter(tmp_path / "sub" / "x.jsonl")
    exporter.shutdown()
    from opentelemetry.sdk.trace.export import SpanExportResult

    assert exporter.export([]) is SpanExportResult.FAILURE  # after shutdown


# -- configure_tracing -----------------------------------------------------------------------


def test_configure_tracing_console(capsys: pytest.CaptureFixture[str]) -> None:
    provider = configure_tracing("console")
    guard = Guard(manifest(), store=MemoryStore(), tracer_provider=provider)
    with pytest.raises(DelegationDenied):
        guard.invoke("rm", lambda: None, {})
    provider.shutdown()
    out = capsys.readouterr().out
    assert '"name": "execute_tool rm"' in out
    assert '"guardrail.denial.code": "tool_not_allowed"' in out


def test_configure_tracing_resource(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "support-bot")
    provider = configure_tracing(f"jsonl:{tmp_path / 's.jsonl'}",
                                 resource_attributes={"openinference.project.name": "p1"})
    assert provider.resource.attributes["service.name"] == "support-bot"
    assert provider.resource.attributes["openinference.project.name"] == "p1"
    provider.shutdown()
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    provider = configure_tracing("console", service_name="svc")
    assert provider.resource.attributes["service.name"] == "svc"
    provider.shutdown()


@pytest.mark.parametrize("spec", ["", "jaeger", "jsonl", "jsonl:", "otlp:ftp://x", "console:x"])
def test_configure_tracing_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="trace"):
        configure_tracing(spec)


class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    """A loopback HTTP server standing in for an OTLP/HTTP collector."""
    received: list[tuple[str, dict[str, str], bytes]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_configure_tracing_otlp_uses_the_standard_variables(
    collector: tuple[str, list[tuple[str, dict[str, str], bytes]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, received = collector
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
    provider = configure_tracing("otlp")
    guard = Guard(manifest(), store=MemoryStore(), tracer_provider=provider)
    with pytest.raises(DelegationDenied):
        guard.invoke("send", lambda **kw: None, {"to": "x@evil.example"})
    provider.shutdown()  # flushes the batch
    assert len(received) == 1
    path, headers, body = received[0]
    assert path == "/v1/traces"
    assert {k.lower(): v for k, v in headers.items()}["x-tenant"] == "acme"
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    (span,) = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert span.name == "execute_tool send"
    attrs = {a.key: a.value.string_value for a in span.attributes}
    assert attrs["guardrail.denial.code"] == "argument_invalid"
    assert attrs["guardrail.denial.argument"] == "to"
    assert span.status.code == 2  # STATUS_CODE_ERROR
    assert [e.name for e in span.events] == ["guardrail.denial"]


def test_configure_tracing_otlp_with_explicit_url(
    collector: tuple[str, list[tuple[str, dict[str, str], bytes]]],
) -> None:
    base, received = collector
    provider = configure_tracing(f"otlp:{base}/custom/traces")
    Guard(manifest(), store=MemoryStore(), tracer_provider=provider).invoke(
        "lookup", lambda query: query, {"query": "q"}
    )
    provider.shutdown()
    assert [r[0] for r in received] == ["/custom/traces"]


# -- report ----------------------------------------------------------------------------------


def test_report_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    guard = traced_run(path)
    shadow = traced_run(path, mode="shadow")
    report = load_report(path)
    assert report.totals == {"allow": 8, "deny": 5, "shadow_deny": 5}
    assert report.decisions == 18
    t, s = guard.task, shadow.task
    assert report.denials == {
        DenialGroup(t, "send", "argument_invalid", "amount", "max: 50"): 1,
        DenialGroup(t, "send", "argument_invalid", "to", 'pattern: "^[a-z]+@example[.]com$"'): 1,
        DenialGroup(t, "delete_all", "tool_not_allowed", "", ""): 1,
        DenialGroup(t, "send", "budget_exhausted", "", "budget tools.send.calls (limit 3)"): 2,
    }
    # Shadow mode lets over-budget calls through without charging, so only 2 are shadow denied
    # for the budget there too: the same 5 denials.
    assert sum(report.shadow.values()) == 5
    assert {g.task for g in report.shadow} == {s}
    assert report.tools[("send", "allow")] == 6 and report.tools[("lookup", "allow")] == 2
    text = render_report(report)
    assert "18 decisions: 8 allowed, 5 denied, 5 shadow-denied" in text
    rows = [line.split() for line in text.splitlines()]
    budget_row = [t, "send", "budget_exhausted", "-", "budget", "tools.send.calls", "(limit", "3)"]
    assert [*budget_row, "2", "0"] in rows
    assert [t, "send", "argument_invalid", "amount", "max:", "50", "1", "0"] in rows
    assert [s, "delete_all", "tool_not_allowed", "-", "-", "0", "1"] in rows
    assert ["send", "6", "4", "4"] in rows


def test_report_reads_a_decision_log_too(tmp_path: Path) -> None:
    spans, audit_path = tmp_path / "s.jsonl", tmp_path / "a.jsonl"
    traced_run(spans, audit=AuditLog(audit_path))
    from_spans, from_audit = load_report(spans), load_report(audit_path)
    assert from_audit.totals == from_spans.totals
    assert from_audit.denials == from_spans.denials


def test_report_skips_other_spans_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    traced_run(path)
    with open(path, "a") as fh:
        fh.write("not json\n[1, 2]\n")
        fh.write(json.dumps({"name": "http", "attributes": {"http.method": "GET"}}) + "\n")
    report = load_report(path)
    assert report.skipped == 2 and report.other == 1 and report.decisions == 9
    assert "2 line(s) skipped" in render_report(report)


# -- CLI -------------------------------------------------------------------------------------


def test_cli_report(cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "spans.jsonl"
    guard = traced_run(path)
    assert cli(["report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "9 decisions: 4 allowed, 5 denied, 0 shadow-denied" in out
    assert "Denials by task, tool and code:" in out
    assert cli(["report", str(path), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["allowed"] == 4 and body["denied"] == 5
    assert body["denials"][0] == {
        "task": guard.task, "tool": "send", "code": "budget_exhausted", "argument": None,
        "constraint": "budget tools.send.calls (limit 3)", "denied": 2, "shadow_denied": 0,
    }
    assert cli(["report", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_audit_verify(cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "audit.jsonl"
    guard = Guard(manifest(), store=MemoryStore(), audit=AuditLog(path))
    scoped_run(guard)
    assert cli(["audit", "verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: 9 lines in 1 file, seq 1..9, head sha256:")
    lines = path.read_text().splitlines(keepends=True)
    lines[4], lines[5] = lines[5], lines[4]
    path.write_text("".join(lines))
    assert cli(["audit", "verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"BROKEN at {path}:5: seq 6 after 4")
    assert cli(["audit", "verify", str(path), "--json"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["ok"] is False and body["bad"]["line"] == 5 and body["lines"] == 4
    assert cli(["audit", "verify", str(tmp_path / "none.jsonl")]) == 2
    with pytest.raises(SystemExit):
        cli(["audit"])
