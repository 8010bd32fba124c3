"""Open a budget store from a URL.

The CLI commands over a store (``guardrail revoke`` / ``guardrail usage``) are in ``guardrail._cli._stores``.

URLs::

    memory:                          this process's MemoryStore (the one guards use by default)
    sqlite:///relative/guardrail.db  SQLiteStore on a path relative to the working directory
    sqlite:////abs/path/guardrail.db SQLiteStore on an absolute path (as SQLAlchemy reads them)
    redis://[[user]:password@]host:port/db, rediss://..., unix:///path/redis.sock?db=0
                                     RedisStore

Query parameters understood by every persistent store: ``attempts``, ``deadline`` (seconds),
``grace`` (seconds kept after a manifest expires); ``deadline`` bounds a whole operation, waits
for another process's lock included. SQLite also takes ``create`` (``1``: create the database if
the file does not exist; without it a missing file is an error, see ``guardrail store init``),
``timeout`` (the longest one attempt waits for the write lock, seconds) and ``synchronous``
(``normal`` or ``full``); Redis takes ``prefix``, ``socket_timeout``,
and any other parameter redis-py's ``Redis.from_url`` understands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from ._memory import default_store
from ._protocol import BudgetStore
from ._retry import RetryPolicy
from ._sqlite import SQLiteStore

__all__ = ["open_store", "redact_url", "sqlite_path"]

T = TypeVar("T")


_COMMON = {"attempts", "deadline", "grace"}


# Query parameters redis-py itself understands in a URL; any other is a typo, and an error.
_REDIS_PY_PARAMS = {
    "db", "socket_timeout", "socket_connect_timeout", "socket_read_size", "socket_keepalive",
    "retry_on_timeout", "max_connections", "health_check_interval", "timeout", "protocol",
    "client_name", "username", "password", "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_path",
    "ssl_ca_data", "ssl_certfile", "ssl_keyfile", "ssl_password", "ssl_check_hostname",
    "ssl_min_version",
}  # fmt: skip


def _store_kwargs(
    kind: str, params: dict[str, str], *, numbers: tuple[str, ...], texts: tuple[str, ...]
) -> dict[str, Any]:
    """The store's keyword arguments, taken out of ``params``: the common ones (retry, grace), then
    its own ``numbers`` and ``texts``. Anything else left in ``params`` is an error."""
    unknown = set(params) - _COMMON - set(numbers) - set(texts)
    if unknown:
        raise ValueError(f"unknown {kind} store parameter(s): {', '.join(sorted(unknown))}")
    retry: dict[str, Any] = {}
    retry.update(_pop_number(params, "attempts", int))
    retry.update(_pop_number(params, "deadline", float))
    kwargs: dict[str, Any] = {"retry": RetryPolicy(**retry)}
    for name in ("grace", *numbers):
        kwargs.update(_pop_number(params, name, float))
    kwargs.update((name, params.pop(name)) for name in texts if name in params)
    return kwargs


def _pop_number(params: dict[str, str], name: str, kind: Callable[[str], T]) -> dict[str, T]:
    if name not in params:
        return {}
    raw = params.pop(name)
    try:
        return {name: kind(raw)}
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"store URL parameter {name} must be {what}, got {raw!r}") from None


def open_store(url: str, *, asynchronous: bool = False) -> BudgetStore:
    """Open the budget store a URL names (see the module docstring). Raises ``ValueError`` for a
    URL it does not understand; opening a Redis store does not connect yet. With
    ``asynchronous``, a Redis URL opens an `AsyncRedisStore` (native ``redis.asyncio`` methods
    as well as the synchronous ones): what ``Guard(store=URL)`` does. Other stores are the same
    either way (the guard's async path runs them off the event loop)."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("store URL must be a non-empty string such as 'sqlite:///var/lib/guardrail.db'")
    url = url.strip()
    scheme, sep, _ = url.partition(":")
    scheme = scheme.lower()
    if not sep:
        raise ValueError(
            f"store URL {url!r} has no scheme: use memory:, sqlite:///path or redis://host:port/db"
        )

    if scheme == "memory":
        if url.lower() not in ("memory:", "memory://"):
            raise ValueError(f"memory store URL takes no path or parameters: {url!r}")
        # the process-wide store: guards opened from the same URL must share budgets
        return default_store()

    if scheme == "sqlite":
        return _open_sqlite(url)

    if scheme in ("redis", "rediss", "unix"):
        return _open_redis(url, asynchronous)

    raise ValueError(
        f"unknown store URL scheme {scheme!r} in {redact_url(url)!r}: use memory:, sqlite:///path or redis://host:port/db"
    )


def sqlite_path(url: str) -> str:
    """The file a sqlite URL names, read as SQLAlchemy does: ``sqlite:///relative.db`` relative
    to the working directory, ``sqlite:////abs/path.db`` absolute."""
    parts = urlsplit(url)
    if parts.netloc:
        raise ValueError(
            f"sqlite URL {url!r} names a host {parts.netloc!r}: "
            "use sqlite:///relative/path.db or sqlite:////abs/path.db"
        )
    path = unquote(parts.path)
    if url[len("sqlite:") :].startswith("//"):
        if not path.startswith("/"):
            raise ValueError(f"sqlite URL {url!r} has no path")
        path = path[1:]  # the third slash ends the (empty) host; a fourth starts an absolute path
    if not path or path in ("/", ":memory:", "/:memory:"):
        raise ValueError(f"sqlite URL {url!r} needs a file path (an in-memory database cannot be shared)")
    return path


def _open_sqlite(url: str) -> BudgetStore:
    path = sqlite_path(url)
    params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    create = params.pop("create", "0").lower()
    if create not in ("0", "1", "true", "false", "yes", "no"):
        raise ValueError(f"store URL parameter create must be 1 or 0, got {create!r}")
    kwargs = _store_kwargs("sqlite", params, numbers=("timeout",), texts=("synchronous",))
    return SQLiteStore(path, create=create in ("1", "true", "yes"), **kwargs)


def _open_redis(url: str, asynchronous: bool = False) -> BudgetStore:
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    # Parameters redis-py understands pass through to its client; the rest are ours.
    rest = [(k, v) for k, v in params if k in _REDIS_PY_PARAMS - {"socket_timeout"}]
    ours = {k: v for k, v in params if k not in _REDIS_PY_PARAMS - {"socket_timeout"}}
    kwargs = _store_kwargs("redis", ours, numbers=("socket_timeout",), texts=("prefix",))
    client_url = urlunsplit(parts._replace(query=urlencode(rest)))
    try:
        from ._redis import RedisStore
        from ._redis_async import AsyncRedisStore
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the Redis store needs redis-py: pip install 'task-guardrail[redis]'") from exc
    return (AsyncRedisStore if asynchronous else RedisStore)(client_url, **kwargs)


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
