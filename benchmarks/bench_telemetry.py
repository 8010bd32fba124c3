"""What the guard costs on top of the span itself, with the OpenTelemetry SDK on.

    python benchmarks/bench_telemetry.py [--rounds 21] [--calls 2000] [--json]

Measured side by side in one run, interleaved round by round, per call:

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
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from guardrail import DelegationDenied, Guard, MemoryStore
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


def per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
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
    from guardrail import _telemetry

    tracer = _telemetry.get_tracer(tracer_provider)
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
    meter = _telemetry.get_meter(meter_provider)
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

    variants: dict[str, Callable[[], object]] = {
        "bare function": lambda: add(**args),
        "bare span": bare_span,
        "span + attributes": span_attrs,
        "span + attrs + metrics": span_attrs_metrics,
        "guarded": lambda: guard.invoke("add", add, args),
        "guarded, denied": denied,
        "guarded + audit": lambda: audited.invoke("add", add, args),
        "guarded, no SDK": lambda: plain.invoke("add", add, args),
    }
    for fn in variants.values():  # warm up
        per_call(fn, min(ns.calls, 500))
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(ns.rounds):
        for name, fn in variants.items():
            samples[name].append(per_call(fn, ns.calls))
    tracer_provider.shutdown()
    meter_provider.shutdown()
    audit.close()
    tmp.cleanup()

    span = samples["bare span"]
    ratios = {
        name: statistics.median(v / s for v, s in zip(values, span, strict=True))
        for name, values in samples.items()
    }
    result = {
        "rounds": ns.rounds,
        "calls_per_round": ns.calls,
        "median_us": {name: statistics.median(v) * 1e6 for name, v in samples.items()},
        "median_ratio_to_bare_span": ratios,
        "guard_added_us": statistics.median(
            (g - s) * 1e6 for g, s in zip(samples["guarded"], span, strict=True)
        ),
        "guard_logic_us": statistics.median(
            (g - s) * 1e6
            for g, s in zip(samples["guarded"], samples["span + attrs + metrics"], strict=True)
        ),
    }
    if ns.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{ns.rounds} rounds x {ns.calls} calls, interleaved; median per call")
        print(f"{'variant':<23} {'us/call':>9} {'x bare span':>12}")
        for name in variants:
            print(f"{name:<23} {result['median_us'][name]:>9.2f} {ratios[name]:>12.2f}")
        print(f"\nguarded / bare span (median of per-round ratios): {ratios['guarded']:.2f}x, "
              f"the guard adds {result['guard_added_us']:.2f} us per call beyond the span")
        print(f"of which OpenTelemetry work (attributes, metrics) is "
              f"{result['guard_added_us'] - result['guard_logic_us']:.2f} us and the guard's own "
              f"logic {result['guard_logic_us']:.2f} us")
    return result


if __name__ == "__main__":
    main()
