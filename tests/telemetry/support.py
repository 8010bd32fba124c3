"""Helpers for the telemetry tests: private OTel providers with in-memory exporters and readers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan

from guardrail import Guard, MemoryStore
from guardrail.testing import CapturedSpans, task_id

Attrs = frozenset[tuple[str, Any]]


def key(**attrs: Any) -> Attrs:
    return frozenset(attrs.items())


@dataclass
class Telemetry:
    """A private TracerProvider and MeterProvider, with what they collected."""

    captured: CapturedSpans = field(default_factory=CapturedSpans)
    reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)
    meter_provider: MeterProvider = field(init=False)

    def __post_init__(self) -> None:
        self.tracer_provider = self.captured.provider
        self.exporter = self.captured.exporter
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def guard(self, manifest: Mapping[str, Any], **kw: Any) -> Guard:
        kw.setdefault("store", MemoryStore())
        return Guard(
            manifest, tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **kw
        )

    def spans(self) -> list[ReadableSpan]:
        return self.captured.spans()

    def metrics(self) -> dict[str, list[Any]]:
        """metric name -> its data points (cumulative since the provider started)."""
        data = self.reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out.setdefault(metric.name, []).extend(metric.data.data_points)
        return out

    def counter(self) -> dict[Attrs, int]:
        """guardrail.decisions: attributes -> count."""
        points = self.metrics().get("guardrail.decisions", [])
        result: dict[Attrs, int] = {}
        for p in points:
            assert isinstance(p, NumberDataPoint)
            result[frozenset(dict(p.attributes or {}).items())] = int(p.value)
        return result

    def histogram(self) -> dict[Attrs, HistogramDataPoint]:
        points = self.metrics().get("guardrail.check.duration", [])
        result: dict[Attrs, HistogramDataPoint] = {}
        for p in points:
            assert isinstance(p, HistogramDataPoint)
            result[frozenset(dict(p.attributes or {}).items())] = p
        return result

    def shutdown(self) -> None:
        self.captured.shutdown()
        self.meter_provider.shutdown()


def manifest(**overrides: Any) -> dict[str, Any]:
    """A small manifest with a unique task id: one tool `send` with three constraints."""
    base: dict[str, Any] = {
        "task": task_id(),
        "principal": "agent:test",
        "issuer": "user:tester",
        "ttl": "10m",
        "tools": {
            "send": {
                "args": {
                    "to": {"pattern": "^[a-z]+@example[.]com$", "required": True},
                    "amount": {"type": "number", "min": 0, "max": 50},
                    "body": {"max_length": 200},
                },
                "budget": {"calls": 3},
            },
            "lookup": {"args": {"query": {}}},
        },
    }
    base.update(overrides)
    return base
