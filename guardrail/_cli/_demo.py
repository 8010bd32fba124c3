"""`guardrail demo`: the LangChain agent demo when the `langchain` extra gives it (entry point
`demo` in the group `guardrail.cli`), else (and with `--plain`) a scripted support agent with plain
Python tools, showing allowed calls, each kind of denial, and the budget left."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib import resources
from typing import Any, TextIO

from opentelemetry import trace

from .._errors import DelegationDenied
from .._exit import ExitCode
from .._manifest._models import Manifest
from .._runtime._guard import Guard
from .._stores._memory import MemoryStore
from .._text import num
from ._common import TraceOutput, one_line

DEMO_MANIFEST = "refund.yaml"
# The LangChain demo's wording too (adapters/guardrail_langchain/_demo.py; a test compares them).
BUDGET_HEADER = "Budget left (guard.usage(); a denied call costs nothing):"


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

    w(f"\n{allowed} allowed, {denied} denied.\n\n{BUDGET_HEADER}\n")
    for scope, use in guard.usage().items():
        w(f"  {scope:<32} {num(use['used'])} of {num(use['limit'])} used, "
          f"{num(use['remaining'])} left\n")
    return ExitCode.OK


# -- the command ---------------------------------------------------------------------------------


def _cmd_demo(ns: argparse.Namespace) -> int:
    tracing = TraceOutput(ns.trace) if ns.trace else None
    provider = tracing.provider if tracing is not None else None
    try:
        code = _run(ns, provider)
    except BaseException:
        if tracing is not None:
            tracing.close()
        raise
    return tracing.finish(code, "guardrail demo") if tracing is not None else code


def _run(ns: argparse.Namespace, provider: trace.TracerProvider | None) -> int:
    if not ns.plain:
        agent_demo: Callable[[trace.TracerProvider | None], int] | None = ns.agent_demo
        if agent_demo is None:
            why = ns.unavailable or "the agent demo is not installed: pip install 'task-guardrail[langchain]'"
        else:
            try:
                return agent_demo(provider)
            except ImportError as exc:  # raised before the demo prints anything
                why = one_line(exc)
        print(f"(running the plain-Python demo; {why})\n", file=sys.stderr)
    return run_plain_demo(tracer_provider=provider)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="a scripted scoped agent run: a LangChain helpdesk agent meets a prompt injection "
        "(no LLM, no key, no network)",
    )
    p.add_argument("--plain", action="store_true",
                   help="the plain-Python demo (every kind of denial; no LangChain needed)")
    p.add_argument("--trace", metavar="SPEC",
                   help="export the run's spans: console, jsonl:PATH (its directory must exist) or "
                   "otlp[:URL] (OTLP/HTTP; default endpoint and headers from OTEL_EXPORTER_OTLP_*)")
    # agent_demo: set by the `demo` entry point of the guardrail.cli group (the LangChain adapter);
    # unavailable: why that entry point could not load.
    p.set_defaults(func=_cmd_demo, agent_demo=None, unavailable=None)
