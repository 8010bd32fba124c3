"""Fixtures for the delegation, narrower, signing and template tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from guardrail import MemoryStore
from tests.support.delegation import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def task_id() -> Callable[[str], str]:
    """Unique task ids, so tests never share budgets in a store."""

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make
