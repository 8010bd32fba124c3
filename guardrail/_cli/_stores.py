"""`guardrail revoke`, `guardrail usage` and `guardrail store init`: a task's revocation and
spending in a shared store (with or without its manifest in hand), and creating a store."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from .._errors import StoreUnavailable
from .._exit import ExitCode
from .._runtime._usage import budget_usage
from .._stores._url import open_store, redact_url
from ._common import STORE_ENV, add_store_option

__all__ = ["format_usage", "init_store", "register", "revoke_task", "store_tasks", "task_usage"]


def init_store(url: str) -> str:
    """``guardrail store init URL``: create the store a URL names, if it needs creating (a SQLite
    database file; Redis and memory need nothing, Redis is pinged). Returns what was done."""
    if url.strip().lower().startswith("sqlite:"):
        from .._stores._url import sqlite_path

        path = sqlite_path(url)
        existed = os.path.exists(path)
        query = urlsplit(url).query
        store = open_store(url + ("&" if query else ("" if url.endswith("?") else "?")) + "create=1")
        store.close()
        return f"{'already there' if existed else 'created'}: SQLite database {os.path.abspath(path)}"
    store = open_store(url)
    try:
        ping = getattr(store, "ping", None)
        if ping is not None:
            ping()
    finally:
        store.close()
    return f"nothing to create: {redact_url(url)} is ready"


def store_tasks(url: str) -> list[str]:
    """``guardrail usage --store URL`` without a task: every task the store holds."""
    store = open_store(url)
    try:
        tasks = getattr(store, "tasks", None)
        if tasks is None:
            raise ValueError(f"{type(store).__name__} cannot list its tasks")
        return list(tasks())
    finally:
        store.close()


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


def task_usage(
    url: str, task: str, limits: dict[str, float] | None = None, compiled: Any = None
) -> dict[str, Any]:
    """``guardrail usage --store URL TASK_ID``: what the whole fleet spent on a task.

    Returns ``{"task": ..., "revoked": reason or None, "usage": {scope: used}}``, and with
    ``limits`` (a manifest's budgets) ``"limits": {scope: limit}`` too. With ``compiled`` (the
    manifest compiled), the limits are its budgets, windows are counted as of now, and
    ``"rules"`` says in words what each per-value, distinct or windowed budget limits (a
    per-value budget appears once per value, as ``scope[arg=<digest>]``)."""
    if not task:
        raise ValueError("task id must not be empty")
    store = open_store(url)
    try:
        report: dict[str, Any] = {
            "task": task,
            "revoked": store.revoked([task]),
            "usage": dict(sorted(store.usage(task).items())),
        }
        if compiled is not None:
            entries = budget_usage(store, compiled, time.time())
            rules = compiled.rules()
            report["usage"] = dict(sorted(
                {**report["usage"], **{s: e["used"] for s, e in entries.items()}}.items()))
            limits = {s: e["limit"] for s, e in entries.items()}
            described = {s: rules[s.partition("[")[0]].describe() for s in entries
                         if s.partition("[")[0] in rules}
            if described:
                report["rules"] = dict(sorted(described.items()))
    finally:
        store.close()
    if limits is not None:
        report["limits"] = dict(sorted(limits.items()))
    return report


def format_usage(report: dict[str, Any]) -> str:
    """Render ``task_usage``'s result as the CLI's plain-text output."""
    lines = [f"task: {report['task']}"]
    revoked: str | None = report["revoked"]
    lines.append("revoked: no" if revoked is None else f"revoked: yes ({revoked or 'no reason given'})")
    usage: dict[str, float] = report["usage"]
    limits: dict[str, float] | None = report.get("limits")
    if limits is not None:
        scopes = sorted(set(limits) | set(usage))
        width = max((len(scope) for scope in scopes), default=0)
        lines.append("usage:" if scopes else "usage: the manifest has no budgets")
        for scope in scopes:
            limit = limits.get(scope)
            of = "(not in the manifest)" if limit is None else f"of {_number(limit)}"
            rule = report.get("rules", {}).get(scope)
            if rule:
                of += f"  ({rule})"
            lines.append(f"  {scope.ljust(width)}  {_number(usage.get(scope, 0.0))} {of}")
    elif not usage:
        lines.append("usage: nothing charged")
    else:
        width = max(len(scope) for scope in usage)
        lines.append("usage:")
        lines.extend(f"  {scope.ljust(width)}  {_number(used)}" for scope, used in usage.items())
    return "\n".join(lines)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)




def register(subparsers: Any) -> None:
    """Add `revoke` and `usage` to the `guardrail` command's subparsers."""
    p = subparsers.add_parser(
        "revoke",
        help="revoke a task in a shared store: every guard on it denies from now on",
        description="Revoke a task for every guard sharing the store. Without --ttl the revocation "
        "is kept until removed by hand.",
    )
    p.add_argument("task", metavar="TASK_ID", help="the task to revoke (the manifest's task:)")
    add_store_option(p)
    p.add_argument("--reason", default="", help="why (shown in every denial)")
    p.add_argument("--ttl", metavar="DURATION", help="keep the revocation this long (e.g. 24h)")
    p.set_defaults(func=cmd_revoke)

    p = subparsers.add_parser(
        "usage",
        help="what every process sharing a store has spent on a task, and whether it is revoked",
        description="What every process sharing a store has spent on a task. Without TASK_ID (and "
        "without --manifest) it lists the tasks the store holds.",
    )
    p.add_argument("task", metavar="TASK_ID", nargs="?",
                   help="the task (default: the task of --manifest; none: list the tasks)")
    add_store_option(p)
    p.add_argument("--manifest", metavar="PATH", help="the task's manifest: show each budget's limit")
    p.add_argument("--json", action="store_true", help="print the usage as JSON")
    p.set_defaults(func=cmd_usage)

    p = subparsers.add_parser(
        "store",
        help="manage a shared store (store init URL: create it)",
        description="Manage a shared budget store.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = actions.add_parser(
        "init",
        help="create the store (a SQLite database file); guards never create one unasked",
        description="Create the store a URL names: for SQLite the database file (its directory "
        "must exist). Guards and other commands refuse a missing database, so a deleted or "
        "mistyped file never becomes a fresh, empty budget.",
    )
    q.add_argument("url", metavar="URL", help="the store: sqlite:///relative.db, sqlite:////abs/path.db, redis://...")
    q.set_defaults(func=cmd_store_init)


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
    """`guardrail usage --store URL [TASK_ID] [--manifest PATH] [--json]`."""
    if not ns.store:
        print(f"guardrail usage: give --store URL or set ${STORE_ENV}", file=sys.stderr)
        return ExitCode.USAGE
    task, compiled = ns.task, None
    if ns.manifest is not None:
        from .._errors import GuardrailError
        from .._manifest._models import Manifest

        try:
            manifest = Manifest.from_file(ns.manifest)
        except (GuardrailError, OSError, ValueError) as exc:
            print(f"guardrail usage: --manifest {ns.manifest}: {exc}", file=sys.stderr)
            return ExitCode.USAGE
        if task is not None and task != manifest.task:
            print(f"guardrail usage: the manifest is for task {manifest.task!r}, not {task!r}",
                  file=sys.stderr)
            return ExitCode.USAGE
        task, compiled = manifest.task, manifest.compiled()
    try:
        if task is None:
            tasks = store_tasks(ns.store)
            print(json.dumps({"tasks": tasks}, indent=2) if ns.json
                  else "\n".join(tasks) if tasks else "no tasks in the store")
            return ExitCode.OK
        report = task_usage(ns.store, task, compiled=compiled)
    except (ValueError, ImportError) as exc:
        print(f"guardrail usage: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except StoreUnavailable as exc:
        print(f"guardrail usage: store unavailable: {exc}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    print(json.dumps(report, indent=2) if ns.json else format_usage(report))
    return ExitCode.OK


def cmd_store_init(ns: argparse.Namespace) -> int:
    """`guardrail store init URL`."""
    try:
        print(init_store(ns.url))
    except (ValueError, ImportError) as exc:
        print(f"guardrail store init: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except StoreUnavailable as exc:
        print(f"guardrail store init: store unavailable: {exc}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    return ExitCode.OK
