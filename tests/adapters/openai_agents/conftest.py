from __future__ import annotations

from collections.abc import Iterator

import pytest

# Every test here needs the openai-agents extra; without it the folder is skipped, with the reason.
pytest.importorskip("agents", reason="needs the openai-agents extra: pip install '.[openai-agents]'")

from agents import set_tracing_disabled


@pytest.fixture(autouse=True)
def _no_sdk_tracing() -> Iterator[None]:
    """The Agents SDK must not export traces (no network, no OpenAI key)."""
    set_tracing_disabled(True)
    yield
