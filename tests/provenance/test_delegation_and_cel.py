"""Provenance across a delegation chain (both directions), in CEL (`untrusted`, `from_results`),
and in the narrowing analysis."""

from __future__ import annotations

from typing import Any

from guardrail import DenialCode, Guard, MemoryStore, narrower

from .support import DOCUMENT, IBAN, INJECTED, code_of, manifest

U = DenialCode.ARGUMENT_UNTRUSTED


def child_of(parent: Guard, **grants: Any) -> Guard:
    return parent.delegate({
        "task": parent.task + "-child", "ttl": "30m",
        "tools": grants or {
            "read_file": {"args": {"path": {}}},
            "pay": {"args": {"recipient": {"provenance": "trusted"}, "amount": {}}},
        },
    })


def test_what_a_sub_agent_read_is_untrusted_for_its_parent() -> None:
    parent = Guard(manifest(), store=MemoryStore())
    child = child_of(parent)
    child.invoke("read_file", lambda path: DOCUMENT, {"path": "p"}, call_id="child-read")
    decision = parent.check("pay", {"recipient": INJECTED, "amount": 1})
    assert code_of(decision) is U and decision.denial is not None
    assert decision.denial.found_in is not None
    assert decision.denial.found_in.call_id == "child-read"
    assert code_of(child.check("pay", {"recipient": INJECTED, "amount": 1})) is U


def test_what_the_parent_read_is_untrusted_for_its_children() -> None:
    parent = Guard(manifest(), store=MemoryStore())
    parent.invoke("read_file", lambda path: DOCUMENT, {"path": "p"}, call_id="parent-read")
    child = child_of(parent)  # created after the read: still sees it
    decision = child.check("pay", {"recipient": INJECTED, "amount": 1})
    assert code_of(decision) is U and decision.denial is not None
    assert decision.denial.found_in is not None
    assert decision.denial.found_in.call_id == "parent-read"


def test_the_parents_constraint_applies_to_a_childs_call_with_the_parents_trust() -> None:
    # The child's manifest names the injected payee (its issuer, the parent agent, copied it):
    # the child trusts it, but the parent's own `provenance: trusted` still denies the copy.
    parent = Guard(manifest(), store=MemoryStore())
    parent.invoke("read_file", lambda path: DOCUMENT, {"path": "p"})
    child = parent.delegate({
        "task": parent.task + "-c", "ttl": "10m", "inputs": [f"pay {INJECTED}"],
        "tools": {"pay": {"args": {"recipient": {}, "amount": {}}}},
    })
    decision = child.check("pay", {"recipient": INJECTED, "amount": 1})
    assert code_of(decision) is U and decision.denial is not None and decision.denial.depth == 1


def test_siblings_and_unrelated_tasks_are_apart() -> None:
    root = Guard(manifest(), store=MemoryStore())
    a, other = child_of(root), Guard(manifest(), store=MemoryStore())
    a.invoke("read_file", lambda path: DOCUMENT, {"path": "p"})
    assert other.check("pay", {"recipient": INJECTED, "amount": 1}).allowed


def test_cel_untrusted_and_from_results_in_when() -> None:
    data = manifest(
        send={"args": {"to": {}, "body": {}},
              "when": "!untrusted(args.to) && (args.body == '' || from_results(args.body, 'create_file'))"},
    )
    guard = Guard(data, store=MemoryStore(), inputs=[f"send it to {IBAN}"])
    guard.invoke("read_file", lambda path: DOCUMENT, {"path": "p"})
    assert guard.check("send", {"to": IBAN, "body": ""}).allowed  # typed by the user
    assert code_of(guard.check("send", {"to": INJECTED, "body": ""})) is DenialCode.CONDITION_FAILED
    assert code_of(guard.check("send", {"to": [INJECTED], "body": ""})) is (
        DenialCode.CONDITION_FAILED)
    assert code_of(guard.check("send", {"to": IBAN, "body": "draft-7"})) is (
        DenialCode.CONDITION_FAILED)
    guard.invoke("create_file", lambda name: "draft-7 saved", {"name": "d"})
    assert guard.check("send", {"to": IBAN, "body": "draft-7"}).allowed
    compiled = guard.manifest.compiled().tools["send"]
    assert compiled.contextual and not compiled.provenance and not compiled.direct


def test_cel_functions_without_a_decision_fail_closed() -> None:
    from guardrail._policy._conditions import compile_condition

    assert compile_condition("untrusted('anything goes')").evaluate({}) is True
    assert compile_condition("from_results('x', 'tool')").evaluate({}) is False
    for value in ("1", "1.5", "true", "null", "[1]", "{'a': 1}", "1u"):
        assert compile_condition(f"untrusted({value})").evaluate({}) is True


def test_cel_untrusted_for_every_value_type_in_a_decision() -> None:
    data = manifest(note={"args": {"v": {}}, "when": "!untrusted(args.v)"})
    guard = Guard(data, store=MemoryStore())
    guard.invoke("read_file", lambda path: DOCUMENT, {"path": "p"})
    for value in (1, 2.5, True, None, [1, "fine"], {"k": "fine"}, "fine value"):
        assert guard.check("note", {"v": value}).allowed, value
    for value in (INJECTED, [INJECTED], {"k": [INJECTED]}):
        assert code_of(guard.check("note", {"v": value})) is DenialCode.CONDITION_FAILED


def test_narrowing_proves_provenance_only_when_the_child_keeps_it() -> None:
    parent = manifest()
    keeps = {"task": "c", "ttl": "1m", "tools": {
        "pay": {"args": {"recipient": {"provenance": "trusted", "one_of": ["a-payee"]},
                         "amount": {"type": "number"}, "memo": {"provenance": "trusted"}}},
        "share": {"args": {"file": {"from_results": "create_file"}, "to": {}}},
        "create_file": {"args": {"name": {}}},
    }}
    assert narrower(keeps, parent).narrower
    drops = {"task": "c", "ttl": "1m", "tools": {
        "pay": {"args": {"recipient": {"one_of": ["a-payee"]}, "amount": {"type": "number"},
                         "memo": {"provenance": "trusted"}}},
    }}
    report = narrower(drops, parent)
    assert not report.narrower
    assert any("recipient" in f.where for f in report.findings if f.status != "ok")
    wider_tools = {"task": "c", "ttl": "1m", "tools": {
        "share": {"args": {"file": {"from_results": ["create_file", "read_file"]}, "to": {}}},
        "create_file": {"args": {"name": {}}}, "read_file": {"args": {"path": {}}},
    }}
    assert not narrower(wider_tools, parent).narrower
    # The child may add provenance where the parent has none: narrower.
    adds = {"task": "c", "ttl": "1m", "tools": {"read_file": {"args": {"path": {"provenance": "trusted"}}}}}
    assert narrower(adds, parent).narrower


def test_ask_rules_see_where_a_value_came_from() -> None:
    """`ask: untrusted(args.x)` puts only a payee read from a document to a person."""
    data = manifest(transfer={"args": {"to": {}, "amount": {"type": "number"}},
                              "ask": ["untrusted(args.to)", "args.amount > 1000.0"]})
    asked: list[str] = []

    def approver(request: Any) -> bool:
        asked.append(request.reason)
        return False

    guard = Guard(data, store=MemoryStore(), inputs=[f"pay {IBAN}"], approver=approver)
    guard.invoke("read_file", lambda path: DOCUMENT, {"path": "p"})
    assert guard.authorize("transfer", {"to": IBAN, "amount": 10}).allowed
    refused = guard.authorize("transfer", {"to": INJECTED, "amount": 10})
    assert code_of(refused) is DenialCode.APPROVAL_DENIED
    assert code_of(guard.authorize("transfer", {"to": IBAN, "amount": 5000})) is (
        DenialCode.APPROVAL_DENIED)
    assert asked == ["untrusted(args.to)", "args.amount > 1000.0"]
    compiled = guard.manifest.compiled().tools["transfer"]
    assert compiled.contextual and not compiled.direct


def test_a_parents_ask_rule_probes_the_parents_view_of_results() -> None:
    parent = Guard(manifest(transfer={"args": {"to": {}}, "ask": "untrusted(args.to)"}),
                   store=MemoryStore())
    child = parent.delegate({"task": parent.task + "-c", "ttl": "10m", "tools": {
        "read_file": {"args": {"path": {}}}, "transfer": {"args": {"to": {}}}}})
    assert child.check("transfer", {"to": INJECTED}).allowed
    child.invoke("read_file", lambda path: DOCUMENT, {"path": "p"})
    decision = child.check("transfer", {"to": INJECTED})
    assert decision.outcome == "ask" and decision.denial is not None
    assert decision.denial.depth == 1 and decision.denial.task == parent.task  # the parent asked
    assert child.check("transfer", {"to": "a value nobody returned"}).allowed
