"""`Decision` is immutable: the guard shares one allow per tool between anonymous checks."""

from __future__ import annotations

import copy
import pickle

import pytest

from guardrail import Decision, DenialCode, Guard, MemoryStore
from guardrail.testing import task_id


def guard() -> Guard:
    manifest = {"task": task_id("outcome"), "ttl": "5m",
                "tools": {"add": {"args": {"a": {"type": "integer", "max": 9}}}}}
    return Guard(manifest, store=MemoryStore())


def test_the_shared_allow_cannot_be_changed() -> None:
    g = guard()
    shared = g.check("add", {"a": 1})
    assert shared.allowed and g.check("add", {"a": 2}) is shared  # one object, every check
    with pytest.raises(AttributeError):
        shared.allowed = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        object.__setattr__(shared, "allowed", False)  # not even around __setattr__
    with pytest.raises(AttributeError):
        del shared.denial
    with pytest.raises(AttributeError):
        shared.note = "x"  # type: ignore[attr-defined]
    after = g.check("add", {"a": 3})
    assert after is shared and after.allowed and after.denial is None and after.outcome == "allow"


def test_a_denial_decision_cannot_be_changed() -> None:
    decision = guard().authorize("add", {"a": 10}, call_id="c-1")
    assert decision.denial is not None and decision.denial.code is DenialCode.ARGUMENT_INVALID
    for name, value in (("allowed", True), ("enforced", False), ("denial", None),
                        ("outcome", "allow"), ("call_id", "c-2"), ("tool", "rm"),
                        ("blocks", False)):
        with pytest.raises(AttributeError):
            setattr(decision, name, value)
    assert decision.blocks and decision.call_id == "c-1" and decision.outcome == "deny"


def test_fields_outcome_and_blocks() -> None:
    allow = Decision(True, "add", "c-1")
    assert (allow.allowed, allow.tool, allow.call_id, allow.denial, allow.enforced) == (
        True, "add", "c-1", None, True)
    assert allow.outcome == "allow" and allow.blocks is False
    assert Decision(False, "add").outcome == "deny" and Decision(False, "add").blocks is True
    shadow = Decision(False, "add", enforced=False)
    assert shadow.outcome == "shadow_deny" and shadow.blocks is False


def test_compared_by_identity_and_rebuilt_by_copy_and_pickle() -> None:
    decision = guard().authorize("add", {"a": 10}, call_id="c-9")
    assert decision == decision and decision != Decision(True, "add", "c-9")
    assert Decision(True, "add") != Decision(True, "add")  # as any object: no value equality
    assert len({decision, decision}) == 1
    for clone in (copy.copy(decision), copy.deepcopy(decision),
                  pickle.loads(pickle.dumps(decision))):
        assert type(clone) is Decision and clone is not decision
        assert (clone.allowed, clone.tool, clone.call_id, clone.enforced, clone.outcome) == (
            False, "add", "c-9", True, "deny")
        assert clone.denial == decision.denial
        with pytest.raises(AttributeError):
            clone.allowed = True  # type: ignore[misc]


def test_repr_names_the_outcome() -> None:
    assert repr(Decision(True, "add", "c-1")) == "<Decision allow 'add' call_id='c-1'>"
    denied = guard().check("rm", {})
    assert repr(denied).startswith("<Decision deny 'rm' tool_not_allowed: Tool 'rm' is not granted")
