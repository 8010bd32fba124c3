"""Budget stores: where a task's budget use and revocation live (layer 3).

`RedisStore` and `AsyncRedisStore` load lazily, so importing the stores never needs redis-py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._async import AsyncBudgetStore
from ._memory import MemoryStore, default_store
from ._protocol import (
    RETENTION_SECONDS,
    REVOCATION_RETENTION_SECONDS,
    BudgetStore,
    Charge,
    Overrun,
    Revoked,
    SettlingStore,
)
from ._retry import RetryPolicy
from ._sqlite import SQLiteStore
from ._url import open_store, redact_url

if TYPE_CHECKING:
    from ._redis import RedisStore
    from ._redis_async import AsyncRedisStore

__all__ = [
    "RETENTION_SECONDS",
    "REVOCATION_RETENTION_SECONDS",
    "AsyncBudgetStore",
    "AsyncRedisStore",
    "BudgetStore",
    "Charge",
    "MemoryStore",
    "Overrun",
    "RedisStore",
    "RetryPolicy",
    "Revoked",
    "SQLiteStore",
    "SettlingStore",
    "default_store",
    "open_store",
    "redact_url",
]


def __getattr__(name: str) -> object:
    if name == "RedisStore":
        from ._redis import RedisStore

        return RedisStore
    if name == "AsyncRedisStore":
        from ._redis_async import AsyncRedisStore

        return AsyncRedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
