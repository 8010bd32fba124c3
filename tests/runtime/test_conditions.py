"""`when:` on a tool grant, as the guard decides it: only `true` allows; the order of checks; the
guard's clock; defaults; delegation (every link's condition); the denial and the span."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from guardrail import (
    ArgumentViolation,
    ConditionFailed,
    Decision,
    DenialCode,
    Guard,
    Manifest,
    MemoryStore,
)
from guardrail.testing import CapturedSpans, FakeClock

PAY = "args.amount <= 100.0 || args.payee == 'landlord'"


def code_of(decision: Decision) -> DenialCode | None:
    return decision.denial.code if decision.denial is not None else None


def pay_manifest(task: str, *, when: str = PAY, **grant: Any) -> dict[str, Any]:
    return {
        "task": task, "ttl": "1h", "principal": "agent:bot",
        "tools": {
            "pay": {"args": {"amount": {"type": "number", "min": 0}, "payee": {}}, "when": when,
                    **grant},
            "lookup": {"args": {"q": {}}},
        },
    }


def test_only_true_allows(store: MemoryStore, task_id: Callable[[str], str]) -> None:
    guard = Guard(pay_manifest(task_id("when")), store=store)
    assert guard.check("pay", {"amount": 50, "payee": "shop"}).allowed
    assert guard.check("pay", {"amount": 900, "payee": "landlord"}).allowed
    denied = guard.check("pay", {"amount": 900, "payee": "shop"})
    assert code_of(denied) is DenialCode.CONDITION_FAILED
    denial = denied.denial
    assert denial is not None
    assert denial.constraint == f"when: {PAY}" and denial.argument is None
    assert denial.message == f"The condition of tool 'pay' is false: {PAY}."
    assert denial.task == guard.manifest.task and denial.depth == 0
    # The other tool (no condition) is not affected.
    assert guard.check("lookup", {"q": "x"}).allowed


def test_an_error_value_denies_and_names_only_its_code(
    store: MemoryStore, task_id: Callable[[str], str]
) -> None:
    guard = Guard(pay_manifest(task_id("when")), store=store)
    missing = guard.check("pay", {"payee": "shop"})  # args.amount: no such key
    assert code_of(missing) is DenialCode.CONDITION_FAILED
    assert missing.denial is not None and "evaluated to an error (NOT_FOUND)" in missing.denial.message
    secret = 2**70  # the engine's own error text would quote it
    huge = guard.check("pay", {"amount": secret, "payee": "shop"})
    assert code_of(huge) is DenialCode.CONDITION_FAILED
    assert huge.denial is not None and str(secret) not in huge.denial.model_dump_json()


def test_a_non_boolean_denies(store: MemoryStore, task_id: Callable[[str], str]) -> None:
    guard = Guard(pay_manifest(task_id("when"), when="args.payee"), store=store)
    decision = guard.check("pay", {"amount": 1, "payee": "shop"})
    assert code_of(decision) is DenialCode.CONDITION_FAILED
    assert decision.denial is not None
    assert "is not a boolean (it is string)" in decision.denial.message
    assert "shop" not in decision.denial.message


def test_invoke_raises_condition_failed_an_argument_violation(
    store: MemoryStore, task_id: Callable[[str], str]
) -> None:
    guard = Guard(pay_manifest(task_id("when")), store=store)
    ran: list[float] = []
    with pytest.raises(ConditionFailed) as info:
        guard.invoke("pay", lambda amount, payee: ran.append(amount), {"amount": 500, "payee": "x"})
    assert isinstance(info.value, ArgumentViolation)
    assert info.value.denial.code is DenialCode.CONDITION_FAILED and ran == []
    guard.invoke("pay", lambda amount, payee: ran.append(amount), {"amount": 5, "payee": "x"})
    assert ran == [5]


def test_argument_checks_come_first(store: MemoryStore, task_id: Callable[[str], str]) -> None:
    guard = Guard(pay_manifest(task_id("when")), store=store)
    # Both the constraint (min: 0) and the condition would fail: the argument is named.
    assert code_of(guard.check("pay", {"amount": -5000, "payee": "shop"})) is (
        DenialCode.ARGUMENT_INVALID
    )
    assert code_of(guard.check("pay", {"amount": 500, "payee": "shop", "x": 1})) is (
        DenialCode.ARGUMENT_NOT_ALLOWED
    )


def test_conditions_come_before_budgets_and_a_failed_one_charges_nothing(
    store: MemoryStore, task_id: Callable[[str], str]
) -> None:
    task = task_id("when")
    guard = Guard(pay_manifest(task, budget={"calls": 1, "sum": {"amount": 100}}), store=store)
    for _ in range(3):
        assert code_of(guard.authorize("pay", {"amount": 500, "payee": "shop"})) is (
            DenialCode.CONDITION_FAILED
        )
    assert guard.usage()["tools.pay.calls"]["used"] == 0  # denied calls cost nothing
    assert guard.authorize("pay", {"amount": 60, "payee": "shop"}).allowed
    # The budget is spent, the condition fails too: the condition is named.
    assert code_of(guard.check("pay", {"amount": 500, "payee": "shop"})) is (
        DenialCode.CONDITION_FAILED
    )
    assert code_of(guard.check("pay", {"amount": 10, "payee": "shop"})) is (
        DenialCode.BUDGET_EXHAUSTED
    )


def test_tool_task_principal_and_the_guards_clock(task_id: Callable[[str], str]) -> None:
    cutoff = datetime(2030, 1, 1, tzinfo=UTC)
    clock = FakeClock(cutoff.timestamp() - 60)
    task = task_id("when")
    when = (f"tool == 'pay' && task == '{task}' && principal == 'agent:bot' "
            "&& now < timestamp('2030-01-01T00:00:00Z')")
    manifest = pay_manifest(task, when=when)
    del manifest["ttl"]
    manifest["expires_at"] = "2030-06-01T00:00:00Z"
    guard = Guard(manifest, store=MemoryStore(), clock=clock)
    assert guard.check("pay", {"amount": 1, "payee": "x"}).allowed
    clock.advance(120)  # past the cutoff, still inside the manifest's window
    assert code_of(guard.check("pay", {"amount": 1, "payee": "x"})) is DenialCode.CONDITION_FAILED


def test_a_condition_sees_the_defaults_the_tool_runs_with(
    store: MemoryStore, task_id: Callable[[str], str]
) -> None:
    # `amount` is not named in args (allow_other_args): without the condition the default would
    # not be checked; with it, the condition sees the 1000 the tool would run with.
    manifest = {
        "task": task_id("when"), "ttl": "1h",
        "tools": {"pay": {"allow_other_args": True,
                          "when": "!has(args.amount) || args.amount <= 100.0"}},
    }
    guard = Guard(manifest, store=store)
    ran: list[float] = []

    @guard.wrap
    def pay(payee: str, amount: float = 1000.0) -> None:
        ran.append(amount)

    with pytest.raises(ConditionFailed):
        pay(payee="shop")
    pay(payee="shop", amount=20.0)
    assert ran == [20.0]
    assert guard.with_defaults("pay", {"payee": "x"}, {"amount": 1000.0}) == {
        "payee": "x", "amount": 1000.0,
    }


def test_every_link_of_a_delegation_chain_has_its_condition(
    store: MemoryStore, task_id: Callable[[str], str]
) -> None:
    parent = Guard(pay_manifest(task_id("parent")), store=store)
    child = parent.delegate({
        "ttl": "10m",
        "tools": {"pay": {"args": {"amount": {}, "payee": {}}, "when": "args.payee != 'casino'"}},
    })
    assert child.check("pay", {"amount": 50, "payee": "shop"}).allowed
    own = child.check("pay", {"amount": 50, "payee": "casino"})
    assert code_of(own) is DenialCode.CONDITION_FAILED and own.denial is not None
    assert own.denial.depth == 0 and own.denial.constraint == "when: args.payee != 'casino'"
    parents = child.check("pay", {"amount": 500, "payee": "shop"})
    assert code_of(parents) is DenialCode.CONDITION_FAILED and parents.denial is not None
    assert parents.denial.depth == 1 and parents.denial.constraint == f"when: {PAY}"
    assert parents.denial.task == parent.manifest.task
    # A child that drops the parent's condition is still bound by it.
    loose = parent.delegate({"ttl": "10m", "tools": {"pay": {"args": {"amount": {}, "payee": {}}}}})
    dropped = loose.check("pay", {"amount": 500, "payee": "shop"})
    assert code_of(dropped) is DenialCode.CONDITION_FAILED and dropped.denial is not None
    assert dropped.denial.depth == 1


def test_the_fast_path_is_kept_for_tools_without_a_condition(
    store: MemoryStore, task_id: Callable[[str], str]
) -> None:
    manifest = Manifest.model_validate(pay_manifest(task_id("when")))
    compiled = manifest.compiled()
    assert compiled.tools["lookup"].direct and compiled.tools["lookup"].condition is None
    # A condition without a budget still takes the full path: the fast one would allow this.
    assert not compiled.tools["pay"].direct and not compiled.tools["pay"].budgeted
    guard = Guard(manifest, store=store)
    assert code_of(guard.check("pay", {"amount": 500, "payee": "x"})) is (
        DenialCode.CONDITION_FAILED
    )


def test_the_span_names_the_condition(store: MemoryStore, task_id: Callable[[str], str]) -> None:
    with CapturedSpans() as captured:
        guard = Guard(pay_manifest(task_id("when")), store=store,
                      tracer_provider=captured.provider)
        with pytest.raises(ConditionFailed):
            guard.invoke("pay", lambda amount, payee: None, {"amount": 500, "payee": "x"})
        (span,) = captured.spans("execute_tool")
        attributes = dict(span.attributes or {})
        assert attributes["guardrail.denial.code"] == "condition_failed"
        assert attributes["guardrail.denial.constraint"] == f"when: {PAY}"
        # The value never reaches the span; ids, digests and the task id are random hex and may
        # contain "500".
        recorded = {k: v for k, v in attributes.items()
                    if not k.endswith((".digest", ".id", ".task", ".chain"))}
        assert "500" not in repr(recorded)


def test_shadow_mode_reports_and_lets_through(
    store: MemoryStore, task_id: Callable[[str], str]
) -> None:
    guard = Guard(pay_manifest(task_id("when")), store=store, mode="shadow")
    decision = guard.check("pay", {"amount": 500, "payee": "x"})
    assert code_of(decision) is DenialCode.CONDITION_FAILED and not decision.enforced
