"""`guard.delegate(...)`: a sub-agent's guard is the conjunction of its chain; budgets are charged
at every level atomically; revocation and expiry reach every descendant; widening is rejected at
delegation time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrail import (
    ArgumentViolation,
    Decision,
    DelegationRevoked,
    DenialCode,
    Guard,
    Manifest,
    ManifestError,
    MemoryStore,
    ToolNotAllowed,
)
from guardrail.testing import CapturedSpans, FakeClock
from tests.support.delegation import EXAMPLES, manifest

TOOLKIT = ("read_file", "write_file", "delete_file", "admin_reset")


def code_of(decision: Decision) -> DenialCode | None:
    return decision.denial.code if decision.denial is not None else None


def _chain(
    store: MemoryStore, clock: FakeClock, task_id: Callable[[str], str], **root_options: Any
) -> tuple[Guard, Guard, Guard]:
    """root narrows the toolkit's tools, child an argument, grandchild a budget. Each later level
    leaves some constraints open ({}), relying on the chain for them."""
    root = Guard(
        manifest(
            task_id("root"),
            {
                "read_file": {"args": {"path": {"path_within": "/data", "required": True}}},
                "write_file": {"args": {
                    "path": {"path_within": "/data", "required": True},
                    "text": {"type": "string", "max_length": 100},
                }},
                "delete_file": {"args": {"path": {"path_within": "/data/tmp", "required": True}}},
            },
            principal="agent:root",
            budget={"calls": 6},
        ),
        store=store, clock=clock, **root_options,
    )
    child = root.delegate({
        "principal": "agent:child",
        "tools": {
            "read_file": {"args": {"path": {"path_within": "/data/project", "required": True}}},
            "write_file": {"args": {
                "path": {"path_within": "/data/project", "required": True},
                "text": {},  # open here: the root's max_length still applies
            }},
            "delete_file": {"args": {"path": {}}},
        },
    })
    grandchild = child.delegate({
        "principal": "agent:grandchild",
        "budget": {"calls": 2},
        "tools": {
            "read_file": {"args": {"path": {}}},
            "write_file": {"args": {"path": {}, "text": {}}},
            "delete_file": {"args": {"path": {}}},
        },
    })
    return root, child, grandchild


# -- the conjunction ---------------------------------------------------------------------------


def test_each_level_narrows_what_it_names(store: MemoryStore, clock: FakeClock, task_id: Any) -> None:
    root, child, grandchild = _chain(store, clock, task_id)
    assert grandchild.depth == 2 and child.depth == 1 and root.depth == 0
    # tools: the root never granted admin_reset, so no descendant can use it
    denial = grandchild.check("admin_reset", {}).denial
    assert denial is not None and denial.code is DenialCode.TOOL_NOT_ALLOWED
    # an argument: the child narrowed path to /data/project; the grandchild left it open
    denial = grandchild.check("read_file", {"path": "/data/other/x"}).denial
    assert denial is not None and denial.code is DenialCode.ARGUMENT_INVALID
    assert denial.depth == 1 and denial.task == child.task
    assert denial.manifest_digest == child.manifest.digest
    assert root.check("read_file", {"path": "/data/other/x"}).allowed
    # the root's own constraint, left open by both descendants, still holds
    denial = grandchild.check("write_file", {"path": "/data/project/a", "text": "x" * 101}).denial
    assert denial is not None and denial.depth == 2 and denial.task == root.task
    assert denial.manifest_digest == root.manifest.digest
    assert denial.principal == "agent:root"
    # allowed all the way down
    assert grandchild.check("write_file", {"path": "/data/project/a", "text": "hi"}).allowed


_PATHS = [
    "/data/project/a.txt", "/data/project", "/data/project/", "/data/other/x", "/data/tmp/x",
    "/data/project/../other/x", "/data/project//x", "/data/projectx/y", "/etc/passwd",
    "data/project/x", "/data", "/",
]
_TEXTS: list[Any] = ["", "hello", "x" * 100, "x" * 101, 5, None, ["x"]]

calls = st.tuples(
    st.sampled_from([*TOOLKIT, "unknown"]),
    st.fixed_dictionaries(
        {},
        optional={
            "path": st.sampled_from([*_PATHS, None, 7]) | st.text(max_size=12),
            "text": st.sampled_from(_TEXTS) | st.text(max_size=120),
            "mode": st.sampled_from(["w", "a"]),
        },
    ),
)


@settings(max_examples=300, deadline=None)
@given(call=calls)
def test_every_call_the_grandchild_allows_every_level_allows(call: tuple[str, dict[str, Any]]) -> None:
    store, clock = MemoryStore(), FakeClock()
    counter = iter(range(10**6))
    root, child, grandchild = _chain(store, clock, lambda p: f"{p}-prop-{next(counter)}")
    tool, args = call
    decision = grandchild.check(tool, args)
    if decision.allowed:
        assert child.check(tool, args).allowed
        assert root.check(tool, args).allowed
        for link in (root, child, grandchild):  # each manifest alone allows it too
            assert Guard(link.manifest, store=MemoryStore(), clock=clock).check(tool, args).allowed
    else:
        denial = decision.denial
        assert denial is not None
        # the link the denial names really denies the call, on its own
        named = (grandchild, child, root)[denial.depth]
        assert denial.task == named.task and denial.manifest_digest == named.manifest.digest
        alone = Guard(named.manifest, store=MemoryStore(), clock=clock).check(tool, args)
        assert not alone.allowed
        assert alone.denial is not None and alone.denial.code is denial.code


def test_the_property_sees_allowed_and_denied_calls(
    store: MemoryStore, clock: FakeClock, task_id: Any
) -> None:
    # the generated calls above reach both outcomes (an all-deny chain would pass vacuously)
    _, _, grandchild = _chain(store, clock, task_id)
    assert grandchild.check("read_file", {"path": "/data/project/a.txt"}).allowed
    assert not grandchild.check("read_file", {"path": "/data/tmp/x"}).allowed


# -- budgets -----------------------------------------------------------------------------------


def test_budgets_are_charged_at_every_level(store: MemoryStore, clock: FakeClock, task_id: Any) -> None:
    root, child, grandchild = _chain(store, clock, task_id)
    assert grandchild.authorize("read_file", {"path": "/data/project/a"}).allowed
    assert store.usage(grandchild.task) == {"calls": 1.0}
    assert store.usage(root.task) == {"calls": 1.0}
    assert store.usage(child.task) == {}  # the child sets no budget
    assert grandchild.usage()["calls"] == {"used": 1.0, "limit": 2.0, "remaining": 1.0}


def test_an_ancestor_budget_stops_the_grandchild_and_nothing_is_half_charged(
    store: MemoryStore, clock: FakeClock, task_id: Any
) -> None:
    root, _, grandchild = _chain(store, clock, task_id)
    assert grandchild.authorize("read_file", {"path": "/data/project/a"}).allowed
    for _ in range(5):
        assert root.authorize("read_file", {"path": "/data/x"}).allowed
    assert store.usage(root.task)["calls"] == 6.0
    decision = grandchild.authorize("read_file", {"path": "/data/project/a"})
    denial = decision.denial
    assert denial is not None and denial.code is DenialCode.BUDGET_EXHAUSTED
    assert denial.depth == 2 and denial.task == root.task
    assert denial.budget is not None and (denial.budget.scope, denial.budget.limit) == ("calls", 6)
    # one atomic consume: the grandchild's own budget (1 of 2 left) was not charged either
    assert store.usage(grandchild.task) == {"calls": 1.0}


def test_the_grandchild_budget_is_its_own(store: MemoryStore, clock: FakeClock, task_id: Any) -> None:
    root, _, grandchild = _chain(store, clock, task_id)
    for _ in range(2):
        assert grandchild.authorize("read_file", {"path": "/data/project/a"}).allowed
    denial = grandchild.authorize("read_file", {"path": "/data/project/a"}).denial
    assert denial is not None and denial.code is DenialCode.BUDGET_EXHAUSTED
    assert denial.depth == 0 and denial.task == grandchild.task
    assert store.usage(root.task)["calls"] == 2.0
    assert root.authorize("read_file", {"path": "/data/x"}).allowed  # the root has 4 left


def test_a_child_budget_larger_than_what_is_left_is_rejected(
    store: MemoryStore, clock: FakeClock, task_id: Any
) -> None:
    root = Guard(
        manifest(task_id("p"), {"pay": {"args": {"amount": {"type": "number"}},
                                        "budget": {"calls": 5, "sum": {"amount": 100}}}},
                 budget={"calls": 10}),
        store=store, clock=clock,
    )
    for amount in (30, 30):
        assert root.authorize("pay", {"amount": amount}).allowed
    with pytest.raises(ManifestError) as err:
        root.delegate({"budget": {"calls": 9}, "tools": {"pay": {"args": {"amount": {}}}}})
    assert "budget.calls: the child asks for 9 but task" in str(err.value)
    assert "has only 8 left of its 'calls' budget (2 of 10 used)" in str(err.value)
    with pytest.raises(ManifestError, match=r"tools\.pay\.budget\.calls: the child asks for 4"):
        root.delegate({"tools": {"pay": {"args": {"amount": {}}, "budget": {"calls": 4}}}})
    with pytest.raises(ManifestError, match=r"sum\.amount: the child asks for 41 .* only 40 left"):
        root.delegate({"tools": {"pay": {"args": {"amount": {}}, "budget": {"sum": {"amount": 41}}}}})
    with pytest.raises(ManifestError, match=r"budget\.sum\.amount: the child asks for 50"):
        root.delegate({"budget": {"sum": {"amount": 50}}, "tools": {"pay": {"args": {"amount": {}}}}})
    # exactly what is left is fine, and no budget at all is fine (the parent's still applies)
    exact = root.delegate({"budget": {"calls": 3, "sum": {"amount": 40}},
                           "tools": {"pay": {"args": {"amount": {}}, "budget": {"calls": 3}}}})
    unbounded = root.delegate({"tools": {"pay": {"args": {"amount": {}}}}})
    assert exact.authorize("pay", {"amount": 40}).allowed
    denial = unbounded.authorize("pay", {"amount": 1}).denial
    assert denial is not None and denial.depth == 1
    assert denial.budget is not None and denial.budget.scope == "tools.pay.sum.amount"


# -- revocation and expiry ---------------------------------------------------------------------


def test_revoking_the_root_revokes_every_descendant(
    store: MemoryStore, clock: FakeClock, task_id: Any
) -> None:
    root, child, grandchild = _chain(store, clock, task_id)
    root.revoke("incident 42")
    for guard in (child, grandchild):
        assert guard.revoked
        denial = guard.check("read_file", {"path": "/data/project/a"}).denial
        assert denial is not None and denial.code is DenialCode.REVOKED
        assert "incident 42" in denial.message
    with pytest.raises(DelegationRevoked):
        grandchild.invoke("read_file", lambda path: path, {"path": "/data/project/a"})


def test_revoking_a_middle_level_spares_its_parent(
    store: MemoryStore, clock: FakeClock, task_id: Any
) -> None:
    root, child, grandchild = _chain(store, clock, task_id)
    child.revoke("sub-task cancelled")
    assert code_of(grandchild.check("read_file", {"path": "/data/project/a"})) is DenialCode.REVOKED
    assert root.check("read_file", {"path": "/data/project/a"}).allowed


def test_revocation_reaches_a_grandchild_built_in_another_guard_instance(
    store: MemoryStore, clock: FakeClock, task_id: Any
) -> None:
    root, _, grandchild = _chain(store, clock, task_id)
    # another process holding the same root task revokes it through the shared store
    other_root = Guard(root.manifest, store=store, clock=clock)
    other_root.revoke("from elsewhere")
    assert code_of(grandchild.check("read_file", {"path": "/data/project/a"})) is DenialCode.REVOKED


def test_leaving_the_root_context_revokes_descendants(
    store: MemoryStore, clock: FakeClock, task_id: Any
) -> None:
    root, _, grandchild = _chain(store, clock, task_id)
    with root:
        assert grandchild.check("read_file", {"path": "/data/project/a"}).allowed
    assert code_of(grandchild.check("read_file", {"path": "/data/project/a"})) is DenialCode.REVOKED


def test_expiry_is_capped_and_reaches_the_grandchild(
    store: MemoryStore, clock: FakeClock, task_id: Any
) -> None:
    root = Guard(manifest(task_id("r"), {"t": None}, ttl="10m"), store=store, clock=clock)
    child = root.delegate({"ttl": "2h", "tools": {"t": None}})  # asks to outlive its parent
    grandchild = child.delegate({"tools": {"t": None}})  # gives no expiry: ends with its parent
    assert child.manifest.expires_at == root.manifest.expires_at
    assert grandchild.manifest.expires_at == root.manifest.expires_at
    assert "ttl" not in child.manifest.model_fields_set
    assert grandchild.check("t", {}).allowed
    clock.advance(11 * 60)
    denial = grandchild.check("t", {}).denial
    assert denial is not None and denial.code is DenialCode.EXPIRED


def test_a_shorter_child_expiry_is_kept_and_the_parent_expiry_still_applies(
    store: MemoryStore, clock: FakeClock, task_id: Any
) -> None:
    root = Guard(manifest(task_id("r"), {"t": None}, ttl="10m"), store=store, clock=clock)
    child = root.delegate({"ttl": "5m", "tools": {"t": None}})
    assert child.manifest.expires_ts == pytest.approx(int(clock.now) + 300)
    clock.advance(6 * 60)
    denial = child.check("t", {}).denial
    assert denial is not None and denial.code is DenialCode.EXPIRED and denial.depth == 0
    assert root.check("t", {}).allowed


def test_cap_expiry_false_rejects_a_longer_child(
    store: MemoryStore, clock: FakeClock, task_id: Any
) -> None:
    root = Guard(manifest(task_id("r"), {"t": None}, ttl="10m"), store=store, clock=clock)
    with pytest.raises(ManifestError, match="after its parent"):
        root.delegate({"ttl": "2h", "tools": {"t": None}}, cap_expiry=False)


def test_no_delegation_from_a_revoked_or_expired_parent(
    store: MemoryStore, clock: FakeClock, task_id: Any
) -> None:
    root = Guard(manifest(task_id("r"), {"t": None}, ttl="10m"), store=store, clock=clock)
    clock.advance(3600)
    with pytest.raises(ManifestError, match="expired"):
        root.delegate({"tools": {"t": None}})
    fresh = Guard(manifest(task_id("r"), {"t": None}), store=store, clock=FakeClock())
    fresh.revoke("done")
    with pytest.raises(ManifestError, match="was revoked"):
        fresh.delegate({"tools": {"t": None}})


# -- widening attempts -------------------------------------------------------------------------


def test_a_child_may_name_only_tools_its_parent_grants(
    store: MemoryStore, clock: FakeClock, task_id: Any
) -> None:
    root, child, _ = _chain(store, clock, task_id)
    with pytest.raises(ManifestError) as err:
        root.delegate({"tools": {"read_file": None, "admin_reset": None}})
    message = str(err.value)
    assert "tools.admin_reset: a child may name only tools its parent grants" in message
    assert repr(root.task) in message and "tools.read_file" not in message
    # the child dropped nothing, but a grandchild cannot name what the root never granted
    with pytest.raises(ManifestError, match="admin_reset"):
        child.delegate({"tools": {"admin_reset": None}})


def test_a_child_cannot_reuse_a_task_id_of_its_chain(
    store: MemoryStore, clock: FakeClock, task_id: Any
) -> None:
    root, child, _ = _chain(store, clock, task_id)
    for taken in (root.task, child.task):
        with pytest.raises(ManifestError, match="must differ from every task in its chain"):
            child.delegate({"task": taken, "tools": {"read_file": None}})


def test_task_ids_are_derived_unique_or_given(
    store: MemoryStore, clock: FakeClock, task_id: Any
) -> None:
    root = Guard(manifest(task_id("r"), {"t": None}, principal="agent:boss"), store=store, clock=clock)
    a = root.delegate({"tools": {"t": None}})
    b = root.delegate({"tools": {"t": None}})
    assert a.task.startswith(root.task + "/sub-") and b.task.startswith(root.task + "/sub-")
    assert a.task != b.task
    named = root.delegate({"tools": {"t": None}}, task="stable-sub")
    assert named.task == "stable-sub"
    assert named.manifest.issuer == "agent:boss"  # the parent's principal granted it
    with pytest.raises(ManifestError, match="names task 'x' but task='y'"):
        root.delegate({"task": "x", "tools": {"t": None}}, task="y")
    long_root = Guard(manifest("r" * 256, {"t": None}), store=store, clock=clock)
    assert len(long_root.delegate({"tools": {"t": None}}).task) == 256


def test_require_narrower_rejects_a_child_wider_in_an_argument(
    store: MemoryStore, clock: FakeClock, task_id: Any
) -> None:
    root = Guard(
        manifest(task_id("r"), {"pay": {"args": {"amount": {"type": "number", "max": 50}}}}),
        store=store, clock=clock,
    )
    loose = {"tools": {"pay": {"args": {"amount": {"type": "number", "max": 500}}}}}
    # by default the chain makes a looser constraint harmless, so it is accepted ...
    guard = root.delegate(loose)
    assert code_of(guard.check("pay", {"amount": 60})) is DenialCode.ARGUMENT_INVALID
    # ... and require_narrower refuses it, naming the counterexample
    with pytest.raises(ManifestError, match=r"tools\.pay\.args\.amount: wider: the child accepts"):
        root.delegate(loose, require_narrower=True)
    tight = {"tools": {"pay": {"args": {"amount": {"type": "integer", "min": 0, "max": 20}}}}}
    assert root.delegate(tight, require_narrower=True).check("pay", {"amount": 20}).allowed


# -- what the child shares, and what it shows --------------------------------------------------


def test_the_child_shares_store_clock_mode_and_audit(task_id: Any) -> None:
    class Audit:
        def __init__(self) -> None:
            self.tasks: list[str] = []

        def record(self, decision: Any, guard: Guard, args: Any) -> None:
            self.tasks.append(guard.task)

    store, clock, audit = MemoryStore(), FakeClock(), Audit()
    root = Guard(manifest(task_id("r"), {"t": {"args": {"x": {"max": 1}}}}),
                 store=store, clock=clock, mode="shadow", audit=audit)
    child = root.delegate({"tools": {"t": {"args": {"x": {}}}}})
    assert child.store is store and child.clock is clock and child.mode == "shadow"
    decision = child.authorize("t", {"x": 5})
    assert decision.outcome == "shadow_deny" and not decision.blocks
    assert audit.tasks == [child.task]


def test_spans_carry_the_chain(store: MemoryStore, clock: FakeClock, task_id: Any) -> None:
    captured = CapturedSpans()
    root, child, grandchild = _chain(store, clock, task_id, tracer_provider=captured.provider)
    assert grandchild.tracer_provider is captured.provider
    grandchild.invoke("read_file", lambda path: "contents", {"path": "/data/project/a"})
    with pytest.raises(ToolNotAllowed):
        grandchild.invoke("admin_reset", lambda: None, {})
    with pytest.raises(ArgumentViolation):
        grandchild.invoke("write_file", lambda **kw: None,
                          {"path": "/data/project/a", "text": "x" * 101})
    allowed, not_granted, too_long = captured.spans()
    for span in (allowed, not_granted, too_long):
        attrs = span.attributes or {}
        assert attrs["guardrail.delegation.depth"] == 2
        assert attrs["guardrail.delegation.chain"] == (root.task, child.task, grandchild.task)
        assert attrs["guardrail.task"] == grandchild.task
    assert (allowed.attributes or {})["guardrail.decision"] == "allow"
    event = next(e for e in too_long.events if e.name == "guardrail.denial")
    assert (event.attributes or {})["depth"] == 2
    assert (event.attributes or {})["manifest_digest"] == root.manifest.digest
    assert (too_long.attributes or {})["guardrail.denial.depth"] == 2
    root.invoke("read_file", lambda path: None, {"path": "/data/x"})
    root_span_attrs = captured.spans()[-1].attributes or {}
    assert root_span_attrs["guardrail.delegation.depth"] == 0
    assert "guardrail.delegation.chain" not in root_span_attrs


# -- inputs ------------------------------------------------------------------------------------


def test_delegate_from_files_and_manifest_objects(tmp_path: Path, task_id: Any) -> None:
    store, clock = MemoryStore(), FakeClock()
    parent = Guard(EXAMPLES / "parent.yaml", store=store, clock=clock)
    child = parent.delegate(EXAMPLES / "child.yaml")
    assert child.task == "case-4711/refunds" and child.depth == 1
    assert child.check("send_refund", {"order_id": "ORD-004711", "amount": 50,
                                       "currency": "EUR"}).allowed
    denial = child.check("read_ticket", {"ticket_id": "T-1"}).denial
    assert denial is not None and denial.code is DenialCode.TOOL_NOT_ALLOWED and denial.depth == 0
    ready = Manifest.model_validate(manifest(task_id("m"), {"send_refund": {
        "args": {"order_id": "ORD-000001", "amount": {"max": 1}, "currency": "GBP"}}}, ttl="5m"))
    from_object = parent.delegate(ready)
    assert from_object.manifest is ready  # used as given, digest unchanged
    longer = Manifest.model_validate(manifest(task_id("m"), {"send_refund": None}, ttl="1h"))
    capped = parent.delegate(longer)
    assert capped.manifest.expires_at == parent.manifest.expires_at
    assert capped.manifest.digest != longer.digest  # the digest describes the capped grant
    with pytest.raises(ManifestError, match=r"tools\.nope"):
        parent.delegate({"tools": {"nope": None}})
    with pytest.raises(ManifestError, match="unknown key 'max_lenght'"):
        parent.delegate({"tools": {"read_ticket": {"args": {"ticket_id": {"max_lenght": 3}}}}})
    with pytest.raises(TypeError):
        parent.delegate(42)  # type: ignore[arg-type]


def test_delegate_from_a_missing_or_partial_file(tmp_path: Path, task_id: Any) -> None:
    parent = Guard(manifest(task_id("r"), {"t": None}), store=MemoryStore())
    with pytest.raises(ManifestError, match="cannot read manifest"):
        parent.delegate(tmp_path / "nope.yaml")
    partial = tmp_path / "sub.yaml"
    partial.write_text("# a file without task or expiry: both come from the delegation\n"
                       "tools:\n  t: {}\n")
    child = parent.delegate(partial)
    assert child.task.startswith(parent.task + "/sub-")
    assert child.manifest.expires_at == parent.manifest.expires_at
    partial.write_text("tools:\n  t: {args: {x: {max_lenght: 1}}}\n")
    with pytest.raises(ManifestError, match=r"sub\.yaml.*line 2"):
        parent.delegate(partial)
