"""Helpers for the LangChain adapter tests (imported by the test modules and conftest)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from langchain_core.messages import ToolMessage
from opentelemetry.sdk.trace import ReadableSpan

from guardrail import Guard
from guardrail.testing import CapturedSpans

MakeGuard = Callable[..., Guard]

DENIAL_KEYS = {"denied", "code", "tool", "argument", "constraint", "message"}


class Spans(CapturedSpans):
    """An SDK tracer provider whose finished spans stay in memory."""

    def tool_spans(self) -> list[ReadableSpan]:
        return self.spans("execute_tool ")


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
