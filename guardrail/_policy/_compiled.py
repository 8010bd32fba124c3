"""A manifest compiled for checking: plain predicates and precomputed budget scopes, so that a
check is a dict lookup plus a few comparisons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._constraints import ArgsRule

if TYPE_CHECKING:
    from .._manifest._models import Manifest


class CompiledTool:
    __slots__ = ("args", "budgeted", "call_scopes", "name", "sum_scopes")

    def __init__(
        self,
        name: str,
        args: ArgsRule,
        call_scopes: tuple[tuple[str, float], ...],
        sum_scopes: tuple[tuple[str, str, float], ...],
    ) -> None:
        self.name = name
        self.args = args
        self.call_scopes = call_scopes  # (scope, limit)
        self.sum_scopes = sum_scopes  # (argument, scope, limit)
        self.budgeted = bool(call_scopes or sum_scopes)


class CompiledManifest:
    __slots__ = ("digest", "expires_ts", "manifest", "not_before_ts", "principal", "task", "tools")

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.task = manifest.task
        self.principal = manifest.principal
        self.digest = manifest.digest
        self.expires_ts = manifest.expires_ts
        self.not_before_ts = manifest.not_before_ts
        task_budget = manifest.budget
        tools: dict[str, CompiledTool] = {}
        for name in manifest.tools:
            grant = manifest.grant(name)
            assert grant is not None
            rules = {arg: constraint.compile() for arg, constraint in grant.args.items()}
            calls: list[tuple[str, float]] = []
            sums: list[tuple[str, str, float]] = []
            if task_budget is not None:
                if task_budget.calls is not None:
                    calls.append(("calls", task_budget.calls))
                for arg, limit in (task_budget.sum or {}).items():
                    if arg in rules or grant.allow_other_args:
                        sums.append((arg, f"sum.{arg}", limit))
            if grant.budget is not None:
                if grant.budget.calls is not None:
                    calls.append((f"tools.{name}.calls", grant.budget.calls))
                for arg, limit in (grant.budget.sum or {}).items():
                    sums.append((arg, f"tools.{name}.sum.{arg}", limit))
            tools[name] = CompiledTool(
                name, ArgsRule(rules, grant.allow_other_args), tuple(calls), tuple(sums)
            )
        self.tools = tools

    def budgets(self) -> dict[str, float]:
        """Every budget scope of the manifest and its limit."""
        out: dict[str, float] = {}
        for tool in self.tools.values():
            for scope, limit in tool.call_scopes:
                out[scope] = limit
            for _, scope, limit in tool.sum_scopes:
                out[scope] = limit
        b = self.manifest.budget
        if b is not None:
            if b.calls is not None:
                out["calls"] = b.calls
            for arg, limit in (b.sum or {}).items():
                out[f"sum.{arg}"] = limit
        return out


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
