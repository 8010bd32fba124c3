"""Every denial code, on both sides, with the fields of the denial; the order of the checks; the
exception raised for each code."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from guardrail import (
    ArgumentViolation,
    BudgetExhausted,
    DelegationDenied,
    DelegationExpired,
    DelegationRevoked,
    Denial,
    DenialCode,
    Guard,
    Manifest,
    MemoryStore,
    ToolNotAllowed,
)
from guardrail.testing import FailingStore, FakeClock
from tests.support.decisions import decide, manifest

T0 = 1_900_000_000.0  # a fixed "now" for guards with a fake clock


TOOLS = {
    "read": {"args": {"id": {"pattern": "T-[0-9]+", "required": True}, "queue": "eu"}},
    "refund": {
        "args": {"amount": {"type": "number", "min": 0, "max": 50}},
        "budget": {"calls": 2, "sum": {"amount": 60}},
    },
}


def make(clock: FakeClock | None = None, store: Any = None, **extra: Any) -> Guard:
    data = manifest(TOOLS, principal="agent:bot", issuer="user:alice", **extra)
    if clock is not None and "expires_at" not in extra and "issued_at" not in extra:
        data["issued_at"] = datetime.fromtimestamp(clock.now, UTC).isoformat()
    return Guard(data, store=store or MemoryStore(), clock=clock)


def assert_identity(denial: Denial, guard: Guard, call_id: str | None) -> None:
    assert denial.task == guard.task
    assert denial.principal == "agent:bot"
    assert denial.manifest_digest == guard.manifest.digest
    assert denial.manifest_digest.startswith("sha256:")
    assert denial.call_id == call_id
    assert denial.message and denial.message.endswith(".")


def test_allowed_call_has_no_denial_and_keeps_call_id() -> None:
    guard = make()
    decision = guard.authorize("read", {"id": "T-1", "queue": "eu"}, call_id="call-a")
    assert decision.allowed and not decision.blocks
    assert decision.outcome == "allow"
    assert decision.denial is None
    assert decision.call_id == "call-a"
    decision.raise_for_denial()  # does nothing
    assert guard.authorize("read", {"id": "T-1"}).call_id  # a fresh call id when none is given


def test_revoked() -> None:
    guard = make()
    assert guard.check("read", {"id": "T-1"}).allowed
    guard.revoke("user closed the ticket")
    assert guard.revoked
    decision = guard.authorize("read", {"id": "T-1"}, call_id="c-rev")
    denial = decision.denial
    assert denial is not None
    assert denial.code is DenialCode.REVOKED
    assert "user closed the ticket" in denial.message
    assert denial.tool == "read"
    assert denial.argument is None and denial.constraint is None and denial.budget is None
    assert_identity(denial, guard, "c-rev")
    with pytest.raises(DelegationRevoked) as info:
        decision.raise_for_denial()
    assert info.value.denial is denial
    # revoked comes first: even an ungranted tool reports revoked
    assert guard.check("nope", {}).denial.code is DenialCode.REVOKED  # type: ignore[union-attr]


def test_not_yet_valid_then_valid_then_expired() -> None:
    clock = FakeClock(T0)
    nb = datetime.fromtimestamp(T0 + 60, UTC).isoformat()
    exp = datetime.fromtimestamp(T0 + 120, UTC).isoformat()
    guard = make(clock, not_before=nb, expires_at=exp)
    args = {"id": "T-1"}
    denial = guard.authorize("read", args, call_id="c1").denial
    assert denial is not None
    assert denial.code is DenialCode.NOT_YET_VALID
    assert_identity(denial, guard, "c1")
    with pytest.raises(DelegationExpired):
        guard.invoke("read", lambda **kw: "ran", args)
    clock.now = T0 + 60
    assert decide(guard, "read", args).allowed
    clock.now = T0 + 119.999
    assert decide(guard, "read", args).allowed
    clock.now = T0 + 120
    denial = guard.authorize("read", args, call_id="c2").denial
    assert denial is not None
    assert denial.code is DenialCode.EXPIRED
    assert_identity(denial, guard, "c2")
    assert denial.at == datetime.fromtimestamp(T0 + 120, UTC)
    with pytest.raises(DelegationExpired):
        guard.invoke("read", lambda **kw: "ran", args)
    # expiry is checked before the tool: an ungranted tool after expiry reports expired
    assert guard.check("nope", {}).denial.code is DenialCode.EXPIRED  # type: ignore[union-attr]


def test_ttl_counts_from_issued_at() -> None:
    clock = FakeClock(T0)
    guard = make(clock)  # ttl 5m from issued_at = T0
    assert guard.check("read", {"id": "T-1"}).allowed
    clock.now = T0 + 299
    assert guard.check("read", {"id": "T-1"}).allowed
    clock.now = T0 + 300
    assert guard.check("read", {"id": "T-1"}).denial.code is DenialCode.EXPIRED  # type: ignore[union-attr]


def test_tool_not_allowed() -> None:
    guard = make()
    decision = guard.authorize("delete_all", {"id": "T-1"}, call_id="c-t")
    denial = decision.denial
    assert denial is not None
    assert denial.code is DenialCode.TOOL_NOT_ALLOWED
    assert denial.tool == "delete_all"
    assert denial.argument is None and denial.constraint is None
    assert_identity(denial, guard, "c-t")
    with pytest.raises(ToolNotAllowed):
        decision.raise_for_denial()
    # tool names are exact
    for name in ("Read", "read ", "", "read\x00"):
        assert guard.check(name, {"id": "T-1"}).denial.code is DenialCode.TOOL_NOT_ALLOWED  # type: ignore[union-attr]


def test_argument_not_allowed() -> None:
    guard = make()
    decision = guard.authorize("read", {"id": "T-1", "limit": 5}, call_id="c-n")
    denial = decision.denial
    assert denial is not None
    assert denial.code is DenialCode.ARGUMENT_NOT_ALLOWED
    assert denial.argument == "limit"
    assert denial.constraint is None
    assert_identity(denial, guard, "c-n")
    with pytest.raises(ArgumentViolation):
        decision.raise_for_denial()
    # an unexpected argument comes before a missing one and an invalid one
    assert guard.check("read", {"limit": 5}).denial.code is DenialCode.ARGUMENT_NOT_ALLOWED  # type: ignore[union-attr]
    assert guard.check("read", {"id": 1, "x": 5}).denial.code is DenialCode.ARGUMENT_NOT_ALLOWED  # type: ignore[union-attr]


def test_argument_missing() -> None:
    guard = make()
    decision = guard.authorize("read", {"queue": "eu"}, call_id="c-m")
    denial = decision.denial
    assert denial is not None
    assert denial.code is DenialCode.ARGUMENT_MISSING
    assert denial.argument == "id"
    assert denial.constraint == "required: true"
    assert_identity(denial, guard, "c-m")
    with pytest.raises(ArgumentViolation):
        decision.raise_for_denial()
    # missing comes before invalid
    assert guard.check("read", {"queue": "us"}).denial.code is DenialCode.ARGUMENT_MISSING  # type: ignore[union-attr]


def test_argument_invalid() -> None:
    guard = make()
    decision = guard.authorize("read", {"id": "T-1", "queue": "us"}, call_id="c-i")
    denial = decision.denial
    assert denial is not None
    assert denial.code is DenialCode.ARGUMENT_INVALID
    assert denial.argument == "queue"
    assert denial.constraint == 'equals: "eu"'
    assert "queue" in denial.message and 'equals: "eu"' in denial.message
    assert_identity(denial, guard, "c-i")
    with pytest.raises(ArgumentViolation):
        decision.raise_for_denial()


def test_a_non_string_call_id_never_crashes_a_denial() -> None:
    guard = make()
    decision = guard.authorize("nope", {}, call_id=7)  # type: ignore[arg-type]
    assert decision.denial is not None
    assert decision.denial.code is DenialCode.TOOL_NOT_ALLOWED
    assert decision.denial.call_id == "7"


def test_arguments_that_are_not_an_object() -> None:
    guard = make()
    for args in (["T-1"], "T-1", 5):
        denial = guard.check("read", args).denial
        assert denial is not None and denial.code is DenialCode.ARGUMENT_INVALID


def test_denial_holds_no_argument_values() -> None:
    guard = make()
    secret = "T-SECRET-VALUE-123"
    denial = guard.check("read", {"id": secret, "queue": "x-secret-queue"}).denial
    assert denial is not None
    dumped = denial.model_dump_json()
    assert "x-secret-queue" not in dumped and secret not in dumped
    assert json.loads(denial.to_model_json())["code"] == "argument_invalid"
    assert denial.for_model()["denied"] is True


def test_budget_exhausted_calls() -> None:
    guard = make()
    assert guard.authorize("refund", {"amount": 1}).allowed
    assert guard.authorize("refund", {"amount": 1}).allowed
    decision = guard.authorize("refund", {"amount": 1}, call_id="c-b")
    denial = decision.denial
    assert denial is not None
    assert denial.code is DenialCode.BUDGET_EXHAUSTED
    assert denial.budget is not None
    assert denial.budget.scope == "tools.refund.calls"
    assert denial.budget.limit == 2
    assert denial.budget.used == 2
    assert denial.argument is None
    assert_identity(denial, guard, "c-b")
    with pytest.raises(BudgetExhausted):
        decision.raise_for_denial()
    # check reports the exhausted budget too, without charging
    assert guard.check("refund", {"amount": 1}).denial.code is DenialCode.BUDGET_EXHAUSTED  # type: ignore[union-attr]
    assert guard.usage()["tools.refund.calls"] == {"used": 2.0, "limit": 2, "remaining": 0.0}


def test_argument_checks_come_before_the_budget() -> None:
    guard = make()
    assert guard.authorize("refund", {"amount": 1}).allowed
    assert guard.authorize("refund", {"amount": 1}).allowed
    assert guard.check("refund", {"amount": 1}).denial.code is DenialCode.BUDGET_EXHAUSTED  # type: ignore[union-attr]
    denial = guard.authorize("refund", {"amount": 51}).denial
    assert denial is not None and denial.code is DenialCode.ARGUMENT_INVALID and denial.budget is None
    denial = guard.authorize("refund", {"amount": 1, "x": 1}).denial
    assert denial is not None and denial.code is DenialCode.ARGUMENT_NOT_ALLOWED


def test_budget_exhausted_sum() -> None:
    guard = make()
    assert guard.authorize("refund", {"amount": 50}).allowed
    denial = guard.authorize("refund", {"amount": 10.5}, call_id="c-s").denial
    assert denial is not None
    assert denial.code is DenialCode.BUDGET_EXHAUSTED
    assert denial.budget is not None
    assert (denial.budget.scope, denial.budget.limit, denial.budget.used) == (
        "tools.refund.sum.amount", 60, 50)
    assert_identity(denial, guard, "c-s")
    assert guard.authorize("refund", {"amount": 10}).allowed  # exactly up to the limit
    assert guard.usage()["tools.refund.sum.amount"]["used"] == 60


def test_task_budget_counts_every_tool() -> None:
    data = manifest({"a": None, "b": None}, budget={"calls": 3})
    guard = Guard(data, store=MemoryStore())
    assert guard.authorize("a").allowed
    assert guard.authorize("b").allowed
    assert guard.authorize("a").allowed
    denial = guard.authorize("b").denial
    assert denial is not None and denial.budget is not None
    assert (denial.budget.scope, denial.budget.limit, denial.budget.used) == ("calls", 3, 3)


def test_zero_call_budget_denies_the_first_call() -> None:
    guard = Guard(manifest({"a": {"budget": {"calls": 0}}}), store=MemoryStore())
    denial = guard.authorize("a").denial
    assert denial is not None and denial.code is DenialCode.BUDGET_EXHAUSTED


def test_sum_argument_must_be_a_non_negative_number() -> None:
    guard = Guard(manifest({"pay": {"args": {"amount": {}}, "budget": {"sum": {"amount": 10}}}}),
                  store=MemoryStore())
    for bad in (-1, "5", True, math.nan, math.inf, [1]):
        denial = guard.authorize("pay", {"amount": bad}).denial
        assert denial is not None, bad
        assert denial.code is DenialCode.ARGUMENT_INVALID
        assert denial.argument == "amount"
    assert guard.usage()["tools.pay.sum.amount"]["used"] == 0
    assert guard.authorize("pay", {}).allowed  # absent: nothing to add
    assert guard.authorize("pay", {"amount": 0}).allowed
    assert guard.authorize("pay", {"amount": 10}).allowed
    assert not guard.authorize("pay", {"amount": 0.001}).allowed


def test_store_unavailable_everywhere() -> None:
    store = FailingStore()
    guard = make(store=store)
    for tool, args in (("read", {"id": "T-1"}), ("refund", {"amount": 1})):
        decision = guard.authorize(tool, args, call_id="c-u")
        denial = decision.denial
        assert denial is not None
        assert denial.code is DenialCode.STORE_UNAVAILABLE
        assert "connection refused" in denial.message
        assert_identity(denial, guard, "c-u")
        with pytest.raises(DelegationDenied):
            decision.raise_for_denial()
    ran = []
    with pytest.raises(DelegationDenied):
        guard.invoke("read", lambda **kw: ran.append(kw), {"id": "T-1"})
    assert ran == []


def test_store_unavailable_on_charge_only() -> None:
    store = FailingStore(down={"consume"})
    guard = make(store=store)
    assert guard.authorize("read", {"id": "T-1"}).allowed  # no budget: no charge
    denial = guard.authorize("refund", {"amount": 1}).denial
    assert denial is not None and denial.code is DenialCode.STORE_UNAVAILABLE
    store.down.clear()
    assert guard.authorize("refund", {"amount": 1}).allowed
    assert guard.usage()["tools.refund.calls"]["used"] == 1


def test_store_unavailable_on_peek_for_check() -> None:
    store = FailingStore(down={"used"})
    guard = make(store=store)
    denial = guard.check("refund", {"amount": 1}).denial
    assert denial is not None and denial.code is DenialCode.STORE_UNAVAILABLE


def raising_clock() -> float:
    raise RuntimeError("clock is broken")


@pytest.mark.parametrize(
    ("clock", "code"),
    [
        (raising_clock, DenialCode.INTERNAL_ERROR),
        (lambda: None, DenialCode.INTERNAL_ERROR),
        (lambda: "soon", DenialCode.INTERNAL_ERROR),
        (lambda: math.nan, DenialCode.EXPIRED),  # NaN compares false: never before the expiry
    ],
    ids=["raises", "none", "string", "nan"],
)
def test_broken_clock_never_allows(clock: Callable[[], Any], code: DenialCode) -> None:
    guard = Guard(manifest(TOOLS, principal="agent:bot"), store=MemoryStore(), clock=clock)
    decision = guard.authorize("read", {"id": "T-1"}, call_id="c-x")
    assert not decision.allowed
    assert decision.denial is not None
    assert decision.denial.code is code
    assert_identity(decision.denial, guard, "c-x")
    with pytest.raises(DelegationDenied):
        guard.invoke("read", lambda **kw: "ran", {"id": "T-1"})


def test_internal_error_from_a_raising_clock() -> None:
    guard = Guard(manifest(TOOLS, principal="agent:bot"), store=MemoryStore(), clock=raising_clock)
    denial = guard.authorize("read", {"id": "T-1"}, call_id="c-ie").denial
    assert denial is not None
    assert denial.code is DenialCode.INTERNAL_ERROR
    assert "RuntimeError" in denial.message
    assert "clock is broken" not in denial.message
    assert_identity(denial, guard, "c-ie")


def test_internal_error_from_a_failing_audit_sink() -> None:
    class BrokenAudit:
        def record(self, decision: Any, guard: Any, args: Any) -> None:
            raise OSError("disk full")

    guard = Guard(manifest(TOOLS, principal="agent:bot"), store=MemoryStore(), audit=BrokenAudit())
    denial = guard.authorize("read", {"id": "T-1"}, call_id="c-a").denial
    assert denial is not None and denial.code is DenialCode.INTERNAL_ERROR


def test_shadow_mode_reports_without_blocking() -> None:
    guard = Guard(manifest(TOOLS), store=MemoryStore(), mode="shadow")
    decision = guard.authorize("nope", {})
    assert not decision.allowed and not decision.enforced and not decision.blocks
    assert decision.outcome == "shadow_deny"
    assert decision.denial is not None and decision.denial.code is DenialCode.TOOL_NOT_ALLOWED
    decision.raise_for_denial()  # shadow: does not raise
    assert guard.invoke("nope", lambda: "ran") == "ran"


def test_mode_is_validated() -> None:
    with pytest.raises(ValueError, match="mode"):
        Guard(manifest(TOOLS), store=MemoryStore(), mode="audit")  # type: ignore[arg-type]


def test_manifest_digest_is_the_loaded_one() -> None:
    data = manifest(TOOLS, principal="agent:bot")
    guard = Guard(data, store=MemoryStore())
    assert guard.manifest.digest == Manifest.model_validate(data).digest
    denial = guard.check("nope").denial
    assert denial is not None and denial.manifest_digest == guard.manifest.digest


def test_owns_tells_the_guards_own_denial_from_one_the_tool_raised() -> None:
    from guardrail import DelegationDenied, Guard, MemoryStore

    outer = Guard({"task": "own-1", "ttl": "5m", "tools": {"a": {}, "b": {"args": {"x": {"max": 1}}}}},
                  store=MemoryStore())
    inner = Guard({"task": "own-2", "ttl": "5m", "tools": {}}, store=MemoryStore())

    def tool_that_calls_a_guarded_tool() -> None:
        inner.invoke("c", lambda: None)  # denied by the inner guard: the tool's own error

    with pytest.raises(DelegationDenied) as from_tool:
        outer.invoke("a", tool_that_calls_a_guarded_tool)
    assert not outer.owns(from_tool.value)
    assert inner.owns(from_tool.value)
    with pytest.raises(DelegationDenied) as own:
        outer.invoke("b", lambda x: x, {"x": 2})
    assert outer.owns(own.value)
    assert own.value.denial.code == "argument_invalid"
    assert not outer.owns(ValueError("x"))
    assert not outer.owns(DelegationDenied(own.value.denial))  # built by hand: nobody's
