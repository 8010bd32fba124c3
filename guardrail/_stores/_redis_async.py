"""`AsyncRedisStore`: `RedisStore` with native ``redis.asyncio`` methods for the async path.

The same Lua scripts, key layout, retries and reply parsing as the synchronous store (imported
from ``_redis``, so the two cannot diverge); only the client differs. A ``redis.asyncio`` client
belongs to the event loop it first ran on, so the store keeps one per running loop (dropped when
the loop is).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .._outcome import Approval, ApprovalRequest
from ._approvals import Taken
from ._protocol import RETENTION_SECONDS, Charge, Overrun, Revoked
from ._redis import (
    _REQUEST_APPROVAL,
    _REVOKE,
    _SETTLE,
    _TAKE_APPROVAL,
    RedisStore,
    _text,
    _used,
    settle_reply,
    taken_reply,
)
from ._retry import RetryPolicy

__all__ = ["AsyncRedisStore"]


class _Loop:
    """One event loop's client and its registered scripts."""

    __slots__ = ("client", "request", "revoke", "settle", "take")

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self.settle = client.register_script(_SETTLE)
        self.revoke = client.register_script(_REVOKE)
        self.request = client.register_script(_REQUEST_APPROVAL)
        self.take = client.register_script(_TAKE_APPROVAL)


class AsyncRedisStore(RedisStore):
    """A `RedisStore` (every synchronous method) that is also an `AsyncBudgetStore`.

    ``url`` is a ``redis://`` URL as for `RedisStore` (a client cannot be shared: each event loop
    gets its own ``redis.asyncio`` client made from the URL, with the same short timeouts and no
    retries of its own). ``Guard(store="redis://...")`` opens this store (``open_store(url,
    asynchronous=True)``), so that the guard's ``aauthorize`` never blocks its event loop.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "guardrail",
        grace: float = RETENTION_SECONDS,
        retry: RetryPolicy | None = None,
        socket_timeout: float = 0.5,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"AsyncRedisStore needs a redis:// URL, got {type(url).__name__}")
        super().__init__(url, prefix=prefix, grace=grace, retry=retry, socket_timeout=socket_timeout)
        self._url = url
        self._socket_timeout = socket_timeout
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Loop] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"AsyncRedisStore({self._where!r}, prefix={self.prefix!r})"

    def _loop(self) -> _Loop:
        loop = asyncio.get_running_loop()
        mine = self._loops.get(loop)
        if mine is None:
            client = redis.asyncio.Redis.from_url(
                self._url,
                socket_timeout=self._socket_timeout,
                socket_connect_timeout=self._socket_timeout,
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
            )
            mine = self._loops[loop] = _Loop(client)
        return mine

    # --- AsyncBudgetStore ----------------------------------------------------------------

    async def asettle(
        self, tasks: Sequence[str], charges: Sequence[Charge], *, expires_at: float, commit: bool
    ) -> Revoked | Overrun | None:
        """`settle`: revocation and charge in one script, one round trip."""
        tasks, charges = list(tasks), list(charges)
        if not charges and not tasks:
            return None
        keys, args = self.settle_request(tasks, charges, expires_at, commit)
        script = self._loop().settle
        return settle_reply(charges, await self._arun(lambda: script(keys=keys, args=args), "settle"))

    async def arevoked(self, tasks: Sequence[str]) -> str | None:
        names = [self.revoked_key(task) for task in tasks]
        if not names:
            return None
        client = self._loop().client
        values: list[Any] = await self._arun(lambda: client.mget(names), "revoked")
        for value in values:
            if value is not None:
                return _text(value)
        return None

    async def arevoke(self, task: str, reason: str = "", *, expires_at: float | None = None) -> None:
        keys, args = self.revoke_request(task, reason, expires_at)
        script = self._loop().revoke
        await self._arun(lambda: script(keys=keys, args=args), "revoke")

    async def arequest_approval(self, request: ApprovalRequest, *, now: float) -> ApprovalRequest:
        """`request_approval`: one script, one round trip."""
        keys, args = self.request_approval_request(request, now)
        script = self._loop().request
        raw = await self._arun(lambda: script(keys=keys, args=args), "request_approval")
        return ApprovalRequest.model_validate_json(_text(raw))

    async def atake_approval(
        self, task: str, tool: str, digest: str, *, request_id: str | None,
        grant: Approval | None, now: float,
    ) -> Taken:
        """`take_approval`: one script, one round trip."""
        keys, args = self.take_approval_request(task, tool, digest, request_id, grant, now)
        script = self._loop().take
        return taken_reply(await self._arun(lambda: script(keys=keys, args=args), "take_approval"))

    async def ausage(self, task: str) -> dict[str, float]:
        client = self._loop().client
        raw: dict[Any, Any] = await self._arun(lambda: client.hgetall(self.usage_key(task)), "usage")
        return {_text(scope): _used(used) for scope, used in raw.items()}

    async def aclose(self) -> None:
        """Close the running loop's client and the store (`close` closes the synchronous one)."""
        mine = self._loops.pop(asyncio.get_running_loop(), None)
        self.close()
        if mine is not None:
            await mine.client.aclose()
