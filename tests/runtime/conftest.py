"""Fixtures for the delegation, narrower, signing and template tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from guardrail import MemoryStore, testing
from guardrail.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def task_id() -> Callable[[str], str]:
    """Unique task ids, so tests never share budgets in a store."""

    return testing.task_id
