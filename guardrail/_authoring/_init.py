"""`guardrail init`: a skeleton manifest from tool specs. Every tool and argument is named, with
the types, enums and bounds of its schema and `required` marked; a task, a ttl, and commented
budget lines to fill in. The skeleton loads as a manifest as it is; narrowing it is the author's
job (or `guardrail suggest`'s, from a trace)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._manifest._models import Manifest, parse_duration
from .._manifest._writer import Comments, manifest_yaml
from ._errors import AuthoringError
from ._schema import args_from_schema
from ._specs import ToolSpec

__all__ = ["Skeleton", "skeleton"]

DEFAULT_TASK = "my-task"
DEFAULT_TTL = "15m"


@dataclass(frozen=True)
class Skeleton:
    """The skeleton as data (`manifest`) and as commented YAML (`yaml`)."""

    manifest: Manifest
    yaml: str


def skeleton(specs: Sequence[ToolSpec], *, task: str = DEFAULT_TASK, ttl: str = DEFAULT_TTL,
             source: str = "") -> Skeleton:
    """A manifest granting every tool in `specs`, each argument typed from its schema."""
    if not specs:
        raise AuthoringError(f"{source or 'the registry'} holds no tools")
    try:
        parse_duration(ttl)
    except ValueError as exc:
        raise AuthoringError(f"--ttl: {exc}") from None
    notes = Comments()
    notes.header = [
        f"Skeleton delegation manifest{f' from {source}' if source else ''}, written by guardrail init.",
        "Narrow each argument to what this task needs, fill in the budgets, delete the tools it",
        "does not need, then check it: guardrail validate FILE",
    ]
    tools: dict[str, Any] = {}
    for spec in specs:
        path = ("tools", spec.name)
        args: dict[str, Any] = {}
        for name, converted in args_from_schema(spec.parameters).items():
            args[name] = converted.constraint
            text = "; ".join(converted.notes)
            if not set(converted.constraint) - {"required"}:
                text = f"{text}; any value: constrain it" if text else "any value: constrain it"
            if text:
                notes.trailing[(*path, "args", name)] = _short(text)
        for name, note in spec.notes.items():
            notes.end.setdefault((*path, "args"), []).append(f"{name}: {note}")
        tools[spec.name] = {"args": args}
        if spec.description:
            notes.trailing[path] = _short(spec.description)
        notes.end.setdefault(path, []).append(
            f"budget: {{calls: 10}}  # fill in: calls of {spec.name} over the task"
        )
    data: dict[str, Any] = {"manifest": 1, "task": task, "ttl": ttl, "tools": tools}
    notes.trailing[("task",)] = "the unit of delegation: budgets and revocation key on it"
    notes.trailing[("ttl",)] = "every delegation ends"
    notes.before[("tools",)] = ["budget: {calls: 20}  # fill in: calls over the whole task, all tools"]
    try:
        manifest = Manifest.model_validate(data)
    except ValueError as exc:  # a bug here, not the user's input: say so
        raise AuthoringError(f"the skeleton does not load as a manifest: {exc}") from None
    return Skeleton(manifest, manifest_yaml(data, notes))


def _short(text: str, limit: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
