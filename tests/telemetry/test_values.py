"""Argument values stay out of spans, events, metrics, logs, denials and the audit log unless
record_values=True; then they are recorded with secret-named keys redacted."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from guardrail import DelegationDenied, Guard
from guardrail._audit import AuditLog
from guardrail._telemetry._export import JsonlSpanExporter, span_to_dict
from guardrail.testing import CapturedSpans
from tests.telemetry.support import Telemetry, manifest

MARK = "MARK-7f1c2e9a"  # a value no name, message or constraint contains
NUM = 31337.4242  # a numeric value, same idea
SECRETS = {
    "password": "SECRET-pw-1a",
    "token": "SECRET-tok-2b",
    "secret": "SECRET-sec-3c",
    "api_key": "SECRET-key-4d",
    "authorization": "SECRET-auth-5e",
}

VALUE_MANIFEST = {
    "tools": {
        "send": {
            "args": {
                "to": {"pattern": "^[a-z]+@example[.]com$", "required": True},
                "body": {"max_length": 200},
                "amount": {"type": "number", "max": 100000},
                "password": {}, "token": {}, "secret": {}, "api_key": {},
                "authorization": {}, "headers": {"type": "object", "fields": {
                    "authorization": {}, "accept": {}}},
            },
        },
        "lookup": {"args": {"query": {"one_of": ["a", "b"]}}},
    }
}


def run_calls(guard: Guard, shadow: Guard) -> list[str]:
    """Allowed, raising, denied (several codes) and shadow calls, all carrying the markers.
    Returns every denial's text as a caller or model sees it."""
    texts: list[str] = []

    def send(**kwargs: Any) -> str:
        return f"sent {kwargs}"

    def broken(**kwargs: Any) -> None:
        raise RuntimeError(f"upstream rejected {kwargs}")

    good = {"to": "ann@example.com", "body": MARK, "amount": NUM, **SECRETS,
            "headers": {"authorization": SECRETS["authorization"], "accept": MARK}}
    guard.invoke("send", send, good)
    with pytest.raises(RuntimeError):
        guard.invoke("send", broken, good)
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("send", {**good, "to": f"{MARK}@evil.example"}),          # argument_invalid (pattern)
        ("send", {**good, "body": MARK * 40}),                       # argument_invalid (length)
        ("send", {**good, "amount": NUM * 10}),                      # argument_invalid (max)
        ("send", {**good, "cc": MARK}),                              # argument_not_allowed
        ("send", {"body": MARK, **SECRETS}),                         # argument_missing
        ("lookup", {"query": MARK}),                                 # argument_invalid (one_of)
        ("wire_money", {"iban": MARK, **SECRETS}),                   # tool_not_allowed
    ]
    for tool, args in attempts:
        with pytest.raises(DelegationDenied) as info:
            guard.invoke(tool, send, args)
        d = info.value.denial
        texts += [str(info.value), d.model_dump_json(), d.to_model_json(), repr(info.value)]
        decision = guard.check(tool, args)
        texts.append(repr(decision))
        shadow.invoke(tool, send, args)  # shadow mode: traced as shadow_deny, runs
    return texts


def everything(tel: Telemetry, caplog: pytest.LogCaptureFixture, extra: list[str]) -> str:
    spans = [json.dumps(span_to_dict(s)) for s in tel.spans()]
    data = tel.reader.get_metrics_data()
    assert data is not None
    metrics = data.to_json()
    logs = [r.getMessage() + (r.exc_text or "") + str(r.args) for r in caplog.records]
    return "\n".join([*spans, metrics, *logs, *extra])


def test_no_argument_value_reaches_telemetry_by_default(
    tel: Telemetry, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    audit = AuditLog(tmp_path / "audit.jsonl")
    jsonl = tmp_path / "spans.jsonl"
    tel.tracer_provider.add_span_processor(SimpleSpanProcessor(JsonlSpanExporter(jsonl)))
    guard = tel.guard(manifest(**VALUE_MANIFEST), audit=audit)
    shadow = tel.guard(manifest(**VALUE_MANIFEST), mode="shadow", audit=audit)
    texts = run_calls(guard, shadow)
    audit.close()

    blob = everything(tel, caplog, [*texts, (tmp_path / "audit.jsonl").read_text(),
                                    jsonl.read_text()])
    # The test saw real telemetry: spans of every kind, metrics, and the audit log.
    assert len(tel.spans()) == 2 + 7 * 2
    assert '"guardrail.decision": "shadow_deny"' in blob
    assert "argument_invalid" in blob and "tool_not_allowed" in blob
    assert "gen_ai.tool.call.arguments" not in blob
    for marker in [MARK, str(NUM), repr(NUM), *SECRETS.values(), "upstream rejected"]:
        assert marker not in blob, marker
    # exceptions are typed, not quoted
    raised = [s for s in tel.spans() if any(e.name == "exception" for e in s.events)]
    assert len(raised) == 1
    assert dict(raised[0].events[0].attributes or {}) == {"exception.type": "RuntimeError"}
    # no argument values in audit lines either
    for line in (tmp_path / "audit.jsonl").read_text().splitlines():
        assert "args" not in json.loads(line)


def test_record_values_records_arguments_with_secrets_redacted(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    tel = Telemetry()
    audit = AuditLog(tmp_path / "audit.jsonl")
    guard = tel.guard(manifest(**VALUE_MANIFEST), record_values=True, audit=audit)
    shadow = tel.guard(manifest(**VALUE_MANIFEST), mode="shadow", record_values=True, audit=audit)
    run_calls(guard, shadow)
    audit.close()

    spans = tel.spans()
    assert len(spans) == 16
    for span in spans:
        attrs = dict(span.attributes or {})
        recorded = json.loads(str(attrs["gen_ai.tool.call.arguments"]))
        for name in SECRETS:
            if name in recorded:
                assert recorded[name] == "[REDACTED]"
        if "headers" in recorded:
            assert recorded["headers"] == {"authorization": "[REDACTED]", "accept": MARK}
    first = json.loads(str(dict(spans[0].attributes or {})["gen_ai.tool.call.arguments"]))
    assert first == {
        "to": "ann@example.com", "body": MARK, "amount": NUM,
        **dict.fromkeys(SECRETS, "[REDACTED]"),
        "headers": {"authorization": "[REDACTED]", "accept": MARK},
    }
    # The tool's exception message is recorded when values are (and its secrets are the tool's).
    raised = [s for s in spans if any(e.name == "exception" for e in s.events)]
    assert dict(raised[0].events[0].attributes or {})["exception.type"] == "RuntimeError"
    assert "upstream rejected" in str(dict(raised[0].events[0].attributes or {})["exception.message"])

    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert lines[0]["args"] == first
    assert all("args" in entry for entry in lines)
    # Secrets never appear, apart from the tool's own exception text which records the kwargs.
    spans_blob = "\n".join(
        json.dumps(span_to_dict(s)) for s in spans if not any(e.name == "exception" for e in s.events)
    )
    audit_blob = (tmp_path / "audit.jsonl").read_text()
    for secret in SECRETS.values():
        assert secret not in spans_blob
        assert secret not in audit_blob
    assert MARK in spans_blob and MARK in audit_blob
    tel.shutdown()


def test_unserialisable_values_do_not_break_the_decision(tmp_path: Path) -> None:
    captured = CapturedSpans()
    guard = Guard(manifest(tools={"f": {"args": {"x": {}}}}), tracer_provider=captured.provider,
                  record_values=True)

    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque>"

    assert guard.invoke("f", lambda x: "ok", {"x": Opaque()}) == "ok"
    (span,) = captured.spans()
    assert json.loads(str(dict(span.attributes or {})["gen_ai.tool.call.arguments"])) == {"x": "<Opaque>"}
