"""Cost of a CEL `when` condition: the engines side by side, and what the guard adds to one.

    python benchmarks/bench_conditions.py [--quick] [--json] [--rounds 21] [--number 10000]

Every row evaluates the same three-clause condition on the same arguments:

    args.amount <= 100.0 && args.currency in ['EUR', 'GBP'] && args.order_id.startsWith('ORD-')

Engine rows (ratios against a plain Python `if` doing the same comparisons):
- `cel-expr-python`: Google's C++ runtime, the compiled expression's `eval`, the engine guardrail
  uses (the `cel` extra);
- `common-expression-language`: the Rust runtime's compiled `Program.execute` (only when it is
  installed: `pip install common-expression-language`; it is not a dependency);
- `guardrail Condition`: `call_data` + `Condition.holds`, what the decider runs per link.

Guard rows (`Guard.check`, nothing charged): a tool without `when` against the same tool in a
manifest without any condition (the fast path must be unchanged: same ratio), and a budgeted tool
(the full path) with and without the condition: their difference is what a `when` costs inside
the guard, to compare with the engine row.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from _harness import Case, add_arguments, measure, report

from guardrail import Guard, Manifest, MemoryStore
from guardrail._policy._conditions import call_data, compile_condition

EXPRESSION = (
    "args.amount <= 100.0 && args.currency in ['EUR', 'GBP'] && args.order_id.startsWith('ORD-')"
)
ARGS = {"order_id": "ORD-004711", "amount": 42.5, "currency": "EUR"}
REFUND_ARGS: dict[str, Any] = {
    "order_id": {"starts_with": "ORD-"}, "amount": {"type": "number"}, "currency": {},
}


def hand_written(args: dict[str, Any]) -> bool:
    return (
        args["amount"] <= 100.0
        and args["currency"] in ("EUR", "GBP")
        and args["order_id"].startswith("ORD-")
    )


def manifest(*, when: bool, budget: bool) -> Manifest:
    grant: dict[str, Any] = {"args": REFUND_ARGS}
    if when:
        grant["when"] = EXPRESSION
    if budget:
        grant["budget"] = {"calls": 10**9}
    return Manifest.model_validate({
        "task": "bench", "ttl": "1h",
        "tools": {"send_refund": grant, "read_ticket": {"args": {"queue": "support-eu"}}},
    })


def cases() -> tuple[list[Case], list[str]]:
    notes: list[str] = []
    condition = compile_condition(EXPRESSION)
    from cel_expr_python import cel

    t = cel.Type
    env = cel.NewEnv(variables={"args": t.Map(t.STRING, t.DYN)})
    program = env.compile(EXPRESSION)
    data = {"args": ARGS}
    assert hand_written(ARGS) and program.eval(data=data).value() is True
    assert condition.holds(call_data(condition, ARGS, "send_refund", "bench", None, 0.0))
    rows = [
        Case("python if", lambda: hand_written(ARGS)),
        Case("cel-expr-python eval", lambda: program.eval(data=data).value()),
    ]
    try:
        import cel as rust_cel  # common-expression-language
    except ImportError:
        notes.append("common-expression-language is not installed: its row is left out "
                     "(pip install common-expression-language)")
    else:
        rust = rust_cel.compile(EXPRESSION)
        assert rust.execute(data) is True
        rows.append(Case("common-expression-language execute", lambda: rust.execute(data)))
    rows.append(Case(
        "guardrail Condition (call_data + holds)",
        lambda: condition.holds(call_data(condition, ARGS, "send_refund", "bench", None, 0.0)),
    ))

    guards = {
        (when, budget): Guard(manifest(when=when, budget=budget), store=MemoryStore())
        for when in (False, True) for budget in (False, True)
    }
    plain, with_when = guards[(False, False)], guards[(True, False)]
    budgeted, budgeted_when = guards[(False, True)], guards[(True, True)]
    queue = {"queue": "support-eu"}
    for guard in guards.values():
        assert guard.check("send_refund", ARGS).allowed
    rows += [
        Case("check, manifest without when", lambda: plain.check("read_ticket", queue)),
        Case("check, tool without when next to one with", lambda: with_when.check("read_ticket", queue)),
        Case("check, budgeted tool (full path)", lambda: budgeted.check("send_refund", ARGS)),
        Case("check, budgeted tool with when", lambda: budgeted_when.check("send_refund", ARGS)),
    ]
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, rounds=21, number=10_000)
    ns = parser.parse_args(argv)
    rows, notes = cases()
    result = measure(rows, baseline="python if", ns=ns)
    step = result.per_round(
        "check, budgeted tool with when", "check, budgeted tool (full path)", lambda a, b: a - b
    )
    engine = result["cel-expr-python eval"].median
    fast = result.per_round(
        "check, tool without when next to one with", "check, manifest without when",
        lambda a, b: a / b,
    )
    notes = [
        *notes,
        f"\nthe `when` step in the guard: {step * 1e6:.2f} µs; the engine's own evaluation: "
        f"{engine * 1e6:.2f} µs; overhead {(step - engine) * 1e6:+.2f} µs (target: within +1 µs)",
        f"a tool without `when` next to one with, against a manifest without any: {fast:.2f}x "
        "(target: 1.00x, the fast path unchanged)",
    ]
    report(result, ns, title="CEL `when` conditions: engines and the guard's cost", notes=notes,
           extra={"when_step_us": step * 1e6, "engine_us": engine * 1e6, "fast_path_ratio": fast})
    return 0


if __name__ == "__main__":
    sys.exit(main())
