"""Helpers for the LangChain adapter tests (imported by the test modules and conftest)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from langchain_core.messages import ToolMessage
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from guardrail import Guard

MakeGuard = Callable[..., Guard]

DENIAL_KEYS = {"denied", "code", "tool", "argument", "constraint", "message"}


class Spans:
    """An SDK tracer provider whose finished spans stay in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def tool_spans(self) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name.startswith("execute_tool ")]


def tool_call(name: str, args: dict[str, Any], call_id: str = "call-1") -> dict[str, Any]:
    """A model's tool call, as LangChain hands it to `tool.invoke`."""
    return {"type": "tool_call", "name": name, "args": args, "id": call_id}


def denial_of(message: Any) -> dict[str, Any]:
    """The denial object a model reads in an error `ToolMessage` (checking its shape)."""
    assert isinstance(message, ToolMessage), message
    assert message.status == "error", message
    payload: dict[str, Any] = json.loads(str(message.content))
    assert set(payload) == DENIAL_KEYS
    assert payload["denied"] is True
    return payload
