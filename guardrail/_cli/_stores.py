"""`guardrail revoke` and `guardrail usage`: a task's revocation and spending in a shared store,
without its manifest in hand."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from .._errors import StoreUnavailable
from .._exit import ExitCode
from .._stores._url import open_store, redact_url

__all__ = ["format_usage", "register", "revoke_task", "task_usage"]


def revoke_task(url: str, task: str, reason: str = "", *, expires_at: float | None = None) -> None:
    """``guardrail revoke --store URL TASK_ID``: revoke a task for every guard sharing the store.

    Without ``expires_at`` (POSIX seconds) the revocation is kept until removed by hand, since the
    CLI does not know when the task's manifest expires."""
    if not task:
        raise ValueError("task id must not be empty")
    store = open_store(url)
    try:
        store.revoke(task, reason, expires_at=expires_at)
    finally:
        store.close()


def task_usage(url: str, task: str) -> dict[str, Any]:
    """``guardrail usage --store URL TASK_ID``: what the whole fleet spent on a task.

    Returns ``{"task": ..., "revoked": reason or None, "usage": {scope: used}}``."""
    if not task:
        raise ValueError("task id must not be empty")
    store = open_store(url)
    try:
        return {
            "task": task,
            "revoked": store.revoked([task]),
            "usage": dict(sorted(store.usage(task).items())),
        }
    finally:
        store.close()


def format_usage(report: dict[str, Any]) -> str:
    """Render ``task_usage``'s result as the CLI's plain-text output."""
    lines = [f"task: {report['task']}"]
    revoked: str | None = report["revoked"]
    lines.append("revoked: no" if revoked is None else f"revoked: yes ({revoked or 'no reason given'})")
    usage: dict[str, float] = report["usage"]
    if not usage:
        lines.append("usage: nothing charged")
    else:
        width = max(len(scope) for scope in usage)
        lines.append("usage:")
        lines.extend(f"  {scope.ljust(width)}  {_number(used)}" for scope, used in usage.items())
    return "\n".join(lines)


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


STORE_ENV = "GUARDRAIL_STORE"


def register(subparsers: Any) -> None:
    """Add `revoke` and `usage` to the `guardrail` command's subparsers."""
    store_help = f"the shared store: sqlite:///path or redis://host:port/db (default: ${STORE_ENV})"
    p = subparsers.add_parser(
        "revoke",
        help="revoke a task in a shared store: every guard on it denies from now on",
        description="Revoke a task for every guard sharing the store. Without --ttl the revocation "
        "is kept until removed by hand.",
    )
    p.add_argument("task", metavar="TASK_ID", help="the task to revoke (the manifest's task:)")
    p.add_argument("--store", metavar="URL", default=os.environ.get(STORE_ENV), help=store_help)
    p.add_argument("--reason", default="", help="why (shown in every denial)")
    p.add_argument("--ttl", metavar="DURATION", help="keep the revocation this long (e.g. 24h)")
    p.set_defaults(func=cmd_revoke)

    p = subparsers.add_parser(
        "usage",
        help="what every process sharing a store has spent on a task, and whether it is revoked",
    )
    p.add_argument("task", metavar="TASK_ID", help="the task (the manifest's task:)")
    p.add_argument("--store", metavar="URL", default=os.environ.get(STORE_ENV), help=store_help)
    p.add_argument("--json", action="store_true", help="print the usage as JSON")
    p.set_defaults(func=cmd_usage)


def cmd_revoke(ns: argparse.Namespace) -> int:
    """`guardrail revoke --store URL TASK_ID [--reason TEXT] [--ttl DURATION]`."""
    if not ns.store:
        print(f"guardrail revoke: give --store URL or set ${STORE_ENV}", file=sys.stderr)
        return ExitCode.USAGE
    expires_at = None
    if ns.ttl is not None:
        from .._manifest._models import parse_duration

        try:
            expires_at = time.time() + parse_duration(ns.ttl)
        except ValueError as exc:
            print(f"guardrail revoke: --ttl: {exc}", file=sys.stderr)
            return ExitCode.USAGE
    try:
        revoke_task(ns.store, ns.task, ns.reason, expires_at=expires_at)
    except (ValueError, ImportError) as exc:
        print(f"guardrail revoke: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except StoreUnavailable as exc:
        print(f"guardrail revoke: store unavailable: {exc}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    print(f"revoked task {ns.task!r} in {redact_url(ns.store)}")
    return ExitCode.OK


def cmd_usage(ns: argparse.Namespace) -> int:
    """`guardrail usage --store URL TASK_ID [--json]`."""
    if not ns.store:
        print(f"guardrail usage: give --store URL or set ${STORE_ENV}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        report = task_usage(ns.store, ns.task)
    except (ValueError, ImportError) as exc:
        print(f"guardrail usage: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except StoreUnavailable as exc:
        print(f"guardrail usage: store unavailable: {exc}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    print(json.dumps(report, indent=2) if ns.json else format_usage(report))
    return ExitCode.OK
