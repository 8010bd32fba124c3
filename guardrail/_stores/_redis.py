"""A budget store in Redis: shared by every process and machine of a fleet.

A decision is one Lua script over every key it touches (one round trip), so Redis runs it
atomically: it reads the revocations of the tasks and every counter, and only if no task is
revoked and every charge fits does it write any (all charged or none). Counters are exact:
integer units of 10**-9 kept as decimal strings (``#`` and the digits) and added digit by digit
when they outgrow a double's exact range, so every store reaches the same decision on the same
charges. (A counter written by an earlier version, a plain double, is read rounded up.)

Keys (``prefix`` defaults to ``guardrail``)::

    {prefix}:usage:{task}     hash scope -> used (units)
    {prefix}:revoked:{task}   string: the reason
    {prefix}:refund:{call}    string: a refund was made for this call id
    {prefix}:window:{n}:{task}:{scope}    sorted set: a windowed budget's log, entries
                                          "event|units|member" scored by the guard's time
    {prefix}:distinct:{n}:{task}:{scope}  hash member digest -> charges (a distinct budget)
    {prefix}:approval:{id}    hash: an approval request (request, approval, approved, used,
                              binding, expires)
    {prefix}:approval-call:{sha256 of the call}   string: the call's newest request id
    {prefix}:approvals:{task} set: the task's request ids (for listing)

(``n`` is the length of the task's name, so that a task and a scope cannot be read apart wrong.)
Budget and revocation keys expire ``grace`` seconds after the manifest's ``expires_at`` (and
never sooner than ``grace`` after the last write), so nothing is left behind. A revocation
whose expiry is not known (the CLI) is kept until removed.

Connection errors and timeouts are retried (``RetryPolicy``: by default 3 attempts within 1 s,
exponential backoff with jitter); when Redis stays unreachable the method raises
``StoreUnavailable``, and the next call tries again, so the store recovers by itself when
Redis is back. A retried consume whose first attempt reached Redis but whose reply was lost
may be charged twice: a fault can only make a budget stricter, never looser.

For the charges to survive a Redis restart, run Redis with persistence (``appendonly yes``;
``appendfsync always`` to lose no acknowledged charge at all).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .._outcome import Approval, ApprovalRequest
from ._approvals import ApprovalRecord, Resolved, Taken, binding_hash, binding_of, listed
from ._exact import amount_units, limit_units, to_number
from ._persistent import PersistentStore, checked_expiry
from ._protocol import FEATURES, RETENTION_SECONDS, Charge, Overrun, Revoked, slack
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

# Exact arithmetic on non-negative integers written as decimal digit strings without leading
# zeros. Up to 15 digits a double is exact (sums stay below 2**53): the fast path.
_LUA_DIGITS = """
local function cmp(a, b)
  if #a ~= #b then if #a < #b then return -1 else return 1 end end
  for k = 1, #a do
    local x, y = string.byte(a, k), string.byte(b, k)
    if x ~= y then if x < y then return -1 else return 1 end end
  end
  return 0
end
local function trim(digits)
  local s = table.concat(digits):gsub('^0+', '')
  if s == '' then return '0' end
  return s
end
local function add(a, b)
  if #a < 16 and #b < 16 then return string.format('%.0f', tonumber(a) + tonumber(b)) end
  local out, i, j, carry = {}, #a, #b, 0
  local n = math.max(i, j) + 1
  for k = n, 1, -1 do
    local d = carry
    if i > 0 then d = d + string.byte(a, i) - 48; i = i - 1 end
    if j > 0 then d = d + string.byte(b, j) - 48; j = j - 1 end
    if d >= 10 then out[k] = d - 10; carry = 1 else out[k] = d; carry = 0 end
  end
  return trim(out)
end
local function sub(a, b)
  if cmp(a, b) <= 0 then return '0' end
  if #a < 16 then return string.format('%.0f', tonumber(a) - tonumber(b)) end
  local out, i, j, borrow = {}, #a, #b, 0
  for k = #a, 1, -1 do
    local d = string.byte(a, i) - 48 - borrow
    i = i - 1
    if j > 0 then d = d - (string.byte(b, j) - 48); j = j - 1 end
    if d < 0 then out[k] = d + 10; borrow = 1 else out[k] = d; borrow = 0 end
  end
  return trim(out)
end
local function units(raw)
  if not raw then return '0' end
  if string.byte(raw, 1) == 35 then return string.sub(raw, 2) end
  local old = tonumber(raw)
  if old == nil or old ~= old or old < 0 then error('guardrail: unreadable budget counter') end
  return string.format('%.0f', math.ceil(old * 1000000000))
end
"""

# KEYS: the revocation keys of the ARGV[1] tasks, then the usage hashes the charges name.
# ARGV[1]: the number of tasks, ARGV[2]: expires_at (s), ARGV[3]: grace (s), ARGV[4]: '1' to
# charge, '' to only check; then one argument per charge, "KEY AMOUNT LIMIT SCOPE" (the index
# of its usage hash among KEYS, units; a LIMIT of '-' never fits; the scope last, as it may hold
# spaces): one argument each keeps the client's encoding short. Reads everything before writing
# anything, so an error (a key of the wrong type, say) leaves no partial charge behind. Returns
# 0 (fits, charged when asked), {1, index, used} (an overrun), or {2, reason} (revoked).
_SETTLE = _LUA_EXPIRY + _LUA_DIGITS + """
local ntasks = tonumber(ARGV[1])
if ntasks > 0 then
  local reasons = redis.call('MGET', unpack(KEYS, 1, ntasks))
  for t = 1, ntasks do
    if reasons[t] then return {2, reasons[t]} end
  end
end
local pending = {}
local order = {}
local special = {}
local wstate = {}
for i = 5, #ARGV do
  local kind = string.byte(ARGV[i], 1)
  if kind == 87 or kind == 68 then
    -- W K AMOUNT LIMIT AT CUTOFF FORGET ENTRY MEMBER (a window: entries after CUTOFF count,
    -- those up to FORGET go) or D K 0 LIMIT 0 0 0 - MEMBER (distinct)
    local _, k, amount, limit, at, cutoff, forget, entry, member =
      string.match(ARGV[i], '^(%u) (%d+) (%d+) ([%d%-]+) (%S+) (%S+) (%S+) (%S+) ?(%S*)$')
    local key = KEYS[tonumber(k)]
    local st = wstate[key]
    if st == nil then
      st = {used = '0', members = {}, count = 0}
      if kind == 87 then
        for _, e in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. cutoff, '+inf')) do
          local units, m = string.match(e, '^[^|]*|(%d+)|(.*)$')
          if m ~= '' then
            if not st.members[m] then st.members[m] = true; st.count = st.count + 1 end
          else
            st.used = add(st.used, units)
          end
        end
      else
        for _, m in ipairs(redis.call('HKEYS', key)) do st.members[m] = true end
        st.count = redis.call('HLEN', key)
      end
      wstate[key] = st
    end
    if member ~= '' then
      if not st.members[member] then
        if limit == '-' or st.count + 1 > tonumber(limit) then return {3, i - 4, st.count} end
        st.members[member] = true
        st.count = st.count + 1
      end
    else
      local total = add(st.used, amount)
      if limit == '-' or cmp(total, limit) > 0 then return {1, i - 4, st.used} end
      st.used = total
    end
    special[#special + 1] = {kind, key, at, cutoff, entry, member, forget}
  else
  local k, amount, limit, scope = string.match(ARGV[i], '^(%d+) (%d+) ([%d%-]+) (.*)$')
  local key = KEYS[tonumber(k)]
  local fields = pending[key]
  if fields == nil then
    fields = {}
    pending[key] = fields
    order[#order + 1] = key
  end
  local used = fields[scope]
  if used == nil then used = units(redis.call('HGET', key, scope)) end
  local total = add(used, amount)
  if limit == '-' or cmp(total, limit) > 0 then
    return {1, i - 4, used}
  end
  fields[scope] = total
  end
end
if ARGV[4] == '' or (#order == 0 and #special == 0) then return 0 end
local now_ms, drop_ms = deadline(tonumber(ARGV[2]), tonumber(ARGV[3]))
for _, c in ipairs(special) do
  local key = c[2]
  if c[1] == 87 then
    -- entries long outside this window (see `_protocol.slack`)
    redis.call('ZREMRANGEBYSCORE', key, '-inf', c[7])
    redis.call('ZADD', key, c[3], c[5])
  else
    redis.call('HINCRBY', key, c[6], 1)
  end
  keep_until(key, redis.call('PTTL', key), now_ms, drop_ms)
end
for _, key in ipairs(order) do
  local args = {}
  for scope, used in pairs(pending[key]) do
    args[#args + 1] = scope
    args[#args + 1] = '#' .. used
  end
  redis.call('HSET', key, unpack(args))
  keep_until(key, redis.call('PTTL', key), now_ms, drop_ms)
end
return 0
"""

# KEYS[1]: the refund mark of the call, then the usage hash of every charge. ARGV[1]: grace (s),
# then scope, amount (units) for every charge. Returns 1 when it refunded, 0 when this call id
# was refunded before. The mark lives as long as the longest-lived counter it gave to.
_REFUND = _LUA_DIGITS + """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', math.floor(tonumber(ARGV[1]) * 1000) + 1) then
  return 0
end
local longest = redis.call('PTTL', KEYS[1])
for i = 2, #KEYS do
  local key = KEYS[i]
  local scope = ARGV[2 + (i - 2) * 2]
  local amount = ARGV[3 + (i - 2) * 2]
  local raw = false
  if scope == 'W' then
    redis.call('ZREM', key, amount)  -- a window's entry
  elseif scope == 'D' then
    if redis.call('HINCRBY', key, amount, -1) <= 0 then redis.call('HDEL', key, amount) end
  else
    raw = redis.call('HGET', key, scope)
  end
  if raw then
    redis.call('HSET', key, scope, '#' .. sub(units(raw), amount))
    local pttl = redis.call('PTTL', key)
    if pttl > longest then longest = pttl end
  end
end
redis.call('PEXPIRE', KEYS[1], longest)
return 1
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


# Approvals (the state machine of `_approvals`, step for step). A record's fields: request (JSON),
# approval (JSON, once answered), approved ('1'/'0'), used ('1' once taken or expired by id),
# binding, expires (the guard-clock seconds it expires at). Every key lives until `grace` after
# the request expires (Redis's clock, as for budgets).

# KEYS[1]: the call's index key, KEYS[2]: the new record, KEYS[3]: the task's set.
# ARGV: request id, request JSON, binding, expires, now, grace. Returns the JSON of the request
# that stands (a live pending one of the same call, else the new one).
_REQUEST_APPROVAL = _LUA_EXPIRY + """
local old = redis.call('GET', KEYS[1])
if old then
  local prefix = string.sub(KEYS[2], 1, #KEYS[2] - #ARGV[1])
  local r = redis.call('HMGET', prefix .. old, 'request', 'approval', 'used', 'expires')
  if r[1] and not r[2] and not r[3] and tonumber(ARGV[5]) < tonumber(r[4]) then return r[1] end
end
local now_ms, drop_ms = deadline(tonumber(ARGV[4]), tonumber(ARGV[6]))
redis.call('HSET', KEYS[2], 'request', ARGV[2], 'binding', ARGV[3], 'expires', ARGV[4])
redis.call('PEXPIREAT', KEYS[2], drop_ms)
redis.call('SET', KEYS[1], ARGV[1])
keep_until(KEYS[1], redis.call('PTTL', KEYS[1]), now_ms, drop_ms)
redis.call('SADD', KEYS[3], ARGV[1])
keep_until(KEYS[3], redis.call('PTTL', KEYS[3]), now_ms, drop_ms)
return ARGV[2]
"""

# KEYS[1]: the record. ARGV: approval JSON, approved ('1'/'0'), now.
# Returns {status, request JSON, approval JSON or ''}.
_RESOLVE_APPROVAL = """
local r = redis.call('HMGET', KEYS[1], 'request', 'approval', 'used', 'expires')
if not r[1] then return {'missing', '', ''} end
if not (tonumber(ARGV[3]) < tonumber(r[4])) then return {'expired', r[1], r[2] or ''} end
if r[3] then return {'used', r[1], r[2] or ''} end
if r[2] then return {'decided', r[1], r[2]} end
redis.call('HSET', KEYS[1], 'approval', ARGV[1], 'approved', ARGV[2])
return {'resolved', r[1], ARGV[1]}
"""

# KEYS[1]: the record named by id, or the call's index key. ARGV: '1' when by id, the call's
# binding, now, the grant's JSON ('' for none), its approved flag, the record key prefix.
# Returns {status, request JSON or '', approval JSON or ''}.
_TAKE_APPROVAL = """
local key = KEYS[1]
local by_id = ARGV[1] == '1'
if not by_id then
  local id = redis.call('GET', KEYS[1])
  if not id then return {'missing', '', ''} end
  key = ARGV[6] .. id
end
local r = redis.call('HMGET', key, 'request', 'approval', 'used', 'expires', 'binding', 'approved')
if not r[1] then return {'missing', '', ''} end
if by_id and r[5] ~= ARGV[2] then return {'mismatch', r[1], r[2] or ''} end
if r[3] then
  if by_id then return {'used', r[1], r[2] or ''} end
  return {'missing', '', ''}
end
if not (tonumber(ARGV[3]) < tonumber(r[4])) then
  if not by_id then return {'missing', '', ''} end
  redis.call('HSET', key, 'used', '1')
  return {'expired', r[1], r[2] or ''}
end
local approval, approved = r[2], r[6]
if not approval then
  if ARGV[4] == '' then return {'pending', r[1], ''} end
  approval, approved = ARGV[4], ARGV[5]
  redis.call('HSET', key, 'approval', approval, 'approved', approved)
end
redis.call('HSET', key, 'used', '1')
if approved == '1' then return {'approved', r[1], approval} end
return {'rejected', r[1], approval}
"""


class RedisStore(PersistentStore):
    """Budget store in Redis (see the module docstring).

    ``url_or_client`` is a ``redis://host:port/db`` URL (``rediss://`` and ``unix://`` too) or an
    existing ``redis.Redis`` client. A client made from a URL gets short socket timeouts
    (``socket_timeout`` seconds) and no retries of its own, so that ``retry`` alone bounds how
    long a call may take; a client you pass in is used as it is (its own retries add to ours)
    and is not closed by ``close()``.
    """

    budget_features = FEATURES
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
        self._settle_script = self.client.register_script(_SETTLE)
        self._trips = _SharedTrips(self.client, self._settle_script, wait=4 * socket_timeout + 1.0)
        self._refund_script = self.client.register_script(_REFUND)
        self._revoke_script = self.client.register_script(_REVOKE)
        self._request_script = self.client.register_script(_REQUEST_APPROVAL)
        self._resolve_script = self.client.register_script(_RESOLVE_APPROVAL)
        self._take_script = self.client.register_script(_TAKE_APPROVAL)
        self._label = f"Redis store {self._where}"
        self._grace = _num(self.grace)

    def __repr__(self) -> str:
        return f"RedisStore({self._where!r}, prefix={self.prefix!r})"

    def usage_key(self, task: str) -> str:
        return f"{self.prefix}:usage:{task}"

    def revoked_key(self, task: str) -> str:
        return f"{self.prefix}:revoked:{task}"

    # --- the BudgetStore protocol ------------------------------------------------------

    def refund_key(self, call_id: str) -> str:
        return f"{self.prefix}:refund:{call_id}"

    def special_key(self, charge: Charge) -> str:
        """The key of a windowed or distinct budget."""
        kind = "window" if charge.window else "distinct"
        return f"{self.prefix}:{kind}:{len(charge.task)}:{charge.task}:{charge.scope}"

    # --- the BudgetStore protocol ------------------------------------------------------

    def consume(self, charges: Sequence[Charge], *, expires_at: float) -> Overrun | None:
        result = self.settle((), charges, expires_at=expires_at, commit=True)
        assert not isinstance(result, Revoked)  # no task asked about
        return result

    def settle(
        self, tasks: Sequence[str], charges: Sequence[Charge], *, expires_at: float, commit: bool
    ) -> Revoked | Overrun | None:
        """Revocation and charge in one script, one round trip (see `_protocol`)."""
        tasks, charges = list(tasks), list(charges)
        if not charges and not tasks:
            return None
        keys, args = self.settle_request(tasks, charges, expires_at, commit)
        result = self._run(lambda: self._trips.run(keys, args), "settle")
        return settle_reply(charges, result)

    def settle_request(
        self, tasks: list[str], charges: list[Charge], expires_at: float, commit: bool
    ) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of the settle script (shared with `AsyncRedisStore`)."""
        expires_at = checked_expiry(expires_at)
        prefix = self.prefix
        keys = [f"{prefix}:revoked:{task}" for task in tasks]
        index: dict[str, int] = {}  # task -> its usage hash's position in KEYS (1-based)
        args: list[Any] = [len(tasks), _num(min(expires_at, 1e13)), self._grace, "1" if commit else ""]
        for charge in charges:
            if charge.window or charge.member:
                keys.append(self.special_key(charge))
                args.append(_special_arg(len(keys), charge))
                continue
            k = index.get(charge.task)
            if k is None:
                keys.append(f"{prefix}:usage:{charge.task}")
                k = index[charge.task] = len(keys)
            amount, limit = amount_units(charge.amount), limit_units(charge.limit)
            if amount is None or limit is None or limit < 0:
                args.append(f"{k} 0 - {charge.scope}")  # never fits
            else:
                args.append(f"{k} {amount} {limit} {charge.scope}")
        return keys, args

    def refund(self, charges: Sequence[Charge], *, call_id: str) -> bool:
        """Give a call's charges back, once per ``call_id`` (one script, atomic)."""
        keys = [self.refund_key(call_id)]
        args: list[Any] = [self._grace]
        for charge in charges:
            if charge.window:
                keys.append(self.special_key(charge))
                args += ["W", _entry(charge)]
                continue
            if charge.member:
                keys.append(self.special_key(charge))
                args += ["D", charge.member]
                continue
            amount = amount_units(charge.amount)
            if amount is not None:
                keys.append(self.usage_key(charge.task))
                args += [charge.scope, amount]
        return bool(self._run(lambda: self._refund_script(keys=keys, args=args), "refund"))

    def used(self, keys: Sequence[tuple[str, str]]) -> list[float]:
        keys = [(task, scope) for task, scope in keys]
        if not keys:
            return []

        def read() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for task, scope in keys:
                pipe.hget(self.usage_key(task), scope)
            return pipe.execute()

        return [_used(value) for value in self._run(read, "used")]

    def usage(self, task: str) -> dict[str, float]:
        """Every scope of `task` and its use: a windowed one's every kept entry, a distinct
        one's the number of values (windowed and distinct scopes are found with a SCAN)."""

        def read() -> dict[str, float]:
            raw: dict[Any, Any] = self.client.hgetall(self.usage_key(task))
            out = {_text(scope): _used(used) for scope, used in raw.items()}
            for kind in ("window", "distinct"):
                start = f"{self.prefix}:{kind}:{len(task)}:{task}:"
                for key in self.client.scan_iter(match=_glob_escape(start) + "*", count=1000):
                    scope = _text(key)[len(start):]
                    if kind == "distinct":
                        out[scope] = float(self.client.hlen(key))
                    else:
                        out[scope] = _log_use(self.client.zrange(key, 0, -1))
            return out

        return self._run(read, "usage")

    def measure(self, charges: Sequence[Charge]) -> list[float]:
        """What each charge's budget has used as it sees it: within its window as of its `at`,
        distinct values counted (`Guard.usage`)."""
        charges = list(charges)

        def read() -> list[float]:
            pipe = self.client.pipeline(transaction=False)
            for c in charges:
                if c.window:
                    pipe.zrangebyscore(self.special_key(c), f"({_num(c.at - c.window)}", "+inf")
                elif c.member:
                    pipe.hlen(self.special_key(c))
                else:
                    pipe.hget(self.usage_key(c.task), c.scope)
            out: list[float] = []
            for c, value in zip(charges, pipe.execute(), strict=True):
                if c.window:
                    out.append(_log_use(value))
                else:
                    out.append(float(value) if c.member else _used(value))
            return out

        return self._run(read, "measure")

    def tasks(self) -> list[str]:
        """Every task with budget use or a revocation (a SCAN over the prefix)."""

        def scan() -> list[str]:
            found: set[str] = set()
            for kind in ("usage", "revoked"):
                start = f"{self.prefix}:{kind}:"
                for key in self.client.scan_iter(match=_glob_escape(start) + "*", count=1000):
                    found.add(_text(key)[len(start) :])
            for kind in ("window", "distinct"):
                start = f"{self.prefix}:{kind}:"
                for key in self.client.scan_iter(match=_glob_escape(start) + "*", count=1000):
                    size, _, rest = _text(key)[len(start):].partition(":")
                    if size.isdigit():
                        found.add(rest[: int(size)])
            return sorted(found)

        return self._run(scan, "tasks")

    def revoke(self, task: str, reason: str = "", *, expires_at: float | None = None) -> None:
        keys, args = self.revoke_request(task, reason, expires_at)
        self._run(lambda: self._revoke_script(keys=keys, args=args), "revoke")

    def revoke_request(
        self, task: str, reason: str, expires_at: float | None
    ) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of the revoke script (shared with `AsyncRedisStore`)."""
        end = "" if expires_at is None else _num(min(checked_expiry(expires_at), 1e13))
        return [self.revoked_key(task)], [reason, end, _num(self.grace)]

    def revoked(self, tasks: Sequence[str]) -> str | None:
        tasks = list(tasks)
        if not tasks:
            return None
        keys = [self.revoked_key(task) for task in tasks]
        for value in self._run(lambda: self.client.mget(keys), "revoked"):
            if value is not None:
                return _text(value)
        return None

    # --- approvals (see `_approvals`) ----------------------------------------------------

    def approval_key(self, request_id: str) -> str:
        return f"{self.prefix}:approval:{request_id}"

    def approval_call_key(self, task: str, tool: str, digest: str) -> str:
        return f"{self.prefix}:approval-call:{binding_hash(task, tool, digest)}"

    def approvals_key(self, task: str) -> str:
        return f"{self.prefix}:approvals:{task}"

    def request_approval_request(
        self, request: ApprovalRequest, now: float
    ) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of the request script (shared with `AsyncRedisStore`)."""
        keys = [
            self.approval_call_key(request.task, request.tool, request.args_digest),
            self.approval_key(request.id),
            self.approvals_key(request.task),
        ]
        binding = binding_of(request.task, request.tool, request.args_digest)
        expires = _num(min(checked_expiry(request.expires_ts), 1e13))
        return keys, [request.id, request.model_dump_json(), binding, expires, _num(now), self._grace]

    def take_approval_request(
        self, task: str, tool: str, digest: str, request_id: str | None, grant: Approval | None,
        now: float,
    ) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of the take script (shared with `AsyncRedisStore`)."""
        key = (
            self.approval_key(request_id) if request_id is not None
            else self.approval_call_key(task, tool, digest)
        )
        answer = "" if grant is None else grant.model_dump_json()
        approved = "1" if grant is not None and grant.approved else "0"
        return [key], [
            "1" if request_id is not None else "", binding_of(task, tool, digest), _num(now),
            answer, approved, f"{self.prefix}:approval:",
        ]

    def request_approval(self, request: ApprovalRequest, *, now: float) -> ApprovalRequest:
        keys, args = self.request_approval_request(request, now)
        raw = self._run(lambda: self._request_script(keys=keys, args=args), "request_approval")
        return ApprovalRequest.model_validate_json(_text(raw))

    def resolve_approval(self, request_id: str, approval: Approval, *, now: float) -> Resolved:
        approval = approval.model_copy(update={"request_id": request_id})
        keys = [self.approval_key(request_id)]
        args = [approval.model_dump_json(), "1" if approval.approved else "0", _num(now)]
        raw = self._run(lambda: self._resolve_script(keys=keys, args=args), "resolve_approval")
        status, request, answer = _triple(raw)
        return Resolved(status, request, answer)  # type: ignore[arg-type]

    def take_approval(
        self, task: str, tool: str, digest: str, *, request_id: str | None,
        grant: Approval | None, now: float,
    ) -> Taken:
        keys, args = self.take_approval_request(task, tool, digest, request_id, grant, now)
        raw = self._run(lambda: self._take_script(keys=keys, args=args), "take_approval")
        return taken_reply(raw)

    def approval_requests(
        self, task: str | None = None, *, now: float
    ) -> list[tuple[ApprovalRequest, Approval | None]]:
        def read() -> list[ApprovalRecord]:
            if task is not None:
                sets = [self.approvals_key(task)]
            else:
                start = f"{self.prefix}:approvals:"
                sets = [
                    _text(k) for k in
                    self.client.scan_iter(match=_glob_escape(start) + "*", count=1000)
                ]
            ids = sorted({_text(i) for name in sets for i in self.client.smembers(name)})
            if not ids:
                return []
            pipe = self.client.pipeline(transaction=False)
            for rid in ids:
                pipe.hmget(self.approval_key(rid), "request", "approval", "used")
            records = []
            for request, answer, used in pipe.execute():
                if request is None:
                    continue  # expired and dropped
                records.append(ApprovalRecord(
                    ApprovalRequest.model_validate_json(_text(request)),
                    None if answer is None else Approval.model_validate_json(_text(answer)),
                    used is not None,
                ))
            return records

        return listed(self._run(read, "approval_requests"), task, now)

    def close(self) -> None:
        super().close()
        if self._owns_client:
            self.client.close()

    def ping(self) -> bool:
        """True when Redis answers (with the usual retries); else raises ``StoreUnavailable``."""
        return bool(self._run(self.client.ping, "ping"))


def settle_reply(charges: Sequence[Charge], result: Any) -> Revoked | Overrun | None:
    """What the settle script's reply means (shared with `AsyncRedisStore`)."""
    if result == 0:
        return None
    if int(result[0]) == 2:
        return Revoked(_text(result[1]))
    if int(result[0]) == 3:  # a distinct budget: the number of values
        return Overrun(charges[int(result[1]) - 1], float(int(result[2])))
    return Overrun(charges[int(result[1]) - 1], to_number(int(result[2])))


def _entry(charge: Charge) -> str:
    """A windowed charge's entry in its log: "event|units|member"."""
    units = 0 if charge.member else (amount_units(charge.amount) or 0)
    return f"{charge.event}|{units}|{charge.member}"


def _special_arg(k: int, charge: Charge) -> str:
    """The settle script's argument for a windowed or distinct charge."""
    if charge.member:
        limit = charge.limit
        # a count: the largest integer within the limit ('-' never fits)
        cap = str(int(limit)) if isinstance(limit, int | float) and limit == limit and limit >= 0 \
            and limit != float("inf") else "-"
        amount = "0"
    else:
        amount_u, limit_u = amount_units(charge.amount), limit_units(charge.limit)
        if amount_u is None or limit_u is None or limit_u < 0:
            amount, cap = "0", "-"
        else:
            amount, cap = str(amount_u), str(limit_u)
    if charge.window:
        forget = charge.at - charge.window - slack(charge.window)
        return (f"W {k} {amount} {cap} {_num(charge.at)} {_num(charge.at - charge.window)} "
                f"{_num(forget)} {_entry(charge)} {charge.member}").rstrip()
    return f"D {k} {amount} {cap} 0 0 0 - {charge.member}"


def _log_use(entries: Any) -> float:
    """The use of a window's entries: units summed, or the number of distinct members."""
    units, members = 0, set()
    for raw in entries:
        _, value, member = _text(raw).split("|", 2)
        if member:
            members.add(member)
        else:
            units += int(value)
    return float(len(members)) if members else to_number(units)
def _triple(raw: Any) -> tuple[str, ApprovalRequest | None, Approval | None]:
    status, request, answer = (_text(part) for part in raw)
    return (
        status,
        ApprovalRequest.model_validate_json(request) if request else None,
        Approval.model_validate_json(answer) if answer else None,
    )


def taken_reply(raw: Any) -> Taken:
    """What the take script's reply means (shared with `AsyncRedisStore`)."""
    status, request, answer = _triple(raw)
    return Taken(status, request, answer)  # type: ignore[arg-type]


def _num(value: float) -> str:
    # repr() of a float round-trips exactly; Lua's tonumber reads it back to the same double.
    return repr(float(value))


def _used(value: Any) -> float:
    """A counter as a number: ``#`` and integer units, or a double an earlier version wrote."""
    if value is None:
        return 0.0
    text = _text(value)
    return to_number(int(text[1:])) if text.startswith("#") else float(text)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


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


class _Pending:
    __slots__ = ("args", "done", "error", "keys", "lead", "result")

    def __init__(self, keys: list[str], args: list[Any]) -> None:
        self.keys, self.args = keys, args
        self.done = threading.Event()
        self.lead = False
        self.result: Any = None
        self.error: BaseException | None = None


class _SharedTrips:
    """Decisions of concurrent threads share a round trip: while one thread's script is on the
    wire, the others queue theirs, and the next thread sends everything queued as one pipeline
    (``transaction=False``). Each script is still its own atomic step, in its own right; only
    the trip is shared. A lone thread sends its script directly, as before."""

    def __init__(self, client: redis.Redis, script: Any, *, wait: float) -> None:
        self._client, self._script, self._wait = client, script, wait
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._sending = False

    def run(self, keys: list[str], args: list[Any]) -> Any:
        with self._lock:
            alone = not self._sending
            if alone:
                self._sending = True
            else:
                me = _Pending(keys, args)
                self._queue.append(me)
        if alone:
            try:
                return self._script(keys=keys, args=args)
            finally:
                self._hand_over()
        while not me.done.wait(self._wait):
            with self._lock:
                if me in self._queue and not me.lead:  # never sent: give up, retry on our own
                    self._queue.remove(me)
                    raise redis.TimeoutError("no turn for a shared round trip in time")
            # on the wire with another thread's trip, which ends by the socket timeout
        if me.lead:  # our turn to send what has queued (ourselves included)
            self._send()
        if me.error is not None:
            raise me.error
        return me.result

    def _send(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            pipe = self._client.pipeline(transaction=False)
            for item in batch:
                pipe.evalsha(self._script.sha, len(item.keys), *item.keys, *item.args)
            results = pipe.execute(raise_on_error=False)
            for item, result in zip(batch, results, strict=True):
                if isinstance(result, redis.exceptions.NoScriptError):  # a restarted server
                    try:
                        item.result = self._script(keys=item.keys, args=item.args)
                    except BaseException as exc:
                        item.error = exc
                elif isinstance(result, BaseException):
                    item.error = result
                else:
                    item.result = result
        except BaseException as exc:
            for item in batch:
                if item.result is None and item.error is None:
                    item.error = exc
        finally:
            self._hand_over()
            for item in batch:
                item.done.set()

    def _hand_over(self) -> None:
        """After a trip: the first queued thread sends next, or nobody is sending."""
        with self._lock:
            if self._queue:
                first = self._queue[0]
                first.lead = True
                first.done.set()
            else:
                self._sending = False
