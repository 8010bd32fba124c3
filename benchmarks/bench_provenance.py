"""Cost of provenance checks: a `provenance: trusted` argument against 1 MiB of recorded results.

    python benchmarks/bench_provenance.py [--quick] [--json] [--rounds 15] [--number 200]

Rows (`Guard.check`, nothing charged; ratios against the first row, the fast path):
- a tool without provenance constraints, in a manifest without any, and next to tools with them
  (the fast path must be unchanged: same ratio);
- `provenance: trusted` with nothing recorded, then with 1 MiB of recorded results (1 record,
  and 256 records of 4 KiB), for a value that is not in them (the whole memory is searched: the
  worst case) and one that is (denied);
- `from_results` against 1 MiB (256 records of one tool);
- `str.__contains__` over the same 1 MiB, the search a check is made of;
- recording one 4 KiB result (`Guard.record_result`), what each guarded tool call adds.
"""

from __future__ import annotations

import argparse
import random
import sys
from typing import Any

from _harness import Case, add_arguments, measure, report

from guardrail import Guard, MemoryStore
from guardrail._provenance import normalise

WORDS = [
    "invoice", "payment", "account", "customer", "refund", "order", "shipping", "address",
    "balance", "transfer", "please", "review", "attached", "statement", "quarter", "number",
    "london", "berlin", "limited", "holdings", "support", "ticket", "urgent", "update",
]


def text(size: int, seed: int) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    n = 0
    while n < size:
        word = rng.choice(WORDS) if rng.random() < 0.9 else f"{rng.randrange(10**8):08d}"
        out.append(word)
        n += len(word) + 1
    return " ".join(out)[:size]


def manifest(provenance: bool) -> dict[str, Any]:
    tools: dict[str, Any] = {"read_file": {"args": {"path": {}}}}
    if provenance:
        tools["pay"] = {"args": {"recipient": {"provenance": "trusted"}, "amount": {}}}
        tools["share"] = {"args": {"file": {"from_results": "read_file"}}}
    return {"task": "bench-provenance", "ttl": "1h", "tools": tools}


def cases() -> tuple[list[Case], list[str]]:
    plain = Guard(manifest(False), store=MemoryStore())
    empty = Guard(manifest(True), store=MemoryStore())
    one = Guard(manifest(True), store=MemoryStore())
    many = Guard(manifest(True), store=MemoryStore())
    one.record_result("read_file", text(1 << 20, 1), call_id="r-0")
    for i in range(256):
        many.record_result("read_file", text(4096, 100 + i), call_id=f"r-{i}")
    copied = normalise(text(1 << 20, 1)[500_000:500_030]).strip()
    absent = {"recipient": "GB29NWBK60161331926819", "amount": 1}
    present = {"recipient": copied, "amount": 1}
    haystack = "\x00".join(r.text for r in one._memories[0].records)
    recorder = Guard(manifest(True), store=MemoryStore(), max_results_bytes=1 << 40)
    result_4k = text(4096, 7)

    assert plain.check("read_file", {"path": "a"}).allowed
    assert empty.check("pay", absent).allowed and one.check("pay", absent).allowed
    assert many.check("pay", absent).allowed
    assert not one.check("pay", present).allowed
    assert not many.check("share", {"file": "gb29nwbk60161331926819"}).allowed
    rows = [
        Case("check, manifest without provenance", lambda: plain.check("read_file", {"path": "a"})),
        Case("check, tool without provenance next to one with",
             lambda: one.check("read_file", {"path": "a"})),
        Case("check, provenance: trusted, nothing recorded", lambda: empty.check("pay", absent)),
        Case("check, provenance: trusted, 1 MiB in 1 record, absent",
             lambda: one.check("pay", absent)),
        Case("check, provenance: trusted, 1 MiB in 256 records, absent",
             lambda: many.check("pay", absent)),
        Case("check, provenance: trusted, 1 MiB, found (denied)",
             lambda: one.check("pay", present)),
        Case("check, from_results, 1 MiB in 256 records, absent (denied)",
             lambda: many.check("share", {"file": "gb29nwbk60161331926819"})),
        Case("str contains over 1 MiB, absent", lambda: "gb29nwbk60161331926819" in haystack),
        Case("record_result, 4 KiB", lambda: recorder.record_result("read_file", result_4k)),
    ]
    return rows, []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, rounds=15, number=200)
    ns = parser.parse_args(argv)
    rows, notes = cases()
    result = measure(rows, baseline="check, manifest without provenance", ns=ns)
    fast = result.per_round(
        "check, tool without provenance next to one with", "check, manifest without provenance",
        lambda a, b: a / b,
    )
    worst = result["check, provenance: trusted, 1 MiB in 256 records, absent"].median
    notes = [
        *notes,
        f"\na check against 1 MiB of recorded results (worst case, value absent): "
        f"{worst * 1e6:.0f} µs",
        f"a tool without provenance next to tools with it, against a manifest without any: "
        f"{fast:.2f}x (target: 1.00x, the fast path unchanged)",
    ]
    report(result, ns, title="Provenance checks against recorded results", notes=notes,
           extra={"check_1mib_us": worst * 1e6, "fast_path_ratio": fast})
    return 0


if __name__ == "__main__":
    sys.exit(main())
