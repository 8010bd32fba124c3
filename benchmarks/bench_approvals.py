"""Cost of approvals (`ask`): evaluating an ask rule, building a request, and a call approved by
the guard's approver, against the decisions without them.

    python benchmarks/bench_approvals.py [--quick] [--json] [--rounds 21] [--number 10000]

Rows (`Guard.check` charges nothing; the memory store, so the numbers are the guard's own work):
- `check, manifest without ask` (the baseline): a tool on the fast path;
- `check, tool without ask next to one with`: must stay on the fast path (ratio 1.00x);
- `check, budgeted tool (full path)`: the same tool as the ask rows, without `ask`;
- `check, budgeted tool, ask rule false`: the ask rule evaluated and not asking: the difference
  to the row before is what an ask rule costs a call that does not ask;
- `check, budgeted tool that asks (dry run)`: the rule true; the request (id, canonical JSON,
  digest) is built and the `ask` decision returned, nothing stored;
- `authorize, approver says yes`: a call that asks and is approved at once by `approver=`: the
  ask decision, the request stored, the approver, the approval taken and the charge (each round
  on a fresh store, so requests do not pile up);
- `authorize, budgeted tool (charged)`: the same call without `ask`, for comparison.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from typing import Any

from _harness import Case, add_arguments, measure, report

from guardrail import Guard, Manifest, MemoryStore

ARGS = {"order_id": "ORD-004711", "amount": 42.5, "currency": "EUR"}
REFUND_ARGS: dict[str, Any] = {
    "order_id": {"starts_with": "ORD-"}, "amount": {"type": "number"}, "currency": {},
}
QUEUE = {"queue": "support-eu"}


def manifest(ask: Any = None, *, budget: bool = True) -> Manifest:
    grant: dict[str, Any] = {"args": REFUND_ARGS}
    if ask is not None:
        grant["ask"] = ask
    if budget:
        grant["budget"] = {"calls": 10**9}
    return Manifest.model_validate({
        "task": "bench-approvals", "ttl": "1h",
        "tools": {"send_refund": grant, "read_ticket": {"args": {"queue": "support-eu"}}},
    })


def fresh_timer(ask: Any, approver: Any) -> Any:
    """Times n authorizations on a guard of its own (a fresh store per round)."""

    def timer(n: int) -> float:
        guard = Guard(manifest(ask), store=MemoryStore(), approver=approver)
        return timeit.Timer(lambda: guard.authorize("send_refund", ARGS)).timeit(n)

    return timer


def cases() -> list[Case]:
    plain = Guard(manifest(budget=False), store=MemoryStore())
    with_ask = Guard(manifest("args.amount > 50.0"), store=MemoryStore())
    budgeted = Guard(manifest(), store=MemoryStore())
    asks = Guard(manifest("args.amount > 10.0"), store=MemoryStore())
    assert with_ask.check("send_refund", ARGS).allowed
    assert asks.check("send_refund", ARGS).outcome == "ask"
    approving = Guard(manifest("args.amount > 10.0"), store=MemoryStore(), approver=lambda r: True)
    assert approving.authorize("send_refund", ARGS).resolution is not None
    return [
        Case("check, manifest without ask", lambda: plain.check("read_ticket", QUEUE)),
        Case("check, tool without ask next to one with", lambda: with_ask.check("read_ticket", QUEUE)),
        Case("check, budgeted tool (full path)", lambda: budgeted.check("send_refund", ARGS)),
        Case("check, budgeted tool, ask rule false", lambda: with_ask.check("send_refund", ARGS)),
        Case("check, budgeted tool that asks (dry run)", lambda: asks.check("send_refund", ARGS)),
        Case("authorize, budgeted tool (charged)", timer=fresh_timer(None, None), number=2000),
        Case("authorize, approver says yes", timer=fresh_timer("args.amount > 10.0", lambda r: True),
             number=2000),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, rounds=21, number=10_000)
    ns = parser.parse_args(argv)
    result = measure(cases(), baseline="check, manifest without ask", ns=ns)
    rule = result.per_round(
        "check, budgeted tool, ask rule false", "check, budgeted tool (full path)",
        lambda a, b: a - b,
    )
    request = result.per_round(
        "check, budgeted tool that asks (dry run)", "check, budgeted tool, ask rule false",
        lambda a, b: a - b,
    )
    fast = result["check, tool without ask next to one with"].ratio
    approved = result.per_round(
        "authorize, approver says yes", "authorize, budgeted tool (charged)", lambda a, b: a / b
    )
    notes = [
        f"\nan ask rule that does not ask: {rule * 1e6:+.2f} µs per call",
        f"building the request of a call that asks (dry run): {request * 1e6:+.2f} µs",
        f"a call approved by the approver, against the same call without ask: {approved:.2f}x",
        f"a tool without `ask` next to one with, against a manifest without any: {fast:.2f}x "
        "(target: 1.00x, the fast path unchanged)",
    ]
    report(result, ns, title="Approvals (`ask`): what a rule, a request and an approval cost",
           notes=notes, extra={"ask_rule_us": rule * 1e6, "request_us": request * 1e6,
                               "approved_ratio": approved, "fast_path_ratio": fast})
    return 0


if __name__ == "__main__":
    sys.exit(main())
