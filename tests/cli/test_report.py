"""`guardrail report` refuses what it does not understand and reads OTLP/JSON as well as the
project's JSONL traces and decision logs (issue 12, item 7)."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from guardrail import DelegationDenied, Guard, Manifest, MemoryStore
from guardrail._cli._main import main
from guardrail._telemetry._export import SPAN_FORMAT, span_to_dict
from guardrail._telemetry._otlp_json import _FORMAT, otlp_spans
from guardrail.cli import ExitCode
from guardrail.testing import CapturedSpans, task_id
from tests.cli.support import ROOT, one_line

MANIFEST = {"ttl": "1h", "tools": {"refund": {"args": {"amount": {"max": 50}}, "budget": {"calls": 2}}}}


@pytest.fixture
def spans() -> Iterator[CapturedSpans]:
    """The spans of a few real decisions: allowed, denied on an argument, a budget, a tool."""
    with CapturedSpans() as captured:
        guard = Guard(Manifest.model_validate({"task": task_id("report"), **MANIFEST}),
                      store=MemoryStore(), tracer_provider=captured.provider)
        refund = guard.wrap(lambda amount: f"refunded {amount}", name="refund")
        delete = guard.wrap(lambda: "deleted", name="delete")
        for call in (lambda: refund(amount=10), lambda: refund(amount=99), lambda: refund(amount=5),
                     lambda: refund(amount=1), lambda: delete()):
            with contextlib.suppress(DelegationDenied):
                call()
        yield captured


def _report(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["report", str(path), "--json"]) == ExitCode.OK
    body: dict[str, Any] = json.loads(capsys.readouterr().out)
    body.pop("source")
    return body


def _hex_ids(node: Any) -> Any:
    """protobuf's JSON mapping writes ids in base64; OTLP/JSON (the Collector) writes hex."""
    if isinstance(node, dict):
        return {k: (base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") else
                    _hex_ids(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_hex_ids(v) for v in node]
    return node


def test_otlp_json_reads_as_the_jsonl_shape(spans: CapturedSpans) -> None:
    finished = spans.spans()
    request = MessageToDict(encode_spans(finished))
    assert _FORMAT == SPAN_FORMAT
    expected = [span_to_dict(s) for s in finished]
    assert otlp_spans(request) == expected  # base64 ids, lowerCamelCase
    assert otlp_spans(_hex_ids(request)) == expected  # OTLP/JSON as the Collector writes it
    snake = MessageToDict(encode_spans(finished), preserving_proto_field_name=True)
    assert otlp_spans(snake) == expected


def test_report_reads_otlp_json_like_its_own_trace(
    spans: CapturedSpans, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finished = spans.spans()
    jsonl = tmp_path / "spans.jsonl"
    jsonl.write_text("".join(json.dumps(span_to_dict(s)) + "\n" for s in finished), "utf-8")
    # The Collector's file exporter: one ExportTraceServiceRequest per line, batches as they came.
    otlp = tmp_path / "collector.json"
    otlp.write_text("".join(json.dumps(_hex_ids(MessageToDict(encode_spans(batch)))) + "\n"
                            for batch in (finished[:2], finished[2:])), "utf-8")
    expected = _report(jsonl, capsys)
    assert expected["decisions"] == 5 and expected["allowed"] == 2 and expected["denied"] == 3
    assert {d["code"] for d in expected["denials"]} == {
        "argument_invalid", "budget_exhausted", "tool_not_allowed"}
    assert _report(otlp, capsys) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ((ROOT / "README.md").read_text("utf-8"), "no line is JSON"),
        ("task,tool,outcome\nt,refund,allow\n", "no line is JSON"),
        ('[{"outcome": "allow"}]\n', "no line is a span, an OTLP/JSON request or a decision log"),
        ('{"name": "x", "value": 1}\n{"name": "y"}\n', "no line is a span"),
    ],
)
def test_report_refuses_what_it_does_not_understand(
    text: str, why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "input.txt"
    path.write_text(text, "utf-8")
    assert main(["report", str(path)]) == ExitCode.USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    line = one_line(captured.err)
    assert line.startswith(f"guardrail report: {path} is not a trace or a decision log: {why}")


def test_a_malformed_otlp_line_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "collector.json"
    good = {"resourceSpans": []}
    bad = {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "x", "spanId": "not-an-id"}]}]}]}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", "utf-8")
    assert main(["report", str(path)]) == ExitCode.USAGE
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"guardrail report: {path}:2: ")
    assert "'not-an-id' is not an id of 8 bytes" in line


def test_an_empty_trace_and_a_partly_written_one_are_reports(
    spans: CapturedSpans, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", "utf-8")
    assert _report(empty, capsys)["decisions"] == 0
    torn = tmp_path / "torn.jsonl"
    lines = [json.dumps(span_to_dict(s)) for s in spans.spans()]
    torn.write_text("\n".join(lines) + "\n" + lines[0][:40], "utf-8")  # a writer cut off mid-line
    body = _report(torn, capsys)
    assert body["decisions"] == 5 and body["skipped_lines"] == 1
