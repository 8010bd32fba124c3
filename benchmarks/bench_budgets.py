"""Cost of per-value, distinct and windowed budgets against a plain call budget (memory store).

    python benchmarks/bench_budgets.py [--quick] [--json] [--rounds 21] [--number 10000]

Rows are `Guard.authorize` (charged) on the in-memory store, each with a limit that is never
reached, against the baseline, the same tool with `budget: {calls: N}`:

- `per: to`, values cycling over 100 payees (a counter per value, its key a digest);
- `window: 1h` (calls in a rolling hour: a log of the calls, not one counter);
- `per` and `window` together; `distinct: {to: N}` over 100 repeated values; `sum` per value;
- `refund_on_error`: `invoke` of a tool that succeeds, with and without it.

Then the hot path of a tool without these features: `check` of an unbudgeted tool in a manifest
whose other tools use every new kind, against the same tool in a manifest without them (the fast
path must be unchanged: 1.00x). Targets: per-value and window rows within 2x the baseline.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from typing import Any

from _harness import Case, add_arguments, measure, report

from guardrail import Guard, Manifest, MemoryStore

BIG = 10**9
ARGS = {"to": {}, "amount": {"type": "number"}}


def manifest(**budgets: dict[str, Any]) -> Manifest:
    tools: dict[str, Any] = {"read": {"args": {"queue": "support-eu"}}}
    for name, budget in budgets.items():
        tools[name] = {"args": ARGS, "budget": budget}
    return Manifest.model_validate({"task": "bench-budgets", "ttl": "1d", "tools": tools})


def cases() -> list[Case]:
    values = itertools.cycle([{"to": f"payee-{i}", "amount": 1} for i in range(100)])

    def authorize(budget: dict[str, Any]) -> Any:
        guard = Guard(manifest(t=budget), store=MemoryStore())
        return lambda: guard.authorize("t", next(values))

    def invoke(refund: bool) -> Any:
        m = manifest(t={"calls": BIG})
        data = m.model_dump(by_alias=True, exclude_unset=True, mode="json")
        data["tools"]["t"]["refund_on_error"] = refund
        guard = Guard(data, store=MemoryStore())
        return lambda: guard.invoke("t", lambda to, amount: to, next(values))

    plain = Guard(manifest(), store=MemoryStore())
    rich = Guard(manifest(a={"calls": BIG, "per": "to", "window": "1h"},
                          b={"distinct": {"to": BIG}}), store=MemoryStore())
    queue = {"queue": "support-eu"}
    assert plain.check("read", queue).allowed and rich.check("read", queue).allowed
    return [
        Case("calls (baseline)", authorize({"calls": BIG})),
        Case("calls per value", authorize({"calls": BIG, "per": "to"})),
        Case("calls in a 1h window", authorize({"calls": BIG, "window": "1h"})),
        Case("calls per value in a 1h window", authorize({"calls": BIG, "per": "to", "window": "1h"})),
        Case("distinct values", authorize({"distinct": {"to": BIG}})),
        Case("sum per value", authorize({"sum": {"amount": BIG}, "per": "to"})),
        Case("invoke, calls", invoke(False)),
        Case("invoke, calls, refund_on_error", invoke(True)),
        # about 1 µs each: many more operations per round, against a noisy machine
        Case("check, unbudgeted tool, plain manifest", lambda: plain.check("read", queue),
             number=50_000),
        Case("check, unbudgeted tool, manifest with the new kinds",
             lambda: rich.check("read", queue), number=50_000),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, rounds=21, number=10_000)
    ns = parser.parse_args(argv)
    result = measure(cases(), baseline="calls (baseline)", ns=ns)
    fast = result.per_round("check, unbudgeted tool, manifest with the new kinds",
                            "check, unbudgeted tool, plain manifest", lambda a, b: a / b)
    refund = result.per_round("invoke, calls, refund_on_error", "invoke, calls", lambda a, b: a / b)
    notes = [
        f"\nper value: {result['calls per value'].ratio:.2f}x, window: "
        f"{result['calls in a 1h window'].ratio:.2f}x, both: "
        f"{result['calls per value in a 1h window'].ratio:.2f}x a plain call budget (target: within 2x)",
        f"the fast path next to the new kinds: {fast:.2f}x (target: 1.00x, unchanged)",
        f"invoke with refund_on_error (the tool succeeds): {refund:.2f}x",
    ]
    report(result, ns, title="Budgets beyond counts and sums (memory store)", notes=notes,
           extra={"fast_path_ratio": fast, "refund_on_error_ratio": refund})
    return 0


if __name__ == "__main__":
    sys.exit(main())
