"""`guardrail report PATH.jsonl`: what was allowed and denied, from a JSONL trace or decision log.

Reads spans written by `JsonlSpanExporter` (``--trace jsonl:PATH``) and keeps the guard's tool spans
(those with ``guardrail.decision``); other spans in the file are ignored. A decision log written by
`AuditLog` works too (its lines carry ``outcome`` and ``denial``), and so does OTLP/JSON, what the
OpenTelemetry Collector's file exporter writes (`_otlp_json`). A file that is none of these is
refused, not reported as empty. Denials are grouped by task, tool and code, with the argument and
the constraint (or budget) that failed.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _names as tel
from ._otlp_json import is_otlp_request, otlp_spans

__all__ = ["DenialGroup", "Report", "build_report", "load_report", "read_records", "render_report"]

_OUTCOMES = ("allow", "deny", "ask", "shadow_deny", "shadow_ask")
_BLOCKED = ("deny", "ask")  # grouped with the enforced denials (an ask is `approval_required`)


@dataclass(frozen=True, order=True)
class DenialGroup:
    task: str
    tool: str
    code: str
    argument: str
    constraint: str


@dataclass
class Report:
    """Totals of decisions and denials grouped by (task, tool, code, argument, constraint)."""

    source: str = ""
    totals: Counter[str] = field(default_factory=Counter)  # allow / deny / ask / shadow_*
    denials: Counter[DenialGroup] = field(default_factory=Counter)  # enforced denials
    shadow: Counter[DenialGroup] = field(default_factory=Counter)  # shadow-mode denials
    tools: Counter[tuple[str, str]] = field(default_factory=Counter)  # (tool, outcome)
    skipped: int = 0  # lines that were not JSON objects
    other: int = 0  # spans or lines that are not guard decisions

    @property
    def decisions(self) -> int:
        return sum(self.totals[o] for o in _OUTCOMES)

    def rows(self) -> list[tuple[DenialGroup, int, int]]:
        """(group, denied, shadow-denied), most frequent first."""
        keys = set(self.denials) | set(self.shadow)
        return sorted(
            ((k, self.denials[k], self.shadow[k]) for k in keys),
            key=lambda row: (-(row[1] + row[2]), row[0]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "decisions": self.decisions,
            "allowed": self.totals["allow"],
            "denied": self.totals["deny"],
            "shadow_denied": self.totals["shadow_deny"],
            "asked": self.totals["ask"],
            "shadow_asked": self.totals["shadow_ask"],
            "denials": [
                {
                    "task": g.task, "tool": g.tool, "code": g.code,
                    "argument": g.argument or None, "constraint": g.constraint or None,
                    "denied": denied, "shadow_denied": shadow,
                }
                for g, denied, shadow in self.rows()
            ],
            "by_tool": {
                tool: {o: self.tools[(tool, o)] for o in _OUTCOMES}
                for tool in sorted({t for t, _ in self.tools})
            },
            "skipped_lines": self.skipped,
        }


def _budget_text(scope: Any, limit: Any) -> str:
    if not scope:
        return ""
    if isinstance(limit, int | float) and not isinstance(limit, bool):
        return f"budget {scope} (limit {limit:g})"
    return f"budget {scope}"


def _from_span(obj: Mapping[str, Any]) -> tuple[str, str, DenialGroup | None] | None:
    attrs = obj.get("attributes")
    if not isinstance(attrs, Mapping):
        return None
    outcome = attrs.get(tel.DECISION)
    if outcome not in _OUTCOMES:
        return None
    tool = str(attrs.get(tel.GEN_AI_TOOL_NAME) or "")
    if outcome == "allow":
        return outcome, tool, None
    # Grouped by the task that made the call (a sub-agent's call may be denied by its parent's
    # manifest; the denial event names that one).
    event: Mapping[str, Any] = {}
    for ev in obj.get("events") or ():
        if isinstance(ev, Mapping) and ev.get("name") == tel.DENIAL_EVENT:
            event = ev.get("attributes") or {}
            break
    constraint = str(attrs.get(tel.DENIAL_CONSTRAINT) or "") or _budget_text(
        attrs.get(tel.DENIAL_BUDGET_SCOPE), attrs.get(tel.DENIAL_BUDGET_LIMIT)
    )
    group = DenialGroup(
        task=str(attrs.get(tel.TASK) or event.get("task") or ""),
        tool=tool,
        code=str(attrs.get(tel.DENIAL_CODE) or event.get("code") or ""),
        argument=str(attrs.get(tel.DENIAL_ARGUMENT) or ""),
        constraint=constraint,
    )
    return outcome, tool, group


def _from_audit(obj: Mapping[str, Any]) -> tuple[str, str, DenialGroup | None] | None:
    outcome = obj.get("outcome")
    if outcome not in _OUTCOMES:
        return None
    tool = str(obj.get("tool") or "")
    denial = obj.get("denial")
    if outcome == "allow" or not isinstance(denial, Mapping):
        return outcome, tool, None
    raw_budget = denial.get("budget")
    budget: Mapping[str, Any] = raw_budget if isinstance(raw_budget, Mapping) else {}
    constraint = str(denial.get("constraint") or "") or _budget_text(
        budget.get("scope"), budget.get("limit")
    )
    group = DenialGroup(
        task=str(obj.get("task") or denial.get("task") or ""),
        tool=tool,
        code=str(denial.get("code") or ""),
        argument=str(denial.get("argument") or ""),
        constraint=constraint,
    )
    return outcome, tool, group


def build_report(records: Iterable[Any], source: str = "") -> Report:
    """A report from parsed JSON lines (span dicts or decision-log entries)."""
    report = Report(source=source)
    for obj in records:
        if not isinstance(obj, Mapping):
            report.skipped += 1
            continue
        found = _from_span(obj) if "attributes" in obj else _from_audit(obj)
        if found is None:
            report.other += 1
            continue
        outcome, tool, group = found
        report.totals[outcome] += 1
        report.tools[(tool, outcome)] += 1
        if group is not None:
            (report.denials if outcome in _BLOCKED else report.shadow)[group] += 1
    return report


def read_records(path: str | os.PathLike[str]) -> list[Any]:
    """The records of a trace or decision log, for `build_report`: each line of a JSONL trace
    (``--trace jsonl:PATH``) or an `AuditLog` file, and the spans of each OTLP/JSON line (the
    OpenTelemetry Collector's file exporter: one ``ExportTraceServiceRequest`` per line), as span
    dicts; None for a line that is not JSON.

    Raises ValueError, naming the file, when no line is any of these (a README, a CSV, a JSON
    document that is not JSON lines): a report of "0 decisions" would say the file was read.
    An empty file is an empty trace. OSError and UnicodeDecodeError when it cannot be read."""
    where = os.fspath(path)
    records: list[Any] = []
    understood = lines = 0
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            lines += 1
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                records.append(None)
                continue
            if is_otlp_request(obj):
                records.extend(otlp_spans(obj, where=f"{where}:{number}"))
                understood += 1
            else:
                records.append(obj)
                understood += _understood(obj)
    if lines and not understood:
        what = "no line is JSON" if all(r is None for r in records) else (
            "no line is a span, an OTLP/JSON request or a decision log entry")
        raise ValueError(f"{where} is not a trace or a decision log: {what}")
    return records


def _understood(obj: Any) -> bool:
    """A span (``guardrail.span/1`` or the same shape) or a decision log line."""
    if not isinstance(obj, Mapping):
        return False
    if isinstance(obj.get("attributes"), Mapping) and ("span_id" in obj or "trace_id" in obj):
        return True
    return "outcome" in obj and "tool" in obj


def load_report(path: str | os.PathLike[str]) -> Report:
    """The report of one file (see `read_records`). Lines that are not JSON are counted as
    skipped."""
    return build_report(read_records(path), source=os.fspath(path))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for row in rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return out


def _cell(text: str, limit: int = 60) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render_report(report: Report) -> str:
    """The report as text: totals, then the denials table, then decisions per tool."""
    t = report.totals
    asked = f"{t['ask']} asked, " if t["ask"] else ""
    shadow_asked = f", {t['shadow_ask']} shadow-asked" if t["shadow_ask"] else ""
    lines = [
        f"{report.decisions} decision{'' if report.decisions == 1 else 's'}: "
        f"{t['allow']} allowed, {t['deny']} denied, {asked}"
        f"{t['shadow_deny']} shadow-denied{shadow_asked}"
        + (f"  ({report.source})" if report.source else ""),
    ]
    if report.skipped:
        lines.append(f"{report.skipped} line(s) skipped: not JSON objects")
    rows = report.rows()
    lines.append("")
    if rows:
        lines.append("Denials by task, tool and code:")
        shadow = any(s for _, _, s in rows)
        header = ["TASK", "TOOL", "CODE", "ARGUMENT", "CONSTRAINT", "DENIED"]
        if shadow:
            header.append("SHADOW")
        body = []
        for g, denied, shadowed in rows:
            row = [_cell(g.task, 40), _cell(g.tool, 40), g.code, _cell(g.argument or "-", 40),
                   _cell(g.constraint or "-"), str(denied)]
            if shadow:
                row.append(str(shadowed))
            body.append(row)
        lines.extend(_table(header, body))
    else:
        lines.append("No denials.")
    tools = sorted({tool for tool, _ in report.tools})
    if tools:
        lines.append("")
        lines.append("Decisions by tool:")
        # ASKED only when something asked; SHADOW counts shadow denials and shadow asks.
        columns = ["allow", "deny", *(["ask"] if t["ask"] else [])]
        lines.extend(_table(
            ["TOOL", "ALLOWED", "DENIED", *(["ASKED"] if t["ask"] else []), "SHADOW"],
            [[_cell(tool, 40), *(str(report.tools[(tool, o)]) for o in columns),
              str(report.tools[(tool, "shadow_deny")] + report.tools[(tool, "shadow_ask")])]
             for tool in tools],
        ))
    return "\n".join(lines) + "\n"
