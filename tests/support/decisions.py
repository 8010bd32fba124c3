"""Helpers for the core tests: manifests, guards on their own stores, and a decision helper that
checks the fast path against the full path on every call it makes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardrail import (
    Constraint,
    Decision,
    Guard,
    MemoryStore,
)
from guardrail._policy import Rule
from guardrail.testing import task_id


def manifest(tools: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """A manifest mapping with a unique task and a 5-minute ttl unless told otherwise."""
    data: dict[str, Any] = {"manifest": 1, "task": task_id(), "ttl": "5m", "tools": dict(tools)}
    if "expires_at" in extra:
        data.pop("ttl")
    data.update(extra)
    return data


def guard_for(args: Mapping[str, Any], tool: str = "f", **grant: Any) -> Guard:
    """A guard whose one tool `tool` has these argument constraints, on a store of its own."""
    return Guard(manifest({tool: {"args": dict(args), **grant}}), store=MemoryStore())


def decide(guard: Guard, tool: str, args: Any) -> Decision:
    """`guard.check`, after asserting that the fast path and the full path agree on it."""
    fast = guard._decider.decide(tool, args, None, False)
    full = guard._decider.decide_fully(tool, args, None, False)
    assert fast.allowed == full.allowed, (tool, args, fast, full)
    if not full.allowed:
        assert fast.denial is not None and full.denial is not None
        assert fast.denial.code == full.denial.code
    return guard.check(tool, args)


def rule(spec: Any) -> Rule:
    return Constraint.model_validate(spec).compile()


def rule_agrees(r: Rule, value: Any) -> bool:
    """`r.test(value)`, after asserting that it agrees with `r.violation(value) is None`."""
    verdict = bool(r.test(value))
    assert verdict == (r.violation(value) is None), (value, verdict, r.violation(value))
    return verdict
