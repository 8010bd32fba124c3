"""guard.wrap / wrap_all, invoke / ainvoke, context managers, revocation and the default store."""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import Any

import pytest

from guardrail import (
    ArgumentViolation,
    BudgetExhausted,
    DelegationDenied,
    DelegationRevoked,
    DenialCode,
    Guard,
    ManifestError,
    MemoryStore,
    ToolNotAllowed,
    default_store,
)
from guardrail.testing import task_id
from tests.support.decisions import manifest

TOOLS = {
    "send_refund": {"args": {"order_id": {"starts_with": "ORD-", "required": True},
                             "amount": {"type": "number", "min": 0, "max": 50},
                             "currency": ["EUR", "GBP"]},
                    "budget": {"calls": 3, "sum": {"amount": 80}}},
    "search": {"args": {"query": {"max_length": 20}, "limit": {"type": "integer", "max": 10}}},
    "log": {"args": {"level": ["info", "warn"]}, "allow_other_args": True},
    "tag": {"args": {"tags": {"each": {"pattern": "[a-z]+"}}}},
}


def send_refund(order_id: str, amount: float, currency: str = "EUR") -> str:
    return f"refunded {amount} {currency} on {order_id}"


async def search(query: str, *, limit: int = 5) -> list[str]:
    await asyncio.sleep(0)
    return [query] * limit


def log(level: str, **fields: Any) -> dict[str, Any]:
    return {"level": level, **fields}


def tag(*tags: str) -> list[str]:
    return list(tags)


def make(**kw: Any) -> Guard:
    kw.setdefault("store", MemoryStore())
    return Guard(manifest(TOOLS, principal="agent:bot"), **kw)


def test_wrap_keeps_signature_and_metadata() -> None:
    guard = make()
    for fn in (send_refund, search, log, tag):
        wrapped = guard.wrap(fn)
        assert inspect.signature(wrapped) == inspect.signature(fn)
        assert wrapped.__name__ == fn.__name__
        assert wrapped.__doc__ == fn.__doc__
        assert inspect.iscoroutinefunction(wrapped) is inspect.iscoroutinefunction(fn)
        assert wrapped.__guardrail__ is guard  # type: ignore[attr-defined]


def test_wrap_binds_positional_and_keyword_arguments() -> None:
    refund = make().wrap(send_refund)
    assert refund("ORD-1", 10) == "refunded 10 EUR on ORD-1"
    assert refund("ORD-1", amount=10, currency="GBP") == "refunded 10 GBP on ORD-1"
    assert refund(order_id="ORD-2", amount=0.5) == "refunded 0.5 EUR on ORD-2"
    with pytest.raises(ArgumentViolation) as info:
        refund("ORD-3", 51)  # positional value checked under its parameter's name
    assert info.value.denial.argument == "amount" and info.value.denial.constraint == "max: 50"
    with pytest.raises(ArgumentViolation) as info:
        refund("X-1", 1)
    assert info.value.denial.argument == "order_id"
    with pytest.raises(ArgumentViolation) as info:
        refund("ORD-3", 1, "USD")
    assert info.value.denial.argument == "currency"


def test_wrap_missing_and_extra_arguments() -> None:
    refund = make().wrap(send_refund)
    with pytest.raises(ArgumentViolation) as info:
        refund(amount=1)  # type: ignore[call-arg]
    assert info.value.denial.code is DenialCode.ARGUMENT_MISSING
    assert info.value.denial.argument == "order_id"
    with pytest.raises(TypeError):
        refund("ORD-1", 1, "EUR", "extra")  # type: ignore[call-arg]


def test_wrap_checks_the_defaults_the_function_runs_with() -> None:
    def pay(order_id: str, amount: float = 500, currency: str = "USD") -> str:
        return "paid"

    guard = Guard(manifest(TOOLS), store=MemoryStore())
    refund = guard.wrap(pay, name="send_refund")
    with pytest.raises(ArgumentViolation) as info:
        refund("ORD-1")
    assert info.value.denial.argument == "amount"
    with pytest.raises(ArgumentViolation) as info:
        refund("ORD-1", 5)
    assert info.value.denial.argument == "currency"
    assert refund("ORD-1", 5, "EUR") == "paid"

    def pay_twenty(order_id: str, amount: float = 20, currency: str = "EUR") -> str:
        return "paid"

    refund = guard.wrap(pay_twenty, name="send_refund")
    assert refund("ORD-1") == "paid"
    # the default is charged to the sum budget like a passed amount: 5 + 20 + 20 + 20 > 80
    assert refund("ORD-1") == "paid"
    with pytest.raises(BudgetExhausted):
        refund("ORD-1")
    assert guard.usage()["tools.send_refund.sum.amount"]["used"] == 45


def test_wrap_async_function() -> None:
    guard = make()
    wrapped = guard.wrap(search)
    assert asyncio.run(wrapped("x", limit=2)) == ["x", "x"]
    assert asyncio.run(wrapped(query="y")) == ["y"] * 5
    with pytest.raises(ArgumentViolation) as info:
        asyncio.run(wrapped("x" * 21))
    assert info.value.denial.argument == "query"
    with pytest.raises(ArgumentViolation):
        asyncio.run(wrapped("x", limit=11))


def test_wrap_async_callable_object() -> None:
    class Search:
        __name__ = "search"

        async def __call__(self, query: str, limit: int = 1) -> str:
            return query * limit

    wrapped = make().wrap(Search())
    assert inspect.iscoroutinefunction(wrapped)
    assert asyncio.run(wrapped("q")) == "q"
    with pytest.raises(ArgumentViolation):
        asyncio.run(wrapped("q", 11))


def test_wrap_var_keyword_and_var_positional() -> None:
    guard = make()
    wrapped_log = guard.wrap(log)
    assert wrapped_log("info", user="u1", n=3) == {"level": "info", "user": "u1", "n": 3}
    with pytest.raises(ArgumentViolation) as info:
        wrapped_log("debug", user="u1")
    assert info.value.denial.argument == "level"
    wrapped_tag = guard.wrap(tag)
    assert wrapped_tag("a", "bc") == ["a", "bc"]
    with pytest.raises(ArgumentViolation) as info:
        wrapped_tag("a", "B")
    assert info.value.denial.argument == "tags.1"


def test_var_keyword_arguments_are_checked_against_the_manifest() -> None:
    guard = Guard(manifest({"send": {"args": {"to": ["alice"]}}}), store=MemoryStore())

    def send(**kwargs: Any) -> str:
        return "sent"

    wrapped = guard.wrap(send)
    assert wrapped(to="alice") == "sent"
    with pytest.raises(ArgumentViolation) as info:
        wrapped(to="alice", cc="mallory")
    assert info.value.denial.code is DenialCode.ARGUMENT_NOT_ALLOWED and info.value.denial.argument == "cc"


def test_wrap_rejects_a_manifest_argument_the_function_lacks() -> None:
    guard = make()

    def send_refund(order_id: str, amount: float) -> str:  # no currency
        return "x"

    with pytest.raises(ManifestError) as info:
        guard.wrap(send_refund)
    assert len(info.value.problems) == 1
    assert "currency" in info.value.problems[0]
    assert info.value.problems[0].startswith("tools.send_refund.args.currency")

    async def search(q: str) -> str:  # neither query nor limit
        return q

    with pytest.raises(ManifestError) as info:
        guard.wrap(search)
    assert len(info.value.problems) == 2
    with pytest.raises(ManifestError):
        guard.wrap_all({"send_refund": send_refund})


def test_wrap_a_tool_the_manifest_does_not_grant() -> None:
    guard = make()
    ran = []

    def delete_all() -> None:
        ran.append(1)

    wrapped = guard.wrap(delete_all)
    with pytest.raises(ToolNotAllowed) as info:
        wrapped()
    assert info.value.denial.tool == "delete_all"
    assert ran == []
    with pytest.raises(TypeError, match="name="):
        guard.wrap(functools.partial(log, "info"))
    assert guard.wrap(functools.partial(log, "info"), name="log")(user="u") == {"level": "info", "user": "u"}


def test_wrap_all_mapping_list_and_tuple() -> None:
    guard = make()
    by_name = guard.wrap_all({"send_refund": send_refund, "renamed": log})
    assert set(by_name) == {"send_refund", "renamed"}
    assert by_name["send_refund"]("ORD-1", 1) == "refunded 1 EUR on ORD-1"
    with pytest.raises(ToolNotAllowed):
        by_name["renamed"]("info")  # wrapped under the mapping's name, which is not granted
    as_list = guard.wrap_all([send_refund, log])
    assert isinstance(as_list, list) and as_list[1]("warn") == {"level": "warn"}
    as_tuple = guard.wrap_all((send_refund,))
    assert isinstance(as_tuple, tuple)


def test_invoke_and_ainvoke() -> None:
    guard = make()
    assert guard.invoke("send_refund", send_refund, {"order_id": "ORD-1", "amount": 2}) == (
        "refunded 2 EUR on ORD-1")
    with pytest.raises(ArgumentViolation):
        guard.invoke("send_refund", send_refund, {"order_id": "ORD-1", "amount": -2})
    assert asyncio.run(guard.ainvoke("search", search, {"query": "q", "limit": 1})) == ["q"]
    assert asyncio.run(guard.ainvoke("send_refund", send_refund, {"order_id": "ORD-1", "amount": 3})) == (
        "refunded 3 EUR on ORD-1")
    with pytest.raises(ToolNotAllowed):
        asyncio.run(guard.ainvoke("nope", search, {"query": "q"}))
    # the tool's own exceptions pass through unchanged, and the call was charged
    def boom(**kw: Any) -> None:
        raise KeyError("tool failed")

    with pytest.raises(KeyError):
        guard.invoke("send_refund", boom, {"order_id": "ORD-1", "amount": 1})
    assert guard.usage()["tools.send_refund.calls"]["used"] == 3


def test_with_guard_ends_the_guard_on_exit() -> None:
    store = MemoryStore()
    with make(store=store) as guard:
        assert guard.check("search", {"query": "q"}).allowed
        wrapped = guard.wrap(search)
    assert guard.revoked
    denial = guard.check("search", {"query": "q"}).denial
    assert denial is not None and denial.code is DenialCode.REVOKED and "task ended" in denial.message
    with pytest.raises(DelegationRevoked):
        asyncio.run(wrapped("q"))
    assert store.revoked([guard.task]) is None  # this guard only, not the task fleet-wide


def test_with_guard_ends_the_guard_on_error_too() -> None:
    with pytest.raises(RuntimeError), make() as guard:
        raise RuntimeError("agent crashed")
    assert guard.revoked


def test_async_with_guard_ends_the_guard_on_exit() -> None:
    async def main() -> Guard:
        async with make() as guard:
            assert await guard.ainvoke("search", search, {"query": "q", "limit": 1}) == ["q"]
        return guard

    guard = asyncio.run(main())
    assert guard.revoked
    with pytest.raises(DelegationRevoked):
        asyncio.run(guard.ainvoke("search", search, {"query": "q"}))


def test_a_second_guard_shares_budget_and_revocation_on_the_default_store() -> None:
    data = manifest({"f": {"budget": {"calls": 3}}})
    first = Guard(data)
    assert first.store is default_store()
    assert first.authorize("f").allowed
    assert first.authorize("f").allowed
    second = Guard(dict(data))  # same task: cannot reset the budget
    assert second.store is first.store
    assert second.usage()["tools.f.calls"]["used"] == 2
    assert second.authorize("f").allowed
    assert not first.authorize("f").allowed
    assert not second.authorize("f").allowed
    # revocation by one guard is seen by the other, and by a third made afterwards
    other = Guard(manifest({"g": None}, task=task_id()))
    second.revoke("stop")
    for guard in (first, second, Guard(dict(data))):
        assert guard.revoked
        denial = guard.check("f").denial
        assert denial is not None and denial.code is DenialCode.REVOKED
    # another task on the same store is unaffected
    assert other.check("g").allowed and not other.revoked


def test_revocation_seen_by_the_fast_path_of_another_guard() -> None:
    data = manifest({"f": {"args": {"x": {}}}})
    store = MemoryStore()
    first, second = Guard(data, store=store), Guard(data, store=store)
    assert first.check("f", {"x": 1}).allowed  # warm the fast path
    second.revoke()
    assert first.revoked
    decision = first.authorize("f", {"x": 1})
    assert not decision.allowed and decision.denial.code is DenialCode.REVOKED  # type: ignore[union-attr]
    with pytest.raises(DelegationDenied):
        first.invoke("f", lambda x: x, {"x": 1})


def test_revoke_twice_keeps_the_first_reason() -> None:
    guard = make()
    guard.revoke("first")
    guard.revoke("second")
    assert "first" in guard.check("search", {}).denial.message  # type: ignore[union-attr]


def test_invoke_with_a_tool_name_that_is_not_a_string_is_a_denial_and_never_runs() -> None:
    from guardrail import ToolNotAllowed

    guard = Guard({"task": "odd-name", "ttl": "5m", "tools": {"t": None}},
                  store=MemoryStore())
    ran: list[object] = []
    with pytest.raises(ToolNotAllowed):
        guard.invoke(["t"], lambda **kw: ran.append(kw), {})  # type: ignore[arg-type]
    assert ran == []
