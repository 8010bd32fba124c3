from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def record(tmp_path: Path) -> Path:
    """Where the example upstream records what it receives (GUARDRAIL_UPSTREAM_RECORD)."""
    return tmp_path / "upstream-record.jsonl"
