"""Instrumentation skips metric and span work while no provider would record it, and picks a
provider up the moment one is set globally. Run in a fresh interpreter: the global providers of
OpenTelemetry can be set only once per process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from guardrail import Guard, MemoryStore

    guard = Guard({"task": "late-providers", "ttl": "5m", "tools": {"add": {"args": {"a": {}}}}},
                  store=MemoryStore())
    # No provider yet: decided all the same, nothing recorded anywhere.
    assert guard.check("add", {"a": 1}).allowed
    assert guard.invoke("add", lambda a: a, {"a": 1}) == 1

    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    assert guard.check("add", {"a": 2}).allowed
    assert not guard.check("rm", {}).allowed
    assert guard.invoke("add", lambda a: a, {"a": 3}) == 3

    counts, durations = {}, 0
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data is not None else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    if metric.name == "guardrail.decisions":
                        attrs = dict(point.attributes)
                        counts[f"{attrs['decision']}/{attrs['tool']}"] = point.value
                    elif metric.name == "guardrail.check.duration":
                        durations += point.count
    spans = [(s.name, dict(s.attributes)["guardrail.decision"]) for s in exporter.get_finished_spans()]
    print(json.dumps({"counts": counts, "durations": durations, "spans": spans}))
""")


def test_providers_set_after_the_guard_are_used_from_then_on() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # Exactly the decisions made after the providers were set: two allows, one denial.
    assert seen["counts"] == {"allow/add": 2, "deny/_not_granted_": 1}
    assert seen["durations"] == 3
    assert seen["spans"] == [["execute_tool add", "allow"]]
