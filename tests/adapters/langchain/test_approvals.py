"""Approvals (`ask`) with LangChain: `DelegationMiddleware` pauses a real `create_agent` graph with
LangGraph's `interrupt()` in the shape of `HumanInTheLoopMiddleware`, resumes on a real
`Command(resume=...)` with a real `InMemorySaver`; `guard_tools` follows its denial convention."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from guardrail_langchain import DelegationMiddleware, guard_tools
from guardrail_langchain.testing import ScriptedChatModel
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command, Interrupt

from guardrail import Approval, ApprovalDenied, ApprovalRequired, Guard
from guardrail.testing import FakeClock
from tests.adapters.langchain.support import MakeGuard, Spans

# Pay asks above 50, denies above 500 and names no payee but the two known ones.
PAY: dict[str, Any] = {
    "args": {
        "payee": ["landlord", "grocer"],
        "amount": {"type": "number", "min": 0, "max": 500},
    },
    "ask": "args.amount > 50.0",
    "budget": {"calls": 5},
}
GRANTS: dict[str, Any] = {"pay": PAY, "balance": {}}
APPROVAL_KEYS = {"denied", "code", "tool", "argument", "constraint", "message", "approval_id"}


@dataclass
class Bank:
    paid: list[tuple[str, float]] = field(default_factory=list)

    def tools(self) -> list[BaseTool]:
        @tool
        def pay(payee: str, amount: float) -> str:
            """Pay someone."""
            self.paid.append((payee, amount))
            return f"paid {payee} {amount}"

        @tool
        def balance() -> str:
            """The account's balance."""
            return "1200"

        return [pay, balance]


def pay_call(amount: float, payee: str = "landlord", call_id: str = "c1") -> dict[str, Any]:
    return {"name": "pay", "args": {"payee": payee, "amount": amount}, "id": call_id, "type": "tool_call"}


def model(*calls: dict[str, Any]) -> ScriptedChatModel:
    """One turn with `calls`, then an answer."""
    return ScriptedChatModel(responses=[AIMessage("", tool_calls=list(calls)), AIMessage("Done.")])


THREAD = {"configurable": {"thread_id": "t-1"}}
ASKED = {"messages": [{"role": "user", "content": "Pay the rent."}]}


class Run:
    """A `create_agent` agent with the middleware and an in-memory checkpointer, and its bank."""

    def __init__(self, guard: Guard, *calls: dict[str, Any], on_denial: Any = "message",
                 checkpointer: bool = True) -> None:
        self.guard = guard
        self.bank = Bank()
        self.agent = create_agent(
            model(*calls), self.bank.tools(),
            middleware=[DelegationMiddleware(guard, on_denial=on_denial)],
            checkpointer=InMemorySaver() if checkpointer else None,
        )

    def start(self) -> dict[str, Any]:
        return self.agent.invoke(ASKED, THREAD)

    def resume(self, answer: Any) -> dict[str, Any]:
        return self.agent.invoke(Command(resume=answer), THREAD)

    async def astart(self) -> dict[str, Any]:
        return await self.agent.ainvoke(ASKED, THREAD)

    async def aresume(self, answer: Any) -> dict[str, Any]:
        return await self.agent.ainvoke(Command(resume=answer), THREAD)

    def used(self) -> float:
        return float(self.guard.usage()["tools.pay.calls"]["used"])


def interrupts(result: dict[str, Any]) -> list[Interrupt]:
    found: list[Interrupt] = result.get("__interrupt__", [])
    return found


def only_interrupt(result: dict[str, Any]) -> dict[str, Any]:
    (paused,) = interrupts(result)
    value: dict[str, Any] = paused.value
    return value


def tool_messages(result: dict[str, Any]) -> list[ToolMessage]:
    return [m for m in result["messages"] if isinstance(m, ToolMessage)]


def approval_denial(message: ToolMessage) -> dict[str, Any]:
    """The denial object of an approval code in an error `ToolMessage` (checking its shape)."""
    assert message.status == "error", message
    payload: dict[str, Any] = json.loads(str(message.content))
    assert set(payload) == APPROVAL_KEYS
    assert payload["denied"] is True
    return payload


APPROVE = {"decisions": [{"type": "approve"}]}


def edit(amount: float, payee: str = "landlord") -> dict[str, Any]:
    return {"decisions": [{"type": "edit", "edited_action": {
        "name": "pay", "args": {"payee": payee, "amount": amount}}}]}


# --- the middleware pauses, and resumes on the HITL answer -------------------------------------


def test_approve_runs_the_call_once_and_charges_it_once(make_guard: MakeGuard, spans: Spans) -> None:
    run = Run(make_guard(GRANTS), pay_call(120))
    paused = run.start()
    request = only_interrupt(paused)
    (pending,) = run.guard.pending()
    assert request["action_requests"][0]["args"] == {"payee": "landlord", "amount": 120}
    assert pending.id in request["action_requests"][0]["description"]
    assert "args.amount > 50.0" in request["action_requests"][0]["description"]
    assert run.bank.paid == [] and run.used() == 0

    done = run.resume({"decisions": [{"type": "approve", "by": "ann", "message": "the rent"}]})
    assert interrupts(done) == []
    (message,) = tool_messages(done)
    assert message.status == "success" and message.content == "paid landlord 120.0"
    assert run.bank.paid == [("landlord", 120.0)]
    assert run.used() == 1
    assert run.guard.pending() == []
    # The approval is recorded with who gave it, on the span of the call that ran.
    ran = [s.attributes for s in spans.tool_spans() if s.attributes
           and s.attributes.get("guardrail.decision") == "allow"]
    assert [(a.get("guardrail.approval.id"), a.get("guardrail.approval.by")) for a in ran] == [
        (pending.id, "ann")
    ]


def test_resuming_decides_the_call_again_without_a_second_request_or_charge(
    make_guard: MakeGuard,
) -> None:
    # LangGraph runs the node again on resume: the guard hands back the same pending request.
    run = Run(make_guard(GRANTS), pay_call(120))
    first = only_interrupt(run.start())
    (pending,) = run.guard.pending()
    run.resume({"decisions": [{"type": "approve"}]})
    assert pending.id in first["action_requests"][0]["description"]
    assert run.used() == 1 and len(run.bank.paid) == 1
    assert run.guard.pending() == []


def test_the_decision_log_has_the_ask_per_pause_and_resume_then_the_approved_allow(
    make_guard: MakeGuard,
) -> None:
    class Sink:
        def __init__(self) -> None:
            self.lines: list[tuple[str, str | None, str | None]] = []

        def record(self, decision: Any, guard: Guard, args: Any) -> None:
            resolution = decision.resolution
            request = decision.approval
            self.lines.append((
                decision.outcome, request.id if request else None, resolution.by if resolution else None
            ))

    sink = Sink()
    run = Run(make_guard(GRANTS, audit=sink), pay_call(120))
    run.start()
    run.resume({"decisions": [{"type": "approve", "by": "ann"}]})
    (first, again, allowed) = sink.lines
    assert first == again == ("ask", first[1], None)
    assert allowed == ("allow", first[1], "ann")


def test_reject_answers_with_approval_denied_and_never_runs(make_guard: MakeGuard) -> None:
    run = Run(make_guard(GRANTS), pay_call(120))
    run.start()
    (pending,) = run.guard.pending()
    done = run.resume({"decisions": [{"type": "reject", "message": "not this month", "by": "ann"}]})
    (message,) = tool_messages(done)
    denial = approval_denial(message)
    assert denial["code"] == "approval_denied"
    assert denial["approval_id"] == pending.id
    assert "refused by ann" in denial["message"] and "not this month" in denial["message"]
    assert message.artifact["code"] == "approval_denied"
    assert run.bank.paid == [] and run.used() == 0
    assert run.guard.pending() == []


def test_reject_with_on_denial_raise_propagates_approval_denied(make_guard: MakeGuard) -> None:
    run = Run(make_guard(GRANTS), pay_call(120), on_denial="raise")
    only_interrupt(run.start())  # an ask pauses whatever on_denial says
    with pytest.raises(ApprovalDenied) as raised:
        run.resume({"decisions": [{"type": "reject"}]})
    assert raised.value.denial.code == "approval_denied"
    assert run.bank.paid == []


def test_edit_to_allowed_arguments_runs_the_edited_call(make_guard: MakeGuard) -> None:
    run = Run(make_guard(GRANTS), pay_call(120))
    run.start()
    done = run.resume(edit(40))
    assert interrupts(done) == []
    (message,) = tool_messages(done)
    assert message.content == "paid landlord 40.0"
    assert run.bank.paid == [("landlord", 40.0)]
    assert run.used() == 1


def test_edit_to_denied_arguments_is_denied(make_guard: MakeGuard) -> None:
    run = Run(make_guard(GRANTS), pay_call(120))
    run.start()
    done = run.resume(edit(40, payee="attacker"))
    (message,) = tool_messages(done)
    denial = json.loads(str(message.content))
    assert message.status == "error"
    assert (denial["code"], denial["argument"]) == ("argument_invalid", "payee")
    assert run.bank.paid == [] and run.used() == 0


def test_edit_that_asks_again_pauses_again(make_guard: MakeGuard) -> None:
    run = Run(make_guard(GRANTS), pay_call(120))
    run.start()
    again = only_interrupt(run.resume(edit(90)))
    assert again["action_requests"][0]["args"] == {"payee": "landlord", "amount": 90}
    assert run.bank.paid == []
    done = run.resume(APPROVE)
    assert [m.content for m in tool_messages(done)] == ["paid landlord 90.0"]
    assert run.bank.paid == [("landlord", 90.0)]
    assert run.used() == 1
    assert run.guard.pending() == []


def test_a_request_replaced_by_an_edit_stays_pending_while_paused_then_is_refused(
    make_guard: MakeGuard,
) -> None:
    run = Run(make_guard(GRANTS), pay_call(120))
    run.start()
    (original,) = run.guard.pending()
    only_interrupt(run.resume(edit(90)))
    # Still pending while paused: the resumed node decides the original call again first.
    assert {r.args["amount"] for r in run.guard.pending()} == {120, 90}
    run.resume(APPROVE)
    assert run.guard.pending() == []
    # Refused once the call is over, so an out-of-band approval can no longer run it.
    retried = run.guard.authorize("pay", {"payee": "landlord", "amount": 120.0})  # as parsed
    assert retried.denial is not None and retried.denial.code == "approval_denied"
    assert retried.denial.approval_id == original.id
    assert "replaced by the reviewer's edit" in retried.denial.message


def test_an_edit_back_to_the_original_call_is_the_original_request(make_guard: MakeGuard) -> None:
    run = Run(make_guard(GRANTS), pay_call(120))
    run.start()
    (original,) = run.guard.pending()
    run.resume(edit(90))
    back = only_interrupt(run.resume(edit(120)))
    assert original.id in back["action_requests"][0]["description"]
    run.resume(APPROVE)
    assert run.bank.paid == [("landlord", 120.0)] and run.used() == 1
    assert run.guard.pending() == []


def test_a_call_that_does_not_ask_is_not_paused(make_guard: MakeGuard) -> None:
    run = Run(make_guard(GRANTS), pay_call(20))
    done = run.start()
    assert interrupts(done) == []
    assert [m.content for m in tool_messages(done)] == ["paid landlord 20.0"]
    assert run.guard.pending() == []


def test_a_denied_call_is_never_put_to_a_person(make_guard: MakeGuard) -> None:
    run = Run(make_guard(GRANTS), pay_call(900))
    done = run.start()
    assert interrupts(done) == []
    (message,) = tool_messages(done)
    assert json.loads(str(message.content))["code"] == "argument_invalid"


def test_the_interrupt_is_what_human_in_the_loop_middleware_pauses_with(make_guard: MakeGuard) -> None:
    ours = only_interrupt(Run(make_guard(GRANTS), pay_call(120.0)).start())

    hitl_agent = create_agent(
        model(pay_call(120.0)), Bank().tools(),
        middleware=[HumanInTheLoopMiddleware(
            interrupt_on={"pay": {"allowed_decisions": ["approve", "edit", "reject"]}}
        )],
        checkpointer=InMemorySaver(),
    )
    theirs = only_interrupt(hitl_agent.invoke(ASKED, THREAD))

    assert set(ours) == set(theirs) == {"action_requests", "review_configs"}
    assert ours["review_configs"] == theirs["review_configs"]
    (our_action,), (their_action,) = ours["action_requests"], theirs["action_requests"]
    assert set(our_action) == set(their_action) == {"name", "args", "description"}
    assert {k: v for k, v in our_action.items() if k != "description"} == {
        k: v for k, v in their_action.items() if k != "description"
    }
    assert type(our_action["description"]) is type(their_action["description"]) is str
    # The same answer resumes both.
    assert tool_messages(hitl_agent.invoke(Command(resume=APPROVE), THREAD))[0].content == (
        "paid landlord 120.0"
    )


def test_two_calls_that_ask_pause_separately_and_are_answered_by_interrupt_id(
    make_guard: MakeGuard,
) -> None:
    run = Run(make_guard(GRANTS), pay_call(120, call_id="c1"), pay_call(80, "grocer", call_id="c2"))
    paused = interrupts(run.start())
    assert len(paused) == 2 and len(run.guard.pending()) == 2
    answers = {
        p.id: APPROVE if p.value["action_requests"][0]["args"]["payee"] == "landlord"
        else {"decisions": [{"type": "reject"}]}
        for p in paused
    }
    done = run.resume(answers)
    by_call = {m.tool_call_id: m for m in tool_messages(done)}
    assert by_call["c1"].content == "paid landlord 120.0"
    assert approval_denial(by_call["c2"])["code"] == "approval_denied"
    assert run.bank.paid == [("landlord", 120.0)] and run.used() == 1


MALFORMED: dict[str, Any] = {
    "not an object": "approve",
    "missing decisions": {"decision": [{"type": "approve"}]},
    "decisions not a list": {"decisions": {"type": "approve"}},
    "no decision": {"decisions": []},
    "two decisions": {"decisions": [{"type": "approve"}, {"type": "approve"}]},
    "decision not an object": {"decisions": ["approve"]},
    "unknown type": {"decisions": [{"type": "accept"}]},
    "respond is not offered": {"decisions": [{"type": "respond", "message": "paid"}]},
    "edit without args": {"decisions": [{"type": "edit", "edited_action": {"name": "pay"}}]},
    "edit of another tool": {"decisions": [{"type": "edit", "edited_action": {
        "name": "balance", "args": {}}}]},
    "by not a string": {"decisions": [{"type": "approve", "by": 7}]},
}


@pytest.mark.parametrize("answer", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_answer_refuses_the_call(make_guard: MakeGuard, answer: Any) -> None:
    run = Run(make_guard(GRANTS), pay_call(120))
    run.start()
    done = run.resume(answer)
    assert interrupts(done) == []
    (message,) = tool_messages(done)
    denial = approval_denial(message)
    assert denial["code"] == "approval_denied"
    assert "the review's answer could not be read" in denial["message"]
    assert run.bank.paid == [] and run.used() == 0
    assert run.guard.pending() == []


# --- when the graph cannot pause ---------------------------------------------------------------


def test_without_a_checkpointer_a_call_that_asks_is_an_approval_required_denial(
    make_guard: MakeGuard,
) -> None:
    run = Run(make_guard(GRANTS), pay_call(120), checkpointer=False)
    done = run.agent.invoke(ASKED)
    assert interrupts(done) == []
    (message,) = tool_messages(done)
    denial = approval_denial(message)
    (pending,) = run.guard.pending()
    assert (denial["code"], denial["approval_id"]) == ("approval_required", pending.id)
    assert run.bank.paid == []


def test_without_a_checkpointer_on_denial_raise_raises_approval_required(make_guard: MakeGuard) -> None:
    run = Run(make_guard(GRANTS), pay_call(120), on_denial="raise", checkpointer=False)
    with pytest.raises(ApprovalRequired) as raised:
        run.agent.invoke(ASKED)
    assert raised.value.request is not None and raised.value.request.tool == "pay"


@pytest.mark.parametrize("approves", [True, False])
def test_a_guard_with_an_approver_answers_at_once(make_guard: MakeGuard, approves: bool) -> None:
    asked: list[str] = []

    def approver(request: Any) -> Approval:
        asked.append(request.tool)
        return Approval(request_id=request.id, approved=approves, by="bot")

    run = Run(make_guard(GRANTS, approver=approver), pay_call(120))
    done = run.start()
    assert interrupts(done) == [] and asked == ["pay"]
    (message,) = tool_messages(done)
    if approves:
        assert message.content == "paid landlord 120.0" and run.used() == 1
    else:
        assert approval_denial(message)["code"] == "approval_denied" and run.bank.paid == []


# --- async --------------------------------------------------------------------------------------


def test_async_agent_pauses_and_resumes(make_guard: MakeGuard) -> None:
    async def scenario() -> None:
        approve = Run(make_guard(GRANTS), pay_call(120))
        first = only_interrupt(await approve.astart())
        assert first["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject"]
        done = await approve.aresume(APPROVE)
        assert [m.content for m in tool_messages(done)] == ["paid landlord 120.0"]
        assert approve.used() == 1 and approve.guard.pending() == []

        reject = Run(make_guard(GRANTS), pay_call(120))
        await reject.astart()
        done = await reject.aresume({"decisions": [{"type": "reject"}]})
        assert approval_denial(tool_messages(done)[0])["code"] == "approval_denied"
        assert reject.bank.paid == []

        edited = Run(make_guard(GRANTS), pay_call(120))
        await edited.astart()
        again = only_interrupt(await edited.aresume(edit(70)))
        assert again["action_requests"][0]["args"]["amount"] == 70
        done = await edited.aresume(APPROVE)
        assert edited.bank.paid == [("landlord", 70.0)] and edited.used() == 1
        assert edited.guard.pending() == []

        malformed = Run(make_guard(GRANTS), pay_call(120))
        await malformed.astart()
        done = await malformed.aresume({"decisions": [{"type": "respond", "message": "ok"}]})
        assert approval_denial(tool_messages(done)[0])["code"] == "approval_denied"
        assert malformed.bank.paid == []

    asyncio.run(scenario())


# --- guard_tools, outside the middleware --------------------------------------------------------


def test_guarded_tool_answers_approval_required_then_runs_once_approved(make_guard: MakeGuard) -> None:
    guard = make_guard(GRANTS)
    bank = Bank()
    pay = guard_tools(bank.tools(), guard)[0]
    call = pay_call(120)
    first = pay.invoke(call)
    assert isinstance(first, ToolMessage)
    denial = approval_denial(first)
    assert denial["code"] == "approval_required"
    guard.approve(denial["approval_id"], by="ann")  # out of band
    assert pay.invoke(call).content == "paid landlord 120.0"
    assert bank.paid == [("landlord", 120.0)]
    assert approval_denial(pay.invoke(call))["code"] == "approval_required"  # used once


def test_guarded_tool_with_on_denial_raise_raises_approval_required(make_guard: MakeGuard) -> None:
    guard = make_guard(GRANTS)
    pay = guard_tools(Bank().tools(), guard, on_denial="raise")[0]
    with pytest.raises(ApprovalRequired) as raised:
        pay.invoke({"payee": "landlord", "amount": 120})
    assert raised.value.request is not None and raised.value.request.args["amount"] == 120

    async def ainvoke() -> None:
        with pytest.raises(ApprovalRequired):
            await pay.ainvoke({"payee": "grocer", "amount": 60})

    asyncio.run(ainvoke())
    assert len(guard.pending()) == 2


def test_guarded_tool_uses_the_guards_approver(make_guard: MakeGuard) -> None:
    guard = make_guard(GRANTS, approver=lambda request: request.args["payee"] == "landlord")
    bank = Bank()
    pay = guard_tools(bank.tools(), guard)[0]
    assert pay.invoke(pay_call(120)).content == "paid landlord 120.0"
    refused = asyncio.run(pay.ainvoke(pay_call(120, payee="grocer")))
    assert approval_denial(refused)["code"] == "approval_denied"
    assert bank.paid == [("landlord", 120.0)]


def test_guarded_tools_in_the_middlewares_agent_pause_too(make_guard: MakeGuard) -> None:
    # Tools guarded by the middleware's own guard decide for themselves, and still pause.
    guard = make_guard(GRANTS)
    bank = Bank()
    agent = create_agent(
        model(pay_call(120)), guard_tools(bank.tools(), guard),
        middleware=[DelegationMiddleware(guard)], checkpointer=InMemorySaver(),
    )
    only_interrupt(agent.invoke(ASKED, THREAD))
    agent.invoke(Command(resume=APPROVE), THREAD)
    assert bank.paid == [("landlord", 120.0)]
    assert guard.usage()["tools.pay.calls"]["used"] == 1


# --- LangGraph without create_agent -------------------------------------------------------------


def tools_graph(node: ToolNode) -> Any:
    graph = StateGraph(MessagesState)
    graph.add_node("tools", node)
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    return graph.compile(checkpointer=InMemorySaver())


CALLED = {"messages": [AIMessage("", tool_calls=[pay_call(120)])]}


def test_the_middleware_pauses_a_toolnode_of_a_graph_with_a_checkpointer(make_guard: MakeGuard) -> None:
    guard = make_guard(GRANTS)
    bank = Bank()
    middleware = DelegationMiddleware(guard)
    graph = tools_graph(ToolNode(
        bank.tools(), wrap_tool_call=middleware.wrap_tool_call,
        awrap_tool_call=middleware.awrap_tool_call,
    ))
    assert only_interrupt(graph.invoke(CALLED, THREAD))["action_requests"][0]["name"] == "pay"
    done = asyncio.run(graph.ainvoke(Command(resume=APPROVE), THREAD))
    assert [m.content for m in tool_messages(done)] == ["paid landlord 120.0"]
    assert bank.paid == [("landlord", 120.0)]


def test_guarded_tools_in_a_toolnode_never_pause(make_guard: MakeGuard) -> None:
    guard = make_guard(GRANTS)
    bank = Bank()
    graph = tools_graph(ToolNode(guard_tools(bank.tools(), guard)))
    done = graph.invoke(CALLED, THREAD)
    assert interrupts(done) == []
    (message,) = tool_messages(done)
    assert approval_denial(message)["code"] == "approval_required"
    assert bank.paid == []


class TickingClock(FakeClock):
    """A fake clock that moves a microsecond on every reading, as a real one does."""

    def __call__(self) -> float:
        self.now += 1e-6
        return self.now


def test_an_approve_of_a_request_that_expired_while_paused_refuses(make_guard: MakeGuard) -> None:
    clock = TickingClock()
    run = Run(make_guard(GRANTS, clock=clock, approval_ttl=60), pay_call(120))
    shown = only_interrupt(run.start())
    (expired,) = run.guard.pending()
    assert expired.id in shown["action_requests"][0]["description"]
    clock.advance(120)  # the reviewer answers after the request expired
    done = run.resume(APPROVE)
    (message,) = tool_messages(done)
    denial = approval_denial(message)
    assert denial["code"] == "approval_denied" and "expired while the run was paused" in denial["message"]
    assert denial["approval_id"] != expired.id  # the guard's new request, refused
    assert run.bank.paid == [] and run.used() == 0
    assert run.guard.pending() == []


def test_an_approve_within_the_requests_lifetime_runs_under_a_moving_clock(make_guard: MakeGuard) -> None:
    clock = TickingClock()
    run = Run(make_guard(GRANTS, clock=clock, approval_ttl=60), pay_call(120))
    only_interrupt(run.start())
    clock.advance(30)
    (message,) = tool_messages(run.resume(APPROVE))
    assert message.status == "success" and run.bank.paid == [("landlord", 120.0)]
