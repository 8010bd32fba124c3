"""`compile_manifest(manifest)`: the form the guard checks against and the narrowing analysis
reads, built once per manifest (`Manifest.compiled()` caches it). Every constraint becomes a rule
through the kind registry; every budget becomes the scopes a call of each tool is charged to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from .._policy import ArgsRule, CompiledManifest, CompiledTool
from .._policy._budgets import BudgetRule
from .._policy._conditions import compile_condition, uses_provenance
from ._grants import Budget, ToolGrant

__all__ = ["compile_manifest"]


class _Manifest(Protocol):
    @property
    def task(self) -> str: ...
    @property
    def principal(self) -> str | None: ...
    @property
    def digest(self) -> str: ...
    @property
    def expires_ts(self) -> float: ...
    @property
    def not_before_ts(self) -> float | None: ...
    @property
    def budget(self) -> Budget | None: ...
    @property
    def tools(self) -> Mapping[str, ToolGrant | None]: ...


def compile_manifest(manifest: _Manifest) -> CompiledManifest:
    task_budget = manifest.budget
    task_scopes: list[tuple[str, float]] = []
    task_window = task_budget.window_seconds if task_budget is not None else 0.0
    if task_budget is not None and not task_window:  # a windowed one is every tool's rule
        if task_budget.calls is not None:
            task_scopes.append(("calls", task_budget.calls))
        task_scopes += [(f"sum.{arg}", limit) for arg, limit in (task_budget.sum or {}).items()]
    tools: dict[str, CompiledTool] = {}
    for name, written in manifest.tools.items():
        grant = written or ToolGrant()
        rules = {arg: constraint.compile() for arg, constraint in grant.args.items()}
        calls: list[tuple[str, float]] = []
        sums: list[tuple[str, str, float]] = []
        special: list[BudgetRule] = []
        if task_budget is not None:
            task_sums = [(arg, f"sum.{arg}", limit) for arg, limit in (task_budget.sum or {}).items()
                         if arg in rules or grant.allow_other_args]
            _add(calls, sums, special, task_budget.calls, "calls", task_sums, None, task_window)
        if grant.budget is not None:
            b = grant.budget
            tool_sums = [(arg, f"tools.{name}.sum.{arg}", limit) for arg, limit in (b.sum or {}).items()]
            _add(calls, sums, special, b.calls, f"tools.{name}.calls", tool_sums, b.per,
                 b.window_seconds)
            special += [
                BudgetRule(f"tools.{name}.distinct.{arg}", "distinct", arg, limit, b.per,
                           b.window_seconds)
                for arg, limit in (b.distinct or {}).items()
            ]
        condition = compile_condition(grant.when) if grant.when is not None else None
        provenance = any(next(c.contextual(), None) is not None for c in grant.args.values())
        asks = tuple(
            None if rule == "true" and grant.ask is True else compile_condition(rule)
            for rule in grant.ask_rules
        )
        reads_results = any(uses_provenance(rule) for rule in [grant.when or "", *grant.ask_rules])
        tools[name] = CompiledTool(
            name, ArgsRule(rules, grant.allow_other_args), tuple(calls), tuple(sums), condition,
            tuple(special), grant.refund_on_error,
            provenance=provenance,
            contextual=reads_results,
            trusted_results=grant.results == "trusted",
            asks=asks,
        )
    return CompiledManifest(
        task=manifest.task,
        principal=manifest.principal,
        digest=manifest.digest,
        expires_ts=manifest.expires_ts,
        not_before_ts=manifest.not_before_ts,
        tools=tools,
        task_scopes=tuple(task_scopes),
        manifest=manifest,
    )


def _add(
    calls: list[tuple[str, float]], sums: list[tuple[str, str, float]], special: list[BudgetRule],
    call_limit: float | None, call_scope: str, sum_scopes: list[tuple[str, str, float]],
    per: str | None, window: float,
) -> None:
    """A budget's calls and sums: plain scopes when counted over the task, else rules."""
    if per is None and not window:
        if call_limit is not None:
            calls.append((call_scope, call_limit))
        sums += sum_scopes
        return
    if call_limit is not None:
        special.append(BudgetRule(call_scope, "calls", None, call_limit, per, window))
    special += [BudgetRule(scope, "sum", arg, limit, per, window) for arg, scope, limit in sum_scopes]
