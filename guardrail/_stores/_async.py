"""The async side of the stores: what `Guard.aauthorize` / `acheck` ask of a store.

A store that also has these coroutine methods (`AsyncBudgetStore`) is used natively by the async
path, on the event loop: `AsyncRedisStore` (``redis.asyncio``, the same scripts and keys as
`RedisStore`). Any other store is synchronous: the async path runs its decision off the loop (a
worker thread), so that a SQLite busy wait, a retry's sleep or a user's blocking store never
stalls the event loop. `MemoryStore` does no I/O and is used inline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ._protocol import Charge, Overrun, Revoked

__all__ = ["AsyncBudgetStore"]


@runtime_checkable
class AsyncBudgetStore(Protocol):
    """The coroutine twins of the store methods a decision needs (`revoked`, and `settle` of
    `SettlingStore`), with the same meaning. A store has them in addition to the synchronous
    ones (`Guard.authorize` stays synchronous)."""

    async def asettle(
        self, tasks: Sequence[str], charges: Sequence[Charge], *, expires_at: float, commit: bool
    ) -> Revoked | Overrun | None: ...

    async def arevoked(self, tasks: Sequence[str]) -> str | None: ...
