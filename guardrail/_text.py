"""Small formatting helpers shared by messages, reports and the CLI (layer 0: imports nothing of ours)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["__version__", "iso", "num", "short"]

__version__ = "0.1.0"


def short(text: str, limit: int = 120) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def num(value: float) -> str:
    """A number as a person writes it: `5`, not `5.0`; `0.5`; `1e+16`."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def iso(ts: float) -> str:
    """POSIX seconds as an ISO 8601 UTC time ending in `Z`."""
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
