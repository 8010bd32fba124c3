"""What the guard costs on top of the span itself, with the OpenTelemetry SDK on.

    python benchmarks/bench_telemetry.py [--quick] [--json] [--rounds 21] [--number 2000]

Measured side by side in one run, interleaved round by round (benchmarks/_harness.py), per call:

- ``bare function``      the tool alone;
- ``bare span``          the same tool inside ``tracer.start_as_current_span("execute_tool add",
                         kind=INTERNAL)``, on the same SDK tracer the guard uses (BatchSpanProcessor,
                         an exporter that drops everything);
- ``span + attributes``  that span with the attributes the guard writes on an allowed call;
- ``span + attrs + metrics`` and the guard's two metric instruments (counter, histogram): all of
                         the guard's OpenTelemetry work, without the guard;
- ``guarded``            ``guard.invoke("add", add, args)``: span + decision + attributes + metrics
                         (SDK MeterProvider with a reader) on the same providers;
- ``guarded + audit``    the same with an ``AuditLog`` (no fsync) in a temporary directory;
- ``guarded, no SDK``    the guard with the default no-op providers (telemetry off).

The headline is the median over rounds of (guarded / bare span): how much the guard adds beyond the
span a tool call would have anyway. Denied calls are measured too (a span with the denial event).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _harness import Case, add_arguments, measure, report
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from guardrail import DelegationDenied, Guard, MemoryStore, __version__
from guardrail._audit._log import AuditLog

MANIFEST: dict[str, Any] = {
    "task": "bench-telemetry",
    "principal": "agent:bench",
    "ttl": "1h",
    "tools": {
        "add": {"args": {"a": {"type": "integer", "min": 0, "max": 1_000_000},
                         "b": {"type": "integer", "min": 0, "max": 1_000_000}}},
        "lookup": {"args": {"query": {"max_length": 64}}},
        "send": {"args": {"to": {"pattern": "^[a-z]+@example[.]com$"}, "body": {"max_length": 500}}},
        "read": {"args": {"path": {"path_within": "/srv/data"}}},
        "fetch": {"args": {"url": {"url": {"schemes": ["https"], "hosts": ["api.example.com"]}}}},
    },
}


class DropExporter(SpanExporter):
    """Accepts every batch and keeps nothing."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def add(a: int, b: int) -> int:
    return a + b


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    add_arguments(parser, rounds=21, number=2000)
    ns = parser.parse_args(argv)

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=1 << 16))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    guard = Guard(MANIFEST, store=MemoryStore(), tracer_provider=tracer_provider,
                  meter_provider=meter_provider)
    tmp = tempfile.TemporaryDirectory()
    audit = AuditLog(Path(tmp.name) / "audit.jsonl")
    audited = Guard(MANIFEST, store=MemoryStore(), tracer_provider=tracer_provider,
                    meter_provider=meter_provider, audit=audit)
    plain = Guard(MANIFEST, store=MemoryStore())  # global no-op providers
    # The tracer the guard itself uses: same provider, same instrumentation scope.
    tracer = tracer_provider.get_tracer("guardrail", __version__)
    args = {"a": 20, "b": 22}
    bad = {"a": 20, "b": -1}

    def bare_span() -> int:
        with tracer.start_as_current_span("execute_tool add", kind=SpanKind.INTERNAL):
            return add(**args)

    # The same span carrying what the guard writes on an allowed call, and then also the two
    # metric instruments: the OpenTelemetry part of the guard's cost, without the guard.
    start_attrs: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "add",
        "guardrail.task": guard.task, "guardrail.manifest.digest": guard.manifest.digest,
        "guardrail.mode": "enforce", "guardrail.delegation.depth": 0,
        "guardrail.principal": "agent:bench",
    }
    meter = meter_provider.get_meter("guardrail", __version__)
    counter = meter.create_counter("bench.decisions")
    histogram = meter.create_histogram("bench.duration", unit="s")
    metric_attrs = {"decision": "allow", "tool": "add"}

    def span_attrs() -> int:
        with tracer.start_as_current_span(
            "execute_tool add", kind=SpanKind.INTERNAL, attributes=start_attrs
        ) as span:
            span.set_attribute("gen_ai.tool.call.id", "call-1")
            span.set_attribute("guardrail.decision", "allow")
            return add(**args)

    def span_attrs_metrics() -> int:
        with tracer.start_as_current_span(
            "execute_tool add", kind=SpanKind.INTERNAL, attributes=start_attrs
        ) as span:
            t0 = time.perf_counter()
            span.set_attribute("gen_ai.tool.call.id", "call-1")
            span.set_attribute("guardrail.decision", "allow")
            counter.add(1, metric_attrs)
            histogram.record(time.perf_counter() - t0, metric_attrs)
            return add(**args)

    def denied() -> None:
        with contextlib.suppress(DelegationDenied):
            guard.invoke("add", add, bad)

    assert guard.invoke("add", add, args) == 42 and plain.invoke("add", add, args) == 42
    cases = [
        Case("bare function", lambda: add(**args)),
        Case("bare span", bare_span),
        Case("span + attributes", span_attrs),
        Case("span + attrs + metrics", span_attrs_metrics),
        Case("guarded", lambda: guard.invoke("add", add, args)),
        Case("guarded, denied", denied),
        Case("guarded + audit", lambda: audited.invoke("add", add, args)),
        Case("guarded, no SDK", lambda: plain.invoke("add", add, args)),
    ]
    result = measure(cases, baseline="bare span", ns=ns)
    tracer_provider.shutdown()
    meter_provider.shutdown()
    audit.close()
    tmp.cleanup()

    added = result.per_round("guarded", "bare span", lambda g, s: (g - s) * 1e6)
    logic = result.per_round("guarded", "span + attrs + metrics", lambda g, s: (g - s) * 1e6)
    extra = {"guard_added_us": added, "guard_logic_us": logic}
    report(
        result, ns, title="The guard with the OpenTelemetry SDK on", label="variant", extra=extra,
        notes=[
            f"\nguarded / bare span (median of per-round ratios): {result['guarded'].ratio:.2f}x, "
            f"the guard adds {added:.2f} us per call beyond the span",
            f"of which OpenTelemetry work (attributes, metrics) is {added - logic:.2f} us and the "
            f"guard's own logic {logic:.2f} us",
        ],
    )
    return {**result.to_json(), **extra}


if __name__ == "__main__":
    main()
