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


def core(result: dict[str, Any]) -> str:
    lines = ["| check | median (µs) | x hand-written |", "| --- | ---: | ---: |"]
    for row in result["rows"]:
        lines.append(f"| {row['name']} | {_num(row['median_us'])} | {row['ratio']:.1f}x |")
    lines.append("")
    lines.append(f"Medians over {result['rounds']} interleaved rounds; each ratio is taken within "
                 "its round.")
    return "\n".join(lines)


def langchain(result: dict[str, Any]) -> str:
    return "\n".join([
        "| `tool.invoke` | µs per call (median) |",
        "| --- | ---: |",
        f"| unguarded | {_num(result['unguarded_us'], 1)} |",
        f"| guarded | {_num(result['guarded_us'], 1)} |",
        f"| the guard's own work (`guard.invoke` of a no-op) | {_num(result['guard_alone_us'], 1)} |",
        "",
        f"Guarded / unguarded: **{result['ratio']:.3f}x** (target at most 1.10x), "
        f"{result['rounds']} rounds of {result['calls_per_round']} calls, {result['tracing']}.",
    ])


def telemetry(result: dict[str, Any]) -> str:
    lines = ["| variant | µs per call | x bare span |", "| --- | ---: | ---: |"]
    ratios = result["median_ratio_to_bare_span"]
    for name in sorted(ratios, key=ratios.__getitem__):  # cheapest first
        lines.append(f"| {name} | {_num(result['median_us'][name], 1)} | {ratios[name]:.2f} |")
    added, logic = result["guard_added_us"], result["guard_logic_us"]
    lines += [
        "",
        f"Of what the guard adds beyond the span ({_num(added, 1)} µs), {_num(added - logic, 1)} µs "
        f"is OpenTelemetry's own work on the guard's attributes and metric points and "
        f"{_num(logic, 1)} µs the guard's logic ({result['rounds']} rounds of "
        f"{result['calls_per_round']} calls).",
    ]
    return "\n".join(lines)


def stores(result: dict[str, Any]) -> str:
    lines = ["| store | threads | decisions/s | median µs | p99 µs |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for row in result["rows"]:
        lines.append(f"| {row['store']} | {row['threads']} | {row['decisions_per_s']:,.0f} | "
                     f"{_num(row['median_us'], 1)} | {_num(row['p99_us'], 1)} |")
    lines += ["", f"{result['calls']:,} decisions per row."]
    return "\n".join(lines)


TABLES: dict[str, Callable[[dict[str, Any]], str]] = {
    "core": core, "langchain": langchain, "telemetry": telemetry, "stores": stores,
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
