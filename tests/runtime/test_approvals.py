"""The third outcome, `ask`: which calls go to a person, in which order, what an approval is
bound to, the approver, shadow mode, delegation, telemetry and the audit log."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from guardrail import (
    Approval,
    ApprovalDenied,
    ApprovalError,
    ApprovalRequest,
    ApprovalRequired,
    AuditLog,
    Decision,
    DenialCode,
    Guard,
    Manifest,
    ManifestError,
    MemoryStore,
    render_template,
)
from guardrail._telemetry import _names as tel
from guardrail.testing import FakeClock
from tests.telemetry.support import Telemetry

Tid = Callable[[str], str]


def pay(task: str, ask: Any = "args.amount > 50.0", **grant: Any) -> dict[str, Any]:
    return {
        "task": task, "ttl": "1h",
        "tools": {
            "pay": {
                "args": {"amount": {"type": "number", "min": 0, "max": 500},
                         "payee": {"type": "string"}},
                "ask": ask, **grant,
            },
            "read": {"args": {"doc": {}}},
        },
    }


def code(decision: Decision) -> str:
    return decision.outcome if decision.denial is None else decision.denial.code.value


# -- the manifest --------------------------------------------------------------------------------


def test_ask_forms_compile_and_write_back(task_id: Tid) -> None:
    for ask in (True, "args.amount > 50.0", ["args.amount > 50.0", "args.payee == 'x'"], False):
        m = Manifest.model_validate(pay(task_id("forms"), ask))
        again = Manifest.from_yaml(m.to_yaml())
        assert again.tools["pay"] is not None and again.tools["pay"].ask == ask
    compiled = Manifest.model_validate(pay(task_id("forms"), True)).compiled()
    assert compiled.tools["pay"].asks == (None,) and not compiled.tools["pay"].direct
    # A tool without ask (and without budget or when) stays on the fast path.
    assert compiled.tools["read"].direct
    assert Manifest.model_validate(pay(task_id("forms"), False)).compiled().tools["pay"].direct


def test_a_bad_ask_expression_names_its_path_and_line(task_id: Tid) -> None:
    text = (f"task: {task_id('bad')}\nttl: 1h\ntools:\n  pay:\n    args: {{amount: {{}}}}\n"
            "    ask:\n      - args.amount > 50.0\n      - 'args.amount >'\n")
    with pytest.raises(ManifestError, match=r"tools\.pay\.ask.*\(line 6\).*item 1: invalid CEL"):
        Manifest.from_yaml(text)
    with pytest.raises(ManifestError, match=r"tools\.pay\.ask.*undeclared reference to 'nope'"):
        Manifest.model_validate(pay(task_id("bad"), "nope > 1"))
    for bad in ([], "", 1, [True], {"a": 1}):
        with pytest.raises(ManifestError, match=r"tools\.pay\.ask"):
            Manifest.model_validate(pay(task_id("bad"), bad))
    with pytest.raises(ManifestError, match="must be a boolean expression"):
        Manifest.model_validate(pay(task_id("bad"), "args.amount + 1"))


def test_a_template_parameter_cannot_land_in_ask(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text("params: {payee: {type: string}}\ntask: ${task}\nttl: 1h\ntools:\n"
                        "  pay:\n    args: {payee: {}}\n    ask: [\"args.payee != '${payee}'\"]\n")
    with pytest.raises(ManifestError, match=r"tools\.pay\.ask\.0: an `ask` condition cannot hold a "
                                            r"parameter"):
        render_template(template, task="t-1", payee="x' || true || '")


# -- the decision ----------------------------------------------------------------------------------


def test_a_call_that_asks_is_an_ask_and_a_denial(task_id: Tid) -> None:
    guard = Guard(pay(task_id("ask")), store=MemoryStore())
    assert guard.authorize("pay", {"amount": 10.0, "payee": "a"}).allowed
    asked = guard.authorize("pay", {"amount": 60.0, "payee": "a"})
    assert asked.outcome == "ask" and not asked.allowed and asked.blocks and asked.enforced
    assert asked.denial is not None and asked.denial.code is DenialCode.APPROVAL_REQUIRED
    assert asked.denial.constraint == "ask: args.amount > 50.0"
    request = asked.approval
    assert isinstance(request, ApprovalRequest)
    assert request.task == guard.task and request.tool == "pay" and request.reason == "args.amount > 50.0"
    assert request.args == {"amount": 60.0, "payee": "a"} and len(request.args_digest) == 64
    assert (request.expires_at - request.created_at).total_seconds() == pytest.approx(600)
    assert asked.denial.for_model()["approval_id"] == request.id
    # No argument values in the denial (the request id and its expiry time are random digits).
    words = asked.denial.message.replace(request.id, "").replace(request.expires_at.isoformat(), "")
    assert "60" not in re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z?", "", words)
    with pytest.raises(ApprovalRequired) as raised:
        asked.raise_for_denial()
    assert raised.value.request is request


def test_every_denial_and_the_budget_come_before_asking(task_id: Tid) -> None:
    guard = Guard(pay(task_id("order"), True, when="args.payee != 'blocked'", budget={"calls": 1}),
                  store=MemoryStore())
    assert code(guard.authorize("pay", {"amount": 900, "payee": "a"})) == "argument_invalid"
    assert code(guard.authorize("pay", {"amount": 1, "payee": "blocked"})) == "condition_failed"
    assert code(guard.authorize("nope", {})) == "tool_not_allowed"
    assert guard.pending() == []  # none of those was put to a person
    assert guard.authorize("pay", {"amount": 1, "payee": "a"}, approval=True).allowed
    # The budget is spent: the next call is denied, never asked.
    assert code(guard.authorize("pay", {"amount": 2, "payee": "a"})) == "budget_exhausted"
    assert guard.pending() == []
    guard.revoke("stop")
    assert code(guard.authorize("pay", {"amount": 2, "payee": "a"})) == "revoked"


def test_the_first_true_rule_is_the_reason_and_doubt_asks(task_id: Tid) -> None:
    rules = ["args.amount > 50.0", "args.payee == 'x'", "args.missing > 1"]
    guard = Guard(pay(task_id("reason"), rules), store=MemoryStore())
    asked = guard.check("pay", {"amount": 60.0, "payee": "x"})
    assert asked.approval is not None and asked.approval.reason == "args.amount > 50.0"
    asked = guard.check("pay", {"amount": 6.0, "payee": "x"})
    assert asked.approval is not None and asked.approval.reason == "args.payee == 'x'"
    # An expression that evaluates to an error asks (doubt goes to the person), and says so.
    asked = guard.check("pay", {"amount": 6.0, "payee": "y"})
    assert asked.outcome == "ask" and asked.approval is not None
    assert asked.approval.reason == "args.missing > 1"
    assert asked.denial is not None and "evaluated to an error" in asked.denial.message
    # A dry run stores nothing.
    assert guard.pending() == []


def test_a_non_boolean_ask_value_asks(task_id: Tid) -> None:
    guard = Guard(pay(task_id("dyn"), "args.payee"), store=MemoryStore())
    assert guard.check("pay", {"amount": 1.0, "payee": "a"}).outcome == "ask"


def test_an_approved_call_is_charged_once_after_its_approval(task_id: Tid) -> None:
    guard = Guard(pay(task_id("charge"), budget={"calls": 3, "sum": {"amount": 500}}),
                  store=MemoryStore())
    asked = guard.authorize("pay", {"amount": 60.0, "payee": "a"})
    assert asked.approval is not None
    assert guard.usage()["tools.pay.calls"]["used"] == 0
    assert guard.authorize("pay", {"amount": 60.0, "payee": "a"}).outcome == "ask"  # same request
    assert [r.id for r in guard.pending()] == [asked.approval.id]
    assert guard.approve(asked.approval, by="ann").by == "ann"
    ran = guard.authorize("pay", {"amount": 60.0, "payee": "a"})
    assert ran.allowed and ran.approval is not None and ran.approval.id == asked.approval.id
    assert guard.usage()["tools.pay.calls"]["used"] == 1
    assert guard.usage()["tools.pay.sum.amount"]["used"] == 60.0


# -- what an approval is bound to ------------------------------------------------------------------


def test_changed_arguments_ask_again(task_id: Tid) -> None:
    guard = Guard(pay(task_id("args")), store=MemoryStore())
    asked = guard.authorize("pay", {"amount": 60.0, "payee": "a"})
    assert asked.approval is not None
    guard.approve(asked.approval.id)
    for changed in ({"amount": 60.0, "payee": "b"}, {"amount": 61.0, "payee": "a"},
                    {"amount": 60, "payee": "a"}):  # 60 and 60.0 are two calls: stricter
        again = guard.authorize("pay", changed)
        assert again.outcome == "ask" and again.approval is not None
        assert again.approval.id != asked.approval.id
    # The approval, by id, for another call: refused, and still there for its own call.
    other = guard.authorize("pay", {"amount": 70.0, "payee": "a"}, approval=asked.approval.id)
    assert code(other) == "approval_denied" and other.denial is not None
    assert "for another call (the same tool with other arguments)" in other.denial.message
    assert guard.authorize("pay", {"amount": 60.0, "payee": "a"}).allowed


def test_another_tasks_approval_is_refused(task_id: Tid) -> None:
    store = MemoryStore()
    mine = Guard(pay(task_id("mine")), store=store)
    theirs = Guard(pay(task_id("theirs")), store=store)
    asked = theirs.authorize("pay", {"amount": 60.0, "payee": "a"})
    assert asked.approval is not None
    theirs.approve(asked.approval.id)
    refused = mine.authorize("pay", {"amount": 60.0, "payee": "a"}, approval=asked.approval.id)
    assert code(refused) == "approval_denied" and refused.denial is not None
    assert f"task {theirs.task!r}, not {mine.task!r}" in refused.denial.message
    # Nor by passing their Approval object.
    answer = Approval(request_id=asked.approval.id, approved=True, by="mallory")
    assert code(mine.authorize("pay", {"amount": 60.0, "payee": "a"}, approval=answer)) == "approval_denied"
    assert theirs.authorize("pay", {"amount": 60.0, "payee": "a"}).allowed  # theirs still works


def test_reused_unknown_and_expired_approvals_are_refused(task_id: Tid, clock: FakeClock) -> None:
    guard = Guard(pay(task_id("reuse")), store=MemoryStore(), clock=clock, approval_ttl=60)
    call = {"amount": 60.0, "payee": "a"}
    asked = guard.authorize("pay", call)
    assert asked.approval is not None
    guard.approve(asked.approval.id)
    assert guard.authorize("pay", call, approval=asked.approval.id).allowed
    reused = guard.authorize("pay", call, approval=asked.approval.id)
    assert code(reused) == "approval_denied" and "used before" in str(reused.denial)
    with pytest.raises(ApprovalDenied):
        reused.raise_for_denial()
    unknown = guard.authorize("pay", call, approval="apr-does-not-exist")
    assert code(unknown) == "approval_denied" and "no approval request" in str(unknown.denial)
    assert unknown.denial is not None and unknown.denial.approval_id == "apr-does-not-exist"

    late = guard.authorize("pay", call)
    assert late.approval is not None
    guard.approve(late.approval.id)
    clock.advance(61)
    expired = guard.authorize("pay", call, approval=late.approval.id)
    assert code(expired) == "approval_expired"
    with pytest.raises(ApprovalDenied):
        expired.raise_for_denial()
    # The identical call asks afresh; answering an expired request fails.
    assert guard.authorize("pay", call).outcome == "ask"
    with pytest.raises(ApprovalError, match="has expired"):
        guard.approve(late.approval.id)
    with pytest.raises(ApprovalError, match="no approval request"):
        guard.reject("apr-nope")


def test_a_request_never_outlives_the_delegation(task_id: Tid) -> None:
    m = pay(task_id("short"))
    m["ttl"] = "2m"
    asked = Guard(m, store=MemoryStore()).authorize("pay", {"amount": 60.0, "payee": "a"})
    assert asked.approval is not None
    assert (asked.approval.expires_at - asked.approval.created_at).total_seconds() <= 120


def test_bad_approval_arguments_fail_closed(task_id: Tid) -> None:
    guard = Guard(pay(task_id("badarg")), store=MemoryStore())
    for bad in (False, 1, {"approved": True}):
        with pytest.raises(TypeError, match="approval must be"):
            guard.authorize("pay", {"amount": 60.0, "payee": "a"}, approval=bad)  # type: ignore[arg-type]
    for bad_ttl in (0, -1, float("nan"), True):
        with pytest.raises(ValueError, match="approval_ttl"):
            Guard(pay(task_id("badarg")), approval_ttl=bad_ttl)
    with pytest.raises(TypeError, match="approver"):
        Guard(pay(task_id("badarg")), approver="yes")  # type: ignore[arg-type]


# -- the approver ----------------------------------------------------------------------------------


def test_the_approver_answers_at_once(task_id: Tid) -> None:
    seen: list[ApprovalRequest] = []

    def approver(request: ApprovalRequest) -> bool | Approval:
        seen.append(request)
        if request.args["payee"] == "ann":
            return Approval(request_id=request.id, approved=True, by="ann", reason="known")
        return request.args["amount"] < 100

    guard = Guard(pay(task_id("approver"), budget={"calls": 5}), store=MemoryStore(), approver=approver)
    ok = guard.authorize("pay", {"amount": 60.0, "payee": "bob"})
    assert ok.allowed and ok.resolution is not None and ok.resolution.approved
    by_ann = guard.authorize("pay", {"amount": 400.0, "payee": "ann"})
    assert by_ann.allowed and by_ann.resolution is not None and by_ann.resolution.by == "ann"
    no = guard.authorize("pay", {"amount": 400.0, "payee": "bob"})
    assert code(no) == "approval_denied" and no.resolution is not None and not no.resolution.approved
    assert guard.authorize("pay", {"amount": 1.0, "payee": "bob"}).allowed  # no ask, not consulted
    assert len(seen) == 3 and guard.pending() == []
    assert guard.usage()["tools.pay.calls"]["used"] == 3


@pytest.mark.parametrize("answer", [1, "yes", None, [True], "true"])
def test_an_approver_returning_anything_but_a_bool_or_approval_refuses(task_id: Tid, answer: Any) -> None:
    guard = Guard(pay(task_id("odd")), store=MemoryStore(), approver=lambda r: answer)
    refused = guard.authorize("pay", {"amount": 60.0, "payee": "a"})
    assert code(refused) == "approval_denied" and refused.denial is not None
    assert "not a bool or an Approval" in refused.denial.message


def test_an_approver_that_raises_or_answers_another_request_refuses(task_id: Tid) -> None:
    def boom(request: ApprovalRequest) -> bool:
        raise RuntimeError("the pager is down")

    refused = Guard(pay(task_id("raise")), store=MemoryStore(), approver=boom).authorize(
        "pay", {"amount": 60.0, "payee": "a"})
    assert code(refused) == "approval_denied" and "raised RuntimeError" in str(refused.denial)
    assert "pager" not in str(refused.denial)
    other = Guard(pay(task_id("other")), store=MemoryStore(),
                  approver=lambda r: Approval(request_id="apr-else", approved=True))
    assert code(other.authorize("pay", {"amount": 60.0, "payee": "a"})) == "approval_denied"


def test_an_async_approver_is_awaited_and_a_sync_one_runs_off_the_loop(task_id: Tid) -> None:
    threads: list[int] = []

    async def async_approver(request: ApprovalRequest) -> bool:
        await asyncio.sleep(0)
        return True

    def sync_approver(request: ApprovalRequest) -> bool:
        threads.append(threading.get_ident())
        return False

    async def main() -> tuple[str, str, int]:
        loop_thread = threading.get_ident()
        a = Guard(pay(task_id("async")), store=MemoryStore(), approver=async_approver)
        b = Guard(pay(task_id("async")), store=MemoryStore(), approver=sync_approver)
        ok = await a.aauthorize("pay", {"amount": 60.0, "payee": "a"})
        no = await b.aauthorize("pay", {"amount": 60.0, "payee": "a"})
        ran = await a.ainvoke("pay", lambda amount, payee: amount * 2, {"amount": 70.0, "payee": "b"})
        assert threads and threads[0] != loop_thread
        return code(ok), code(no), int(ran)

    assert asyncio.run(main()) == ("allow", "approval_denied", 140)
    # Under the synchronous authorize an async approver cannot be awaited: refused.
    guard = Guard(pay(task_id("async")), store=MemoryStore(), approver=async_approver)
    refused = guard.authorize("pay", {"amount": 60.0, "payee": "a"})
    assert code(refused) == "approval_denied" and "aauthorize" in str(refused.denial)


def test_an_approver_that_does_not_answer_before_the_request_expires_refuses(task_id: Tid) -> None:
    async def never(request: ApprovalRequest) -> bool:
        await asyncio.Event().wait()
        return True

    guard = Guard(pay(task_id("slow")), store=MemoryStore(), approver=never, approval_ttl=0.05)
    refused = asyncio.run(guard.aauthorize("pay", {"amount": 60.0, "payee": "a"}))
    assert code(refused) in ("approval_denied", "approval_expired")
    assert refused.denial is not None and not refused.allowed


# -- running tools -----------------------------------------------------------------------------------


def test_invoke_raises_approval_required_and_runs_with_the_approval(task_id: Tid) -> None:
    guard = Guard(pay(task_id("invoke")), store=MemoryStore())
    calls: list[float] = []

    def send(amount: float, payee: str) -> str:
        calls.append(amount)
        return f"sent {amount}"

    with pytest.raises(ApprovalRequired) as raised:
        guard.invoke("pay", send, {"amount": 60.0, "payee": "a"})
    assert guard.owns(raised.value) and raised.value.request is not None and calls == []
    guard.approve(raised.value.request.id, by="ann")
    assert guard.invoke("pay", send, {"amount": 60.0, "payee": "a"},
                        approval=raised.value.request.id) == "sent 60.0"
    assert guard.invoke("pay", send, {"amount": 61.0, "payee": "a"}, approval=True) == "sent 61.0"
    wrapped = guard.wrap(send, name="pay")
    with pytest.raises(ApprovalRequired):
        wrapped(amount=62.0, payee="a")
    assert calls == [60.0, 61.0]


def test_shadow_mode_never_asks(task_id: Tid) -> None:
    guard = Guard(pay(task_id("shadow"), True, budget={"calls": 1}), store=MemoryStore(), mode="shadow")
    decision = guard.authorize("pay", {"amount": 1.0, "payee": "a"})
    assert decision.outcome == "shadow_ask" and not decision.blocks and not decision.enforced
    assert decision.denial is not None and decision.denial.code is DenialCode.APPROVAL_REQUIRED
    assert "shadow mode" in decision.denial.message
    assert guard.invoke("pay", lambda amount, payee: "ran", {"amount": 2.0, "payee": "a"}) == "ran"
    assert guard.pending() == []
    # Charged as the approved call would be: the budget still binds in shadow reports.
    assert code(guard.authorize("pay", {"amount": 3.0, "payee": "a"})) == "budget_exhausted"


# -- delegation ------------------------------------------------------------------------------------


def test_a_parents_ask_applies_to_its_child(task_id: Tid) -> None:
    parent = Guard(pay(task_id("parent")), store=MemoryStore())
    child_manifest = pay(task_id("child"), False)
    child = parent.delegate(child_manifest)
    asked = child.authorize("pay", {"amount": 60.0, "payee": "a"})
    assert asked.outcome == "ask" and asked.approval is not None and asked.denial is not None
    assert asked.denial.depth == 1 and asked.denial.task == parent.task
    assert asked.approval.task == child.task  # bound to the call's own task
    assert child.authorize("pay", {"amount": 6.0, "payee": "a"}).allowed
    child.approve(asked.approval.id)
    assert child.authorize("pay", {"amount": 60.0, "payee": "a"}).allowed
    # The parent's approval of the same arguments is not the child's.
    p_asked = parent.authorize("pay", {"amount": 70.0, "payee": "a"})
    assert p_asked.approval is not None
    parent.approve(p_asked.approval.id)
    assert code(child.authorize("pay", {"amount": 70.0, "payee": "a"},
                                approval=p_asked.approval.id)) == "approval_denied"


def test_a_childs_own_ask_asks_too(task_id: Tid) -> None:
    parent = Guard(pay(task_id("p2"), False), store=MemoryStore(), approver=lambda r: True)
    child = parent.delegate(pay(task_id("c2"), "args.payee == 'x'"))
    decision = child.authorize("pay", {"amount": 1.0, "payee": "x"})
    assert decision.allowed and decision.resolution is not None  # the approver is inherited


# -- telemetry and audit ---------------------------------------------------------------------------


def test_spans_metrics_and_the_audit_log_record_the_ask(task_id: Tid, tmp_path: Path) -> None:
    t = Telemetry()
    log = AuditLog(tmp_path / "audit.jsonl")
    guard = t.guard(pay(task_id("otel")), audit=log)
    with pytest.raises(ApprovalRequired) as raised:
        guard.invoke("pay", lambda amount, payee: None, {"amount": 60.0, "payee": "a"})
    request = raised.value.request
    assert request is not None
    guard.approve(request.id, by="ann", reason="invoice 7")
    guard.invoke("pay", lambda amount, payee: None, {"amount": 60.0, "payee": "a"})
    guard.reject(guard.authorize("pay", {"amount": 99.0, "payee": "a"}).approval.id, by="bob")  # type: ignore[union-attr]
    guard.authorize("pay", {"amount": 99.0, "payee": "a"})
    log.close()

    asked, allowed = (dict(s.attributes or {}) for s in t.spans())
    assert asked[tel.DECISION] == "ask" and asked[tel.APPROVAL_OUTCOME] == "pending"
    assert asked[tel.APPROVAL_ID] == request.id and tel.APPROVAL_BY not in asked
    assert asked[tel.DENIAL_CODE] == "approval_required"
    assert allowed[tel.DECISION] == "allow" and allowed[tel.APPROVAL_OUTCOME] == "approved"
    assert allowed[tel.APPROVAL_ID] == request.id and allowed[tel.APPROVAL_BY] == "ann"

    counted = {(p.attributes["decision"], p.attributes.get("code")): p.value
               for p in t.metrics()[tel.DECISIONS_COUNTER]}
    assert counted[("ask", "approval_required")] == 2
    assert counted[("allow", None)] == 1 and counted[("deny", "approval_denied")] == 1

    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(e["outcome"], e["approval"]["outcome"]) for e in lines] == [
        ("ask", "pending"), ("allow", "approved"), ("ask", "pending"), ("deny", "rejected")]
    assert lines[1]["approval"] == {
        "id": request.id, "outcome": "approved", "reason": "args.amount > 50.0", "by": "ann",
        "note": "invoice 7", "expires_at": request.expires_at.isoformat(),
    }
    assert lines[3]["approval"]["by"] == "bob"


def test_report_counts_asks(task_id: Tid, tmp_path: Path) -> None:
    from guardrail._telemetry._report import load_report, render_report

    log = AuditLog(tmp_path / "a.jsonl")
    guard = Guard(pay(task_id("report")), store=MemoryStore(), audit=log)
    guard.authorize("pay", {"amount": 1.0, "payee": "a"})
    guard.authorize("pay", {"amount": 60.0, "payee": "a"})
    guard.authorize("pay", {"amount": 900.0, "payee": "a"})
    log.close()
    report = load_report(tmp_path / "a.jsonl")
    assert report.to_json()["asked"] == 1 and report.decisions == 3
    text = render_report(report)
    assert "3 decisions: 1 allowed, 1 denied, 1 asked, 0 shadow-denied" in text
    assert "approval_required" in text and "ASKED" in text


def test_records_and_the_html_report_show_asks(task_id: Tid, tmp_path: Path) -> None:
    from guardrail import report as records

    log = AuditLog(tmp_path / "h.jsonl")
    guard = Guard(pay(task_id("html")), store=MemoryStore(), audit=log)
    asked = guard.authorize("pay", {"amount": 60.0, "payee": "a"})
    assert asked.approval is not None
    guard.approve(asked.approval.id, by="ann")
    guard.authorize("pay", {"amount": 60.0, "payee": "a"})
    log.close()
    loaded = records.load(tmp_path / "h.jsonl")
    assert [(r.decision, r.approval, r.approved_by, r.approval_id == asked.approval.id)
            for r in loaded] == [("ask", "pending", None, True), ("allow", "approved", "ann", True)]
    assert loaded[0].code == "approval_required" and loaded[0].denied
    page = records.to_html(loaded)
    assert 'id="total-asked"' in page and 'class="call ask"' in page


def test_shadow_asks_carry_no_approval_attributes(task_id: Tid) -> None:
    t = Telemetry()
    guard = t.guard(pay(task_id("shadow-otel"), True), mode="shadow")
    guard.invoke("pay", lambda amount, payee: None, {"amount": 1.0, "payee": "a"})
    (span,) = t.spans()
    attrs = dict(span.attributes or {})
    assert attrs[tel.DECISION] == "shadow_ask" and tel.APPROVAL_ID not in attrs
    assert attrs[tel.DENIAL_CODE] == "approval_required"
