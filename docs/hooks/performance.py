"""mkdocs hook: the performance page's tables, generated from benchmarks/results.json.

`python benchmarks/record.py` runs the benchmarks and writes that file; this hook replaces each
``<!-- performance:NAME -->`` marker of docs/performance.md with the table for benchmark NAME, so
the page always shows the numbers that were recorded, never numbers copied by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results.json"
MARKER = re.compile(r"<!-- performance:(\w+) -->")


def _num(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def _measured(entry: dict[str, Any]) -> str:
    m = entry["machine"]
    load = m.get("load_average_1m")
    return (
        f"*Measured {entry['measured_at'][:10]} on {m['cpus']} CPUs ({m['cpu']}, {m['system']}), "
        f"{m['implementation']} {m['python']}"
        + (f", load average {load:g} when it started" if load is not None else "")
        + ".*"
    )


LABELS = {
    "core": "check", "langchain": "call", "telemetry": "variant", "stores": "store",
    "budgets": "budget", "conditions": "evaluation", "provenance": "check", "approvals": "call",
}


def _rows(result: dict[str, Any], label: str, extra: dict[str, Callable[[dict[str, Any]], str]]) -> list[str]:
    head = [label, "median (µs)", f"x {result['baseline']}", *extra]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for row in result["rows"]:
        cells = [row["name"], _num(row["median_us"]), f"{row['ratio']:.2f}x",
                 *(cell(row) for cell in extra.values())]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Medians over {result['rounds']} interleaved rounds of {result['number']:,} "
                  "operations; each ratio is taken within its round."]
    return lines


def core(result: dict[str, Any]) -> str:
    return "\n".join(_rows(result, LABELS["core"], {}))


def langchain(result: dict[str, Any]) -> str:
    guarded = next(r for r in result["rows"] if r["name"] == "guarded")
    return "\n".join([
        *_rows(result, LABELS["langchain"], {}),
        "",
        f"Guarded / unguarded: **{guarded['ratio']:.3f}x** (target at most 1.10x). "
        "\"guard alone\" is `guard.invoke` of a no-op function under the same manifest.",
    ])


def telemetry(result: dict[str, Any]) -> str:
    added, logic = result["guard_added_us"], result["guard_logic_us"]
    return "\n".join([
        *_rows(result, LABELS["telemetry"], {}),
        "",
        f"Of what the guard adds beyond the span ({_num(added, 1)} µs), {_num(added - logic, 1)} µs "
        f"is OpenTelemetry's own work on the guard's attributes and metric points and "
        f"{_num(logic, 1)} µs the guard's logic.",
    ])


def stores(result: dict[str, Any]) -> str:
    latency = result["latency_us"]
    extra: dict[str, Callable[[dict[str, Any]], str]] = {
        "decisions/s": lambda row: f"{1e6 / row['median_us']:,.0f}",
        "latency p50 (µs)": lambda row: _num(latency[row["name"]]["p50"], 1),
        "latency p99 (µs)": lambda row: _num(latency[row["name"]]["p99"], 1),
    }
    return "\n".join([
        *_rows(result, LABELS["stores"], extra),
        "",
        "The median is wall time per decision (all threads together); latency is per call.",
    ])


def _plain(name: str) -> Callable[[dict[str, Any]], str]:
    """The table of a benchmark whose rows say everything (the page's text explains them)."""
    return lambda result: "\n".join(_rows(result, LABELS[name], {}))


TABLES: dict[str, Callable[[dict[str, Any]], str]] = {
    "core": core, "langchain": langchain, "telemetry": telemetry, "stores": stores,
    **{name: _plain(name) for name in ("budgets", "conditions", "provenance", "approvals")},
}


def render(markdown: str, results: dict[str, Any]) -> str:
    """The page with every marker replaced; a marker without recorded results is an error."""

    def table(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in TABLES:
            raise ValueError(f"performance.md: unknown benchmark marker {name!r}")
        entry = results.get("benchmarks", {}).get(name)
        if entry is None:
            raise ValueError(f"{RESULTS}: no results for {name!r}; run benchmarks/record.py {name}")
        return TABLES[name](entry["result"]) + "\n\n" + _measured(entry)

    return MARKER.sub(table, markdown)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_uri != "performance.md":
        return markdown
    from mkdocs.exceptions import PluginError

    try:
        return render(markdown, json.loads(RESULTS.read_text("utf-8")))
    except (OSError, ValueError, KeyError) as exc:
        raise PluginError(f"performance tables: {exc!r}") from exc
