"""Helpers for the authoring tests: real guards writing real traces (JSONL spans through
`JsonlSpanExporter`, OTLP JSON through the OTLP encoder, decision logs through `AuditLog`)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToJson
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from guardrail import AuditLog, DelegationDenied, Guard, JsonlSpanExporter, Manifest, MemoryStore

ROOT = Path(__file__).resolve().parents[2]


def wide(task: str, *tools: str, ttl: str = "1h") -> dict[str, Any]:
    """A manifest granting each tool with any arguments: what a shadow run learns under."""
    return {"manifest": 1, "task": task, "ttl": ttl,
            "tools": {tool: {"allow_other_args": True} for tool in tools}}


class Recorder:
    """Guards for several tasks, recording every decision with values: spans to `spans.jsonl`
    (and the same spans kept in memory for OTLP), decisions to `audit.jsonl` when asked."""

    def __init__(self, directory: Path, *, audit: bool = False) -> None:
        self.spans_path = directory / "spans.jsonl"
        self.audit_path = directory / "audit.jsonl"
        self.otlp_path = directory / "otlp.json"
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.exporter = JsonlSpanExporter(self.spans_path)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.audit = AuditLog(self.audit_path) if audit else None

    def guard(self, manifest: Mapping[str, Any] | Manifest, *, mode: str = "shadow",
              record_values: bool = True) -> Guard:
        return Guard(manifest, store=MemoryStore(), tracer_provider=self.provider, mode=mode,  # type: ignore[arg-type]
                     record_values=record_values, audit=self.audit)

    def close(self) -> None:
        self.provider.force_flush()
        self.exporter.shutdown()
        if self.audit is not None:
            self.audit.close()

    def write_otlp(self) -> Path:
        """The recorded spans as OTLP JSON: one ExportTraceServiceRequest per line."""
        spans = self.memory.get_finished_spans()
        lines = [MessageToJson(encode_spans([span]), indent=None) for span in spans]
        self.otlp_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return self.otlp_path


def call(guard: Guard, tool: str, args: Mapping[str, Any]) -> bool:
    """Run `tool(**args)` through the guard (the tool does nothing); True when it ran."""
    try:
        guard.invoke(tool, lambda **_: "ok", dict(args))
    except DelegationDenied:
        return False
    return True


def run_cli(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None,
            pythonpath: list[Path] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    environment = dict(os.environ if env is None else env)
    paths = [str(p) for p in (pythonpath or [])] + [str(ROOT), str(ROOT / "adapters")]
    inherited = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = os.pathsep.join(paths + ([inherited] if inherited else []))
    return subprocess.run([sys.executable, "-m", "guardrail", *args], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=120, env=environment)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
