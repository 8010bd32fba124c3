"""The timing loop every benchmark shares: interleaved rounds, medians, ratios to a baseline.

A benchmark lists its rows as `Case`s and names one of them the baseline. `measure` runs every
case once per round, in forward order on even rounds and reversed on odd ones, so a drifting clock
or a noisy neighbour moves the baseline and the other rows together; each ratio is taken within
its round, and the report gives medians over rounds. Ratios, not absolute times, are what the
project compares (no test asserts a timing).

    from _harness import Case, add_arguments, measure, report

    parser = argparse.ArgumentParser()
    add_arguments(parser, rounds=21, number=10_000)
    ns = parser.parse_args()
    result = measure([Case("baseline", f), Case("guard", g)], baseline="baseline", ns=ns)
    report(result, ns)          # a Markdown table, or JSON with --json

`--quick` runs a couple of short rounds: the smoke CI runs, to show the script still works.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import statistics
import sys
import timeit
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Timer = Callable[[int], float]
"""Runs its operation n times and returns the seconds that took (for work a plain loop can't
time, e.g. n operations spread over threads)."""

QUICK_ROUNDS = 2
QUICK_NUMBER = 50


@dataclass(frozen=True)
class Case:
    """One row: `fn` is one operation (or `timer` times n of them); `number` overrides the run's
    operations per round for a row much slower than the others."""

    name: str
    fn: Callable[[], object] | None = None
    timer: Timer | None = None
    number: int | None = None

    def time(self, n: int) -> float:
        if self.timer is not None:
            return self.timer(n)
        assert self.fn is not None, f"case {self.name!r} has neither fn nor timer"
        return timeit.Timer(self.fn).timeit(n)  # timeit switches gc off while it times


@dataclass
class Row:
    name: str
    seconds: list[float] = field(default_factory=list)  # per operation, one value per round
    ratios: list[float] = field(default_factory=list)  # to the baseline of the same round

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)


@dataclass
class Result:
    baseline: str
    rounds: int
    number: int
    rows: list[Row]

    def __getitem__(self, name: str) -> Row:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def per_round(self, a: str, b: str, how: Callable[[float, float], float]) -> float:
        """The median over rounds of `how(a's seconds, b's seconds)` taken within each round."""
        return statistics.median(how(x, y) for x, y in zip(self[a].seconds, self[b].seconds, strict=True))

    def to_json(self) -> dict[str, Any]:
        return {
            "python": sys.version.split()[0],
            "machine": platform.machine(),
            "baseline": self.baseline,
            "rounds": self.rounds,
            "number": self.number,
            "rows": [
                {"name": r.name, "median_us": r.median * 1e6, "ratio": r.ratio,
                 "us_per_round": [s * 1e6 for s in r.seconds]}
                for r in self.rows
            ],
        }


def add_arguments(parser: argparse.ArgumentParser, *, rounds: int, number: int) -> None:
    """--rounds, --number (operations per round and row), --quick and --json."""
    parser.add_argument("--rounds", type=int, default=rounds, help=f"interleaved rounds (default {rounds})")
    parser.add_argument(
        "--number", type=int, default=number, help=f"operations per round and row (default {number})"
    )
    parser.add_argument(
        "--quick", action="store_true",
        help=f"{QUICK_ROUNDS} short rounds: checks the script runs, its numbers mean little",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def measure(
    cases: Sequence[Case], *, baseline: str, ns: argparse.Namespace | None = None,
    rounds: int | None = None, number: int | None = None, after_warmup: Callable[[], None] | None = None,
) -> Result:
    """Time every case once per round, interleaved, after one warm-up pass of each (then
    `after_warmup` runs, e.g. to drop what the warm-up recorded)."""
    if ns is not None:
        rounds = QUICK_ROUNDS if ns.quick else ns.rounds
        number = min(ns.number, QUICK_NUMBER) if ns.quick else ns.number
    if rounds is None or number is None or rounds < 1 or number < 1:
        raise ValueError(f"measure: rounds and number must be positive (got {rounds}, {number})")
    names = [c.name for c in cases]
    if baseline not in names or len(set(names)) != len(names):
        raise ValueError(f"measure: baseline {baseline!r} must be one of the distinct case names {names}")

    def count(case: Case) -> int:
        n = case.number if case.number is not None else number
        return max(1, min(n, number))

    for case in cases:  # warm up: caches, connections, lazily built code
        case.time(max(1, count(case) // 10))
    if after_warmup is not None:
        after_warmup()
    rows = {c.name: Row(c.name) for c in cases}
    for r in range(rounds):
        gc.collect()
        order = cases if r % 2 == 0 else list(reversed(cases))
        this_round: dict[str, float] = {}
        for case in order:
            n = count(case)
            this_round[case.name] = case.time(n) / n
        for name, seconds in this_round.items():
            rows[name].seconds.append(seconds)
            rows[name].ratios.append(seconds / this_round[baseline])
    return Result(baseline, rounds, number, [rows[n] for n in names])


def markdown(
    result: Result, *, label: str = "row", unit: str = "µs",
    columns: Mapping[str, Callable[[Row], str]] | None = None,
) -> str:
    """A Markdown table: name, median per operation, ratio to the baseline, any extra columns."""
    scale = {"µs": 1e6, "ms": 1e3, "s": 1.0}[unit]
    extra = dict(columns or {})
    head = [label, f"median ({unit})", f"x {result.baseline}", *extra]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for row in result.rows:
        cells = [row.name, _num(row.median * scale), f"{row.ratio:.2f}x", *(f(row) for f in extra.values())]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(
    result: Result, ns: argparse.Namespace, *, title: str = "", notes: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None, **table: Any,
) -> None:
    """Print the result: JSON (with `extra` merged in) under --json, else a title, the table, notes."""
    if ns.json:
        print(json.dumps({**result.to_json(), **(extra or {})}, indent=2))
        return
    quick = " (--quick: a smoke run, not a measurement)" if ns.quick else ""
    print(f"{title}{quick}".strip())
    print(f"Python {sys.version.split()[0]}; medians over {result.rounds} interleaved rounds "
          f"of {result.number} operations; ratios taken within each round\n")
    print(markdown(result, **table))
    for note in notes:
        print(note)


def _num(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:,.2f}" if x < 1000 else f"{x:,.0f}"
