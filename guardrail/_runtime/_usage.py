"""Budget use as reports show it (`Guard.usage`, `guardrail usage --manifest`): every budget of a
manifest with what it has used, a per-value budget once per value charged (named by the value's
digest, never the value), a windowed one within its window as of `now`, a distinct one as the
number of values."""

from __future__ import annotations

from typing import Any

from .._policy._budgets import BudgetRule
from .._policy._compiled import CompiledManifest
from .._stores import BudgetStore, Charge

__all__ = ["budget_usage"]


def budget_usage(store: BudgetStore, compiled: CompiledManifest, now: float) -> dict[str, dict[str, float]]:
    """{scope: {"used", "limit", "remaining"[, "window"]}} for every budget of `compiled`. May
    raise `StoreUnavailable`."""
    task = compiled.task
    plain = compiled.budgets()
    rules = compiled.rules()
    keys: list[tuple[str, BudgetRule | None, float]] = [(s, None, limit) for s, limit in plain.items()]
    if any(rule.per is not None for rule in rules.values()):
        charged = store.usage(task)  # the values charged so far: their scopes hold digests
        for scope in sorted(charged):
            base = scope.partition("[")[0]
            rule = rules.get(base)
            if rule is not None and rule.per is not None and scope != base:
                keys.append((scope, rule, rule.limit))
    keys += [(scope, rule, rule.limit) for scope, rule in rules.items() if rule.per is None]
    charges = [
        Charge(task, scope, 0, limit, rule.window, now, "?" if rule.kind == "distinct" else "")
        if rule is not None else Charge(task, scope, 0, limit)
        for scope, rule, limit in keys
    ]
    measure: Any = getattr(store, "measure", None)
    if callable(measure):
        used = [float(u) for u in measure(charges)]
    else:  # a store without the newer budgets: plain counters only
        used = store.used([(c.task, c.scope) for c in charges])
    out: dict[str, dict[str, float]] = {}
    for (scope, rule, limit), u in zip(keys, used, strict=True):
        entry = {"used": u, "limit": limit, "remaining": max(limit - u, 0.0)}
        if rule is not None and rule.window:
            entry["window"] = rule.window
        out[scope] = entry
    return out
