"""Tool retries under the delegation (a grant's `retry:`), with tenacity.

`Retries` wraps the guard's attempt (span, decision, the tool). Each attempt is a call of its
own: decided, charged and traced again, with call id `<id>#<n>` from the second attempt on. A
denial is final; only the tool's own listed failures are retried, and never past the
delegation's expiry.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import tenacity

from .._errors import DelegationDenied
from .._manifest._models import Manifest
from .._outcome import new_call_id

__all__ = ["Retries"]

T = TypeVar("T")


class Attempt(Protocol):
    def __call__(
        self, tool: str, args: dict[str, Any], call: Callable[[], T], call_id: str | None
    ) -> T: ...


class AsyncAttempt(Protocol):
    def __call__(
        self, tool: str, args: dict[str, Any], call: Callable[[], Awaitable[T] | T],
        call_id: str | None,
    ) -> Awaitable[T]: ...


class Retries:
    """Wraps one attempt of a tool call (`attempt(tool, args, call, call_id)`, sync and async):
    runs it once, or as the tool's grant says `retry:`."""

    __slots__ = ("_aattempt", "_attempt", "_clock", "_expires_ts", "_manifest", "_no_retry")

    def __init__(
        self, attempt: Attempt, aattempt: AsyncAttempt, *,
        manifest: Manifest, clock: Callable[[], float], expires_ts: float,
    ) -> None:
        self._attempt = attempt
        self._aattempt = aattempt
        self._manifest = manifest
        self._clock = clock
        self._expires_ts = expires_ts
        self._no_retry: set[str] = set()  # granted tools without `retry:`, known after one look

    def run(
        self, tool: str, args: dict[str, Any], call: Callable[[], T], call_id: str | None
    ) -> T:
        settings = self._settings(tool)
        if settings is None:
            return self._attempt(tool, args, call, call_id)
        n = itertools.count(1)
        return tenacity.Retrying(sleep=time.sleep, **settings)(
            lambda: self._attempt(tool, args, call, _attempt_id(call_id, next(n)))
        )

    async def arun(
        self, tool: str, args: dict[str, Any], call: Callable[[], Awaitable[T] | T],
        call_id: str | None,
    ) -> T:
        settings = self._settings(tool)
        if settings is None:
            return await self._aattempt(tool, args, call, call_id)
        n = itertools.count(1)

        async def once() -> T:
            return await self._aattempt(tool, args, call, _attempt_id(call_id, next(n)))

        result: T = await tenacity.AsyncRetrying(sleep=asyncio.sleep, **settings)(once)
        return result

    def _settings(self, tool: str) -> dict[str, Any] | None:
        """tenacity settings for a tool whose grant says `retry:`, else None."""
        if not isinstance(tool, str) or tool in self._no_retry:
            return None  # a name that is not a string is denied by the decision, once
        grant = self._manifest.grant(tool)
        spec = grant.retry if grant is not None else None
        if spec is None:
            if grant is not None:
                self._no_retry.add(tool)
            return None
        backoff = spec.backoff_seconds
        wait = (
            tenacity.wait_exponential(multiplier=backoff, max=backoff * 16)
            + tenacity.wait_random(0, backoff / 2)
            if backoff
            else tenacity.wait_none()
        )
        return {
            "stop": tenacity.stop_after_attempt(spec.attempts)
            | _StopAtExpiry(self._clock, self._expires_ts),
            "wait": wait,
            # A denial is final; only the tool's own listed failures are retried.
            "retry": tenacity.retry_if_exception(
                lambda exc: not isinstance(exc, DelegationDenied) and spec.matches(exc)
            ),
            "reraise": True,
        }


class _StopAtExpiry(tenacity.stop.stop_base):
    """Never sleep into the end of the delegation."""

    def __init__(self, clock: Callable[[], float], expires_ts: float) -> None:
        self.clock = clock
        self.expires_ts = expires_ts

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        upcoming = retry_state.upcoming_sleep or 0.0
        return self.clock() + upcoming >= self.expires_ts


def _attempt_id(call_id: str | None, attempt: int) -> str | None:
    if attempt == 1:
        return call_id
    return f"{call_id or new_call_id()}#{attempt}"
