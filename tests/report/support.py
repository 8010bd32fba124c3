"""A real guarded run written to a JSONL trace and a decision log, for the report tests."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from guardrail import AuditLog, DelegationDenied, Guard, MemoryStore, configure_tracing

REPO = Path(__file__).resolve().parents[2]
REFUND = REPO / "examples" / "refund.yaml"
HOSTILE_TOOL = '<img src=x onerror="alert(1)">'

# (tool, args, expected decision, expected code)
SCRIPT: list[tuple[str, dict[str, object], str, str | None]] = [
    ("read_ticket", {"queue": "support-eu", "ticket_id": "T-1042"}, "allow", None),
    ("send_refund", {"order_id": "ORD-004711", "amount": 500}, "deny", "argument_invalid"),
    ("send_refund", {"order_id": "ORD-004711", "amount": 45}, "allow", None),
    ("send_refund", {"order_id": "ORD-004711", "amount": 40}, "deny", "budget_exhausted"),
    ("delete_customer", {"customer_id": "C-77"}, "deny", "tool_not_allowed"),
    (HOSTILE_TOOL, {}, "deny", "tool_not_allowed"),
    ("read_file", {"path": "/srv/tickets/../../etc/passwd"}, "deny", "argument_invalid"),
    ("send_refund", {"order_id": "ORD-004711", "amount": 30}, "allow", None),
]


@dataclass
class Run:
    trace: Path
    audit: Path
    parent_task: str
    child_task: str


def guarded_run(directory: Path) -> Run:
    """The SCRIPT through an enforcing guard, a shadow-mode call and a sub-agent whose call its
    parent's manifest denies; spans to `trace`, decisions to `audit`."""
    trace, audit = directory / "spans.jsonl", directory / "decisions.jsonl"
    provider = configure_tracing(f"jsonl:{trace}")
    log = AuditLog(audit)
    store = MemoryStore()
    guard = Guard(REFUND, store=store, tracer_provider=provider, audit=log)
    for tool, args, _, _ in SCRIPT:
        with contextlib.suppress(DelegationDenied):
            guard.invoke(tool, lambda **_: "ok", args)
    child = guard.delegate({"tools": {"send_refund": {"args": {
        "order_id": {}, "amount": {}, "currency": "EUR"}}}})
    with contextlib.suppress(DelegationDenied):
        child.invoke("send_refund", lambda **_: "ok", {"order_id": "ORD-004711", "amount": -5})
    shadow = Guard({"task": "shadow-1", "ttl": "5m", "tools": {"ping": {}}}, mode="shadow",
                   store=store, tracer_provider=provider)
    shadow.invoke("pong", lambda: "ran anyway", {})
    provider.shutdown()
    log.close()
    return Run(trace=trace, audit=audit, parent_task=guard.task, child_task=child.task)
