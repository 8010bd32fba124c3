"""Approvals (`ask`) through MCP: a call the guard asks about is put to the client's user by
elicitation (`elicitation/create`) when the client declared it, else returned as the
`approval_required` denial with the request id, for an operator to answer out of band.

Real MCP on both sides: an in-process upstream and client around the guarded server, in both
protocol eras (2026-07-28, where the question rides an `input_required` result, and the
handshake era, where the server sends `elicitation/create` mid-call), and the stdio proxy as a
subprocess with a SQLite store answered by the `guardrail approvals` command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from guardrail_mcp import APPROVAL_SCHEMA, DENIAL_META_KEY, ELICITED_BY, GuardedServer
from mcp import Client, types
from mcp.client.context import ClientRequestContext
from pydantic import ValidationError

from guardrail import AuditLog, Guard, MemoryStore
from guardrail.testing import task_id
from tests.adapters.mcp.support import (
    PROXY_ENTRY,
    RECORD_ENV,
    TIMEOUT,
    ProcessTransport,
    child_env,
    make_upstream,
    tool_calls,
    upstream_argv,
    write_manifest,
)

Calls = list[tuple[str, dict[str, Any]]]

# "auto" negotiates 2026-07-28 in process; "legacy" forces the initialize handshake (2025-11-25).
MODES = ["auto", "legacy"]


def manifest(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "manifest": 1,
        "task": task_id("approvals"),
        "principal": "agent:test",
        "ttl": "15m",
        "tools": {
            "read_ticket": {"args": {"ticket_id": {"required": True}, "queue": {}}},
            "send_refund": {
                "args": {"order_id": {}, "amount": {"type": "number", "max": 500}, "currency": {}},
                "ask": "args.amount > 50.0",
                "budget": {"calls": 3},
            },
            "delete_account": {"args": {"user_id": {"pattern": "^u-[0-9]+$"}}, "ask": True,
                               "budget": {"calls": 2}},
        },
    }
    base.update(changes)
    return base


def code_of(result: types.CallToolResult) -> str | None:
    if not result.is_error or not isinstance(result.structured_content, dict):
        return None
    code = result.structured_content.get("code")
    return code if isinstance(code, str) else None


class User:
    """The person at an MCP client: answers every elicitation with `answer`, noting each one."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.asked: list[types.ElicitRequestParams] = []

    async def __call__(self, context: ClientRequestContext, params: types.ElicitRequestParams) -> Any:
        self.asked.append(params)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def approve(reason: str | None = None) -> types.ElicitResult:
    content: dict[str, Any] = {"approve": True}
    if reason is not None:
        content["reason"] = reason
    return types.ElicitResult(action="accept", content=content)


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_an_approving_user_runs_the_call_once_and_it_is_charged_once(mode: str) -> None:
    calls: Calls = []
    guard = Guard(manifest(), store=MemoryStore())
    user = User(approve("customer asked"))
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard) as proxy, \
                Client(proxy.server, mode=mode, elicitation_callback=user) as client:
            deleted = await client.call_tool("delete_account", {"user_id": "u-7"})
            asked_once = len(user.asked)
            # Neither a tool without `ask` nor an ask rule that is false asks anyone.
            read = await client.call_tool("read_ticket", {"ticket_id": "T-1"})
            small = await client.call_tool("send_refund", {"order_id": "O-1", "amount": 5})
            big = await client.call_tool("send_refund", {"order_id": "O-1", "amount": 80})

    assert deleted.is_error is False
    assert deleted.content[0].text == "deleted u-7"  # type: ignore[union-attr]
    assert read.is_error is False and small.is_error is False and big.is_error is False
    assert asked_once == 1
    assert len(user.asked) == 2  # the refund of 80, and nothing else
    question = user.asked[0]
    assert isinstance(question, types.ElicitRequestFormParams)
    assert question.requested_schema == APPROVAL_SCHEMA
    assert "'delete_account'" in question.message
    assert "Why you are asked: true" in question.message
    assert '{"user_id": "u-7"}' in question.message
    assert "args.amount > 50.0" in user.asked[1].message  # the rule that asked, as written
    assert calls == [
        ("delete_account", {"user_id": "u-7"}),
        ("read_ticket", {"ticket_id": "T-1", "queue": "support-eu"}),
        ("send_refund", {"order_id": "O-1", "amount": 5.0, "currency": "EUR"}),
        ("send_refund", {"order_id": "O-1", "amount": 80.0, "currency": "EUR"}),
    ]
    usage = guard.usage()
    assert usage["tools.delete_account.calls"]["used"] == 1
    assert usage["tools.send_refund.calls"]["used"] == 2
    assert guard.pending() == []


REFUSALS = {
    "decline": (types.ElicitResult(action="decline"), "the elicitation was declined"),
    "cancel": (types.ElicitResult(action="cancel"), "the elicitation was cancelled"),
    "approve-false": (
        types.ElicitResult(action="accept", content={"approve": False, "reason": "not this one"}),
        "not this one",
    ),
    "approve-string": (types.ElicitResult(action="accept", content={"approve": "true"}),
                       "the answer does not match the approval form"),
    "no-content": (types.ElicitResult(action="accept"), "the answer does not match the approval form"),
    "other-fields": (types.ElicitResult(action="accept", content={"approve": True, "amount": 1}),
                     "the answer does not match the approval form"),
    "declined-with-approve": (types.ElicitResult(action="decline", content={"approve": True}),
                              "the elicitation was declined"),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", list(REFUSALS))
async def test_anything_but_an_approval_is_denied_and_never_reaches_upstream(mode: str, answer: str) -> None:
    calls: Calls = []
    guard = Guard(manifest(), store=MemoryStore())
    reply, why = REFUSALS[answer]
    user = User(reply)
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard) as proxy, \
                Client(proxy.server, mode=mode, elicitation_callback=user) as client:
            result = await client.call_tool("delete_account", {"user_id": "u-7"})
            # The refusal was recorded and used: the same call asks again.
            again = await client.call_tool("delete_account", {"user_id": "u-7"})

    assert code_of(result) == "approval_denied"
    assert result.structured_content is not None
    message = result.structured_content["message"]
    assert f"refused by {ELICITED_BY}" in message and why in message
    assert result.structured_content["approval_id"] in user.asked[0].message
    assert code_of(again) == "approval_denied"
    assert len(user.asked) == 2
    assert calls == []
    assert guard.usage()["tools.delete_account.calls"]["used"] == 0
    assert guard.pending() == []


@pytest.mark.asyncio
async def test_an_elicitation_that_fails_is_refused_in_the_handshake_era() -> None:
    # The server sends elicitation/create mid-call; an error response refuses the request.
    calls: Calls = []
    guard = Guard(manifest(), store=MemoryStore())
    user = User(types.ErrorData(code=types.INTERNAL_ERROR, message="the dialog crashed"))
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard) as proxy, \
                Client(proxy.server, mode="legacy", elicitation_callback=user) as client:
            result = await client.call_tool("delete_account", {"user_id": "u-7"})

    assert code_of(result) == "approval_denied"
    assert result.structured_content is not None
    assert "the elicitation failed (MCPError)" in result.structured_content["message"]
    assert len(user.asked) == 1
    assert calls == []
    assert guard.pending() == []


@pytest.mark.asyncio
@pytest.mark.parametrize("garbage", ["yes", {"approve": True}, 1, None])
async def test_a_callback_returning_garbage_fails_closed(garbage: Any) -> None:
    calls: Calls = []
    guard = Guard(manifest(), store=MemoryStore())
    user = User(garbage)
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard) as proxy:
            # Handshake era: the client's SDK answers the server's elicitation/create with an
            # error for what its callback returned; the server refuses the request.
            async with Client(proxy.server, mode="legacy", elicitation_callback=user) as client:
                result = await client.call_tool("delete_account", {"user_id": "u-7"})
            # 2026-07-28: the client's SDK will not send it; nothing runs, the request stays pending.
            async with Client(proxy.server, elicitation_callback=user) as client:
                with pytest.raises(ValidationError):
                    await client.call_tool("delete_account", {"user_id": "u-8"})

    assert code_of(result) == "approval_denied"
    assert result.structured_content is not None
    assert "the elicitation failed" in result.structured_content["message"]
    assert len(user.asked) == 2
    assert calls == []
    assert guard.usage()["tools.delete_account.calls"]["used"] == 0
    assert [request.args for request in guard.pending()] == [{"user_id": "u-8"}]


@pytest.mark.asyncio
async def test_an_answer_of_the_wrong_kind_fails_closed() -> None:
    # 2026-07-28, driven by hand: the retry carries something other than an elicitation result
    # under the request's key.
    calls: Calls = []
    guard = Guard(manifest(), store=MemoryStore())
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard) as proxy, \
                Client(proxy.server, elicitation_callback=User(approve())) as client:
            first = await client.session.call_tool(
                "delete_account", {"user_id": "u-7"}, allow_input_required=True
            )
            assert isinstance(first, types.InputRequiredResult) and first.input_requests is not None
            [key] = first.input_requests
            result = await client.session.call_tool(
                "delete_account", {"user_id": "u-7"},
                input_responses={key: types.ListRootsResult(roots=[])}, allow_input_required=True,
            )

    assert isinstance(result, types.CallToolResult)
    assert code_of(result) == "approval_denied"
    assert result.structured_content is not None
    assert result.structured_content["approval_id"] == key
    assert "not an elicitation result" in result.structured_content["message"]
    assert calls == []
    assert guard.pending() == []


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_a_client_without_elicitation_gets_the_request_id_and_an_approved_retry_runs(mode: str) -> None:
    calls: Calls = []
    guard = Guard(manifest(), store=MemoryStore())
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard) as proxy, \
                Client(proxy.server, mode=mode) as client:
            asked = await client.call_tool("delete_account", {"user_id": "u-7"})
            assert code_of(asked) == "approval_required"
            assert asked.structured_content is not None and asked.meta is not None
            request_id = asked.structured_content["approval_id"]
            assert asked.meta[DENIAL_META_KEY]["approval_id"] == request_id
            assert request_id in json.loads(asked.content[0].text)["message"]  # type: ignore[union-attr]
            # Asked again before anyone answered: the same pending request.
            same = await client.call_tool("delete_account", {"user_id": "u-7"})
            assert same.structured_content is not None
            assert same.structured_content["approval_id"] == request_id
            assert [request.id for request in guard.pending()] == [request_id]
            assert calls == []

            guard.approve(request_id, by="ops-oncall")
            ran = await client.call_tool("delete_account", {"user_id": "u-7"})
            # The approval was for that call, once: other arguments ask, and so does the same call.
            other = await client.call_tool("delete_account", {"user_id": "u-8"})
            repeat = await client.call_tool("delete_account", {"user_id": "u-7"})

    assert ran.is_error is False
    assert calls == [("delete_account", {"user_id": "u-7"})]
    assert code_of(other) == "approval_required"
    assert code_of(repeat) == "approval_required"
    assert other.structured_content is not None and repeat.structured_content is not None
    ids = {request_id, other.structured_content["approval_id"], repeat.structured_content["approval_id"]}
    assert len(ids) == 3
    assert guard.usage()["tools.delete_account.calls"]["used"] == 1


@pytest.mark.asyncio
async def test_an_answer_for_another_request_is_not_taken() -> None:
    # 2026-07-28: answers ride the client's retry, keyed by the request id the server asked.
    # An answer under any other key (a guessed, stale or other call's id) approves nothing:
    # the server asks again, and the client's own driver gives up after its rounds.
    calls: Calls = []
    guard = Guard(manifest(), store=MemoryStore())
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard) as proxy, \
                Client(proxy.server, elicitation_callback=User(approve())) as client:
            result = await client.session.call_tool(
                "delete_account", {"user_id": "u-7"},
                input_responses={"apr-0000000000000000": approve()},
                allow_input_required=True,
            )

    assert isinstance(result, types.InputRequiredResult)
    assert result.input_requests is not None
    [(key, request)] = result.input_requests.items()
    assert [pending.id for pending in guard.pending()] == [key]
    assert isinstance(request, types.ElicitRequest)
    assert calls == []


def _proxy_with_store(manifest_path: Path, store: str) -> list[str]:
    return [*PROXY_ENTRY, "--manifest", str(manifest_path), "--store", store, "--", *upstream_argv()]


@pytest.mark.asyncio
async def test_the_proxy_returns_the_request_and_the_cli_approves_it(tmp_path: Path, record: Path) -> None:
    task = task_id("approvals-proxy")
    path = write_manifest(tmp_path, manifest(task=task, tools={
        "delete_account": {"args": {"user_id": {"pattern": "^u-[0-9]+$"}}, "ask": True},
    }))
    store = f"sqlite:///{tmp_path / 'guardrail.db'}?create=1"
    env = child_env(**{RECORD_ENV: str(record)})
    transport = ProcessTransport(_proxy_with_store(path, store), env)
    with anyio.fail_after(TIMEOUT):
        async with Client(transport) as client:
            asked = await client.call_tool("delete_account", {"user_id": "u-7"})
            assert code_of(asked) == "approval_required", asked
            assert asked.structured_content is not None
            request_id = asked.structured_content["approval_id"]
            assert tool_calls(record) == []

            answered = await anyio.run_process(
                [sys.executable, "-m", "guardrail", "approvals", "approve", request_id,
                 "--store", store, "--by", "ann", "--task", task],
                env=env, check=False,
            )
            assert answered.returncode == 0, answered.stderr.decode()
            ran = await client.call_tool("delete_account", {"user_id": "u-7"})
            changed = await client.call_tool("delete_account", {"user_id": "u-8"})

    assert ran.is_error is False
    assert ran.content[0].text == "deleted u-7"  # type: ignore[union-attr]
    assert code_of(changed) == "approval_required"
    assert tool_calls(record) == [("delete_account", {"user_id": "u-7"})]
    listed = subprocess.run(
        [sys.executable, "-m", "guardrail", "approvals", "list", "--store", store, "--json"],
        env=env, capture_output=True, text=True, timeout=TIMEOUT, check=True,
    )
    assert request_id not in listed.stdout  # used
    assert changed.structured_content is not None
    assert changed.structured_content["approval_id"] in listed.stdout  # still pending


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_the_proxy_asks_an_elicitation_client(tmp_path: Path, record: Path, mode: str) -> None:
    path = write_manifest(tmp_path, manifest(tools={
        "delete_account": {"args": {"user_id": {}}, "ask": True},
        "send_refund": {"args": {"order_id": {}, "amount": {}}},
    }))
    env = child_env(**{RECORD_ENV: str(record)})
    transport = ProcessTransport([*PROXY_ENTRY, "--manifest", str(path), "--", *upstream_argv()], env)
    approving, declining = User(approve()), User(types.ElicitResult(action="decline"))
    with anyio.fail_after(TIMEOUT):
        async with Client(transport, mode=mode, elicitation_callback=approving) as client:
            ran = await client.call_tool("delete_account", {"user_id": "u-1"})
            plain = await client.call_tool("send_refund", {"order_id": "ORD-004711", "amount": 5})
        transport = ProcessTransport([*PROXY_ENTRY, "--manifest", str(path), "--", *upstream_argv()], env)
        async with Client(transport, mode=mode, elicitation_callback=declining) as client:
            refused = await client.call_tool("delete_account", {"user_id": "u-2"})

    assert ran.is_error is False and plain.is_error is False
    assert code_of(refused) == "approval_denied"
    assert len(approving.asked) == 1 and len(declining.asked) == 1
    assert tool_calls(record) == [
        ("delete_account", {"user_id": "u-1"}),
        ("send_refund", {"order_id": "ORD-004711", "amount": 5}),
    ]


@pytest.mark.asyncio
async def test_an_unanswered_elicitation_is_refused_when_the_request_expires() -> None:
    # Handshake era: the server waits for the answer only as long as the request is valid.
    calls: Calls = []
    guard = Guard(manifest(), store=MemoryStore(), approval_ttl=1)
    asked = anyio.Event()

    async def away(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard) as proxy, \
                Client(proxy.server, mode="legacy", elicitation_callback=away) as client:
            result = await client.call_tool("delete_account", {"user_id": "u-7"})

    assert asked.is_set()
    assert code_of(result) in {"approval_denied", "approval_expired"}  # refused at, or just after, expiry
    assert result.structured_content is not None
    assert calls == []
    assert guard.usage()["tools.delete_account.calls"]["used"] == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_without_elicitation_every_ask_is_answered_out_of_band(mode: str) -> None:
    # GuardedServer(elicitation=False): the client may be able to elicit, but is never asked.
    calls: Calls = []
    guard = Guard(manifest(), store=MemoryStore())
    user = User(approve())
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard, elicitation=False) as proxy, \
                Client(proxy.server, mode=mode, elicitation_callback=user) as client:
            asked = await client.call_tool("delete_account", {"user_id": "u-7"})
            assert asked.structured_content is not None
            guard.approve(asked.structured_content["approval_id"], by="ann")
            ran = await client.call_tool("delete_account", {"user_id": "u-7"})

    assert code_of(asked) == "approval_required"
    assert ran.is_error is False
    assert user.asked == []
    assert calls == [("delete_account", {"user_id": "u-7"})]


@pytest.mark.asyncio
async def test_the_proxy_with_no_elicitation_never_asks_the_client(tmp_path: Path, record: Path) -> None:
    grants = {"delete_account": {"args": {"user_id": {}}, "ask": True}}
    path = write_manifest(tmp_path, manifest(tools=grants))
    env = child_env(**{RECORD_ENV: str(record)})
    argv = [*PROXY_ENTRY, "--manifest", str(path), "--no-elicitation", "--", *upstream_argv()]
    user = User(approve())
    with anyio.fail_after(TIMEOUT):
        async with Client(ProcessTransport(argv, env), elicitation_callback=user) as client:
            asked = await client.call_tool("delete_account", {"user_id": "u-1"})

    assert code_of(asked) == "approval_required"
    assert user.asked == []
    assert tool_calls(record) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_the_decision_log_names_the_answer(tmp_path: Path, mode: str) -> None:
    calls: Calls = []
    log = AuditLog(tmp_path / "decisions.jsonl")
    guard = Guard(manifest(), store=MemoryStore(), audit=log)
    with anyio.fail_after(TIMEOUT):
        async with GuardedServer(make_upstream(calls), guard) as proxy:
            async with Client(proxy.server, mode=mode, elicitation_callback=User(approve("ok"))) as client:
                await client.call_tool("delete_account", {"user_id": "u-1"})
            declining = User(types.ElicitResult(action="accept", content={"approve": False, "reason": "no"}))
            async with Client(proxy.server, mode=mode, elicitation_callback=declining) as client:
                await client.call_tool("delete_account", {"user_id": "u-2"})
    log.close()

    records = [json.loads(line) for line in (tmp_path / "decisions.jsonl").read_text().splitlines()]
    answers = [(r["approval"]["outcome"], r["approval"]["by"], r["approval"]["note"])
               for r in records if r.get("approval") and r["approval"]["outcome"] != "pending"]
    assert answers == [("approved", ELICITED_BY, "ok"), ("rejected", ELICITED_BY, "no")]
    assert calls == [("delete_account", {"user_id": "u-1"})]
