"""The HTML report: one self-contained page (inline CSS and SVG; no script, font or image is
loaded from anywhere) showing the decisions of a trace or decision log.

Sections: totals; a timeline of the calls in order (one row per tool, a marker per call);
denials grouped by task, tool, code, argument and constraint; budgets as bars against their
limits (where the records carry a budget: budget denials); every call in a folded table.

Everything taken from a record is escaped: trace files are input, and a tool name must not be able
to add markup to the page. Colours are Okabe-Ito (safe for the common colour-vision
deficiencies), and each decision also has its own marker shape, so nothing depends on colour alone.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from .._text import __version__, num, short

__all__ = ["MAX_TIMELINE_CALLS", "PALETTE", "DecisionRecord", "render_html"]

# Okabe & Ito (2008), "Color Universal Design".
PALETTE = {
    "allow": "#0072B2",  # blue
    "deny": "#D55E00",  # vermillion
    "shadow_deny": "#CC79A7",  # reddish purple
    "ask": "#E69F00",  # orange
    "shadow_ask": "#56B4E9",  # sky blue
    "budget": "#0072B2",
    "track": "#E5E5E5",
    "limit": "#000000",
}
LABELS = {"allow": "allowed", "deny": "denied", "shadow_deny": "shadow-denied", "ask": "asked",
          "shadow_ask": "shadow-asked"}
SYMBOLS = {"allow": "●", "deny": "✕", "shadow_deny": "▲", "ask": "◆", "shadow_ask": "◇"}
MAX_TIMELINE_CALLS = 2000  # an SVG with more markers gets slow to draw and no easier to read
MAX_TABLE_CALLS = 5000


class DecisionRecord(Protocol):
    """What the page reads from a record (`guardrail.report.Record` has all of it)."""

    @property
    def time(self) -> datetime | None: ...
    @property
    def task(self) -> str: ...
    @property
    def tool(self) -> str: ...
    @property
    def call_id(self) -> str | None: ...
    @property
    def decision(self) -> str: ...
    @property
    def code(self) -> str | None: ...
    @property
    def argument(self) -> str | None: ...
    @property
    def constraint(self) -> str | None: ...
    @property
    def budget_scope(self) -> str | None: ...
    @property
    def budget_limit(self) -> float | None: ...
    @property
    def budget_used(self) -> float | None: ...
    @property
    def denied_by(self) -> str | None: ...


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(t: datetime | None) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z") if t is not None else "-"


def _constraint(r: DecisionRecord) -> str:
    if r.constraint:
        return r.constraint
    if r.budget_scope:
        limit = f" (limit {num(r.budget_limit)})" if r.budget_limit is not None else ""
        return f"budget {r.budget_scope}{limit}"
    return ""


def _ordered(records: Sequence[DecisionRecord]) -> list[DecisionRecord]:
    # In order of time; records without a time keep their place after the timed ones.
    indexed = list(enumerate(records))
    indexed.sort(key=lambda p: (p[1].time is None, p[1].time.timestamp() if p[1].time else 0.0, p[0]))
    return [r for _, r in indexed]


def _tick_step(n: int, most: int = 12) -> int:
    step = 1
    while n / step > most:
        for factor in (2, 5, 10):
            if n / (step * factor) <= most:
                return step * factor
        step *= 10
    return step


def _marker(decision: str, x: float, y: float, tip: str) -> str:
    colour = PALETTE.get(decision, "#000000")
    title = f"<title>{_e(tip)}</title>"
    if decision == "allow":
        return f'<circle class="call allow" cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}">{title}</circle>'
    if decision == "deny":
        a, b, c, e = x - 5, x + 5, y - 5, y + 5
        d = f"M{a:.1f},{c:.1f}L{b:.1f},{e:.1f}M{a:.1f},{e:.1f}L{b:.1f},{c:.1f}"
        return (f'<path class="call deny" d="{d}" stroke="{colour}" stroke-width="3" '
                f'stroke-linecap="round">{title}</path>')
    if decision in ("ask", "shadow_ask"):  # a diamond: put to a person
        pts = f"{x:.1f},{y - 6:.1f} {x + 6:.1f},{y:.1f} {x:.1f},{y + 6:.1f} {x - 6:.1f},{y:.1f}"
        return f'<polygon class="call {_e(decision)}" points="{pts}" fill="{colour}">{title}</polygon>'
    pts = f"{x:.1f},{y - 6:.1f} {x + 6:.1f},{y + 5:.1f} {x - 6:.1f},{y + 5:.1f}"
    return f'<polygon class="call {_e(decision)}" points="{pts}" fill="{colour}">{title}</polygon>'


def _timeline(calls: list[DecisionRecord]) -> str:
    if not calls:
        return "<p>No calls.</p>"
    shown = calls[:MAX_TIMELINE_CALLS]
    tools: list[str] = []
    for r in shown:
        if r.tool not in tools:
            tools.append(r.tool)
    label_chars = min(28, max(4, *(len(t) for t in tools)))
    left, right, top, row_h = 16 + 7 * label_chars, 24, 16, 26
    width = 960
    height = top + row_h * len(tools) + 40
    plot_w = width - left - right
    n = len(shown)

    def x_of(i: int) -> float:  # i counts from 1
        return left + (plot_w / 2 if n == 1 else (i - 1) * plot_w / (n - 1))

    parts = [f'<svg id="timeline-svg" role="img" viewBox="0 0 {width} {height}" width="100%" '
             f'aria-label="Timeline of {n} calls: one row per tool, one marker per call">']
    for row, tool in enumerate(tools):
        y = top + row_h * row + row_h / 2
        if row % 2 == 0:
            parts.append(f'<rect x="{left - 8}" y="{y - row_h / 2:.1f}" width="{plot_w + 16}" '
                         f'height="{row_h}" fill="#F5F5F5"/>')
        parts.append(f'<text x="{left - 12}" y="{y + 4:.1f}" text-anchor="end" class="label">'
                     f"{_e(short(tool, label_chars))}<title>{_e(tool)}</title></text>")
    axis_y = top + row_h * len(tools) + 6
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{left + plot_w}" y2="{axis_y}" stroke="#555"/>')
    step = _tick_step(n)
    ticks = [1, *range(step, n + 1, step)] if step > 1 else list(range(1, n + 1))
    for i in sorted(set(ticks)):
        x = x_of(i)
        parts.append(f'<line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + 5}" stroke="#555"/>'
                     f'<text x="{x:.1f}" y="{axis_y + 18}" text-anchor="middle" class="tick">{i}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{axis_y + 34}" text-anchor="middle" '
                 f'class="axis">call number, in order of time</text>')
    for i, r in enumerate(shown, 1):
        y = top + row_h * tools.index(r.tool) + row_h / 2
        detail = f" {r.code}" if r.code else ""
        if r.argument:
            detail += f" {r.argument}"
        constraint = _constraint(r)
        if constraint:
            detail += f" ({constraint})"
        tip = f"#{i} {_when(r.time)} {r.task} {r.tool}: {LABELS.get(r.decision, r.decision)}{detail}"
        parts.append(_marker(r.decision, x_of(i), y, tip))
    parts.append("</svg>")
    note = (f"<p class=\"note\">Showing the first {len(shown):,} of {len(calls):,} calls.</p>"
            if len(shown) < len(calls) else "")
    legend = " ".join(
        f'<span class="key"><span style="color:{PALETTE[d]}">{SYMBOLS[d]}</span> {LABELS[d]}</span>'
        for d in ("allow", "deny", "shadow_deny", "ask", "shadow_ask")
        if d in ("allow", "deny", "shadow_deny") or any(r.decision == d for r in shown)
    )
    return f'<p class="legend">{legend}</p>' + "".join(parts) + note


def _denials(calls: list[DecisionRecord]) -> str:
    groups: Counter[tuple[str, str, str, str, str, str]] = Counter()
    shadow: Counter[tuple[str, str, str, str, str, str]] = Counter()
    for r in calls:
        if r.decision == "allow":
            continue
        # A sub-agent's call can be denied by an ancestor's manifest: say whose.
        by = r.denied_by if r.denied_by and r.denied_by != r.task else ""
        key = (r.task, r.tool, r.code or "", r.argument or "", _constraint(r), by)
        (groups if r.decision in ("deny", "ask") else shadow)[key] += 1
    keys = sorted(set(groups) | set(shadow), key=lambda k: (-(groups[k] + shadow[k]), k))
    if not keys:
        return "<p>No denials.</p>"
    rows = []
    for k in keys:
        task, tool, code, argument, constraint, by = k
        by_html = f'<br><span class="small">denied by {_e(by)}</span>' if by else ""
        rows.append(
            f'<tr class="denial" data-code="{_e(code)}"><td>{_e(task)}{by_html}</td><td>{_e(tool)}</td>'
            f"<td><code>{_e(code)}</code></td><td>{_e(argument or '-')}</td>"
            f"<td>{_e(constraint or '-')}</td><td class=\"n\">{groups[k]}</td>"
            f'<td class="n">{shadow[k]}</td></tr>'
        )
    return ('<table class="denials"><thead><tr><th>task</th><th>tool</th><th>code</th>'
            "<th>argument</th><th>constraint</th><th>denied</th><th>shadow-denied</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _budgets(calls: list[DecisionRecord]) -> str:
    seen: dict[tuple[str, str], tuple[float, float, int]] = {}
    for r in calls:
        if r.budget_scope is None or r.budget_limit is None or r.budget_limit <= 0:
            continue
        key = (r.task, r.budget_scope)
        used = r.budget_used if r.budget_used is not None else 0.0
        old_used, _, count = seen.get(key, (0.0, r.budget_limit, 0))
        seen[key] = (max(old_used, used), r.budget_limit, count + 1)
    if not seen:
        return ("<p>No budget in these records. A trace carries a budget where a call was denied "
                "<code>budget_exhausted</code>: its limit and what was used.</p>")
    bar_w, label_w, row_h = 520, 420, 34
    height = row_h * len(seen) + 8
    parts = [f'<svg id="budgets-svg" role="img" viewBox="0 0 {label_w + bar_w + 20} {height}" '
             'width="100%" aria-label="Budget use against limits">']
    for row, ((task, scope), (used, limit, count)) in enumerate(sorted(seen.items())):
        y = 4 + row * row_h
        fill = min(used / limit, 1.0) * bar_w
        label = f"{short(task, 30)} · {short(scope, 36)}"
        parts.append(
            f'<g class="budget"><text x="0" y="{y + 14}" class="label">{_e(label)}'
            f"<title>{_e(task)} {_e(scope)}</title></text>"
            f'<text x="0" y="{y + 28}" class="small">used {_e(num(used))} of {_e(num(limit))}; '
            f"{count} call{'s' if count != 1 else ''} denied</text>"
            f'<rect x="{label_w}" y="{y + 6}" width="{bar_w}" height="18" fill="{PALETTE["track"]}"/>'
            f'<rect class="used" x="{label_w}" y="{y + 6}" width="{fill:.1f}" height="18" '
            f'fill="{PALETTE["budget"]}"/>'
            f'<line x1="{label_w + bar_w}" y1="{y + 2}" x2="{label_w + bar_w}" y2="{y + 28}" '
            f'stroke="{PALETTE["limit"]}" stroke-width="2"/></g>'
        )
    parts.append("</svg>")
    return ('<p class="note">The most used before a call was denied, against the limit (the black '
            "line). A budget denial can come before the bar is full: the call would have gone past "
            "the limit.</p>" + "".join(parts))


def _calls_table(calls: list[DecisionRecord]) -> str:
    shown = calls[:MAX_TABLE_CALLS]
    rows = "".join(
        f'<tr class="{_e(r.decision)}"><td class="n">{i}</td><td>{_e(_when(r.time))}</td>'
        f"<td>{_e(r.task)}</td><td>{_e(r.tool)}</td>"
        f'<td><span style="color:{PALETTE.get(r.decision, "#000")}">{SYMBOLS.get(r.decision, "?")}</span> '
        f"{_e(LABELS.get(r.decision, r.decision))}</td><td>{_e(r.code or '')}</td>"
        f"<td>{_e(r.argument or '')}</td><td>{_e(_constraint(r))}</td><td>{_e(r.call_id or '')}</td></tr>"
        for i, r in enumerate(shown, 1)
    )
    more = (f"<p class=\"note\">The first {len(shown):,} of {len(calls):,} calls.</p>"
            if len(shown) < len(calls) else "")
    return (f"<details><summary>All {len(calls):,} calls</summary>"
            '<table class="calls"><thead><tr><th>#</th><th>time (UTC)</th><th>task</th><th>tool</th>'
            "<th>decision</th><th>code</th><th>argument</th><th>constraint</th><th>call id</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>{more}</details>")


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1a1a1a;
margin:0 auto;max-width:1040px;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.sources,.note,.small{color:#555;font-size:13px}
.totals{display:flex;flex-wrap:wrap;gap:12px;margin-top:16px}
.total{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:110px}
.total b{display:block;font-size:24px}.total.deny b{color:#D55E00}.total.allow b{color:#0072B2}
.total.shadow_deny b{color:#CC79A7}.total.ask b{color:#E69F00}
table{border-collapse:collapse;width:100%;font-size:13.5px}
th,td{border-bottom:1px solid #e6e6e6;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td{overflow-wrap:anywhere}td:nth-child(-n+3){white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.denial td:nth-child(3) code{color:#D55E00;font-weight:600}
code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px}
svg text.label{font-size:13px;fill:#1a1a1a}svg text.tick,svg text.small{font-size:11.5px;fill:#555}
svg text.axis{font-size:12px;fill:#555}
.legend .key{margin-right:18px}.legend .key span{font-size:17px}
details summary{cursor:pointer;color:#0072B2}
"""


def render_html(
    records: Sequence[DecisionRecord], *, title: str = "guardrail report", sources: Sequence[str] = ()
) -> str:
    """The page for these records (any order: they are sorted by time)."""
    calls = _ordered(records)
    totals = Counter(r.decision for r in calls)
    tasks = {r.task for r in calls}
    tools = {r.tool for r in calls}
    times = [r.time for r in calls if r.time is not None]
    span = f", {_e(_when(min(times)))} to {_e(_when(max(times)))}" if times else ""
    src = f"From {_e(', '.join(sources))}" if sources else "From records"
    cards = [("decisions", "", len(calls)), ("allowed", "allow", totals["allow"]),
             ("denied", "deny", totals["deny"]), ("shadow-denied", "shadow_deny", totals["shadow_deny"]),
             *([("asked", "ask", totals["ask"])] if totals["ask"] else []),
             ("tasks", "", len(tasks)), ("tools", "", len(tools))]
    totals_html = "".join(
        f'<div class="total {cls}" id="total-{_e(name)}"><b>{value:,}</b>{_e(name)}</div>'
        for name, cls, value in cards
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><p class=\"sources\">{src}: {len(calls):,} decisions{span}.</p>"
        f'<div class="totals" id="totals">{totals_html}</div></header>'
        f'<section id="timeline"><h2>Timeline</h2>{_timeline(calls)}</section>'
        f'<section id="denials"><h2>Denials by task, tool and code</h2>{_denials(calls)}</section>'
        f'<section id="budgets"><h2>Budgets</h2>{_budgets(calls)}</section>'
        f'<section id="calls">{_calls_table(calls)}</section>'
        f'<footer class="note"><p>guardrail {_e(__version__)}</p></footer>'
        "</body></html>\n"
    )
