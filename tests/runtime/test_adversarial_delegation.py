"""Adversarial: a sub-agent must stay inside every ancestor's grant."""

from __future__ import annotations

import contextlib

import pytest

from guardrail import DelegationDenied, Guard, MemoryStore
from guardrail.testing import FailingStore, task_id

FIX = (
    "a parent's constraint is bypassed through a sub-agent's guard by a tool default: "
    "Guard.constrained_defaults (guardrail/_guard.py) keeps only defaults the guard's *own* "
    "manifest names, so a child that leaves `amount` unnamed runs send_refund(amount=1000) past "
    "the parent's `max: 50`. Fix: collect the constrained names over every link of self._links "
    "(each link.manifest.grant(tool).args that is not required, plus each link's sum_scopes args), "
    "not just self.manifest."
)


def _chain() -> tuple[Guard, Guard]:
    parent = Guard(
        {
            "task": task_id("adv"),
            "ttl": "5m",
            "tools": {"send_refund": {"args": {"order_id": {}, "amount": {"type": "number", "max": 50}}}},
        },
        store=MemoryStore(),
    )
    child = parent.delegate({"tools": {"send_refund": {"args": {"order_id": {"equals": "ORD-1"}}}}})
    return parent, child


def test_a_default_cannot_slip_past_a_parent_constraint_through_wrap() -> None:
    ran: list[float] = []

    def send_refund(order_id: str, amount: float = 1000.0) -> None:
        ran.append(amount)

    parent, child = _chain()
    with pytest.raises(DelegationDenied):
        parent.wrap(send_refund)("ORD-1")  # the parent itself checks the default
    with contextlib.suppress(DelegationDenied):
        child.wrap(send_refund)("ORD-1")
    assert ran == [], FIX + f" (ran with {ran})"


def test_a_default_cannot_slip_past_a_parent_constraint_through_invoke() -> None:
    ran: list[float] = []

    def send_refund(order_id: str, amount: float = 1000.0) -> None:
        ran.append(amount)

    _, child = _chain()
    with contextlib.suppress(DelegationDenied):
        child.invoke("send_refund", send_refund, {"order_id": "ORD-1"}, defaults={"amount": 1000.0})
    assert ran == [], FIX + f" (ran with {ran})"


def test_a_locally_revoked_parent_ends_its_sub_agents_even_if_the_store_missed_it() -> None:
    from guardrail._errors import StoreUnavailable

    parent = Guard({"task": task_id("adv"), "ttl": "5m", "tools": {"t": None}},
                   store=FailingStore(down={"revoke"}))  # the rest works
    child = parent.delegate({"tools": {"t": None}})
    with pytest.raises(StoreUnavailable):
        parent.revoke("incident 913")
    assert not parent.check("t").allowed  # revoked in this process
    assert not child.check("t").allowed, (
        "the parent is revoked in this process (revoke() raised because the store missed it), "
        "but its sub-agent's guard still allows: Guard._decide_fully / Guard.revoked "
        "(guardrail/_guard.py) read only self._revoked_here and the store. Fix: also deny when any "
        "ancestor guard (self.parent, self.parent.parent, ...) has _revoked_here set."
    )
