"""How the networked stores retry a transient fault before giving up with `StoreUnavailable`."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
)

from .._errors import StoreUnavailable

__all__ = ["RetryPolicy"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How a store retries a transient fault before it gives up with ``StoreUnavailable``.

    At most ``attempts`` tries and never longer than ``deadline`` seconds in total (a retry that
    could not start before the deadline is not made); the waits grow exponentially from
    ``initial`` up to ``max_wait``, each with up to ``jitter`` seconds of random jitter so that a
    fleet does not reconnect in lock step.
    """

    attempts: int = 3
    deadline: float = 1.0
    initial: float = 0.05
    max_wait: float = 0.25
    jitter: float = 0.05

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        for name in ("deadline", "initial", "max_wait", "jitter"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    def run(
        self,
        fn: Callable[[], T],
        transient: tuple[type[BaseException], ...],
        *,
        what: str,
        fatal: tuple[type[BaseException], ...] = (),
    ) -> T:
        """Call ``fn``; retry it on ``transient`` errors; raise ``StoreUnavailable`` if it keeps
        failing, or at once on a ``fatal`` error. The first try runs outside tenacity, so the
        common path costs nothing extra."""
        start = time.monotonic()
        try:
            return fn()
        except transient as exc:
            first: BaseException = exc
        except fatal as exc:
            raise StoreUnavailable(f"{what}: {exc}") from exc
        if self.attempts == 1:
            raise StoreUnavailable(f"{what}: {first}") from first

        replay: list[BaseException] = [first]

        def attempt() -> T:
            # tenacity's first attempt replays the failure we already had, so that it waits
            # before the second real try; later attempts call fn again.
            if replay:
                raise replay.pop()
            return fn()

        retrying = Retrying(**self._settings(start, transient))
        try:
            return retrying(attempt)
        except transient + fatal as exc:
            raise StoreUnavailable(f"{what}: {exc}") from exc

    async def arun(
        self,
        fn: Callable[[], Awaitable[T]],
        transient: tuple[type[BaseException], ...],
        *,
        what: str,
        fatal: tuple[type[BaseException], ...] = (),
    ) -> T:
        """`run` for a coroutine function: the same tries and waits, the waits with
        ``asyncio.sleep`` so that the event loop keeps running."""
        start = time.monotonic()
        try:
            return await fn()
        except transient as exc:
            first: BaseException = exc
        except fatal as exc:
            raise StoreUnavailable(f"{what}: {exc}") from exc
        if self.attempts == 1:
            raise StoreUnavailable(f"{what}: {first}") from first

        replay: list[BaseException] = [first]

        async def attempt() -> T:
            if replay:  # as in `run`: the first failure is replayed, then fn is called again
                raise replay.pop()
            return await fn()

        retrying = AsyncRetrying(sleep=asyncio.sleep, **self._settings(start, transient))
        try:
            result: T = await retrying(attempt)
            return result
        except transient + fatal as exc:
            raise StoreUnavailable(f"{what}: {exc}") from exc

    def _settings(self, start: float, transient: tuple[type[BaseException], ...]) -> dict[str, Any]:
        """tenacity's settings for the retries after a first try that began at ``start``."""
        attempts, deadline = self.attempts, self.deadline

        def give_up(state: RetryCallState) -> bool:
            # Out of attempts, or the next try could not start before the deadline (counted
            # from the first try, including the time it took).
            if state.attempt_number >= attempts:
                return True
            upcoming = float(getattr(state, "upcoming_sleep", 0.0) or 0.0)
            return time.monotonic() - start + upcoming >= deadline

        return {
            "stop": give_up,
            "wait": wait_exponential(multiplier=self.initial, max=self.max_wait)
            + wait_random(0, self.jitter),
            "retry": retry_if_exception_type(transient),
            "reraise": True,
        }
