"""A manifest compiled for checking: plain predicates and precomputed budget scopes, so that a
check is a dict lookup plus a few comparisons. Built by `guardrail._manifest._compile`."""

from __future__ import annotations

from typing import Any

from ._budgets import BudgetRule
from ._conditions import Condition
from ._rules import ArgsRule

__all__ = ["BudgetRule", "CompiledManifest", "CompiledTool", "budget_scopes", "scope_location"]


class CompiledTool:
    __slots__ = ("args", "asks", "budget_args", "budgeted", "call_scopes", "condition",
                 "contextual", "direct", "features", "name", "provenance", "refund_on_error",
                 "rules", "sum_scopes", "trusted_results")

    def __init__(
        self,
        name: str,
        args: ArgsRule,
        call_scopes: tuple[tuple[str, float], ...],
        sum_scopes: tuple[tuple[str, str, float], ...],
        condition: Condition | None = None,
        rules: tuple[BudgetRule, ...] = (),
        refund_on_error: bool = False,
        *,
        provenance: bool = False,
        contextual: bool = False,
        trusted_results: bool = False,
        asks: tuple[Condition | None, ...] = (),
    ) -> None:
        self.name = name
        self.args = args
        self.call_scopes = call_scopes  # (scope, limit)
        self.sum_scopes = sum_scopes  # (argument, scope, limit)
        self.condition = condition  # the grant's `when`, compiled
        self.rules = rules  # limits with `per`, `distinct` or `window`
        self.refund_on_error = refund_on_error  # a call whose tool raises gives its charges back
        self.budgeted = bool(call_scopes or sum_scopes or rules)
        # The arguments a budget reads (their defaults are checked and charged like values).
        self.budget_args = frozenset(
            [arg for arg, _, _ in sum_scopes]
            + [a for r in rules for a in (r.arg, r.per) if a is not None]
        )
        # What a store must support for this tool's charges (see `_stores._protocol`).
        self.features = frozenset(
            ["window"] * any(r.window for r in rules)
            + ["distinct"] * any(r.kind == "distinct" for r in rules)
        )
        # Provenance: `provenance` when an argument's constraints use a contextual kind
        # (`provenance`, `from_results`); `contextual` when they, the condition or an ask rule
        # read the task's recorded results; `trusted_results` when the grant says
        # `results: trusted`.
        self.provenance = provenance
        self.contextual = contextual or provenance
        self.trusted_results = trusted_results
        # The grant's `ask` rules in order: a compiled expression, or None for `ask: true`.
        self.asks = asks
        # Decided by the argument test alone (the decider's fast path): no budget, no condition,
        # no approval, nothing that reads the task's results.
        self.direct = (not self.budgeted and condition is None and not self.contextual
                       and not asks)


class CompiledManifest:
    __slots__ = (
        "digest", "expires_ts", "manifest", "not_before_ts", "principal", "task", "task_scopes", "tools",
    )

    def __init__(
        self,
        *,
        task: str,
        principal: str | None,
        digest: str,
        expires_ts: float,
        not_before_ts: float | None,
        tools: dict[str, CompiledTool],
        task_scopes: tuple[tuple[str, float], ...] = (),
        manifest: Any = None,
    ) -> None:
        self.task = task
        self.principal = principal
        self.digest = digest
        self.expires_ts = expires_ts
        self.not_before_ts = not_before_ts
        self.tools = tools
        self.task_scopes = task_scopes  # the task-wide budget's (scope, limit), as written
        # The `Manifest` this was compiled from (typed loosely: the models live a layer above),
        # for analyses such as delegation's narrower check.
        self.manifest = manifest

    def budgets(self) -> dict[str, float]:
        """Every budget scope of the manifest and its limit."""
        out: dict[str, float] = {}
        for tool in self.tools.values():
            for scope, limit in tool.call_scopes:
                out[scope] = limit
            for _, scope, limit in tool.sum_scopes:
                out[scope] = limit
        out.update(self.task_scopes)
        return out

    def rules(self) -> dict[str, BudgetRule]:
        """Every budget with `per`, `distinct` or `window`, by its scope."""
        return {rule.scope: rule for tool in self.tools.values() for rule in tool.rules}

    @property
    def features(self) -> frozenset[str]:
        """What a store must support for this manifest's budgets: `window`, `distinct`."""
        return frozenset().union(*(tool.features for tool in self.tools.values()))


def budget_scopes(compiled: CompiledManifest) -> dict[str, tuple[str, float, frozenset[str]]]:
    """Every budget scope: (kind, limit, the tools whose calls it counts). The kind is `calls` or
    `sum:<argument>`."""
    kinds: dict[str, tuple[str, float]] = {}
    tools: dict[str, set[str]] = {}
    for name, tool in compiled.tools.items():
        for scope, limit in tool.call_scopes:
            kinds[scope] = ("calls", limit)
            tools.setdefault(scope, set()).add(name)
        for arg, scope, limit in tool.sum_scopes:
            kinds[scope] = (f"sum:{arg}", limit)
            tools.setdefault(scope, set()).add(name)
    return {s: (kind, limit, frozenset(tools[s])) for s, (kind, limit) in kinds.items()}


def scope_location(scope: str, kind: str, tools: frozenset[str]) -> str:
    """Where a budget scope is written in the manifest, e.g. `tools.send_refund.budget.calls`."""
    if scope.startswith("tools.") and len(tools) == 1:
        (tool,) = tools
        tail = "calls" if kind == "calls" else f"sum.{kind.split(':', 1)[1]}"
        return f"tools.{tool}.budget.{tail}"
    return f"budget.{scope}"
