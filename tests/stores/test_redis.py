"""RedisStore: key layout and expiry, odd clients and keys, an outage of the server, and Redis
store URLs."""

from __future__ import annotations

import threading
import time

import pytest

from guardrail import Charge, RetryPolicy, StoreUnavailable, open_store
from guardrail._cli import main
from guardrail.cli import ExitCode
from tests.stores.support import RedisServer, free_port, redis_py, unique_prefix

redis = redis_py()
from guardrail._stores._redis import RedisStore  # noqa: E402 - after the check that redis-py is there


def seconds_left(client: redis.Redis, key: str) -> float:
    return int(client.pttl(key)) / 1000


def test_keys_are_namespaced_and_all_expire_after_the_manifest(redis_server: RedisServer) -> None:
    prefix = unique_prefix()
    client = redis_server.client()
    with RedisStore(redis_server.url, prefix=prefix, grace=60.0) as store:
        expires_at = time.time() + 600
        store.consume([Charge("a", "calls", 1.0, 5.0), Charge("b", "sum.x", 2.0, 5.0)], expires_at=expires_at)
        store.revoke("a", "r", expires_at=expires_at)
        keys = sorted(key.decode() for key in client.scan_iter(match=f"{prefix}:*"))
        assert keys == [f"{prefix}:revoked:a", f"{prefix}:usage:a", f"{prefix}:usage:b"]
        assert client.hgetall(f"{prefix}:usage:b") == {b"sum.x": b"#2000000000"}  # units of 1e-9
        for key in keys:
            assert seconds_left(client, key) == pytest.approx(expires_at + 60 - time.time(), abs=5)
    client.close()


def test_an_expiry_is_extended_but_never_shortened(redis_server: RedisServer) -> None:
    prefix = unique_prefix()
    client = redis_server.client()
    key = f"{prefix}:usage:t"
    with RedisStore(redis_server.url, prefix=prefix, grace=60.0) as store:
        now = time.time()
        charge = [Charge("t", "calls", 1.0, 9.0)]
        store.consume(charge, expires_at=now + 1000)
        store.consume(charge, expires_at=now + 10)
        assert seconds_left(client, key) == pytest.approx(1060 + now - time.time(), abs=5)
        store.consume(charge, expires_at=now + 5000)
        assert seconds_left(client, key) == pytest.approx(5060 + now - time.time(), abs=5)
        # an expiry in the past (a skewed or injected clock) still keeps the budget for grace
        store.consume([Charge("old", "calls", 1.0, 9.0)], expires_at=0.0)
        assert seconds_left(client, f"{prefix}:usage:old") == pytest.approx(60, abs=5)
        assert store.usage("old") == {"calls": 1.0}
    client.close()


def test_revocation_expiry(redis_server: RedisServer) -> None:
    prefix = unique_prefix()
    client = redis_server.client()
    with RedisStore(redis_server.url, prefix=prefix, grace=60.0) as store:
        now = time.time()
        store.revoke("cli", "by hand")  # end unknown: kept until removed
        assert int(client.pttl(f"{prefix}:revoked:cli")) == -1
        store.revoke("cli", "again", expires_at=now + 100)  # stays permanent
        assert int(client.pttl(f"{prefix}:revoked:cli")) == -1
        store.revoke("g", "guard", expires_at=now + 100)
        assert seconds_left(client, f"{prefix}:revoked:g") == pytest.approx(160 + now - time.time(), abs=5)
        store.revoke("g", "guard", expires_at=now + 10)  # never shortened
        assert seconds_left(client, f"{prefix}:revoked:g") == pytest.approx(160 + now - time.time(), abs=5)
        store.revoke("g", "by hand")  # an unknown end makes it permanent
        assert int(client.pttl(f"{prefix}:revoked:g")) == -1
        assert store.revoked(["g"]) == "guard"
    client.close()


def test_expired_keys_are_gone(redis_server: RedisServer) -> None:
    prefix = unique_prefix()
    client = redis_server.client()
    with RedisStore(redis_server.url, prefix=prefix, grace=0.2) as store:
        store.consume([Charge("t", "calls", 1.0, 9.0)], expires_at=time.time())
        store.revoke("t", "done", expires_at=time.time())
        assert store.usage("t") == {"calls": 1.0}
        deadline = time.monotonic() + 10
        while client.exists(f"{prefix}:usage:t", f"{prefix}:revoked:t") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(client.scan_iter(match=f"{prefix}:*")) == []
        assert store.usage("t") == {}
        assert store.revoked(["t"]) is None
    client.close()


def test_a_client_of_your_own_works_and_stays_open(redis_server: RedisServer) -> None:
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, decode_responses=True)
    store = RedisStore(client, prefix=unique_prefix())
    assert store.consume([Charge("t", "calls", 1.0, 1.0)], expires_at=time.time() + 60) is None
    assert store.consume([Charge("t", "calls", 1.0, 1.0)], expires_at=time.time() + 60) == (
        Charge("t", "calls", 1.0, 1.0),
        1.0,
    )
    store.revoke("t", "réason")
    assert store.usage("t") == {"calls": 1.0}
    assert store.used([("t", "calls")]) == [1.0]
    assert store.revoked(["t"]) == "réason"
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.usage("t")
    assert client.ping() is True
    client.close()


def test_a_foreign_key_in_the_way_fails_closed_and_charges_nothing(redis_server: RedisServer) -> None:
    prefix = unique_prefix()
    client = redis_server.client()
    client.set(f"{prefix}:usage:b", "not a hash")
    with RedisStore(redis_server.url, prefix=prefix) as store:
        charges = [Charge("a", "calls", 1.0, 5.0), Charge("b", "calls", 1.0, 5.0)]
        with pytest.raises(StoreUnavailable, match="WRONGTYPE"):
            store.consume(charges, expires_at=time.time() + 60)
        assert store.usage("a") == {}
    client.close()


def test_the_password_does_not_show(redis_server: RedisServer) -> None:
    store = RedisStore(f"redis://user:s3cret@127.0.0.1:{redis_server.port}/2", prefix="p")
    assert "s3cret" not in repr(store)
    assert repr(store) == f"RedisStore('redis://127.0.0.1:{redis_server.port}/2', prefix='p')"
    store.close()


def test_an_outage_fails_closed_and_the_budget_survives_a_restart(own_redis_server: RedisServer) -> None:
    server = own_redis_server
    store = RedisStore(server.url, retry=RetryPolicy(attempts=3, deadline=1.0))
    charges = [Charge("t", "calls", 1.0, 60.0), Charge("t", "sum.amount", 2.5, 150.0)]
    expires_at = time.time() + 600
    for _ in range(10):
        assert store.consume(charges, expires_at=expires_at) is None

    # four threads keep consuming while the server dies under them
    stop = threading.Event()
    lock = threading.Lock()
    acknowledged: list[int] = []
    unavailable: list[int] = []
    other: list[BaseException] = []

    def hammer() -> None:
        while not stop.is_set():
            try:
                result = store.consume(charges, expires_at=expires_at)
            except StoreUnavailable:
                with lock:
                    unavailable.append(1)
            except BaseException as exc:
                with lock:
                    other.append(exc)
                return
            else:
                assert result is None
                with lock:
                    acknowledged.append(1)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(acknowledged) < 5 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert len(acknowledged) >= 5
    server.kill()

    # during the outage every call fails closed; none succeeds
    for _ in range(3):
        with pytest.raises(StoreUnavailable, match="Connection refused"):
            store.consume(charges, expires_at=expires_at)
    with pytest.raises(StoreUnavailable):
        store.revoked(["t"])
    with pytest.raises(StoreUnavailable):
        store.used([("t", "calls")])
    with pytest.raises(StoreUnavailable):
        store.usage("t")
    with pytest.raises(StoreUnavailable):
        store.revoke("t", "x")
    stop.set()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    assert other == []
    assert unavailable, "the threads ran into the outage"

    server.start()  # same port and directory: the append-only file is replayed
    spent = store.used([("t", "calls")])[0]  # the same store object reconnects by itself
    # every acknowledged charge survived; a charge whose reply was lost may count too (stricter)
    assert 10 + len(acknowledged) <= spent <= 60
    assert store.usage("t") == {"calls": spent, "sum.amount": 2.5 * spent}
    assert store.revoked(["t"]) is None

    results = [store.consume(charges, expires_at=expires_at) for _ in range(int(60 - spent) + 2)]
    assert results.count(None) == 60 - spent
    assert results[-1] == (charges[0], 60.0)
    assert store.usage("t") == {"calls": 60.0, "sum.amount": 150.0}
    store.close()


def test_a_server_that_never_answers_is_unavailable_without_retrying_forever() -> None:
    # nothing listens on this port; the store must give up by itself

    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", retry=RetryPolicy(attempts=2, deadline=0.3))
    with pytest.raises(StoreUnavailable, match="Connection refused"):
        store.consume([Charge("t", "calls", 1.0, 5.0)], expires_at=time.time() + 60)
    with pytest.raises(StoreUnavailable):
        store.ping()
    store.close()


# --- store URLs and the CLI -------------------------------------------------------------


def test_redis_urls(redis_server: RedisServer) -> None:
    store = open_store(f"{redis_server.url}?prefix=app1&grace=30&attempts=2&deadline=0.5&socket_timeout=0.25")
    assert isinstance(store, RedisStore)
    assert (store.prefix, store.grace, store.retry.attempts, store.retry.deadline) == ("app1", 30.0, 2, 0.5)
    # parameters of redis-py itself pass through
    other = open_store(f"redis://127.0.0.1:{redis_server.port}/3?prefix=app2&client_name=guard-test")
    assert isinstance(other, RedisStore)
    other.consume([Charge("t", "calls", 1.0, 2.0)], expires_at=time.time() + 60)
    client = redis_server.client()
    assert any(c.get("name") == "guard-test" and str(c.get("db")) == "3" for c in client.client_list())
    client.select(3)
    assert client.exists("app2:usage:t") == 1
    client.close()
    store.close()
    other.close()


def test_the_cli_on_an_unreachable_redis_exits_store_unavailable(capsys: pytest.CaptureFixture[str]) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0?attempts=1"
    assert main(["usage", "--store", down, "t"]) == ExitCode.UNAVAILABLE
    assert "store unavailable" in capsys.readouterr().err
    assert main(["revoke", "--store", down, "t"]) == ExitCode.UNAVAILABLE
