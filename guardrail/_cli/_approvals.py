"""`guardrail approvals list|approve ID|reject ID --store URL`: the calls waiting for a person in a
shared store, answered out of band. The identical call retried by the agent (any process sharing
the store) then runs, once, or is refused `approval_denied`."""

from __future__ import annotations

import argparse
import getpass
import json
import time
from typing import Any, cast

from .._exit import ExitCode
from .._outcome import Approval, ApprovalRequest
from .._stores._approvals import ApprovalStore, supports_approvals
from .._stores._url import open_store, redact_url
from .._text import iso
from ._common import STORE_ENV, CommandError, add_store_option, one_line

__all__ = ["answer_request", "list_requests", "register"]



def _book(url: str) -> tuple[Any, ApprovalStore]:
    try:
        store = open_store(url)
    except (ValueError, ImportError) as exc:
        raise CommandError(f"--store: {one_line(exc)}") from None
    if not supports_approvals(store):
        store.close()
        raise CommandError(f"--store: {type(store).__name__} keeps no approval requests")
    return store, cast(ApprovalStore, store)


def list_requests(url: str, task: str | None = None) -> list[tuple[ApprovalRequest, Approval | None]]:
    """The live requests of the store (of `task`), oldest first, with their answers."""
    store, book = _book(url)
    try:
        return book.approval_requests(task, now=time.time())
    finally:
        store.close()


def answer_request(
    url: str, request_id: str, approved: bool, *, by: str | None, reason: str | None,
    task: str | None = None,
) -> tuple[ApprovalRequest, Approval]:
    """Approve or reject request `request_id`; `CommandError` (exit 1) when it cannot be answered
    (unknown, answered before, used, expired, or of another task than `task`)."""
    store, book = _book(url)
    now = time.time()
    try:
        if task is not None:
            mine = {r.id for r, _ in book.approval_requests(task, now=now)}
            if request_id not in mine:
                raise CommandError(
                    f"no live approval request {request_id!r} of task {task!r}", ExitCode.FAILED
                )
        answer = Approval(request_id=request_id, approved=approved, by=by, reason=reason)
        resolved = book.resolve_approval(request_id, answer, now=now)
    finally:
        store.close()
    if resolved.status != "resolved":
        raise CommandError(_why(request_id, resolved.status, resolved.approval), ExitCode.FAILED)
    assert resolved.request is not None and resolved.approval is not None
    return resolved.request, resolved.approval


def _why(request_id: str, status: str, earlier: Approval | None) -> str:
    rid = repr(request_id[:100])
    if status == "decided" and earlier is not None:
        verdict = "approved" if earlier.approved else "rejected"
        return f"approval request {rid} was {verdict} before" + (f" by {earlier.by}" if earlier.by else "")
    if status == "used":
        return f"approval request {rid} was used before"
    if status == "expired":
        return f"approval request {rid} has expired"
    return f"no approval request {rid} in the store (unknown, or dropped after it expired)"


def _row(request: ApprovalRequest, answer: Approval | None) -> dict[str, Any]:
    status = "pending" if answer is None else "approved" if answer.approved else "rejected"
    return {
        "id": request.id, "task": request.task, "tool": request.tool, "status": status,
        "reason": request.reason, "args": request.args,
        "created_at": request.created_at.isoformat(), "expires_at": request.expires_at.isoformat(),
        "by": None if answer is None else answer.by,
        "principal": request.principal,
    }


def register(sub: Any) -> None:
    p = sub.add_parser(
        "approvals",
        help="calls waiting for a person (ask): list, approve ID, reject ID",
        description="The calls a manifest's `ask` sent to a person, in a shared store. Approve or "
        "reject one by its id: the agent's identical call, retried, then runs once (or is "
        "refused approval_denied).",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    q = actions.add_parser("list", help="the live requests (pending, and answered but not yet used)")
    add_store_option(q)
    q.add_argument("--task", metavar="TASK_ID", help="only this task's requests")
    q.add_argument("--json", action="store_true", help="print the requests as JSON")
    q.set_defaults(func=_cmd_list)

    for action, verb in (("approve", "approve"), ("reject", "refuse")):
        q = actions.add_parser(action, help=f"{verb} one request by its id")
        q.add_argument("id", metavar="ID", help="the request's id (apr-...)")
        add_store_option(q)
        q.add_argument("--task", metavar="TASK_ID", help="refuse unless the request is of this task")
        q.add_argument("--by", metavar="WHO", help="who answers (default: the user name)")
        q.add_argument("--reason", metavar="TEXT", help="why (recorded with the answer)")
        q.add_argument("--json", action="store_true", help="print the answer as JSON")
        q.set_defaults(func=_cmd_answer, approved=action == "approve")


def _store(ns: argparse.Namespace) -> str:
    if not ns.store:
        raise CommandError(f"give --store URL or set ${STORE_ENV}")
    return str(ns.store)


def _cmd_list(ns: argparse.Namespace) -> int:
    url = _store(ns)
    found = list_requests(url, ns.task)
    if ns.json:
        print(json.dumps({"requests": [_row(r, a) for r, a in found]}, indent=2, ensure_ascii=False))
        return ExitCode.OK
    if not found:
        print(f"no approval requests in {redact_url(url)}"
              + (f" for task {ns.task!r}" if ns.task else ""))
        return ExitCode.OK
    for request, answer in found:
        row = _row(request, answer)
        by = f" by {row['by']}" if row["by"] else ""
        print(f"{request.id}  {row['status']}{by}  task {request.task!r}  tool {request.tool!r}  "
              f"until {iso(request.expires_ts)}")
        print(f"  ask:  {request.reason}")
        print(f"  args: {json.dumps(request.args, ensure_ascii=False, sort_keys=True)[:2000]}")
    return ExitCode.OK


def _default_by() -> str | None:
    try:
        return getpass.getuser() or None
    except Exception:  # no user name in this environment (a container without one)
        return None


def _cmd_answer(ns: argparse.Namespace) -> int:
    url = _store(ns)
    by = ns.by if ns.by is not None else _default_by()
    request, answer = answer_request(
        url, ns.id, ns.approved, by=by, reason=ns.reason, task=ns.task
    )
    if ns.json:
        print(json.dumps({"request": _row(request, answer), "answer": answer.model_dump(mode="json")},
                         indent=2, ensure_ascii=False))
    else:
        verdict = "approved" if answer.approved else "rejected"
        print(f"{verdict} {request.id}: task {request.task!r} tool {request.tool!r}"
              + (f" by {answer.by}" if answer.by else ""))
    return ExitCode.OK
