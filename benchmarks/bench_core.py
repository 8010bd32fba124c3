"""Cost of one guard check against baselines doing the same comparisons, measured in one run.

    python benchmarks/bench_core.py            # prints a Markdown table of medians and ratios

Every row checks the same rule: tool `send_refund` of a 5-tool manifest (3 constraints per tool),
with `order_id` equal to a value, `amount` a number in [0, 50] (bools excluded), `currency` one
of EUR/GBP, and no other argument. Ratios are against the hand-written check in the same run.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import timeit
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from guardrail import Guard, Manifest, MemoryStore

ARGS = {"order_id": "ORD-004711", "amount": 42.5, "currency": "EUR"}


def typical_manifest(extra_tools: int = 0) -> dict[str, Any]:
    tools: dict[str, Any] = {
        "read_ticket": {"args": {"queue": "support-eu",
                                 "ticket_id": {"pattern": "^T-[0-9]{1,8}$", "required": True},
                                 "limit": {"type": "integer", "min": 1, "max": 50}}},
        "send_refund": {"args": {"order_id": {"equals": "ORD-004711"},
                                 "amount": {"type": "number", "min": 0, "max": 50},
                                 "currency": ["EUR", "GBP"]}},
        "read_file": {"args": {"path": {"path_within": "/srv/tickets"},
                               "encoding": ["utf-8", "latin-1"], "max_bytes": {"max": 1_000_000}}},
        "fetch_url": {"args": {"url": {"url": {"hosts": ["api.example.com"]}},
                               "method": ["GET", "HEAD"], "timeout": {"min": 0, "max": 30}}},
        "post_reply": {"args": {"ticket_id": {"starts_with": "T-"},
                                "body": {"max_length": 2000}, "public": {"type": "boolean"}}},
    }
    for i in range(extra_tools):
        tools[f"tool_{i}"] = {"args": {"a": {"max": i}, "b": ["x", "y"], "c": {"max_length": 8}}}
    return {"task": "bench", "ttl": "1h", "tools": tools}


# -- baselines ----------------------------------------------------------------------------------

ALLOWED_TOOLS = frozenset(typical_manifest()["tools"])
REFUND_ARGS = frozenset(ARGS)


def hand_written(tool: str, args: dict[str, Any]) -> bool:
    if tool not in ALLOWED_TOOLS:
        return False
    if tool == "send_refund":
        for key in args:
            if key not in REFUND_ARGS:
                return False
        order_id = args.get("order_id")
        if order_id is not None and order_id != "ORD-004711":
            return False
        amount = args.get("amount")
        if amount is not None and (
            type(amount) not in (int, float) or not math.isfinite(amount) or not 0 <= amount <= 50
        ):
            return False
        currency = args.get("currency")
        return currency is None or currency in ("EUR", "GBP")
    return True


class RefundArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    order_id: Literal["ORD-004711"] | None = None
    amount: StrictInt | StrictFloat | None = Field(default=None, ge=0, le=50, allow_inf_nan=False)
    currency: Literal["EUR", "GBP"] | None = None


def pydantic_check(tool: str, args: dict[str, Any]) -> bool:
    if tool not in ALLOWED_TOOLS:
        return False
    try:
        RefundArgs.model_validate(args)
    except ValueError:
        return False
    return True


REFUND_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "order_id": {"const": "ORD-004711"},
        "amount": {"type": "number", "minimum": 0, "maximum": 50},
        "currency": {"enum": ["EUR", "GBP"]},
    },
}


def build_rows(quick: bool) -> list[tuple[str, Callable[[], Any]]]:
    store = MemoryStore()
    guard = Guard(typical_manifest(), store=store)
    big = Guard(Manifest.model_validate(typical_manifest(10_000) | {"task": "bench-big"}), store=store)
    rows: list[tuple[str, Callable[[], Any]]] = [
        ("hand-written if (baseline)", lambda: hand_written("send_refund", ARGS)),
        ("guard.check, 5 tools", lambda: guard.check("send_refund", ARGS)),
        ("guard.check, 10,005 tools", lambda: big.check("send_refund", ARGS)),
        ("guard.authorize, 5 tools (no budget)", lambda: guard.authorize("send_refund", ARGS)),
        ("pydantic model_validate", lambda: pydantic_check("send_refund", ARGS)),
    ]
    try:
        import fastjsonschema

        validate = fastjsonschema.compile(REFUND_SCHEMA)

        def fjs() -> bool:
            if "send_refund" not in ALLOWED_TOOLS:
                return False
            try:
                validate(ARGS)
            except fastjsonschema.JsonSchemaException:
                return False
            return True

        rows.append(("fastjsonschema", fjs))
    except ImportError:
        print("(fastjsonschema not installed: pip install '.[bench]')", file=sys.stderr)
    try:
        import jsonschema

        validator = jsonschema.Draft202012Validator(REFUND_SCHEMA)
        rows.append(("jsonschema", lambda: validator.is_valid(ARGS)))
    except ImportError:
        pass
    if not quick:
        try:
            import cedarpy

            policy = """permit(principal, action == Action::"send_refund", resource)
            when { context.order_id == "ORD-004711" && context.amount >= 0 && context.amount <= 50 &&
                   ["EUR", "GBP"].contains(context.currency) };"""
            request = {"principal": 'User::"bot"', "action": 'Action::"send_refund"',
                       "resource": 'Tool::"refunds"',
                       "context": {"order_id": "ORD-004711", "amount": 42, "currency": "EUR"}}
            rows.append(("Cedar (cedarpy)", lambda: cedarpy.is_authorized(request, policy, [])))
        except ImportError:
            pass
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, no Cedar")
    ns = parser.parse_args(argv)
    number, rounds = (2_000, 7) if ns.quick else (10_000, 21)
    rows = build_rows(ns.quick)
    # Rows are interleaved round by round and each ratio is taken within its round, so that a
    # drifting clock or a noisy neighbour moves the baseline and the row together.
    seconds: dict[str, list[float]] = {name: [] for name, _ in rows}
    ratios: dict[str, list[float]] = {name: [] for name, _ in rows}
    for _ in range(rounds):
        base = 0.0
        for i, (name, fn) in enumerate(rows):
            n = number if "Cedar" not in name else max(number // 100, 50)
            t = timeit.timeit(fn, number=n) / n
            if i == 0:
                base = t
            seconds[name].append(t)
            ratios[name].append(t / base)
    print(f"Python {sys.version.split()[0]}; medians over {rounds} interleaved rounds\n")
    print("| check | median (us) | x hand-written |")
    print("| --- | ---: | ---: |")
    for name, _ in rows:
        median = statistics.median(seconds[name])
        print(f"| {name} | {median * 1e6:.2f} | {statistics.median(ratios[name]):.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
