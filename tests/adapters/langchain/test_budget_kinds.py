"""Through LangChain: a tool whose upstream fails gives its charges back (`refund_on_error`), a
per-value budget keeps one payee from using up another's slot."""

from __future__ import annotations

import asyncio

from guardrail_langchain import guard_tools
from langchain_core.tools import ToolException, tool

from tests.adapters.langchain.support import MakeGuard, tool_call


@tool
def search(query: str) -> str:
    """Search the web."""
    raise ToolException(f"upstream rejected {query!r}")


@tool
def pay(payee: str, amount: float) -> str:
    """Pay someone."""
    return f"paid {amount} to {payee}"


def test_a_failed_search_gives_its_charge_back(make_guard: MakeGuard) -> None:
    guard = make_guard({"search": {"args": {"query": {}}, "refund_on_error": True,
                                   "budget": {"calls": 1, "window": "1m"}}})
    (guarded,) = guard_tools([search], guard)
    guarded.handle_tool_error = True  # the model gets the error as a message
    for i in range(3):
        out = guarded.invoke(tool_call("search", {"query": "x"}, f"call-{i}"))
        assert "upstream rejected" in out.content
    assert guard.usage()["tools.search.calls"]["used"] == 0.0

    async def arun() -> str:
        out = await guarded.ainvoke(tool_call("search", {"query": "y"}, "call-a"))
        return str(out.content)

    assert "upstream rejected" in asyncio.run(arun())
    assert guard.usage()["tools.search.calls"]["used"] == 0.0


def test_one_payment_per_payee(make_guard: MakeGuard) -> None:
    guard = make_guard({"pay": {"args": {"payee": {}, "amount": {}},
                                "budget": {"calls": 1, "per": "payee"}}})
    (guarded,) = guard_tools([pay], guard, on_denial="message")
    results = [guarded.invoke(tool_call("pay", {"payee": p, "amount": 5}, f"c-{i}")).content
               for i, p in enumerate(["attacker", "landlord", "landlord"])]
    assert results[:2] == ["paid 5.0 to attacker", "paid 5.0 to landlord"]
    assert "budget_exhausted" in results[2] and "landlord" not in results[2]


def test_a_raising_tool_without_refund_stays_charged(make_guard: MakeGuard) -> None:
    guard = make_guard({"search": {"args": {"query": {}}, "budget": {"calls": 1}}})
    (guarded,) = guard_tools([search], guard)
    guarded.handle_tool_error = True
    assert "upstream rejected" in guarded.invoke(tool_call("search", {"query": "x"})).content
    out = guarded.invoke(tool_call("search", {"query": "x"}, "call-2"))
    assert "budget_exhausted" in out.content
