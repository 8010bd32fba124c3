"""Fixtures for the store tests: real redis-server processes, SQLite files, worker processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from guardrail import BudgetStore
from guardrail._stores._url import open_store
from tests.stores.support import REDIS_EXTRA, RedisServer, Workers, start_redis, unique_prefix

KINDS = ["memory", "sqlite", "redis"]
SHARED = ["sqlite", "redis"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session; tests keep apart by a unique key prefix."""
    pytest.importorskip("redis", reason=REDIS_EXTRA)
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, which it may kill and restart."""
    pytest.importorskip("redis", reason=REDIS_EXTRA)
    directory = tmp_path / "redis"
    directory.mkdir()
    server = start_redis(directory)
    yield server
    server.stop()


def url_for(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "memory":
        return "memory:"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'guardrail.db'}?create=1"
    server: RedisServer = request.getfixturevalue("redis_server")
    return f"{server.url}?prefix={unique_prefix()}"


@pytest.fixture(params=KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh store of every kind."""
    return url_for(request.param, request, tmp_path)


@pytest.fixture(params=SHARED)
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh store of every kind several processes can share."""
    return url_for(request.param, request, tmp_path)


@pytest.fixture
def opener() -> Iterator[Callable[[str], BudgetStore]]:
    """open_store, closing whatever it opened when the test ends."""
    opened: list[BudgetStore] = []

    def open_(url: str) -> BudgetStore:
        store = open_store(url)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(store_url: str, opener: Callable[[str], BudgetStore]) -> BudgetStore:
    return opener(store_url)


@pytest.fixture
def shared_store(shared_url: str, opener: Callable[[str], BudgetStore]) -> BudgetStore:
    return opener(shared_url)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(tmp_path)
    yield pool
    pool.kill_all()
