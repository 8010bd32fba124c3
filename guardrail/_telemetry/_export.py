"""A span exporter writing one finished span per line as JSON, in a stable, documented shape.

    provider.add_span_processor(SimpleSpanProcessor(JsonlSpanExporter("spans.jsonl")))

Each line is one JSON object (format ``guardrail.span/1``); keys are always present, in this order:

    {"format": "guardrail.span/1",
     "name": "execute_tool send_refund",
     "trace_id": "<32 hex>", "span_id": "<16 hex>", "parent_span_id": "<16 hex>" | null,
     "kind": "INTERNAL",                       # SpanKind name
     "start_time": "2026-01-31T10:00:00.123456Z", "end_time": "...",   # UTC, microseconds
     "start_time_unix_nano": 0, "end_time_unix_nano": 0, "duration_ms": 0.0,
     "status": {"code": "UNSET" | "OK" | "ERROR", "description": str | null},
     "attributes": {...},                      # keys sorted; sequences as JSON arrays
     "events": [{"name": str, "time": str, "time_unix_nano": int, "attributes": {...}}],
     "links": [{"trace_id": str, "span_id": str, "attributes": {...}}],
     "resource": {...},                        # resource attributes, keys sorted
     "scope": {"name": str, "version": str | null}}

`guardrail report PATH` reads these files. The exporter appends (several runs can share a file) and
flushes after every batch; it is thread-safe.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["SPAN_FORMAT", "JsonlSpanExporter", "read_spans", "span_to_dict"]

SPAN_FORMAT = "guardrail.span/1"


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    dt = datetime.fromtimestamp(ns / 1e9, UTC)
    return dt.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _value(value: Any) -> Any:
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [_value(v) for v in value]
    return str(value)


def _attrs(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    if not attributes:
        return {}
    return {key: _value(attributes[key]) for key in sorted(attributes)}


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """The JSON-able form of one finished span (the shape in the module docstring)."""
    ctx = span.context
    parent = span.parent
    start, end = span.start_time, span.end_time
    scope = span.instrumentation_scope
    return {
        "format": SPAN_FORMAT,
        "name": span.name,
        "trace_id": format(ctx.trace_id, "032x") if ctx is not None else None,
        "span_id": format(ctx.span_id, "016x") if ctx is not None else None,
        "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
        "kind": span.kind.name,
        "start_time": _iso(start),
        "end_time": _iso(end),
        "start_time_unix_nano": start,
        "end_time_unix_nano": end,
        "duration_ms": (end - start) / 1e6 if start is not None and end is not None else None,
        "status": {"code": span.status.status_code.name, "description": span.status.description},
        "attributes": _attrs(span.attributes),
        "events": [
            {
                "name": event.name,
                "time": _iso(event.timestamp),
                "time_unix_nano": event.timestamp,
                "attributes": _attrs(event.attributes),
            }
            for event in span.events
        ],
        "links": [
            {
                "trace_id": format(link.context.trace_id, "032x"),
                "span_id": format(link.context.span_id, "016x"),
                "attributes": _attrs(link.attributes),
            }
            for link in span.links
        ],
        "resource": _attrs(span.resource.attributes),
        "scope": {
            "name": scope.name if scope is not None else None,
            "version": scope.version if scope is not None else None,
        },
    }


class JsonlSpanExporter(SpanExporter):
    """Appends each exported span as one JSON line to a file (or writes to a text stream)."""

    def __init__(self, target: str | os.PathLike[str] | TextIO) -> None:
        self._lock = threading.Lock()
        self.path: str | None = None
        self._out: TextIO | None
        if isinstance(target, str | os.PathLike):
            path = os.fspath(target)
            dirname = os.path.dirname(path)
            if dirname:
                os.makedirs(dirname, exist_ok=True)
            self.path = path
            self._out = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by shutdown()
            self._owned = True
        else:
            self._out = target
            self._owned = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        text = "".join(
            json.dumps(span_to_dict(span), ensure_ascii=False, default=str) + "\n" for span in spans
        )
        with self._lock:
            out = self._out
            if out is None:
                return SpanExportResult.FAILURE
            try:
                out.write(text)
                out.flush()
            except (OSError, ValueError):
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            if self._out is not None:
                try:
                    self._out.flush()
                except (OSError, ValueError):
                    return False
        return True

    def shutdown(self) -> None:
        with self._lock:
            out, self._out = self._out, None
            if out is not None:
                if self._owned:
                    out.close()
                else:
                    out.flush()


def read_spans(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The spans of a JSONL file written by `JsonlSpanExporter` (blank lines skipped)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
