"""`narrower(child, parent)`: does every call the child manifest allows get allowed by the parent?

A static check, constraint by constraint. For each tool, argument and parent constraint the answer
is one of:

- `ok`: proven. The child's constraints imply the parent's (a subset of `equals`/`one_of` values,
  a numeric range or length range inside the parent's, prefixes that extend the parent's, roots
  inside the parent's roots, URL schemes/hosts/path prefix inside the parent's, type sets, an
  identical `pattern`, ...). A child whose values form a small finite set (`equals`, `one_of`,
  booleans, a short integer range) is checked exactly, value by value.
- `wider`: disproven, with a counterexample: a value (and a whole call) that the child's compiled
  rules accept and the parent's reject. Counterexamples are searched for among values derived from
  both manifests (bounds, prefixes, roots, hosts, sample strings of regular expressions) and
  always checked against the real compiled predicates, never assumed.
- `unprovable`: neither. Two different regular expressions, for instance, are never proven to be
  inside one another; the check says so rather than guess.

Conditions (`when`): a parent's condition is proven only when the child's repeats each of its
`&&` clauses; otherwise `unprovable` (it still binds at run time, as every link does).

Approvals (`ask`): a parent's ask rules apply to its children at run time (any link asking
asks), so a child that drops one does not widen anything: the call still asks. It is reported as
a `note` (the child's manifest does not show it), never as `wider`.

Budgets: every parent budget must be matched by the child's own budgets (the most calls, or the
largest sum, the child allows over the tools the parent's budget counts). Expiry: the child must
end no later than the parent, and start no earlier. The verdict is `narrower` (exit 0), `not
narrower` (exit 1, when anything is wider) or `unprovable` (exit 4).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import _provenance
from .._manifest._models import Manifest, parse_duration
from .._policy import bounds, is_finite_number
from .._policy._budgets import BudgetRule, value_digest
from .._policy._compiled import CompiledManifest, CompiledTool, budget_scopes, scope_location
from .._policy._conditions import call_data
from .._text import num
from ._algebra import SUM_IMPLIED, ArgsSpec, Side
from ._args import compare_args
from ._candidates import both, candidates, first
from ._conditions import implies
from ._report import NO_VALUE, Finding, NarrowerReport, Status

__all__ = ["narrower"]


def narrower(
    child: Manifest | Mapping[str, Any] | str | Path,
    parent: Manifest | Mapping[str, Any] | str | Path,
    *,
    budgets: bool = True,
    expiry: bool = True,
) -> NarrowerReport:
    """Whether every call `child` allows is allowed by `parent`, constraint by constraint."""
    # Provenance constraints depend on a task's results, which static analysis does not have:
    # under `static()` they accept every value (the child's side over-approximated), and a
    # parent's is proven only by its kind's hook (`_algebra.proves`).
    with _provenance.static():
        return _Check(Manifest.load(child), Manifest.load(parent)).run(
            budgets=budgets, expiry=expiry
        )


class _Check:
    def __init__(self, child: Manifest, parent: Manifest) -> None:
        self.child = child
        self.parent = parent
        self.cc: CompiledManifest = child.compiled()
        self.pc: CompiledManifest = parent.compiled()
        self.report = NarrowerReport(child.task, parent.task)

    def add(self, status: Status, where: str, check: str, detail: str,
            counterexample: Any = NO_VALUE) -> None:
        self.report.findings.append(Finding(status, where, check, detail, counterexample))

    def run(self, *, budgets: bool, expiry: bool) -> NarrowerReport:
        self.tools()
        if budgets:
            self.budgets()
        if expiry:
            self.window()
        return self.report

    # -- tools and arguments ---------------------------------------------------------------

    def _spec(self, manifest: Manifest, tool: CompiledTool) -> ArgsSpec:
        grant = manifest.grant(tool.name)
        assert grant is not None
        implicit = {arg: [SUM_IMPLIED] for arg, _, _ in tool.sum_scopes}
        return ArgsSpec(grant.args, grant.allow_other_args, implicit)

    def tools(self) -> None:
        extra = [t for t in self.child.tools if t not in self.parent.tools]
        for tool in extra:
            call = self.example_call(tool)
            self.add(
                "wider", f"tools.{tool}", "tools",
                f"the parent does not grant tool {tool!r} (it grants: "
                f"{', '.join(sorted(self.parent.tools)) or 'none'})",
                {"tool": tool, "args": call} if call is not None else NO_VALUE,
            )
        if not extra:
            self.add("ok", "tools", "tools",
                     f"every tool the child grants is granted by the parent "
                     f"({', '.join(sorted(self.child.tools)) or 'none'})")
        for tool in self.child.tools:
            if tool in self.parent.tools:
                self.tool(tool)

    def tool(self, tool: str) -> None:
        ct, pt = self.cc.tools[tool], self.pc.tools[tool]
        child, parent = self._spec(self.child, ct), self._spec(self.parent, pt)
        base = f"tools.{tool}.args"
        for item in compare_args(child, parent):
            where = f"{base}.{item.arg}" if item.arg is not None else f"tools.{tool}"
            if item.status != "wider":
                self.add(item.status, where, item.check, item.detail)
                continue
            overrides: dict[str, Any] = {}
            if item.value is not NO_VALUE and item.arg is not None:
                overrides[item.arg] = item.value
            absent = {item.arg} if item.absent and item.arg is not None else set()
            if item.other:
                overrides[_unused_name(set(child.args) | set(parent.args))] = "x"
            call = self.counterexample_call(tool, overrides, absent)
            if call is None:
                self.add("unprovable", where, item.check,
                         item.detail + " (but no complete call the child allows could be built "
                         "to confirm it)")
            else:
                self.add("wider", where, item.check, item.detail, {"tool": tool, "args": call})
        self.condition(tool)
        self.asks(tool)

    def asks(self, tool: str) -> None:
        """Each of the parent's ask rules: repeated by the child (or the child asks every call),
        else a note that it still applies."""
        child = self.child.grant(tool)
        parent = self.parent.grant(tool)
        assert child is not None and parent is not None
        mine = child.ask_rules
        for rule in parent.ask_rules:
            check = f"ask: {rule}"
            where = f"tools.{tool}.ask"
            if rule in mine or "true" in mine:
                how = "repeats the rule" if rule in mine else "asks on every call"
                self.add("ok", where, check, f"the child asks too (it {how})")
            else:
                self.add("note", where, check,
                         "the child drops the parent's ask rule; the call still asks when it is "
                         "true, since a parent's ask rules apply to its children at run time")

    def condition(self, tool: str) -> None:
        """The parent's `when` must follow from the child's (proven only syntactically)."""
        child, parent = self.cc.tools[tool].condition, self.pc.tools[tool].condition
        where = f"tools.{tool}.when"
        if parent is None:
            if child is not None:
                self.add("ok", where, "when", "the parent sets no condition; the child's only "
                                               "narrows")
            return
        check = f"when: {parent.source}"
        binds = ("the parent's condition still binds every call at run time (the guard checks "
                 "each link of the chain), but the child's manifest does not show it")
        if child is None:
            self.add("unprovable", where, check, f"the child drops the condition: {binds}")
        elif implies(child.source, parent.source):
            self.add("ok", where, check, "the child's condition includes every clause of the "
                                         "parent's")
        else:
            self.add("unprovable", where, check,
                     f"the child's condition {child.source!r} is not proven to imply the "
                     f"parent's (only a condition that repeats each of the parent's `&&` clauses "
                     f"is); {binds}")

    def _fill(self, tool: str, overrides: Mapping[str, Any], absent: set[str],
              prefer_parent: bool) -> dict[str, Any] | None:
        ct = self.cc.tools[tool]
        child = self._spec(self.child, ct)
        parent = self._spec(self.parent, self.pc.tools[tool]) if tool in self.pc.tools else None
        call = dict(overrides)
        for name in ct.args.required:
            if name in call or name in absent:
                continue
            side = Side(child.constraints(name), nullable=False)
            pool = candidates(side.constraints + (parent.constraints(name) if parent else []))
            value: Any = NO_VALUE
            if prefer_parent and parent is not None and parent.grants(name):
                value = first(both(side, Side(parent.constraints(name), nullable=False)), pool)
            if value is NO_VALUE:
                value = first(side.accepts, pool)
            if value is NO_VALUE:
                return None
            call[name] = value
        return call

    def example_call(self, tool: str) -> dict[str, Any] | None:
        """Some call the child allows (arguments only), or None when none was found."""
        call = self._fill(tool, {}, set(), prefer_parent=False)
        if call is None or not _tool_allows(self.cc.tools[tool], call, self.cc):
            return None
        return call

    def counterexample_call(self, tool: str, overrides: Mapping[str, Any],
                            absent: set[str]) -> dict[str, Any] | None:
        call = self._fill(tool, overrides, absent, prefer_parent=True)
        if call is None:
            return None
        if _tool_allows(self.cc.tools[tool], call, self.cc) and not _tool_allows(
            self.pc.tools[tool], call, self.pc
        ):
            return call
        return None

    # -- budgets ---------------------------------------------------------------------------

    def budgets(self) -> None:
        p_scopes = budget_scopes(self.pc)
        self.budget_rules()
        if not p_scopes:
            if not self.pc.rules():
                self.add("ok", "budget", "", "the parent sets no budget")
            return
        c_scopes = budget_scopes(self.cc)
        for scope, (kind, limit, p_tools) in sorted(p_scopes.items()):
            where = scope_location(scope, kind, p_tools)
            check = f"{scope} <= {num(limit)}"
            if kind == "calls":
                tools = [t for t in self.cc.tools if t in p_tools]
                upper, lower = self._calls_bounds(tools, c_scopes)
                unit = "calls"
                how = f"its own budgets: {self._budget_text(c_scopes, tools, kind)}"
            else:
                arg = kind.split(":", 1)[1]
                tools = [t for t in self.cc.tools if t in p_tools and self._passes(t, arg)]
                upper, lower, how = self._sum_bounds(tools, arg, c_scopes)
                unit = f"as the sum of {arg!r}"
            if not tools:
                self.add("ok", where, check, "the child makes no call this budget counts")
            elif upper <= limit:
                self.add("ok", where, check,
                         f"the child allows at most {_amount(upper, unit)} here")
            elif lower > limit and self._ruled(tools):
                # The lower bound reads plain budgets only; a rule may hold the child lower.
                self.add("unprovable", where, check,
                         f"the child's plain budgets allow {_amount(lower, unit)}, more than the "
                         f"parent's {num(limit)}, and its per-value, distinct or windowed "
                         "budgets are not proven to hold it within")
            elif lower > limit:
                self.add("wider", where, check,
                         f"the child allows {_amount(lower, unit)} ({how}), more than the "
                         f"parent's {num(limit)}")
            else:
                self.add("unprovable", where, check,
                         f"the child's budgets allow up to {_amount(upper, unit)}, more than the "
                         f"parent's {num(limit)}, but no calls reaching that could be built")

    def _ruled(self, tools: Sequence[str]) -> bool:
        return any(self.cc.tools[t].rules for t in tools if t in self.cc.tools)

    # -- budgets with per, distinct or window --------------------------------------------------

    def budget_rules(self) -> None:
        """Each parent budget with `per`, `distinct` or `window` is proven only by a child budget
        at least as strict that counts the same calls: the same kind and argument, counted per
        the same argument (or not per value at all), over a window at least as long (or the
        whole task), with a limit no larger. Anything else is unprovable, never wider (it binds
        at run time all the same: every call is charged to every link)."""
        for tool, ptool in sorted(self.pc.tools.items()):
            for rule in ptool.rules:
                task_wide = not rule.scope.startswith("tools.")
                if task_wide and tool != min(self.pc.tools):
                    continue  # a task budget's rule is in every tool's: check it once
                tools = list(self.pc.tools) if task_wide else [tool]
                where = "budget" if task_wide else f"tools.{tool}.budget"
                self._rule(rule, [t for t in tools if t in self.cc.tools], task_wide, where)

    def _rule(self, rule: BudgetRule, tools: list[str], task_wide: bool, where: str) -> None:
        check = rule.describe()
        if not tools:
            self.add("ok", where, check, "the child makes no call this budget counts")
            return
        proofs = [self._proof(rule, t) for t in tools]
        if task_wide and len(tools) > 1:
            proof = self._task_proof(rule)
            proofs = [proof] if proof else [None]
        if all(proofs):
            self.add("ok", where, check, "; ".join(sorted(set(p for p in proofs if p))))
        else:
            self.add("unprovable", where, check,
                     "no budget of the child is proven at least as strict (the same kind and "
                     "argument, per the same argument or none, a window at least as long, a "
                     "limit no larger)")

    def _task_proof(self, rule: BudgetRule) -> str | None:
        """A child task budget at least as strict as a parent task budget's rule."""
        wanted = "calls" if rule.kind == "calls" else f"sum.{rule.arg}"
        for scope, limit in self.cc.task_scopes:
            if rule.kind != "distinct" and scope == wanted and limit <= rule.limit:
                return f"its task budget allows at most {num(limit)} in all ({scope})"
        for crule in self.cc.rules().values():
            if crule.scope == rule.scope and _stricter(crule, rule):
                return f"its task budget allows {crule.describe()}"
        return None

    def _proof(self, rule: BudgetRule, tool: str) -> str | None:
        """How the child's budgets bound `rule` for calls of `tool`, or None."""
        ct = self.cc.tools[tool]
        # A plain limit over the whole task bounds every value's share and every window.
        if rule.kind == "sum":
            plain = [(s, limit) for a, s, limit in ct.sum_scopes if a == rule.arg]
        else:  # calls, or distinct values: a call adds at most one
            plain = list(ct.call_scopes)
        for scope, limit in plain:
            if limit <= rule.limit:
                return f"the child allows at most {num(limit)} in all ({scope})"
        for crule in ct.rules:
            same = crule.kind == rule.kind and crule.arg == rule.arg
            counts_calls = rule.kind == "distinct" and crule.kind == "calls"
            if (same or counts_calls) and _stricter(crule, rule):
                return f"the child allows {crule.describe()}"
        return None

    def _passes(self, tool: str, arg: str) -> bool:
        grant = self.child.grant(tool)
        return grant is not None and (arg in grant.args or grant.allow_other_args)

    def _budget_text(self, scopes: Mapping[str, tuple[str, float, frozenset[str]]],
                     tools: Sequence[str], kind: str) -> str:
        parts = [f"{s} {num(limit)}" for s, (k, limit, ts) in sorted(scopes.items())
                 if k == kind and ts & set(tools)]
        return ", ".join(parts) or "none"

    def _tool_calls(self, tool: str, scopes: Mapping[str, tuple[str, float, frozenset[str]]]
                    ) -> tuple[float, float]:
        """(this tool's own call limit, the task's call limit) in the child; inf when none."""
        own, task = math.inf, math.inf
        for scope, (kind, limit, tools) in scopes.items():
            if kind != "calls" or tool not in tools:
                continue
            if scope == "calls":
                task = min(task, limit)
            else:
                own = min(own, limit)
        return own, task

    def _calls_bounds(self, tools: Sequence[str],
                      scopes: Mapping[str, tuple[str, float, frozenset[str]]]) -> tuple[float, float]:
        task = math.inf
        own: dict[str, float] = {}
        for t in tools:
            own[t], task_t = self._tool_calls(t, scopes)
            task = min(task, task_t)
        callable_tools = [t for t in tools if self.example_call(t) is not None]
        upper = min(task, sum(own.values()))
        lower = min(task, sum(own[t] for t in callable_tools)) if callable_tools else 0.0
        return upper, lower

    def _sum_bounds(self, tools: Sequence[str], arg: str,
                    scopes: Mapping[str, tuple[str, float, frozenset[str]]]
                    ) -> tuple[float, float, str]:
        """(the most the child's budgets and constraints allow, an amount a sequence of calls the
        child allows does reach, how)."""
        task_sum = math.inf
        charged_by_task: set[str] = set()
        own_sum: dict[str, float] = {}
        for t in tools:
            own_sum[t] = math.inf
            for scope, (kind, limit, ts) in scopes.items():
                if kind != f"sum:{arg}" or t not in ts:
                    continue
                if scope == f"sum.{arg}":
                    task_sum = min(task_sum, limit)
                    charged_by_task.add(t)
                else:
                    own_sum[t] = min(own_sum[t], limit)
        per_tool_upper: dict[str, float] = {}
        lower = 0.0
        how = "no call with a positive value was found"
        for t in tools:
            own_calls, task_calls = self._tool_calls(t, scopes)
            calls = min(own_calls, task_calls)
            cap = min(own_sum[t], task_sum if t in charged_by_task else math.inf)
            high = self._value_bound(t, arg)
            by_values = _mul(calls, high)
            per_tool_upper[t] = min(cap, by_values)
            reached, count, w = self._reachable(t, arg, calls, cap)
            if reached > lower:
                lower = reached
                how = f"{_amount(count, 'calls')} of {t} with {arg}={_bound(w)}"
        free = sum(per_tool_upper[t] for t in tools if t not in charged_by_task)
        taxed = sum(per_tool_upper[t] for t in tools if t in charged_by_task)
        upper = free + min(taxed, task_sum)
        return upper, lower, how

    def _arg_side(self, tool: str, arg: str) -> Side:
        spec = self._spec(self.child, self.cc.tools[tool])
        return Side(spec.constraints(arg), nullable=False)

    def _value_bound(self, tool: str, arg: str) -> float:
        side = self._arg_side(tool, arg)
        finite = side.finite()
        if finite is not None:
            numbers = [v for v in finite if is_finite_number(v)]
            return max(numbers, default=0.0)
        highs = [bounds(b)[1] for b in side.branches]
        if all(h is not None for h in highs) and highs:
            return max(h for h in highs if h is not None)
        return math.inf

    def _reachable(self, tool: str, arg: str, calls: float, cap: float
                   ) -> tuple[float, float, float]:
        """(a total the child does reach with calls of `tool`, how many calls, of which value):
        the best over values the child accepts, each confirmed by a whole call it allows."""
        side = self._arg_side(tool, arg)
        pool = list(side.finite() or candidates(side.constraints))
        if not math.isinf(cap):
            pool += [cap, cap / 2, cap / 3, math.floor(cap), math.floor(cap / 2)]
        options = []
        for value in pool:
            if is_finite_number(value) and value > 0 and side.accepts(value):
                count = calls if math.isinf(cap) else min(calls, math.floor(cap / value + 1e-9))
                options.append((_mul(count, value), count, value))
        options.sort(key=lambda option: option[0], reverse=True)
        for reached, count, value in options[:10]:
            if reached <= 0:
                break
            call = self._fill(tool, {arg: value}, set(), prefer_parent=False)
            if call is not None and _tool_allows(self.cc.tools[tool], call, self.cc):
                return reached, count, float(value)
        return 0.0, 0.0, 0.0

    # -- validity window -------------------------------------------------------------------

    def window(self) -> None:
        child, parent = self.child, self.parent
        c_rel = child.ttl is not None and "issued_at" not in child.model_fields_set
        p_rel = parent.ttl is not None and "issued_at" not in parent.model_fields_set
        if c_rel and p_rel:
            assert child.ttl is not None and parent.ttl is not None
            c_ttl, p_ttl = parse_duration(child.ttl), parse_duration(parent.ttl)
            if c_ttl <= p_ttl:
                self.add("ok", "expires_at", "ttl", f"ttl {child.ttl} <= {parent.ttl}")
            else:
                self.add("wider", "expires_at", "ttl",
                         f"the child's ttl {child.ttl} is longer than the parent's {parent.ttl}")
        elif not c_rel and not p_rel:
            assert child.expires_at is not None and parent.expires_at is not None
            if child.expires_at <= parent.expires_at:
                self.add("ok", "expires_at", "expires_at",
                         f"{_iso(child.expires_at)} <= {_iso(parent.expires_at)}")
            else:
                self.add("wider", "expires_at", "expires_at",
                         f"the child ends at {_iso(child.expires_at)}, after the parent at "
                         f"{_iso(parent.expires_at)}")
        else:
            relative = "child" if c_rel else "parent"
            self.add("unprovable", "expires_at", "expires_at",
                     f"the {relative} uses a ttl without issued_at (it counts from when it is "
                     "loaded) and the other a fixed time: which ends first depends on when")
        if parent.not_before is not None:
            if child.not_before is not None and child.not_before >= parent.not_before:
                self.add("ok", "not_before", "not_before",
                         f"{_iso(child.not_before)} >= {_iso(parent.not_before)}")
            else:
                start = _iso(child.not_before) if child.not_before else "as soon as it is loaded"
                self.add("wider", "not_before", "not_before",
                         f"the child is valid from {start}, before the parent's not_before "
                         f"{_iso(parent.not_before)}")


def _iso(value: Any) -> str:
    """A datetime as written in the manifest (its own offset kept; UTC shown as `Z`)."""
    return str(value.isoformat()).replace("+00:00", "Z")


def _mul(count: float, value: float) -> float:
    if count == 0 or value == 0:
        return 0.0
    return count * value


def _bound(value: float) -> str:
    return "unlimited" if math.isinf(value) else num(value)


def _amount(value: float, unit: str) -> str:
    """`1 call`, `3 calls`, `unlimited calls`, `50 as the sum of 'amount'`."""
    return "1 call" if unit == "calls" and value == 1 else f"{_bound(value)} {unit}"


def _unused_name(names: set[str]) -> str:
    for candidate in ("other_arg", "unlisted", "x_extra"):
        if candidate not in names:
            return candidate
    return next(f"arg{i}" for i in itertools.count() if f"arg{i}" not in names)


def _tool_allows(tool: CompiledTool, call: Mapping[str, Any], link: CompiledManifest) -> bool:
    """What the guard decides for one call's arguments (constraints, sum-budget values, the
    condition evaluated now)."""
    if tool.args.violation(call) is not None:
        return False
    condition = tool.condition
    if condition is not None and not condition.holds(
        call_data(condition, call, tool.name, link.task, link.principal, time.time())
    ):
        return False
    summed = [arg for arg, _, _ in tool.sum_scopes]
    summed += [r.arg for r in tool.rules if r.kind == "sum" and r.arg is not None]
    for arg in summed:
        value = call.get(arg)
        if value is not None and (not is_finite_number(value) or value < 0):
            return False
    for rule in tool.rules:  # a value that is not JSON data cannot be counted: denied
        for name in (rule.per, rule.arg if rule.kind == "distinct" else None):
            if name is not None and call.get(name) is not None and value_digest(call[name]) is None:
                return False
    return True


def _stricter(child: BudgetRule, parent: BudgetRule) -> bool:
    """`child` bounds what `parent` counts at least as tightly (same calls assumed)."""
    per = child.per is None or child.per == parent.per
    window = not child.window or (parent.window and child.window >= parent.window)
    return bool(per and window and child.limit <= parent.limit)
