from __future__ import annotations

from pathlib import Path

import pytest

# Every test here needs the mcp extra; without it the folder is skipped, with the reason.
pytest.importorskip("mcp", reason="needs the mcp extra: pip install '.[mcp]'")


@pytest.fixture
def record(tmp_path: Path) -> Path:
    """Where the example upstream records what it receives (GUARDRAIL_UPSTREAM_RECORD)."""
    return tmp_path / "upstream-record.jsonl"
