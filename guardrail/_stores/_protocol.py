"""The budget store contract: what a guard asks of the place where budget use and revocation live.

The protocol is deliberately small and multi-key: one `consume` charges every budget that applies
to a call (task calls, tool calls, sum budgets, and those of every ancestor in a delegation chain)
all together or not at all.

Two optional methods make a decision one store operation (one Redis round trip, one SQLite
transaction) and give budget back; a guard prefers them and falls back on the required methods
for a store that lacks them (see `settler` and `refunder`), so a `BudgetStore` written before
them keeps working:

- ``settle(tasks, charges, *, expires_at, commit)``: the revocation check and the charge (or,
  without ``commit``, the read-only check) in one atomic step. Returns `Revoked`, an `Overrun`,
  or None when the call fits (and, with ``commit``, is charged).
- ``refund(charges, *, call_id)``: give back what a call was charged, once per ``call_id``
  however often it is asked (returns whether this call refunded). Use never drops below zero.

Budgets with a rolling window or distinct values need more of a store than adding amounts, so a
store says which it supports in ``budget_features`` (a set of names: ``"window"``,
``"distinct"``); a guard refuses (`ManifestError` when it is made, a ``store_unavailable``
denial should it get that far) to send such charges to a store that does not list the feature,
so a store written before them fails closed instead of counting a window as a total. A charge
says what it is in its optional fields:

- ``window > 0``: the limit holds per rolling window of ``window`` seconds ending at ``at`` (the
  guard's clock, never the store's): the use is the total of the amounts charged at times
  after ``at - window`` (later ones included: a guard whose clock is behind another's counts
  what that one charged "in its future", so no window ever holds more than the limit).
  ``event`` names this charge in the store's log of the key (unique per decision), so that
  ``refund`` takes back exactly it. A store may forget entries at or before
  ``at - window - slack(window)``: guards sharing a store must agree on the time to within
  ``slack(window)`` (a minute, or the window when it is longer).
- ``member`` (non-empty): a distinct-values budget. ``amount`` is ignored: the use is the number
  of different members charged to the key (within the window, with one); a member already there
  always fits, a new one fits while the count stays within ``limit``. ``Overrun.used`` is that
  count. A refund takes one charge of the member back (it goes when none is left).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

from ._exact import amount_units, limit_units, to_number

__all__ = [
    "FEATURES", "RETENTION_SECONDS", "REVOCATION_RETENTION_SECONDS", "BudgetStore", "Charge",
    "Overrun", "Refund", "Revoked", "Settle", "SettlingStore", "features", "peek", "refunder",
    "settler", "slack", "unsupported",
]  # fmt: skip

log = logging.getLogger("guardrail")

# Budget use is dropped this long after the manifest it belongs to has expired.
RETENTION_SECONDS = 3600.0
# Guard.revoke asks every store to keep a revocation this much longer than the manifest lives:
# a manifest whose ttl counts from load time could otherwise be loaded again after the store
# forgot, and find its task un-revoked.
REVOCATION_RETENTION_SECONDS = 7 * 86400.0


# What a store may list in ``budget_features`` (see the module docstring).
FEATURES = frozenset({"window", "distinct"})


class Charge(NamedTuple):
    """One budget a call draws on (the optional fields: see the module docstring)."""

    task: str
    # "calls", "sum.<arg>", "tools.<tool>.calls", "tools.<tool>.sum.<arg>",
    # "tools.<tool>.distinct.<arg>"; a per-value budget's ends in "[<arg>=<digest>]"
    scope: str
    amount: float  # an int stays an int: the stores add exactly (see `_exact`)
    limit: float
    window: float = 0.0  # > 0: seconds of the rolling window the limit holds in
    at: float = 0.0  # the guard's clock at the decision (windows)
    member: str = ""  # distinct: the digest of the value
    event: str = ""  # windows: this charge's unique name in the key's log


def slack(window: float) -> float:
    """How far behind a window a store keeps a log's entries (see the module docstring)."""
    return max(window, 60.0)


def features(store: object) -> frozenset[str]:
    """The budget features `store` declares (``budget_features``); none for an older store."""
    declared = getattr(store, "budget_features", None)
    if not isinstance(declared, frozenset | set | tuple | list):
        return frozenset()
    return frozenset(f for f in declared if isinstance(f, str))


def unsupported(store: object, needed: frozenset[str]) -> str | None:
    """Why `store` cannot keep budgets needing `needed`, or None when it can."""
    missing = sorted(needed - features(store))
    if not missing:
        return None
    what = {"window": "rolling windows (budget.window)", "distinct": "distinct values (budget.distinct)"}
    return (
        f"{type(store).__name__} does not support {' or '.join(what[m] for m in missing)}: it "
        f"must list {missing} in budget_features (MemoryStore, SQLiteStore and RedisStore do)"
    )


class Overrun(NamedTuple):
    """The first charge that would exceed its limit, and what had been used before the call."""

    charge: Charge
    used: float


@runtime_checkable
class BudgetStore(Protocol):
    """Shared budget use and revocation. Every method may raise `StoreUnavailable`."""

    def consume(self, charges: Sequence[Charge], *, expires_at: float) -> Overrun | None:
        """Atomically charge every amount, or none of them and return the first overrun."""
        ...

    def used(self, keys: Sequence[tuple[str, str]]) -> list[float]:
        """What each (task, scope) has used so far (0.0 if never charged)."""
        ...

    def usage(self, task: str) -> dict[str, float]:
        """Every charged scope of a task and what it has used."""
        ...

    def revoke(self, task: str, reason: str = "", *, expires_at: float | None = None) -> None:
        """Revoke a task: every later decision for it, in every process sharing the store, is denied."""
        ...

    def revoked(self, tasks: Sequence[str]) -> str | None:
        """The revocation reason of the first revoked task among `tasks`, or None."""
        ...

    def close(self) -> None: ...


class Revoked(NamedTuple):
    """A settle that found one of the tasks revoked: nothing was charged."""

    reason: str


class SettlingStore(BudgetStore, Protocol):
    """A store with the optional one-step methods (every built-in store)."""

    def settle(
        self, tasks: Sequence[str], charges: Sequence[Charge], *, expires_at: float, commit: bool
    ) -> Revoked | Overrun | None:
        """Revoked, else the first overrun, else None; with `commit`, charged atomically."""
        ...

    def refund(self, charges: Sequence[Charge], *, call_id: str) -> bool:
        """Give `charges` back once per `call_id`; True when this call refunded."""
        ...


Settle = Callable[..., "Revoked | Overrun | None"]
Refund = Callable[[Sequence[Charge], str], bool]


def settler(store: BudgetStore) -> Settle:
    """``store.settle`` when the store has it; else the same answer from ``revoked`` and then
    ``consume`` (or ``used``): two operations, as a store written before ``settle`` needs."""
    method = getattr(store, "settle", None)
    if callable(method):
        return method  # type: ignore[no-any-return]

    def settle(
        tasks: Sequence[str], charges: Sequence[Charge], *, expires_at: float, commit: bool
    ) -> Revoked | Overrun | None:
        reason = store.revoked(tasks)
        if reason is not None:
            return Revoked(reason)
        if not charges:
            return None
        if commit:
            return store.consume(charges, expires_at=expires_at)
        return peek(charges, store.used([(c.task, c.scope) for c in charges]))

    return settle


def refunder(store: BudgetStore) -> Refund:
    """``store.refund`` when the store has it; else a refund that gives nothing back (the budget
    stays spent: stricter, never looser), logged."""
    method = getattr(store, "refund", None)
    if callable(method):
        return lambda charges, call_id: bool(method(charges, call_id=call_id))

    def refund(charges: Sequence[Charge], call_id: str) -> bool:
        log.warning("guardrail: %s has no refund(); call %s stays charged", type(store).__name__, call_id)
        return False

    return refund


def peek(charges: Sequence[Charge], used: Sequence[float]) -> Overrun | None:
    """The first charge that would overrun given what each has ``used``, charging nothing."""
    totals: dict[tuple[str, str], int] = {}
    for charge, before in zip(charges, used, strict=True):
        key = (charge.task, charge.scope)
        base = totals.get(key)
        if base is None:
            base = amount_units(before)
            if base is None:
                return Overrun(charge, before)
        amount, limit = amount_units(charge.amount), limit_units(charge.limit)
        if amount is None or limit is None or base + amount > limit:
            return Overrun(charge, to_number(base))
        totals[key] = base + amount
    return None
