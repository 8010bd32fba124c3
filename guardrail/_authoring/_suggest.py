"""`guardrail suggest`: the least-privilege manifest that would have allowed exactly the calls a
trace shows the guard allowing.

Per tool, each argument gets the narrowest readable constraint its observed values satisfy (see
`_infer`), `required` when every call gave it; budgets are the most calls (and, where a ceiling
limits a sum, the largest sum) one task used; the ttl covers the longest task. Denied calls are
not learned from. The result is checked before it is returned: every allowed call of the trace,
replayed task by task through the compiled manifest, must pass (arguments and budgets).

With a ceiling, the suggestion is compared with the existing `narrower` analysis; an argument
whose generalisation cannot be proven within the ceiling falls back to its exact observed values,
and observed calls the ceiling itself denies are named.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._manifest._models import Manifest
from .._manifest._writer import Comments, manifest_yaml
from .._narrowing import NarrowerReport, narrower
from .._policy import is_finite_number
from ._errors import AuthoringError
from ._infer import Learned, learn, value_key
from ._traces import Observed, read_trace

__all__ = ["OffendingCall", "Suggestion", "WithinReport", "suggest"]

DEFAULT_TASK = "suggested-task"
_TOOL_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,256}")
_MAX_EXACT_FALLBACK = 64


@dataclass(frozen=True)
class OffendingCall:
    """An observed (allowed) call that the ceiling denies."""

    where: str
    tool: str
    args: Mapping[str, Any]
    reason: str


@dataclass
class WithinReport:
    """The suggestion against a ceiling: the `narrower` report, the observed calls the ceiling
    denies, and the arguments narrowed to their exact values to fit."""

    ceiling: str
    report: NarrowerReport
    offending: list[OffendingCall] = field(default_factory=list)
    narrowed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.offending and self.report.narrower

    @property
    def exit_code(self) -> int:
        return 1 if self.offending else self.report.exit_code

    def format(self) -> str:
        lines = []
        for call in self.offending:
            lines.append(f"OFFENDING CALL {call.where}: {call.tool}({_args_text(call.args)})")
            lines.append(f"  the ceiling denies it: {call.reason}")
        lines.append(self.report.format(child_name="the suggestion",
                                        parent_name=f"the ceiling ({self.ceiling})",
                                        show_ok=False))
        return "\n".join(lines)


@dataclass
class Suggestion:
    """A suggested manifest (`manifest`, and `yaml` with its comments), why each part was chosen
    (`explanation`), and with a ceiling the comparison (`within`)."""

    manifest: Manifest
    yaml: str
    explanation: list[str]
    learned_from: int
    denied: Counter[str]
    within: WithinReport | None = None

    def explain(self) -> str:
        return "\n".join(self.explanation) + "\n"


def _args_text(args: Mapping[str, Any], limit: int = 160) -> str:
    import json

    text = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in args.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read(paths: Sequence[str | os.PathLike[str]]) -> list[Observed]:
    if not paths:
        raise AuthoringError("give at least one trace file")
    found: list[Observed] = []
    for path in paths:
        records, _ = read_trace(path)
        if not records:
            raise AuthoringError(
                f"{path}: no guard decisions in it (expected JSONL spans from JsonlSpanExporter or "
                "--trace jsonl:PATH, OTLP JSON, or an AuditLog decision log)"
            )
        found.extend(records)
    return _deduplicated(found)


def _deduplicated(records: list[Observed]) -> list[Observed]:
    """One decision recorded in several kinds of file (spans and the audit log of the same run)
    is kept once: for each (task, call id), only the records of the first kind present."""
    preference = ("span", "otlp", "audit")
    kinds: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in records:
        if r.call_id is not None:
            kinds[(r.task, r.call_id)].add(r.kind)
    out = []
    for r in records:
        present = kinds.get((r.task, r.call_id or ""), set()) if r.call_id is not None else set()
        if present and r.kind != next(k for k in preference if k in present):
            continue
        out.append(r)
    return out


def _check_values(allowed: list[Observed], paths: Sequence[Any]) -> None:
    missing = [r for r in allowed if r.args is None]
    if not missing:
        return
    broken = [r for r in missing if r.args_problem]
    if broken:
        r = broken[0]
        raise AuthoringError(f"{r.where}: the allowed call of {r.tool!r}: {r.args_problem}; "
                             "a manifest learned without them would not allow it")
    if len(missing) == len(allowed):
        names = ", ".join(str(p) for p in paths)
        raise AuthoringError(
            f"{names}: the decisions were recorded without argument values, and a manifest "
            "cannot be learned from tool names alone: record them with "
            "Guard(..., record_values=True) (spans carry gen_ai.tool.call.arguments, audit lines args)"
        )
    r = missing[0]
    raise AuthoringError(
        f"{r.where}: the allowed call of {r.tool!r} was recorded without argument values "
        f"({len(missing)} of {len(allowed)} allowed calls are): record them with "
        "Guard(..., record_values=True)"
    )


def _ttl(records: list[Observed]) -> tuple[str, str]:
    spans: dict[str, list[float]] = defaultdict(list)
    for r in records:
        for t in (r.start, r.end):
            if t is not None and math.isfinite(t):
                spans[r.task].append(t)
    if not spans:
        return "15m", "ttl 15m: the trace has no times, so the default"
    task, longest = max(((t, max(v) - min(v)) for t, v in spans.items()), key=lambda tv: tv[1])
    if longest <= 86400:
        minutes = max(1, math.ceil(longest / 60 - 1e-9))
        ttl = f"{minutes}m"
        rounding = "rounded up to whole minutes"
    else:
        ttl = f"{math.ceil(longest / 3600 - 1e-9)}h"
        rounding = "rounded up to whole hours"
    return ttl, f"ttl {ttl}: the longest task ({task}) lasted {_duration(longest)}; {rounding}"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "under a second"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class _Builder:
    def __init__(self, records: list[Observed], margin: float, task: str | None,
                 ceiling: Manifest | None) -> None:
        self.records = records
        self.allowed = [r for r in records if r.allowed]
        self.margin = margin
        self.task_name = task
        self.ceiling = ceiling
        self.why: list[str] = []
        self.notes = Comments()
        self.tools: dict[str, list[Observed]] = {}
        for r in self.allowed:
            self.tools.setdefault(r.tool, []).append(r)
        self.learned: dict[tuple[str, str], Learned] = {}

    def values(self, tool: str, arg: str) -> list[Any]:
        return [r.args[arg] for r in self.tools[tool] if r.args and r.args.get(arg) is not None]

    def argument(self, tool: str, arg: str) -> dict[str, Any]:
        calls = self.tools[tool]
        present = self.values(tool, arg)
        if not present:
            learned = Learned({"type": "null"}, "only null or absent",
                              ["only null or absent: type null"])
        else:
            learned = learn(present, margin=self.margin)
        self.learned[(tool, arg)] = learned
        constraint = dict(learned.constraint)
        why = learned.why[0]
        if present and len(present) == len(calls):
            constraint["required"] = True
            why += "; given in every call: required"
        elif present:
            why += f"; left out in {len(calls) - len(present)} of {len(calls)} calls: not required"
        self.notes.trailing[("tools", tool, "args", arg)] = learned.note
        self.why.append(f"  args.{arg}: {why}")
        self.why.extend(f"    {line.strip()}" for line in learned.why[1:])
        return constraint

    def per_task(self, tool: str | None = None) -> Counter[str]:
        return Counter(r.task for r in self.allowed if tool is None or r.tool == tool)

    def sums(self, tool: str | None, arg: str) -> tuple[float, str] | None:
        totals: Counter[str] = Counter()
        for r in self.allowed:
            if tool is not None and r.tool != tool:
                continue
            value = (r.args or {}).get(arg)
            if value is None:
                continue
            if not is_finite_number(value) or value < 0:
                return None  # a sum budget denies such values: it cannot be learned
            totals[r.task] += value
        if not totals:
            return None
        task, most = max(totals.items(), key=lambda kv: kv[1])
        return most, task

    def build(self) -> dict[str, Any]:
        tasks = sorted({r.task for r in self.allowed})
        principals = {r.principal for r in self.allowed}
        name = self.task_name or (tasks[0] if len(tasks) == 1 and tasks[0] else DEFAULT_TASK)
        data: dict[str, Any] = {"manifest": 1, "task": name}
        if self.task_name:
            self.why.append(f"task {name}: as given")
        elif len(tasks) == 1:
            self.why.append(f"task {name}: the one task in the trace")
        else:
            self.why.append(f"task {name}: {len(tasks)} tasks in the trace; name this one (--task)")
            self.notes.trailing[("task",)] = f"learned from {len(tasks)} tasks: name this one"
        if len(principals) == 1 and None not in principals:
            data["principal"] = principals.pop()
        ttl, ttl_why = _ttl(self.records)
        data["ttl"] = ttl
        self.why.append(ttl_why)
        self.notes.trailing[("ttl",)] = ttl_why.split(": ", 1)[1].split(";")[0]
        total = self.per_task()
        most_task, most = total.most_common(1)[0]
        data["budget"] = {"calls": most}
        self.why.append(f"budget.calls {most}: the most allowed calls in one task ({most_task})")
        self.notes.trailing[("budget",)] = "the most calls one task made"
        tools: dict[str, Any] = {}
        for tool, calls in self.tools.items():
            counts = self.per_task(tool)
            top_task, top = counts.most_common(1)[0]
            self.why.append(f"tools.{tool}: {len(calls)} allowed calls in {len(counts)} "
                            f"task{'s' if len(counts) != 1 else ''}")
            names: list[str] = []
            for r in calls:
                for key in r.args or {}:
                    if key not in names:
                        names.append(key)
            args = {arg: self.argument(tool, arg) for arg in names}
            tools[tool] = {"args": args, "budget": {"calls": top}}
            self.why.append(f"  budget.calls {top}: the most calls of {tool} in one task ({top_task})")
            self.notes.trailing[("tools", tool)] = (
                f"{len(calls)} calls in {len(counts)} task{'s' if len(counts) != 1 else ''}"
            )
        data["tools"] = tools
        if self.ceiling is not None:
            self.ceiling_sums(data)
        denied = Counter(r.tool for r in self.records if not r.allowed)
        if denied:
            listed = ", ".join(f"{t} {n}" for t, n in sorted(denied.items()))
            self.why.append(f"not learned from: {sum(denied.values())} denied calls ({listed})")
        return data

    def ceiling_sums(self, data: dict[str, Any]) -> None:
        """Where the ceiling limits the sum of an argument, the suggestion limits it too, to the
        largest sum one task reached (the ceiling's sum is otherwise hard to prove)."""
        assert self.ceiling is not None
        budgets = self.ceiling.compiled().budgets()
        for scope in sorted(budgets):
            if scope.startswith("sum."):
                arg = scope[4:]
                if not any(arg in t["args"] for t in data["tools"].values()):
                    continue
                found = self.sums(None, arg)
                if found is not None:
                    data["budget"].setdefault("sum", {})[arg] = found[0]
                    self.why.append(f"budget.sum.{arg} {found[0]:g}: the largest total in one task "
                                    f"({found[1]}); the ceiling limits this sum")
                continue
            for tool, grant in data["tools"].items():
                prefix = f"tools.{tool}.sum."
                if scope.startswith(prefix) and scope[len(prefix):] in grant["args"]:
                    arg = scope[len(prefix):]
                    found = self.sums(tool, arg)
                    if found is not None:
                        grant["budget"].setdefault("sum", {})[arg] = found[0]
                        self.why.append(f"tools.{tool}.budget.sum.{arg} {found[0]:g}: the largest "
                                        f"total in one task ({found[1]}); the ceiling limits it")


def replay(manifest: Manifest, allowed: Sequence[Observed]) -> None:
    """Raise when the manifest would deny an observed call (arguments or budgets, task by task):
    the suggestion must allow what was observed, so this is a bug, never the user's input."""
    compiled = manifest.compiled()
    used: Counter[tuple[str, str]] = Counter()
    for r in allowed:
        tool = compiled.tools.get(r.tool)
        problem = None
        if tool is None:
            problem = "tool_not_allowed"
        else:
            found = tool.args.violation(r.args or {})
            if found is not None:
                problem = f"{found.code.value} {found.dotted} {found.constraint or ''}".strip()
            for scope, limit in tool.call_scopes:
                used[(r.task, scope)] += 1
                if used[(r.task, scope)] > limit:
                    problem = f"budget {scope} exceeded"
            for arg, scope, limit in tool.sum_scopes:
                value = (r.args or {}).get(arg)
                if value is not None:
                    used[(r.task, scope)] += value
                    if used[(r.task, scope)] > limit + 1e-9:
                        problem = f"budget {scope} exceeded"
        if problem is not None:
            raise AuthoringError(
                f"internal error: the suggested manifest denies the observed call at {r.where} "
                f"({r.tool}: {problem}); please report this"
            )


def offending_calls(ceiling: Manifest, allowed: Sequence[Observed]) -> list[OffendingCall]:
    """The first observed call per (tool, reason) that the ceiling's rules deny."""
    compiled = ceiling.compiled()
    out: dict[tuple[str, str], OffendingCall] = {}
    for r in allowed:
        tool = compiled.tools.get(r.tool)
        if tool is None:
            reason = f"tool_not_allowed: the ceiling does not grant {r.tool!r}"
        else:
            found = tool.args.violation(r.args or {})
            if found is None:
                continue
            reason = f"{found.code.value}: argument {found.dotted!r}"
            if found.constraint:
                reason += f" fails {found.constraint}"
        out.setdefault((r.tool, reason), OffendingCall(r.where, r.tool, r.args or {}, reason))
    return list(out.values())


def _finding_arg(where: str, data: Mapping[str, Any]) -> tuple[str, str] | None:
    for tool, grant in data["tools"].items():
        for arg in grant["args"]:
            stem = f"tools.{tool}.args.{arg}"
            if where == stem or where.startswith(stem + "."):
                return tool, arg
    return None


def suggest(
    paths: Sequence[str | os.PathLike[str]],
    *,
    margin: float = 0.0,
    task: str | None = None,
    within: Manifest | str | Path | None = None,
) -> Suggestion:
    """The least-privilege manifest for the allowed calls in the trace files `paths`."""
    if not isinstance(margin, int | float) or isinstance(margin, bool) or not 0 <= margin <= 10:
        raise AuthoringError(f"--margin must be a number from 0 to 10 (0.1 is 10%), not {margin!r}")
    ceiling = Manifest.load(within) if within is not None else None
    records = _read(paths)
    allowed = [r for r in records if r.allowed]
    if not allowed:
        outcomes = Counter(r.outcome for r in records)
        raise AuthoringError(
            f"no allowed calls to learn from ({', '.join(f'{n} {o}' for o, n in outcomes.items())}): "
            "denied calls are not learned from"
        )
    for r in allowed:
        if not _TOOL_NAME.fullmatch(r.tool):
            raise AuthoringError(f"{r.where}: an allowed call of a tool named {r.tool[:60]!r}, which a "
                                 "manifest cannot name (1-256 printable characters)")
    _check_values(allowed, paths)
    builder = _Builder(records, margin, task, ceiling)
    data = builder.build()
    within_report = None
    if ceiling is not None:
        within_report = _fit(builder, data, ceiling, allowed, within)
    try:
        manifest = Manifest.model_validate(data)
    except ValueError as exc:
        raise AuthoringError(f"the calls in the trace do not make a valid manifest: {exc}") from None
    replay(manifest, allowed)
    files = ", ".join(os.fspath(p) for p in paths)
    tasks = len({r.task for r in allowed})
    builder.notes.header = [
        f"Suggested by guardrail suggest from {len(allowed)} allowed calls in {tasks} "
        f"task{'s' if tasks != 1 else ''} ({files}).",
        "It allows what the trace shows and little more: review it before you use it.",
    ]
    return Suggestion(
        manifest=manifest,
        yaml=manifest_yaml(data, builder.notes),
        explanation=builder.why,
        learned_from=len(allowed),
        denied=Counter(r.tool for r in records if not r.allowed),
        within=within_report,
    )


def _fit(builder: _Builder, data: dict[str, Any], ceiling: Manifest,
         allowed: Sequence[Observed], within: Any) -> WithinReport:
    """Compare with the ceiling; arguments whose generalisation is not proven within it are
    narrowed to their exact observed values, once."""
    label = os.fspath(within) if isinstance(within, str | os.PathLike) else ceiling.task
    report = narrower(Manifest.model_validate(data), ceiling)
    result = WithinReport(label, report, offending_calls(ceiling, allowed))
    targets = {found for f in report.problems()
               if (found := _finding_arg(f.where, data)) is not None}
    for tool, arg in sorted(targets):
        values = builder.values(tool, arg)
        distinct = {value_key(v): v for v in values}
        if not values or len(distinct) > _MAX_EXACT_FALLBACK:
            continue
        constraint = data["tools"][tool]["args"][arg]
        exact = [distinct[k] for k in sorted(distinct)]
        new: dict[str, Any] = {"equals": exact[0]} if len(exact) == 1 else {"one_of": exact}
        if constraint.get("required"):
            new["required"] = True
        if new == constraint:
            continue
        data["tools"][tool]["args"][arg] = new
        result.narrowed.append(f"{tool}.{arg}")
        builder.why.append(f"tools.{tool}.args.{arg}: not proven within the ceiling, so its "
                           f"{len(exact)} observed value{'s' if len(exact) != 1 else ''} exactly")
        builder.notes.trailing[("tools", tool, "args", arg)] = "exact: to stay within the ceiling"
    if result.narrowed:
        result.report = narrower(Manifest.model_validate(data), ceiling)
    return result
