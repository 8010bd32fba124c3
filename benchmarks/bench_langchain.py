"""How much a guard adds to a LangChain tool call: `tool.invoke` guarded vs unguarded.

    python benchmarks/bench_langchain.py [--quick] [--json] [--rounds 30] [--number 300] [--sdk]

Both tools are timed in the same run, interleaved round by round so that drift in the machine
affects both alike (benchmarks/_harness.py); the median time per call of each, and their ratio
within each round, are printed. The call is
the one an agent makes: a model tool call (`{"type": "tool_call", ...}`) that returns a
`ToolMessage`. The manifest is typical: five tools, three constraints on the called one, and a
task budget charged on every call. Target: the guarded call costs at most 1.10x the unguarded.

By default OpenTelemetry has no SDK (the API's no-op tracer, as in an app that does not trace);
`--sdk` installs an SDK tracer provider that keeps no spans, to see the cost with tracing on.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any

from _harness import Case, add_arguments, measure, report
from guardrail_langchain import guard_tools
from langchain_core.tools import tool

from guardrail import Guard, MemoryStore


@tool
def read_ticket(queue: str, ticket_id: str, include_history: bool = False) -> str:
    """Read one ticket from a helpdesk queue."""
    return f"{queue}/{ticket_id}: the printer is on fire"


MANIFEST: dict[str, Any] = {
    "manifest": 1,
    "principal": "agent:bench",
    "ttl": "1h",
    "budget": {"calls": 10**9},
    "tools": {
        "read_ticket": {
            "args": {
                "queue": ["support-eu", "support-us"],
                "ticket_id": {"pattern": "^T-[0-9]{1,8}$", "required": True},
                "include_history": {"type": "boolean"},
            },
        },
        "post_reply": {"args": {"ticket_id": {"starts_with": "T-"}, "body": {"max_length": 2000}}},
        "search_kb": {"args": {"query": {"max_length": 200}, "limit": {"type": "integer", "max": 20}}},
        "close_ticket": {"args": {"ticket_id": {"pattern": "^T-[0-9]{1,8}$"}}},
        "tag_ticket": {"args": {"ticket_id": {}, "tag": ["vip", "bug", "billing"]}},
    },
}

CALL: dict[str, Any] = {
    "type": "tool_call",
    "name": "read_ticket",
    "id": "call-1",
    "args": {"queue": "support-eu", "ticket_id": "T-1042", "include_history": True},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, rounds=30, number=300)
    parser.add_argument("--sdk", action="store_true", help="trace with an OpenTelemetry SDK provider")
    ns = parser.parse_args(argv)

    tracer_provider = None
    if ns.sdk:
        from opentelemetry.sdk.trace import TracerProvider

        tracer_provider = TracerProvider()  # no span processor: spans are made, then dropped

    guard = Guard(
        {**MANIFEST, "task": f"bench-{uuid.uuid4()}"}, store=MemoryStore(), tracer_provider=tracer_provider
    )
    [guarded] = guard_tools([read_ticket], guard)
    assert guarded.invoke(CALL).status == "success", "the benchmark call must be allowed"
    args, noop = CALL["args"], (lambda **_: None)
    result = measure(
        [
            Case("unguarded", lambda: read_ticket.invoke(CALL)),
            Case("guarded", lambda: guarded.invoke(CALL)),
            # guard.invoke of a function that does nothing: the guard's own cost per call
            Case("guard alone", lambda: guard.invoke("read_ticket", noop, args, call_id="call-1")),
        ],
        baseline="unguarded", ns=ns,
    )
    tracing = "OpenTelemetry SDK provider" if ns.sdk else "no OpenTelemetry SDK"
    report(
        result, ns, title=f"LangChain tool.invoke, {tracing}", label="call",
        notes=[
            f"\nguarded / unguarded: {result['guarded'].ratio:.3f}x (target <= 1.10x)",
            "'guard alone' is guard.invoke of a no-op function with the same manifest.",
            "(LangChain re-reads a tool's `_run` signature on every call; the guarded tool's is\n"
            " cheaper to read than StructuredTool's, which offsets part of the guard's cost.)",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
