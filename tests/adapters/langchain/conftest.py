"""Fixtures for the LangChain adapter tests: guards with fresh budgets, spans kept in memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

# Every test here needs the langchain extra; without it the folder is skipped, with the reason.
pytest.importorskip("langchain", reason="needs the langchain extra: pip install '.[langchain]'")
pytest.importorskip("langgraph", reason="needs the langchain extra: pip install '.[langchain]'")

from guardrail import Guard, MemoryStore
from guardrail.testing import task_id
from tests.adapters.langchain.support import MakeGuard, Spans


@pytest.fixture
def spans() -> Iterator[Spans]:
    recorder = Spans()
    yield recorder
    recorder.shutdown()


@pytest.fixture
def make_guard(spans: Spans) -> MakeGuard:
    """A guard over `tools` (the manifest's `tools:`), with a task id and a store of its own."""

    def build(tools: dict[str, Any], *, budget: dict[str, Any] | None = None, **kwargs: Any) -> Guard:
        manifest: dict[str, Any] = {
            "manifest": 1,
            "task": task_id("test"),
            "principal": "agent:test",
            "ttl": "5m",
            "tools": tools,
        }
        if budget is not None:
            manifest["budget"] = budget
        kwargs.setdefault("store", MemoryStore())
        kwargs.setdefault("tracer_provider", spans.provider)
        return Guard(manifest, **kwargs)

    return build
