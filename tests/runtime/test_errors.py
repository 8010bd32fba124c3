"""One exception tree, drawn in `guardrail._errors`' docstring; every denial code raises one class."""

from __future__ import annotations

import inspect

import pytest

import guardrail
from guardrail import (
    ApprovalDenied,
    ApprovalRequired,
    ArgumentUntrusted,
    ArgumentViolation,
    AuditLogError,
    BudgetExhausted,
    ConditionFailed,
    DelegationDenied,
    DelegationExpired,
    DelegationRevoked,
    Denial,
    DenialCode,
    Guard,
    GuardrailError,
    ManifestError,
    StoreUnavailable,
    ToolNotAllowed,
    _errors,
)
from guardrail.testing import FailingStore, task_id

EXPECTED = {
    DenialCode.REVOKED: DelegationRevoked,
    DenialCode.NOT_YET_VALID: DelegationExpired,
    DenialCode.EXPIRED: DelegationExpired,
    DenialCode.TOOL_NOT_ALLOWED: ToolNotAllowed,
    DenialCode.ARGUMENT_NOT_ALLOWED: ArgumentViolation,
    DenialCode.ARGUMENT_MISSING: ArgumentViolation,
    DenialCode.ARGUMENT_INVALID: ArgumentViolation,
    DenialCode.ARGUMENT_UNTRUSTED: ArgumentUntrusted,
    DenialCode.CONDITION_FAILED: ConditionFailed,
    DenialCode.BUDGET_EXHAUSTED: BudgetExhausted,
    DenialCode.APPROVAL_REQUIRED: ApprovalRequired,
    DenialCode.APPROVAL_DENIED: ApprovalDenied,
    DenialCode.APPROVAL_EXPIRED: ApprovalDenied,
    # The guard's own failures: the base class, no kind of call to name.
    DenialCode.STORE_UNAVAILABLE: DelegationDenied,
    DenialCode.INTERNAL_ERROR: DelegationDenied,
}


def test_every_denial_code_maps_to_its_class() -> None:
    # Total: a new code must be given its class (and a line in the docstring's tree) on purpose.
    assert set(_errors._BY_CODE) == {code.value for code in DenialCode}
    assert {DenialCode(code): cls for code, cls in _errors._BY_CODE.items()} == EXPECTED
    for code, cls in EXPECTED.items():
        denial = Denial(code=code, message="m", tool="t")
        exc = denial.to_exception()
        assert type(exc) is cls and isinstance(exc, DelegationDenied | PermissionError)
        assert exc.denial is denial and exc.guard is None and str(exc) == f"{code.value}: m"


def test_one_tree_and_its_drawing() -> None:
    public = [getattr(guardrail, name) for name in guardrail.__all__]
    errors = [obj for obj in public if inspect.isclass(obj) and issubclass(obj, BaseException)]
    assert {cls.__name__ for cls in errors} == {
        "ApprovalDenied", "ApprovalError", "ApprovalRequired",
        "ArgumentUntrusted", "ArgumentViolation", "AuditLogError", "AuthoringError",
        "BudgetExhausted", "ConditionFailed", "DelegationDenied",
        "DelegationExpired", "DelegationRevoked", "GuardrailError", "ManifestError", "NotJson",
        "StoreUnavailable", "ToolNotAllowed",
    }
    assert all(issubclass(cls, GuardrailError) for cls in errors)
    drawing = _errors.__doc__ or ""
    for cls in errors:
        assert cls.__name__ in drawing, cls
        assert cls.__module__ == "guardrail._errors"
    for code in DenialCode:
        assert code.value in drawing, code
    # The standard bases callers may already catch.
    assert issubclass(ManifestError, ValueError) and issubclass(AuditLogError, OSError)
    assert issubclass(DelegationDenied, PermissionError)
    assert issubclass(ConditionFailed, ArgumentViolation)
    assert issubclass(ArgumentUntrusted, ArgumentViolation)
    assert not issubclass(StoreUnavailable, DelegationDenied)


def test_store_unavailable_is_raised_by_the_store_and_denied_by_a_decision() -> None:
    guard = Guard({"task": task_id("errors"), "ttl": "5m",
                   "tools": {"add": {"args": {"a": {}}, "budget": {"calls": 3}}}},
                  store=FailingStore())
    # Deciding: a denial with the code, never the store's exception.
    decision = guard.authorize("add", {"a": 1})
    assert decision.denial is not None and decision.denial.code is DenialCode.STORE_UNAVAILABLE
    assert "connection refused" in decision.denial.message
    ran: list[int] = []
    with pytest.raises(DelegationDenied) as caught:
        guard.invoke("add", lambda a: ran.append(a), {"a": 1})
    assert type(caught.value) is DelegationDenied and guard.owns(caught.value)
    assert caught.value.denial.code is DenialCode.STORE_UNAVAILABLE and ran == []
    # Talking to the store directly: the store's exception (revoke last: it also revokes here).
    for direct in (guard.usage, lambda: guard.revoked,
                   lambda: guard.delegate({"tools": {"add": {"args": {"a": {}}}}}), guard.revoke):
        with pytest.raises(StoreUnavailable):
            direct()
