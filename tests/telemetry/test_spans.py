"""One span per tool call through the guard, following the OTel GenAI conventions, and the metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from guardrail import (
    ArgumentViolation,
    BudgetExhausted,
    DelegationDenied,
    DelegationExpired,
    DelegationRevoked,
    Guard,
    ToolNotAllowed,
)
from guardrail.testing import FailingStore
from tests.telemetry.support import Telemetry, key, manifest

GOOD = {"to": "ann@example.com", "amount": 10}
# The store fails every charge and usage read; its revocation lookups answer (nothing revoked).
CHARGING = FailingStore.ALL - {"revoked"}


def send(**kwargs: Any) -> str:
    return f"sent {len(kwargs)}"


def base_attrs(guard: Guard, tool: str, call_id: str, decision: str) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.call.id": call_id,
        "guardrail.decision": decision,
        "guardrail.task": guard.task,
        "guardrail.principal": "agent:test",
        "guardrail.manifest.digest": guard.manifest.digest,
        "guardrail.mode": guard.mode,
        "guardrail.delegation.depth": 0,
    }


def only_span(tel: Telemetry) -> ReadableSpan:
    spans = tel.spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def check_metric(tel: Telemetry, expected: dict[frozenset[tuple[str, Any]], int]) -> None:
    assert tel.counter() == expected
    hist = tel.histogram()
    assert set(hist) == set(expected)
    for attrs, count in expected.items():
        point = hist[attrs]
        assert point.count == count
        assert point.sum > 0
        assert point.min >= 0


# -- allowed -------------------------------------------------------------------------------


def test_allowed_call(tel: Telemetry) -> None:
    guard = tel.guard(manifest())
    assert guard.invoke("send", send, GOOD, call_id="c-1") == "sent 2"
    span = only_span(tel)
    assert span.name == "execute_tool send"
    assert span.kind is SpanKind.INTERNAL
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == base_attrs(guard, "send", "c-1", "allow")
    assert span.events == ()
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "guardrail"
    check_metric(tel, {key(decision="allow", tool="send"): 1})


def test_allowed_call_whose_tool_raises(tel: Telemetry) -> None:
    guard = tel.guard(manifest())

    def broken(**kwargs: Any) -> None:
        raise ValueError("upstream said no")

    with pytest.raises(ValueError, match="upstream said no"):
        guard.invoke("send", broken, GOOD, call_id="c-2")
    span = only_span(tel)
    assert span.name == "execute_tool send"
    assert span.kind is SpanKind.INTERNAL
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError"
    assert dict(span.attributes or {}) == {
        **base_attrs(guard, "send", "c-2", "allow"), "error.type": "ValueError",
    }
    assert [(e.name, dict(e.attributes or {})) for e in span.events] == [
        ("exception", {"exception.type": "ValueError"}),
    ]
    # The tool ran inside the span: the span lasts at least as long as the decision.
    assert span.end_time is not None and span.start_time is not None
    assert span.end_time >= span.start_time
    check_metric(tel, {key(decision="allow", tool="send"): 1})


# -- each denial code ----------------------------------------------------------------------


@dataclass
class Case:
    code: str
    exc: type[DelegationDenied]
    make: Callable[[Telemetry], Guard]
    tool: str = "send"
    args: dict[str, Any] | None = None
    argument: str | None = None
    constraint: str | None = None
    budget: tuple[str, float, float] | None = None
    metric_tool: str = "send"
    prior_allows: int = 0  # allowed calls made before the denied one


NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def windowed(tel: Telemetry, now: datetime) -> Guard:
    m = manifest(ttl=None, not_before=(NOW - timedelta(hours=1)).isoformat(),
                 expires_at=(NOW + timedelta(hours=1)).isoformat())
    del m["ttl"]
    return tel.guard(m, clock=lambda: now.timestamp())


def revoked(tel: Telemetry) -> Guard:
    guard = tel.guard(manifest())
    guard.revoke("incident 42")
    return guard


def spent(tel: Telemetry) -> Guard:
    guard = tel.guard(manifest())
    for _ in range(3):
        guard.invoke("send", send, GOOD)
    tel.exporter.clear()
    return guard


class Boom(RuntimeError):
    pass


CASES = [
    Case("revoked", DelegationRevoked, revoked, args=GOOD),
    Case("not_yet_valid", DelegationExpired,
         lambda t: windowed(t, NOW - timedelta(hours=2)), args=GOOD),
    Case("expired", DelegationExpired, lambda t: windowed(t, NOW + timedelta(hours=2)), args=GOOD),
    Case("tool_not_allowed", ToolNotAllowed, lambda t: t.guard(manifest()), tool="delete_all",
         args={}, metric_tool="_not_granted_"),
    Case("argument_not_allowed", ArgumentViolation, lambda t: t.guard(manifest()),
         args={**GOOD, "cc": "boss@example.com"}, argument="cc"),
    Case("argument_missing", ArgumentViolation, lambda t: t.guard(manifest()),
         args={"amount": 1}, argument="to", constraint="required: true"),
    Case("argument_invalid", ArgumentViolation, lambda t: t.guard(manifest()),
         args={"to": "ann@example.com", "amount": 51}, argument="amount", constraint="max: 50"),
    Case("budget_exhausted", BudgetExhausted, spent, args=GOOD,
         budget=("tools.send.calls", 3.0, 3.0), prior_allows=3),
    Case("store_unavailable", DelegationDenied,
         lambda t: t.guard(manifest(), store=FailingStore(CHARGING)), args=GOOD),
    Case("internal_error", DelegationDenied,
         lambda t: t.guard(manifest(), store=FailingStore(CHARGING, Boom("bug"))), args=GOOD),
]


@pytest.mark.parametrize("case", CASES, ids=[c.code for c in CASES])
def test_each_denial(tel: Telemetry, case: Case) -> None:
    guard = case.make(tel)
    ran: list[bool] = []

    def tool(**kwargs: Any) -> None:
        ran.append(True)

    with pytest.raises(case.exc) as info:
        guard.invoke(case.tool, tool, case.args, call_id="c-9")
    assert not ran
    denial = info.value.denial
    assert denial.code.value == case.code
    assert denial.argument == case.argument
    assert denial.constraint == case.constraint

    span = only_span(tel)
    assert span.name == f"execute_tool {case.tool}"
    assert span.kind is SpanKind.INTERNAL
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == denial.message
    expected = base_attrs(guard, case.tool, "c-9", "deny")
    expected.update({
        "error.type": case.code,
        "guardrail.denial.code": case.code,
        "guardrail.denial.message": denial.message,
        "guardrail.denial.depth": 0,
    })
    if case.argument is not None:
        expected["guardrail.denial.argument"] = case.argument
    if case.constraint is not None:
        expected["guardrail.denial.constraint"] = case.constraint
    if case.budget is not None:
        expected.update({
            "guardrail.denial.budget.scope": case.budget[0],
            "guardrail.denial.budget.limit": case.budget[1],
            "guardrail.denial.budget.used": case.budget[2],
        })
    assert dict(span.attributes or {}) == expected

    assert len(span.events) == 1
    event = span.events[0]
    assert event.name == "guardrail.denial"
    fields: dict[str, Any] = {
        "code": case.code,
        "message": denial.message,
        "tool": case.tool,
        "argument": case.argument or "",
        "constraint": case.constraint or "",
        "task": guard.task,
        "principal": "agent:test",
        "manifest_digest": guard.manifest.digest,
        "call_id": "c-9",
        "depth": 0,
        "at": denial.at.isoformat(),
    }
    if case.budget is not None:
        fields.update({"budget.scope": case.budget[0], "budget.limit": case.budget[1],
                       "budget.used": case.budget[2]})
    assert dict(event.attributes or {}) == fields

    expected_points = {key(decision="deny", tool=case.metric_tool, code=case.code): 1}
    if case.prior_allows:
        expected_points[key(decision="allow", tool="send")] = case.prior_allows
    check_metric(tel, expected_points)


def test_shadow_mode_denial_is_traced_but_not_an_error(tel: Telemetry) -> None:
    guard = tel.guard(manifest(), mode="shadow")
    result = guard.invoke("send", send, {"to": "ann@example.com", "amount": 99}, call_id="c-3")
    assert result == "sent 2"  # shadow mode never blocks
    span = only_span(tel)
    assert span.name == "execute_tool send"
    assert span.kind is SpanKind.INTERNAL
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes or {})
    message = attrs["guardrail.denial.message"]
    assert attrs == {
        **base_attrs(guard, "send", "c-3", "shadow_deny"),
        "guardrail.denial.code": "argument_invalid",
        "guardrail.denial.message": message,
        "guardrail.denial.argument": "amount",
        "guardrail.denial.constraint": "max: 50",
        "guardrail.denial.depth": 0,
    }
    assert "error.type" not in attrs
    assert [e.name for e in span.events] == ["guardrail.denial"]
    event = dict(span.events[0].attributes or {})
    assert event["code"] == "argument_invalid"
    assert event["argument"] == "amount"
    assert event["constraint"] == "max: 50"
    check_metric(tel, {key(decision="shadow_deny", tool="send", code="argument_invalid"): 1})


# -- every way through the guard makes exactly one span ------------------------------------


def test_one_span_per_call_for_every_entry_point(tel: Telemetry) -> None:
    guard = tel.guard(manifest(tools={
        "send": {"args": {"to": {}, "amount": {"max": 50}}},
        "lookup": {"args": {"query": {}}},
    }))

    def lookup(query: str) -> str:
        return query.upper()

    async def send_async(to: str, amount: float = 0) -> str:
        await asyncio.sleep(0)
        return to

    wrapped = guard.wrap(lookup)
    wrapped_async = guard.wrap(send_async, name="send")
    by_name = guard.wrap_all({"lookup": lookup})
    as_list = guard.wrap_all([lookup])

    assert wrapped("a") == "A"
    assert by_name["lookup"](query="b") == "B"
    assert as_list[0]("c") == "C"
    assert guard.invoke("lookup", lookup, {"query": "d"}) == "D"
    assert asyncio.run(wrapped_async("x@example.com", 1)) == "x@example.com"
    # (mypy infers T=Never for an async fn against `Callable[..., Awaitable[T] | T]`: see report)
    assert asyncio.run(guard.ainvoke("send", send_async, {"to": "y", "amount": 2})) == "y"  # type: ignore[arg-type]
    assert asyncio.run(guard.ainvoke("lookup", lookup, {"query": "e"})) == "E"  # sync fn
    with pytest.raises(ArgumentViolation):
        asyncio.run(wrapped_async("z", 99))

    spans = tel.spans()
    assert [s.name for s in spans] == [
        "execute_tool lookup", "execute_tool lookup", "execute_tool lookup", "execute_tool lookup",
        "execute_tool send", "execute_tool send", "execute_tool lookup", "execute_tool send",
    ]
    assert [dict(s.attributes or {})["guardrail.decision"] for s in spans] == ["allow"] * 7 + ["deny"]
    call_ids = [dict(s.attributes or {})["gen_ai.tool.call.id"] for s in spans]
    assert len(set(call_ids)) == len(spans)
    assert tel.counter() == {
        key(decision="allow", tool="lookup"): 5,
        key(decision="allow", tool="send"): 2,
        key(decision="deny", tool="send", code="argument_invalid"): 1,
    }


def test_tool_span_is_a_child_of_the_current_span(tel: Telemetry) -> None:
    guard = tel.guard(manifest())
    tracer = tel.tracer_provider.get_tracer("agent")
    with tracer.start_as_current_span("invoke_agent") as parent:
        guard.invoke("send", send, GOOD)
        with pytest.raises(ArgumentViolation):
            guard.invoke("send", send, {"to": "bad"})
    spans = {s.name: s for s in tel.spans() if s.name != "invoke_agent"}
    tool_spans = [s for s in tel.spans() if s.name == "execute_tool send"]
    assert len(tool_spans) == 2 and spans
    for span in tool_spans:
        assert span.parent is not None
        assert span.parent.span_id == parent.get_span_context().span_id
        assert span.context is not None
        assert span.context.trace_id == parent.get_span_context().trace_id


def test_authorize_and_check_emit_no_span_but_are_counted(tel: Telemetry) -> None:
    guard = tel.guard(manifest())
    assert guard.authorize("send", GOOD).allowed
    assert not guard.authorize("send", {"to": "nope"}).allowed
    assert guard.check("send", GOOD).allowed
    assert not guard.check("rm", {}).allowed
    assert tel.spans() == []
    check_metric(tel, {
        key(decision="allow", tool="send"): 2,
        key(decision="deny", tool="send", code="argument_invalid"): 1,
        key(decision="deny", tool="_not_granted_", code="tool_not_allowed"): 1,
    })


def test_global_providers_are_used_when_none_are_given() -> None:
    # Without providers the guard uses the global (no-op by default) ones and still decides.
    guard = Guard(manifest())
    assert guard.invoke("send", send, GOOD) == "sent 2"
    with pytest.raises(ToolNotAllowed):
        guard.invoke("rm", send, {})


def test_check_duration_buckets_resolve_microseconds(tel: Telemetry) -> None:
    guard = tel.guard(manifest())
    for _ in range(5):
        guard.check("lookup", {"query": "q"})
    (point,) = tel.histogram().values()
    assert point.count == 5
    bounds = list(point.explicit_bounds)
    # Sub-millisecond resolution (the SDK default starts at 0, 5, 10 seconds).
    assert sum(1 for b in bounds if 0 < b < 1e-3) >= 5
    assert bounds[0] <= 1e-6 and bounds == sorted(bounds)
