"""A TracerProvider from a short spec (``console``, ``jsonl:PATH``, ``otlp[:URL]``), for the CLI's
``--trace`` and for quick scripts.

    provider = configure_tracing("jsonl:spans.jsonl")
    guard = Guard(manifest, tracer_provider=provider)
    ...
    provider.shutdown()          # flushes: call it before the process ends

- ``console``: each span printed as JSON to stdout when it ends (the SDK's ConsoleSpanExporter).
- ``jsonl:PATH``: each span appended to PATH as one JSON line (`JsonlSpanExporter`), read by
  ``guardrail report PATH``.
- ``otlp``: the standard OTLP/HTTP exporter (protobuf), configured by the standard variables
  (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
  ``OTEL_EXPORTER_OTLP_HEADERS``, ``..._TIMEOUT``, ``..._COMPRESSION``, ``..._CERTIFICATE``);
  default endpoint ``http://localhost:4318/v1/traces``. ``otlp:URL`` sets the traces endpoint
  explicitly. Needs ``opentelemetry-exporter-otlp-proto-http`` (``pip install
  task-guardrail[otlp]``), imported only when asked for.

console and jsonl export each span as it ends (SimpleSpanProcessor), so nothing is lost if the
program forgets ``shutdown``; otlp batches (BatchSpanProcessor) and needs ``shutdown`` to flush.
The resource carries ``service.name`` (``OTEL_SERVICE_NAME`` if set, else ``guardrail``) plus
``OTEL_RESOURCE_ATTRIBUTES`` and `resource_attributes` (which win).
The returned provider is *not* made global; pass it to `Guard(tracer_provider=...)`, or call
``opentelemetry.trace.set_tracer_provider`` yourself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

__all__ = ["TRACE_SPEC_HELP", "configure_tracing", "make_exporter"]

TRACE_SPEC_HELP = "console | jsonl:PATH | otlp[:URL] (OTLP/HTTP, configured by OTEL_EXPORTER_OTLP_*)"
DEFAULT_SERVICE_NAME = "guardrail"


def make_exporter(spec: str) -> tuple[SpanExporter, bool]:
    """The exporter a spec names, and whether it should be batched.

    Raises ``ValueError`` for a spec it does not understand and ``ImportError`` when the otlp
    exporter is not installed; the messages say what is wrong with the spec, and a caller such
    as the CLI adds where the spec came from."""
    kind, sep, arg = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind == "console" and not sep:
        return ConsoleSpanExporter(out=sys.stdout), False
    if kind == "jsonl":
        if not arg.strip():
            raise ValueError(f"trace spec {spec!r} names no file: use jsonl:PATH")
        from ._export import JsonlSpanExporter

        return JsonlSpanExporter(arg.strip()), False
    if kind == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the otlp trace exporter needs opentelemetry-exporter-otlp-proto-http: "
                "pip install 'task-guardrail[otlp]'"
            ) from exc
        endpoint = arg.strip() or None
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise ValueError(
                f"the otlp endpoint in trace spec {spec!r} must be an http(s) URL, got {endpoint!r}"
            )
        return OTLPSpanExporter(endpoint=endpoint), True
    raise ValueError(f"unknown trace spec {spec!r}: use {TRACE_SPEC_HELP}")


def configure_tracing(
    spec: str,
    *,
    service_name: str | None = None,
    resource_attributes: Mapping[str, Any] | None = None,
) -> TracerProvider:
    """A new SDK TracerProvider exporting to what `spec` names (see the module docstring)."""
    exporter, batched = make_exporter(spec)
    attrs: dict[str, Any] = {}
    env_attrs = os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    if service_name is not None:
        attrs["service.name"] = service_name
    elif not os.environ.get("OTEL_SERVICE_NAME") and "service.name=" not in env_attrs:
        attrs["service.name"] = DEFAULT_SERVICE_NAME
    attrs.update(resource_attributes or {})
    provider = TracerProvider(resource=Resource.create(attrs))
    processor = BatchSpanProcessor(exporter) if batched else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return provider
