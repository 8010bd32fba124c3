"""`guardrail.testing`: the helpers behave as documented, and its docstring example runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

import guardrail.testing
from guardrail import BudgetStore, Charge, DenialCode, Guard, StoreUnavailable
from guardrail.testing import CapturedSpans, FailingStore, FakeClock, task_id


def test_the_module_docstring_example_runs() -> None:
    doc = guardrail.testing.__doc__
    assert doc is not None
    example = textwrap.dedent(doc.split("\n\n", 1)[1].split("\n\nEvery helper", 1)[0])
    assert "FailingStore()" in example and "clock.advance" in example
    exec(compile(example, "guardrail.testing docstring", "exec"), {})


def test_task_ids_are_unique_and_prefixed() -> None:
    ids = {task_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("task-") for i in ids)
    assert task_id("mcp").startswith("mcp-")


def test_fake_clock_starts_now_or_where_told_and_moves_only_by_hand() -> None:
    before = time.time()
    clock = FakeClock()
    assert before <= clock() <= time.time()
    fixed = FakeClock(1_900_000_000)
    assert fixed() == 1_900_000_000.0
    fixed.advance(2.5)
    assert fixed() == 1_900_000_002.5
    fixed.advance(-1)
    assert fixed() == 1_900_000_001.5


def test_a_guard_on_a_fake_clock_expires_when_the_clock_says() -> None:
    clock = FakeClock()
    guard = Guard({"task": task_id(), "ttl": "1m", "tools": {"f": None}}, clock=clock)
    clock.advance(59)
    assert guard.check("f").allowed
    clock.advance(2)
    denial = guard.check("f").denial
    assert denial is not None and denial.code is DenialCode.EXPIRED


def test_failing_store_is_a_budget_store_that_fails_what_is_down() -> None:
    store = FailingStore(down={"consume"})
    assert isinstance(store, BudgetStore)
    t = task_id()
    with pytest.raises(StoreUnavailable, match="consume: connection refused"):
        store.consume([Charge(t, "calls", 1.0, 5.0)], expires_at=time.time() + 60)
    assert store.used([(t, "calls")]) == [0.0]  # the rest answers from the memory store inside
    store.down.clear()
    assert store.consume([Charge(t, "calls", 1.0, 5.0)], expires_at=time.time() + 60) is None
    assert store.used([(t, "calls")]) == [1.0]
    assert store.calls == ["consume", "used", "consume", "used"]


def test_failing_store_fails_everything_by_default_and_raises_the_given_error() -> None:
    store = FailingStore()
    assert store.down == set(FailingStore.ALL)
    with pytest.raises(StoreUnavailable, match="revoked: connection refused"):
        store.revoked(["t"])
    boom = RuntimeError("bug")
    with pytest.raises(RuntimeError) as caught:
        FailingStore(error=boom).usage("t")
    assert caught.value is boom


def test_failing_store_names_an_unknown_method() -> None:
    with pytest.raises(ValueError, match=r"unknown store method\(s\) \['consumme'\]"):
        FailingStore(down={"consumme"})


def test_a_guard_on_a_failing_store_denies_as_store_unavailable() -> None:
    manifest = {"task": task_id(), "ttl": "5m", "tools": {"pay": {"budget": {"calls": 3}}}}
    store = FailingStore(down={"consume"})
    guard = Guard(manifest, store=store)
    denial = guard.authorize("pay").denial
    assert denial is not None and denial.code is DenialCode.STORE_UNAVAILABLE
    assert "consume: connection refused" in denial.message
    store.down.clear()
    assert guard.authorize("pay").allowed


def test_captured_spans_keep_what_a_guard_traced() -> None:
    with CapturedSpans() as spans:
        guard = Guard({"task": task_id(), "ttl": "5m", "tools": {"ping": None}},
                      tracer_provider=spans.provider)
        assert guard.invoke("ping", lambda: "pong", {}) == "pong"
        assert spans.names() == ["execute_tool ping"]
        assert [s.name for s in spans.spans("execute_tool ")] == ["execute_tool ping"]
        assert spans.spans("nothing") == []
        [span] = spans.spans()
        assert span.attributes is not None and span.attributes["guardrail.decision"] == "allow"
        spans.clear()
        assert spans.spans() == []
    guard.invoke("ping", lambda: "pong", {})
    assert spans.spans() == []  # shut down on exit: nothing more is exported


def test_import_guardrail_does_not_import_the_testing_module() -> None:
    code = "import sys, guardrail; print('guardrail.testing' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
