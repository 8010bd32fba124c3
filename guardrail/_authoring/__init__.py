"""Writing manifests without writing YAML by hand: a skeleton from a tool registry (`guardrail
init`) and the least-privilege manifest learned from a trace (`guardrail suggest`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._manifest._models import Manifest
from ._errors import AuthoringError
from ._init import Skeleton, skeleton
from ._specs import (
    SOURCE_GROUP,
    ToolSpec,
    load_source,
    read_openai_file,
    resolve_target,
    specs_from_openai,
    specs_from_python,
    specs_from_source,
)
from ._suggest import OffendingCall, Suggestion, WithinReport, suggest

__all__ = [
    "SOURCE_GROUP",
    "AuthoringError",
    "OffendingCall",
    "Skeleton",
    "Suggestion",
    "ToolSpec",
    "WithinReport",
    "load_source",
    "read_openai_file",
    "resolve_target",
    "skeleton",
    "skeleton_manifest",
    "specs_from_openai",
    "specs_from_python",
    "specs_from_source",
    "suggest",
    "suggest_manifest",
]


def skeleton_manifest(
    tools: Callable[..., Any] | Sequence[Any] | Mapping[str, Any],
    *,
    task: str = "my-task",
    ttl: str = "15m",
) -> Skeleton:
    """A skeleton manifest granting every tool, each argument typed from its schema.

    `tools`: a function, a list or dict of functions (types from annotations and defaults), or
    OpenAI-style function tool JSON (a list of `{"type": "function", "function": {...}}`)."""
    items = list(tools.values()) if isinstance(tools, Mapping) else tools
    looks_like_json = isinstance(items, Sequence) and items and all(
        isinstance(item, Mapping) for item in items
    )
    if isinstance(tools, Mapping) and "tools" in tools and not callable(tools["tools"]):
        looks_like_json = True
    specs = specs_from_openai(tools) if looks_like_json else specs_from_python(tools, "tools")
    return skeleton(specs, task=task, ttl=ttl)


def suggest_manifest(
    traces: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    margin: float = 0.0,
    task: str | None = None,
    within: Manifest | str | Path | None = None,
) -> Suggestion:
    """The least-privilege manifest that would have allowed exactly the allowed calls in the
    trace files (JSONL spans or OTLP JSON written with `record_values=True`, or decision logs with
    values). `margin` widens numeric ranges (0.1 = 10%); `within` compares the suggestion with a
    ceiling manifest (`suggestion.within`). Raises `AuthoringError` for a trace it cannot learn
    from (no values, no allowed calls, empty)."""
    paths = [traces] if isinstance(traces, str | os.PathLike) else list(traces)
    return suggest(paths, margin=margin, task=task, within=within)
