"""The budget store contract: what a guard asks of the place where budget use and revocation live.

The protocol is deliberately small and multi-key: one `consume` charges every budget that applies
to a call (task calls, tool calls, sum budgets, and those of every ancestor in a delegation chain)
all together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = ["RETENTION_SECONDS", "REVOCATION_RETENTION_SECONDS", "BudgetStore", "Charge", "Overrun"]

# Budget use is dropped this long after the manifest it belongs to has expired.
RETENTION_SECONDS = 3600.0
# Guard.revoke asks every store to keep a revocation this much longer than the manifest lives:
# a manifest whose ttl counts from load time could otherwise be loaded again after the store
# forgot, and find its task un-revoked.
REVOCATION_RETENTION_SECONDS = 7 * 86400.0


class Charge(NamedTuple):
    """One budget a call draws on."""

    task: str
    scope: str  # "calls", "sum.<arg>", "tools.<tool>.calls", "tools.<tool>.sum.<arg>"
    amount: float
    limit: float


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
