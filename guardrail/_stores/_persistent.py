"""What the stores outside the process (SQLite, Redis) share: keeping use for a grace period after
the manifest expires, retrying transient faults, and refusing work once closed."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import ClassVar, Self, TypeVar

from .._errors import StoreUnavailable
from ._retry import RetryPolicy

__all__ = ["PersistentStore", "checked_expiry"]

T = TypeVar("T")


class PersistentStore:
    """Base of `SQLiteStore` and `RedisStore`: ``grace``, ``retry``, ``close`` and ``with``.

    A subclass names the errors worth another try (``transient``) and those that end the attempt
    at once (``fatal``), sets ``_label`` (where the store lives, for messages) and runs every
    operation through ``_run``.
    """

    transient: ClassVar[tuple[type[BaseException], ...]] = ()
    fatal: ClassVar[tuple[type[BaseException], ...]] = ()
    _label: str

    def __init__(self, *, grace: float, retry: RetryPolicy | None) -> None:
        if not (math.isfinite(grace) and grace >= 0):
            raise ValueError(f"grace must be a finite number >= 0, got {grace!r}")
        self.grace = grace
        self.retry = retry or RetryPolicy()
        self._closed = False

    def _run(self, fn: Callable[[], T], what: str) -> T:
        if self._closed:
            raise StoreUnavailable(f"{self!r} is closed")
        return self.retry.run(fn, self.transient, fatal=self.fatal, what=f"{self._label}: {what}")

    async def _arun(self, fn: Callable[[], Awaitable[T]], what: str) -> T:
        """`_run` for the native async methods of a store."""
        if self._closed:
            raise StoreUnavailable(f"{self!r} is closed")
        return await self.retry.arun(fn, self.transient, fatal=self.fatal, what=f"{self._label}: {what}")

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def checked_expiry(expires_at: float) -> float:
    """``expires_at`` as a float; NaN has no place in time and would keep or drop a key at random."""
    value = float(expires_at)
    if math.isnan(value):
        raise ValueError("expires_at must be a number, got NaN")
    return value
