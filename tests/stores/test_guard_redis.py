"""A guard whose Redis store goes away, or was never there."""

from __future__ import annotations

import uuid

import pytest

from guardrail import DelegationDenied, DenialCode, Guard, RetryPolicy
from tests.stores.support import RedisServer, code, free_port, redis_py
from tests.stores.support import guard_manifest as manifest

redis_py()
from guardrail._stores._redis import RedisStore  # noqa: E402 - after the check that redis-py is there


def test_a_guard_denies_while_its_store_is_down_and_resumes_after(own_redis_server: RedisServer) -> None:
    server = own_redis_server
    store = RedisStore(server.url, retry=RetryPolicy(attempts=2, deadline=0.5))
    guard = Guard(manifest(f"refund-{uuid.uuid4().hex[:8]}"), store=store)
    for _ in range(3):
        assert guard.authorize("send_refund", {"amount": 10}).allowed

    server.kill()
    ran: list[float] = []

    def refund(amount: float) -> str:
        ran.append(amount)
        return "refunded"

    for _ in range(3):
        decision = guard.authorize("send_refund", {"amount": 10})
        assert not decision.allowed
        assert decision.denial is not None and decision.denial.code is DenialCode.STORE_UNAVAILABLE
        assert decision.denial.budget is None
        # every call needs the store, if only to learn whether the task was revoked
        assert code(guard.authorize("read_ticket", {"ticket_id": "T-1"})) is DenialCode.STORE_UNAVAILABLE
        assert code(guard.check("send_refund", {"amount": 10})) is DenialCode.STORE_UNAVAILABLE
        with pytest.raises(DelegationDenied) as caught:
            guard.invoke("send_refund", refund, {"amount": 10})
        assert caught.value.denial.code is DenialCode.STORE_UNAVAILABLE
    assert ran == []  # the tool never ran

    server.start()
    assert guard.invoke("send_refund", refund, {"amount": 10}) == "refunded"
    assert ran == [10]
    # the budget was not reset: 3 + 1 of 5 calls and 40 of 80 used
    assert guard.usage()["tools.send_refund.calls"]["used"] == 4.0
    assert guard.usage()["tools.send_refund.sum.amount"]["used"] == 40.0
    assert guard.authorize("send_refund", {"amount": 10}).allowed
    assert code(guard.authorize("send_refund", {"amount": 10})) is DenialCode.BUDGET_EXHAUSTED
    store.close()


def test_a_guard_on_a_store_that_was_never_there() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", retry=RetryPolicy(attempts=2, deadline=0.3))
    guard = Guard(manifest("t"), store=store)
    decision = guard.authorize("read_ticket", {"ticket_id": "T-1"})
    assert decision.denial is not None and decision.denial.code is DenialCode.STORE_UNAVAILABLE
    assert "unavailable" in decision.denial.message
    store.close()
