"""The BudgetStore protocol, checked the same way on every store (memory, SQLite, Redis)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrail import BudgetStore, Charge, Overrun
from guardrail.testing import task_id

LATER = time.time() + 3600


def test_a_fresh_store_has_nothing(store: BudgetStore) -> None:
    t = task_id()
    assert store.used([(t, "calls"), (t, "sum.amount")]) == [0.0, 0.0]
    assert store.usage(t) == {}
    assert store.revoked([t]) is None


def test_consume_charges_every_budget(store: BudgetStore) -> None:
    t = task_id()
    charges = [
        Charge(t, "calls", 1.0, 20.0),
        Charge(t, "tools.refund.calls", 1.0, 2.0),
        Charge(t, "tools.refund.sum.amount", 30.0, 80.0),
    ]
    assert store.consume(charges, expires_at=LATER) is None
    assert store.consume(charges, expires_at=LATER) is None
    assert store.used([(t, "calls"), (t, "tools.refund.calls"), (t, "tools.refund.sum.amount")]) == [
        2.0,
        2.0,
        60.0,
    ]
    assert store.usage(t) == {"calls": 2.0, "tools.refund.calls": 2.0, "tools.refund.sum.amount": 60.0}


def test_a_budget_can_be_spent_exactly_and_not_beyond(store: BudgetStore) -> None:
    t = task_id()
    charge = Charge(t, "calls", 1.0, 3.0)
    assert [store.consume([charge], expires_at=LATER) for _ in range(3)] == [None, None, None]
    assert store.consume([charge], expires_at=LATER) == Overrun(charge, 3.0)
    assert store.consume([charge], expires_at=LATER) == Overrun(charge, 3.0)
    assert store.used([(t, "calls")]) == [3.0]


def test_consume_is_all_or_nothing(store: BudgetStore) -> None:
    t = task_id()
    full = Charge(t, "tools.refund.calls", 1.0, 1.0)
    assert store.consume([full], expires_at=LATER) is None
    calls = Charge(t, "calls", 1.0, 20.0)
    amount = Charge(t, "sum.amount", 5.0, 100.0)
    # the last charge overruns: the ones before it must not be charged either
    assert store.consume([calls, amount, full], expires_at=LATER) == Overrun(full, 1.0)
    assert store.usage(t) == {"tools.refund.calls": 1.0}
    # and with the overrunning charge first
    assert store.consume([full, calls, amount], expires_at=LATER) == Overrun(full, 1.0)
    assert store.usage(t) == {"tools.refund.calls": 1.0}


def test_the_first_overrunning_charge_is_reported(store: BudgetStore) -> None:
    t = task_id()
    a = Charge(t, "sum.a", 10.0, 5.0)
    b = Charge(t, "sum.b", 10.0, 5.0)
    assert store.consume([Charge(t, "calls", 1.0, 9.0), b, a], expires_at=LATER) == Overrun(b, 0.0)
    assert store.consume([a, b], expires_at=LATER) == Overrun(a, 0.0)
    assert store.usage(t) == {}


def test_charges_of_several_tasks_are_atomic_together(store: BudgetStore) -> None:
    # a sub-agent's call charges its own task and every ancestor's
    parent, child = task_id(), task_id()
    assert store.consume([Charge(parent, "calls", 1.0, 2.0)], expires_at=LATER) is None
    both = [Charge(child, "calls", 1.0, 5.0), Charge(parent, "calls", 1.0, 2.0)]
    assert store.consume(both, expires_at=LATER) is None
    assert store.consume(both, expires_at=LATER) == Overrun(both[1], 2.0)
    assert store.usage(child) == {"calls": 1.0}
    assert store.usage(parent) == {"calls": 2.0}


def test_the_same_budget_twice_in_one_consume_adds_up(store: BudgetStore) -> None:
    # e.g. a sub-agent manifest with the parent's task id: both draw on the same counter
    t = task_id()
    twice = [Charge(t, "calls", 1.0, 3.0), Charge(t, "calls", 1.0, 3.0)]
    assert store.consume(twice, expires_at=LATER) is None
    assert store.consume(twice, expires_at=LATER) == Overrun(twice[1], 3.0)
    assert store.used([(t, "calls")]) == [2.0]
    assert store.consume([Charge(t, "calls", 1.0, 3.0)], expires_at=LATER) is None
    assert store.used([(t, "calls")]) == [3.0]


def test_sum_budgets_add_exactly(store: BudgetStore) -> None:
    t = task_id()
    # 0.1 + 0.2 is exactly 0.3 (a float would make it 0.30000000000000004 > 0.3)
    assert store.consume([Charge(t, "sum.x", 0.1, 0.3)], expires_at=LATER) is None
    assert store.consume([Charge(t, "sum.x", 0.2, 0.3)], expires_at=LATER) is None
    assert store.consume([Charge(t, "sum.x", 1e-9, 0.3)], expires_at=LATER) == Overrun(
        Charge(t, "sum.x", 1e-9, 0.3), 0.3
    )
    assert store.used([(t, "sum.x")]) == [0.3]
    # below a billionth an amount rounds up, a limit down: stricter, never looser
    tiny = [Charge(t, "sum.y", 1e-300, 1.0), Charge(t, "sum.z", 12345.678901234567, 1e6)]
    assert store.consume(tiny, expires_at=LATER) is None
    assert store.used([(t, "sum.y"), (t, "sum.z")]) == [1e-9, 12345.678901235]
    assert store.consume([Charge(t, "sum.w", 1e-10, 1e-10)], expires_at=LATER) is not None


def test_large_sums_lose_no_charge(store: BudgetStore) -> None:
    t = task_id()
    assert store.consume([Charge(t, "sum.big", 1e16, 1e16)], expires_at=LATER) is None
    for _ in range(100):
        assert store.consume([Charge(t, "sum.big", 1, 1e16)], expires_at=LATER) is not None
    assert store.consume([Charge(t, "sum.i", 2**53 + 1, 2**53)], expires_at=LATER) is not None
    assert store.consume([Charge(t, "sum.i", 2**53, 2**53)], expires_at=LATER) is None
    assert store.consume([Charge(t, "sum.i", 1, 2**53)], expires_at=LATER) is not None
    huge = 10**40
    assert store.consume([Charge(t, "sum.h", huge - 1, huge)], expires_at=LATER) is None
    assert store.consume([Charge(t, "sum.h", 1, huge)], expires_at=LATER) is None
    assert store.consume([Charge(t, "sum.h", 1, huge)], expires_at=LATER) is not None


def test_a_nan_amount_never_fits(store: BudgetStore) -> None:
    t = task_id()
    nan = Charge(t, "sum.amount", float("nan"), 100.0)
    overrun = store.consume([Charge(t, "calls", 1.0, 5.0), nan], expires_at=LATER)
    assert overrun is not None and overrun.charge is nan and overrun.used == 0.0
    assert store.usage(t) == {}


def test_usage_belongs_to_one_task(store: BudgetStore) -> None:
    base = task_id()
    # ids that a careless key scheme would mix up
    tasks = [base, f"{base}:usage", f"{base}:x", f"{base}*", f"{base}é ü 中"]
    for i, t in enumerate(tasks):
        assert store.consume([Charge(t, f"sum.a:{i}", float(i + 1), 100.0)], expires_at=LATER) is None
    for i, t in enumerate(tasks):
        assert store.usage(t) == {f"sum.a:{i}": float(i + 1)}


def test_nothing_to_do(store: BudgetStore) -> None:
    assert store.consume([], expires_at=LATER) is None
    assert store.used([]) == []
    assert store.revoked([]) is None


def test_revocation(store: BudgetStore) -> None:
    a, b, c = task_id(), task_id(), task_id()
    store.revoke(a, "leaked token: revoked by öps 🔒")
    store.revoke(b, "")
    assert store.revoked([c]) is None
    assert store.revoked([c, a]) == "leaked token: revoked by öps 🔒"
    # an empty reason still counts as revoked
    assert store.revoked([b]) == ""
    assert store.revoked([c, b, a]) == ""
    # revoking again keeps the first reason
    store.revoke(a, "task ended", expires_at=LATER)
    assert store.revoked([a]) == "leaked token: revoked by öps 🔒"
    # revocation does not touch budgets
    assert store.consume([Charge(a, "calls", 1.0, 1.0)], expires_at=LATER) is None


def test_threads_never_overrun(store: BudgetStore) -> None:
    t = task_id()
    successes: list[int] = []
    start = threading.Barrier(8)

    def run() -> None:
        start.wait(10)
        ok = 0
        for _ in range(20):
            charges = [Charge(t, "calls", 1.0, 37.0), Charge(t, "sum.amount", 0.25, 100.0)]
            if store.consume(charges, expires_at=LATER) is None:
                ok += 1
        successes.append(ok)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert sum(successes) == 37
    assert store.usage(t) == {"calls": 37.0, "sum.amount": 37 * 0.25}


# --- differential: every store against a plain Python model of the protocol -----------------


class Model:
    """Exact sums, written independently of the stores: Fractions of what was written, amounts
    rounded up and limits down to a billionth."""

    def __init__(self) -> None:
        self.used: dict[tuple[str, str], int] = {}

    def consume(self, charges: Sequence[Charge]) -> Overrun | None:
        pending: dict[tuple[str, str], int] = {}
        for charge in charges:
            key = (charge.task, charge.scope)
            before = pending.get(key, self.used.get(key, 0))
            amount = math.ceil(Fraction(repr(charge.amount)) * 10**9)
            limit = math.floor(Fraction(repr(charge.limit)) * 10**9)
            if before + amount > limit:
                return Overrun(charge, before / 10**9)
            pending[key] = before + amount
        self.used.update(pending)
        return None


AMOUNTS = st.one_of(
    st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.3, 1.0, 2.5, 7.0]),
    st.floats(min_value=0.0, max_value=50.0, allow_nan=False, allow_infinity=False),
)
LIMITS = st.sampled_from([0.0, 0.3, 1.0, 2.0, 3.0, 10.0, 25.5, 100.0])
SCOPES = st.sampled_from(["calls", "sum.a", "tools.t.calls"])
CHARGE = st.tuples(st.sampled_from([0, 1]), SCOPES, AMOUNTS, LIMITS)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.lists(CHARGE, min_size=1, max_size=4), min_size=1, max_size=12))
def test_every_store_decides_like_the_model(
    store: BudgetStore, calls: list[list[tuple[int, str, float, float]]]
) -> None:
    tasks = [task_id(), task_id()]
    model = Model()
    for call in calls:
        charges = [Charge(tasks[i], scope, amount, limit) for i, scope, amount, limit in call]
        assert store.consume(charges, expires_at=LATER) == model.consume(charges)
    for t in tasks:
        assert store.usage(t) == {s: v / 10**9 for (task, s), v in model.used.items() if task == t}
