"""Cost of one guard check against baselines doing the same comparisons, measured in one run.

    python benchmarks/bench_core.py [--quick] [--json] [--rounds 21] [--number 10000]

Every row checks the same rule: tool `send_refund` of a 5-tool manifest (3 constraints per tool),
with `order_id` equal to a value, `amount` a number in [0, 50] (bools excluded), `currency` one
of EUR/GBP, and no other argument. Ratios are against the hand-written check in the same run
(benchmarks/_harness.py). Every baseline is built once, outside the timed call, as the guard's
manifest is: the pydantic model, the compiled schemas, and Cedar's parsed policy set. One more
Cedar row parses the policy text on every call (what `is_authorized(request, "<text>", ...)` does).
The `invoke` rows run a no-op tool through the guard (the guard copies the arguments it checks
and hands the tool that copy); the nested rows call a tool whose `lines` argument is a list of 10
objects (`each` with `fields`), so the cost of copying a nested argument shows as a ratio.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any, Literal

from _harness import Case, add_arguments, measure, report
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from guardrail import Guard, Manifest, MemoryStore

ARGS = {"order_id": "ORD-004711", "amount": 42.5, "currency": "EUR"}
NESTED_ARGS = {"order_id": "ORD-004711",
               "lines": [{"sku": f"SKU-{i:04d}", "qty": i % 5 + 1} for i in range(10)]}
NESTED_TOOL = {"args": {"order_id": {"equals": "ORD-004711"},
                        "lines": {"max_length": 20, "each": {"fields": {
                            "sku": {"pattern": "^SKU-[0-9]{4}$", "required": True},
                            "qty": {"type": "integer", "min": 1, "max": 10}}}}}}


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


def _noop(**_: Any) -> bool:
    return True


def build_cases(number: int) -> list[Case]:
    store = MemoryStore()
    guard = Guard(typical_manifest(), store=store)
    nested = Guard(typical_manifest() | {"task": "bench-nested", "tools": typical_manifest()["tools"]
                                         | {"refund_lines": NESTED_TOOL}}, store=store)
    big = Guard(Manifest.model_validate(typical_manifest(10_000) | {"task": "bench-big"}), store=store)
    cases = [
        Case(BASELINE, lambda: hand_written("send_refund", ARGS)),
        Case("guard.check, 5 tools", lambda: guard.check("send_refund", ARGS)),
        Case("guard.check, 10,005 tools", lambda: big.check("send_refund", ARGS)),
        Case("guard.authorize, 5 tools (no budget)", lambda: guard.authorize("send_refund", ARGS)),
        Case("guard.invoke, 5 tools (no-op tool)", lambda: guard.invoke("send_refund", _noop, ARGS)),
        Case("guard.check, nested list argument (10 objects)",
             lambda: nested.check("refund_lines", NESTED_ARGS)),
        Case("guard.invoke, nested list argument (10 objects)",
             lambda: nested.invoke("refund_lines", _noop, NESTED_ARGS)),
        Case("pydantic model_validate", lambda: pydantic_check("send_refund", ARGS)),
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

        cases.append(Case("fastjsonschema", fjs))
    except ImportError:
        print("(fastjsonschema not installed: pip install '.[bench]')", file=sys.stderr)
    try:
        import jsonschema

        validator = jsonschema.Draft202012Validator(REFUND_SCHEMA)
        cases.append(Case("jsonschema", lambda: validator.is_valid(ARGS)))
    except ImportError:
        pass
    try:
        import cedarpy
    except ImportError:
        print("(cedarpy not installed: pip install '.[bench]')", file=sys.stderr)
    else:
        cases += cedar_cases(cedarpy, number)
    for case in cases:  # every row times an allowed call; a denial would measure something else
        assert case.fn is not None
        outcome = case.fn()
        assert getattr(outcome, "allowed", outcome) is True, f"{case.name} must allow {ARGS}"
    return cases


CEDAR_POLICY = """permit(principal, action == Action::"send_refund", resource)
when { context.order_id == "ORD-004711" && context.amount >= 0 && context.amount <= 50 &&
       ["EUR", "GBP"].contains(context.currency) };"""
CEDAR_REQUEST = {"principal": 'User::"bot"', "action": 'Action::"send_refund"',
                 "resource": 'Tool::"refunds"',
                 "context": {"order_id": "ORD-004711", "amount": 42, "currency": "EUR"}}


def cedar_cases(cedarpy: Any, number: int) -> list[Case]:
    def allowed(policies: Any, entities: Any) -> bool:
        return bool(cedarpy.is_authorized(CEDAR_REQUEST, policies, entities).allowed)

    slow = max(number // 20, 50)  # Cedar rows are 10-300x slower: fewer calls keep rounds short
    cases = []
    if hasattr(cedarpy, "PolicySet"):  # cedarpy >= 4.12 takes pre-parsed policies and entities
        policies = cedarpy.PolicySet.from_str(CEDAR_POLICY)
        entities = cedarpy.Entities.from_json_str("[]")
        cases.append(Case("Cedar (cedarpy), pre-parsed policy", lambda: allowed(policies, entities),
                          number=slow))
    else:
        print("(this cedarpy cannot pre-parse a policy: only the row that parses it runs)",
              file=sys.stderr)
    cases.append(Case("Cedar (cedarpy), parsing the policy every call",
                      lambda: allowed(CEDAR_POLICY, []), number=slow))
    return cases


BASELINE = "hand-written if"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, rounds=21, number=10_000)
    ns = parser.parse_args(argv)
    result = measure(build_cases(ns.number), baseline=BASELINE, ns=ns)
    report(result, ns, title="One check of the same rule, side by side", label="check")
    return 0


if __name__ == "__main__":
    sys.exit(main())
