"""A budget store in Redis: shared by every process and machine of a fleet.

A consume is one Lua script over every key it touches, so Redis runs it atomically: it reads
every counter, and only if every charge fits does it write any (all charged or none). Counters
are kept as the exact decimal form of a double (``%.17g``), so sum budgets add exactly as
Python floats do and every store reaches the same decision on the same charges.

Keys (``prefix`` defaults to ``guardrail``)::

    {prefix}:usage:{task}     hash scope -> used
    {prefix}:revoked:{task}   string: the reason

Both expire ``grace`` seconds after the manifest's ``expires_at`` (and never sooner than ``grace``
after the last write), so nothing is left behind. A revocation whose expiry is not known (the
CLI) is kept until removed.

Connection errors and timeouts are retried (``RetryPolicy``: by default 3 attempts within 1 s,
exponential backoff with jitter); when Redis stays unreachable the method raises
``StoreUnavailable``, and the next call tries again, so the store recovers by itself when
Redis is back. A retried consume whose first attempt reached Redis but whose reply was lost
may be charged twice: a fault can only make a budget stricter, never looser.

For the charges to survive a Redis restart, run Redis with persistence (``appendonly yes``;
``appendfsync always`` to lose no acknowledged charge at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ._persistent import PersistentStore, checked_expiry
from ._protocol import RETENTION_SECONDS, Charge, Overrun
from ._retry import RetryPolicy

__all__ = ["RedisStore"]

# Shared by both scripts: Redis's own clock decides when a key may go, so guards with skewed
# clocks agree. `deadline` gives (now_ms, drop_ms): `grace` seconds after the later of expires_at
# and now. `keep_until` extends a key's life to drop_ms, never shortens it.
_LUA_EXPIRY = """
local function deadline(expires_at, grace)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  if expires_at < now then expires_at = now end
  return math.floor(now * 1000), math.floor((expires_at + grace) * 1000)
end
local function keep_until(key, pttl, now_ms, drop_ms)
  if pttl < 0 or now_ms + pttl < drop_ms then
    redis.call('PEXPIREAT', key, drop_ms)
  end
end
"""

# KEYS[i]: the usage hash of charge i. ARGV[1]: expires_at (s), ARGV[2]: grace (s), then
# scope, amount, limit for every charge. Reads everything before writing anything, so an error
# (a key of the wrong type, say) leaves no partial charge behind.
_CONSUME = _LUA_EXPIRY + """
local now_ms, drop_ms = deadline(tonumber(ARGV[1]), tonumber(ARGV[2]))
local pending = {}
local order = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local base = 2 + (i - 1) * 3
  local scope = ARGV[base + 1]
  local amount = tonumber(ARGV[base + 2])
  local limit = tonumber(ARGV[base + 3])
  local fields = pending[key]
  if fields == nil then
    fields = {}
    pending[key] = fields
    order[#order + 1] = key
  end
  local used = fields[scope]
  if used == nil then
    local raw = redis.call('HGET', key, scope)
    if raw then used = tonumber(raw) else used = 0 end
  end
  if not (used + amount <= limit) then
    return {i, string.format('%.17g', used)}
  end
  fields[scope] = used + amount
end
for _, key in ipairs(order) do
  local args = {}
  for scope, used in pairs(pending[key]) do
    args[#args + 1] = scope
    args[#args + 1] = string.format('%.17g', used)
  end
  redis.call('HSET', key, unpack(args))
  keep_until(key, redis.call('PTTL', key), now_ms, drop_ms)
end
return 0
"""

# KEYS[1]: the revocation key. ARGV: reason, expires_at ('' when unknown), grace.
# The first reason is kept; an unknown end makes the revocation permanent; otherwise the later
# end wins.
_REVOKE = _LUA_EXPIRY + """
local created = redis.call('SET', KEYS[1], ARGV[1], 'NX')
local pttl = redis.call('PTTL', KEYS[1])
if ARGV[2] == '' then
  if pttl >= 0 then redis.call('PERSIST', KEYS[1]) end
  return 0
end
if pttl == -1 and not created then return 0 end
local now_ms, drop_ms = deadline(tonumber(ARGV[2]), tonumber(ARGV[3]))
keep_until(KEYS[1], pttl, now_ms, drop_ms)
return 0
"""


class RedisStore(PersistentStore):
    """Budget store in Redis (see the module docstring).

    ``url_or_client`` is a ``redis://host:port/db`` URL (``rediss://`` and ``unix://`` too) or an
    existing ``redis.Redis`` client. A client made from a URL gets short socket timeouts
    (``socket_timeout`` seconds) and no retries of its own, so that ``retry`` alone bounds how
    long a call may take; a client you pass in is used as it is (its own retries add to ours)
    and is not closed by ``close()``.
    """

    # Worth another try: the connection broke, timed out, or Redis is still loading its data.
    transient = (redis.ConnectionError, redis.TimeoutError)
    # Anything else Redis says is wrong (out of memory, read-only replica, ...): fail closed at once.
    fatal = (redis.RedisError,)

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        *,
        prefix: str = "guardrail",
        grace: float = RETENTION_SECONDS,
        retry: RetryPolicy | None = None,
        socket_timeout: float = 0.5,
    ) -> None:
        if not prefix or prefix.endswith(":"):
            raise ValueError(f"prefix must be non-empty and must not end with ':', got {prefix!r}")
        super().__init__(grace=grace, retry=retry)
        self.prefix = prefix
        if isinstance(url_or_client, str):
            self._where = _describe(url_or_client)
            self.client: redis.Redis = redis.Redis.from_url(
                url_or_client,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
            )
            self._owns_client = True
        elif isinstance(url_or_client, redis.Redis):
            kwargs = url_or_client.connection_pool.connection_kwargs
            self._where = str(
                kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"
            )
            self.client = url_or_client
            self._owns_client = False
        else:
            raise TypeError(
                f"RedisStore needs a redis:// URL or a redis.Redis client, got {type(url_or_client).__name__}"
            )
        self._consume_script = self.client.register_script(_CONSUME)
        self._revoke_script = self.client.register_script(_REVOKE)
        self._label = f"Redis store {self._where}"

    def __repr__(self) -> str:
        return f"RedisStore({self._where!r}, prefix={self.prefix!r})"

    def usage_key(self, task: str) -> str:
        return f"{self.prefix}:usage:{task}"

    def revoked_key(self, task: str) -> str:
        return f"{self.prefix}:revoked:{task}"

    # --- the BudgetStore protocol ------------------------------------------------------

    def consume(self, charges: Sequence[Charge], *, expires_at: float) -> Overrun | None:
        charges = list(charges)
        if not charges:
            return None
        expires_at = checked_expiry(expires_at)
        keys = [self.usage_key(charge.task) for charge in charges]
        args: list[Any] = [_num(min(expires_at, 1e13)), _num(self.grace)]
        for charge in charges:
            args += [charge.scope, _num(float(charge.amount)), _num(float(charge.limit))]

        result = self._run(lambda: self._consume_script(keys=keys, args=args), "consume")
        if result == 0:
            return None
        index, used = result
        return Overrun(charges[int(index) - 1], float(used))

    def used(self, keys: Sequence[tuple[str, str]]) -> list[float]:
        keys = [(task, scope) for task, scope in keys]
        if not keys:
            return []

        def read() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for task, scope in keys:
                pipe.hget(self.usage_key(task), scope)
            return pipe.execute()

        return [0.0 if value is None else float(value) for value in self._run(read, "used")]

    def usage(self, task: str) -> dict[str, float]:
        raw: dict[Any, Any] = self._run(lambda: self.client.hgetall(self.usage_key(task)), "usage")
        return {_text(scope): float(used) for scope, used in raw.items()}

    def revoke(self, task: str, reason: str = "", *, expires_at: float | None = None) -> None:
        end = "" if expires_at is None else _num(min(checked_expiry(expires_at), 1e13))
        key = self.revoked_key(task)
        self._run(lambda: self._revoke_script(keys=[key], args=[reason, end, _num(self.grace)]), "revoke")

    def revoked(self, tasks: Sequence[str]) -> str | None:
        tasks = list(tasks)
        if not tasks:
            return None
        keys = [self.revoked_key(task) for task in tasks]
        for value in self._run(lambda: self.client.mget(keys), "revoked"):
            if value is not None:
                return _text(value)
        return None

    def close(self) -> None:
        super().close()
        if self._owns_client:
            self.client.close()

    def ping(self) -> bool:
        """True when Redis answers (with the usual retries); else raises ``StoreUnavailable``."""
        return bool(self._run(self.client.ping, "ping"))


def _num(value: float) -> str:
    # repr() of a float round-trips exactly; Lua's tonumber reads it back to the same double.
    return repr(float(value))


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _describe(url: str) -> str:
    """host:port/db of a URL, without credentials."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    host = parts.hostname or "localhost"
    port = parts.port or 6379
    db = parts.path.lstrip("/") or "0"
    return f"{parts.scheme}://{host}:{port}/{db}"
