"""`guardrail demo --plain`: a scripted support agent with plain Python tools, showing allowed calls,
each kind of denial, and the budget left."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import resources
from typing import Any, TextIO

from opentelemetry import trace

from .._errors import DelegationDenied
from .._manifest._models import Manifest
from .._runtime._guard import Guard
from .._stores._memory import MemoryStore

DEMO_MANIFEST = "refund.yaml"


def demo_manifest_text() -> str:
    return resources.files("guardrail").joinpath("examples", DEMO_MANIFEST).read_text("utf-8")


# -- the toolkit: plain functions, as an agent framework would hold them ----------------------


def read_ticket(queue: str, ticket_id: str) -> str:
    return f"[{queue}/{ticket_id}] Customer asks for a refund of order ORD-004711 (45 EUR)."


def send_refund(order_id: str, amount: float, currency: str = "EUR", note: str = "") -> str:
    return f"refunded {amount} {currency} on {order_id}"


def read_file(path: str) -> str:
    return f"(contents of {path})"


def fetch_url(url: str) -> str:
    return f"(200 OK from {url})"


def delete_customer(customer_id: str) -> str:  # in the toolkit, never granted
    return f"deleted {customer_id}"


# What a confused or injected model might ask for, in order.
SCRIPT: list[tuple[str, dict[str, Any], str]] = [
    ("read_ticket", {"queue": "support-eu", "ticket_id": "T-1042"}, "the ticket of the task"),
    ("read_ticket", {"queue": "billing", "ticket_id": "T-1042"}, "another queue"),
    ("read_ticket", {"queue": "support-eu"}, "no ticket id"),
    ("send_refund", {"order_id": "ORD-004711", "amount": 45, "currency": "EUR"}, "the refund"),
    ("send_refund", {"order_id": "ORD-004711", "amount": 500, "currency": "EUR"}, "too much"),
    ("send_refund", {"order_id": "ORD-004711", "amount": True, "currency": "EUR"}, "a bool"),
    ("send_refund", {"order_id": "ORD-000001", "amount": 10, "currency": "EUR"}, "other order"),
    ("send_refund",
     {"order_id": "ORD-004711", "amount": 5, "currency": "EUR", "note": "ok"}, "extra argument"),
    ("send_refund", {"order_id": "ORD-004711", "amount": 40, "currency": "EUR"}, "over the sum"),
    ("send_refund", {"order_id": "ORD-004711", "amount": 30, "currency": "GBP"}, "second refund"),
    ("send_refund", {"order_id": "ORD-004711", "amount": 1, "currency": "GBP"}, "third refund"),
    ("read_file", {"path": "/srv/tickets/T-1042/attachment.pdf"}, "an attachment"),
    ("read_file", {"path": "/srv/tickets/../../etc/passwd"}, "path traversal"),
    ("fetch_url", {"url": "https://api.example.com/v1/orders/4711"}, "the order API"),
    ("fetch_url", {"url": "https://api.example.com@evil.example.net/"}, "a URL trick"),
    ("delete_customer", {"customer_id": "C-77"}, "a tool never granted"),
]


def run_plain_demo(
    *, out: TextIO | None = None, tracer_provider: trace.TracerProvider | None = None
) -> int:
    out = out or sys.stdout
    manifest = Manifest.from_yaml(demo_manifest_text(), source=DEMO_MANIFEST)
    now = [manifest.expires_ts - 600]  # a clock the demo can move, to show expiry
    guard = Guard(
        manifest, store=MemoryStore(), clock=lambda: now[0], tracer_provider=tracer_provider
    )
    toolkit: dict[str, Callable[..., str]] = {
        fn.__name__: fn for fn in (read_ticket, send_refund, read_file, fetch_url, delete_customer)
    }
    tools = guard.wrap_all(toolkit)

    w = out.write
    w(f"task {manifest.task}  principal {manifest.principal}  issued by {manifest.issuer}\n")
    w(f"manifest {manifest.digest[:19]}...  grants: {', '.join(manifest.tools)}\n\n")
    allowed = denied = 0
    for name, args, why in SCRIPT:
        shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
        try:
            result = tools[name](**args)
        except DelegationDenied as exc:
            denied += 1
            d = exc.denial
            w(f"  DENY   {name}({shown})  # {why}\n")
            where = f" [{d.argument}]" if d.argument else ""
            w(f"         {d.code.value}{where}: {d.message}\n")
        else:
            allowed += 1
            w(f"  ALLOW  {name}({shown})  # {why}\n         -> {result}\n")

    now[0] = manifest.expires_ts + 1
    try:
        tools["read_ticket"](queue="support-eu", ticket_id="T-1042")
    except DelegationDenied as exc:
        denied += 1
        w(f"  DENY   read_ticket(...) after the TTL  # {exc.denial.code.value}: "
          f"{exc.denial.message}\n")
    now[0] = manifest.expires_ts - 60
    guard.revoke("task closed by user:alice")
    try:
        tools["read_ticket"](queue="support-eu", ticket_id="T-1042")
    except DelegationDenied as exc:
        denied += 1
        w(f"  DENY   read_ticket(...) after revoke  # {exc.denial.code.value}: "
          f"{exc.denial.message}\n")

    w(f"\n{allowed} allowed, {denied} denied. Budget left:\n")
    for scope, use in guard.usage().items():
        w(f"  {scope:<32} {use['used']:>6g} used of {use['limit']:g}"
          f"  ({use['remaining']:g} left)\n")
    return 0
