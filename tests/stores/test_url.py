"""open_store URLs, the retry policy, and the CLI's store functions (Redis URLs that need a
server are in test_redis.py: these tests run without redis-py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from guardrail import Charge, Guard, RetryPolicy, StoreUnavailable, default_store, open_store
from guardrail._cli._stores import format_usage, task_usage
from guardrail._stores._sqlite import SQLiteStore


def test_memory_urls() -> None:
    # the process-wide store, so that two guards opened from the URL cannot reset a budget
    assert open_store("memory:") is open_store(" memory:// ") is default_store()


def test_sqlite_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # as SQLAlchemy: four slashes for an absolute path
    absolute = open_store(f"sqlite:///{tmp_path}/a.db?create=1")
    assert isinstance(absolute, SQLiteStore) and absolute.path == tmp_path / "a.db"
    absolute.close()
    four = open_store(f"sqlite:///{tmp_path}/a.db?timeout=2&synchronous=full&grace=10&attempts=5&deadline=2")
    assert isinstance(four, SQLiteStore)
    assert four.path.resolve() == (tmp_path / "a.db").resolve()
    assert (four.grace, four.retry.attempts, four.retry.deadline) == (10.0, 5, 2.0)
    four.close()
    monkeypatch.chdir(tmp_path)
    # three slashes: relative to the working directory (it used to mean /sub dir.db)
    relative = open_store("sqlite:///sub%20dir.db?create=1")
    assert isinstance(relative, SQLiteStore) and not relative.path.is_absolute()
    relative.consume([Charge("t", "calls", 1.0, 2.0)], expires_at=time.time() + 60)
    relative.close()
    assert (tmp_path / "sub dir.db").exists()
    assert not Path("/sub dir.db").exists()
    nested = open_store("sqlite:///sub%20dir.db")  # it exists now: no create needed
    assert nested.usage("t") == {"calls": 1.0}
    nested.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "non-empty"),
        ("/tmp/x.db", "no scheme"),
        ("postgres://db/x", "unknown store URL scheme 'postgres'"),
        ("memory:x", "takes no path"),
        ("sqlite://host/x.db", "names a host"),
        ("sqlite://", "no path"),
        ("sqlite:///:memory:", "needs a file path"),
        ("sqlite:///tmp/x.db?prefix=a", "unknown sqlite store parameter"),
        ("sqlite:///tmp/x.db?attempts=0", "attempts must be at least 1"),
        ("redis://localhost/0?deadline=-1", "deadline must be"),
        ("redis://localhost/0?attempts=three", "attempts must be an integer, got 'three'"),
        ("sqlite:///tmp/x.db?grace=soon", "grace must be a number"),
        ("redis://localhost/0?prefx=app1", "unknown redis store parameter.*prefx"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url)


def test_an_unknown_scheme_message_hides_the_password() -> None:
    with pytest.raises(ValueError) as caught:
        open_store("postgres://alice:hunter2@db/x")
    assert "hunter2" not in str(caught.value)


def test_task_usage_on_a_fresh_and_a_revoked_task(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/g.db"
    SQLiteStore(tmp_path / "g.db", create=True).close()
    assert task_usage(url, "nothing") == {"task": "nothing", "revoked": None, "usage": {}}
    assert format_usage(task_usage(url, "nothing")) == "task: nothing\nrevoked: no\nusage: nothing charged"
    with SQLiteStore(tmp_path / "g.db", create=True) as store:
        store.consume([Charge("t", "sum.amount", 12.5, 100.0)], expires_at=time.time() + 60)
        store.revoke("t")
    assert format_usage(task_usage(url, "t")).splitlines() == [
        "task: t",
        "revoked: yes (no reason given)",
        "usage:",
        "  sum.amount  12.5",
    ]


# --- the retry policy ----------------------------------------------------------------------


class Flaky:
    """Fails with `error` the first `failures` calls, then answers."""

    def __init__(self, failures: int, error: BaseException) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def test_a_transient_fault_is_retried_until_it_passes() -> None:
    flaky = Flaky(2, ConnectionError("down"))
    assert RetryPolicy(attempts=3, deadline=5).run(flaky, (ConnectionError,), what="op") == "ok"
    assert flaky.calls == 3


def test_attempts_run_out() -> None:
    flaky = Flaky(5, ConnectionError("down"))
    with pytest.raises(StoreUnavailable, match="op: down") as caught:
        RetryPolicy(attempts=3, deadline=5).run(flaky, (ConnectionError,), what="op")
    assert flaky.calls == 3
    assert isinstance(caught.value.__cause__, ConnectionError)


def test_the_deadline_stops_retries_that_could_not_start_in_time() -> None:
    flaky = Flaky(5, ConnectionError("down"))
    with pytest.raises(StoreUnavailable):
        RetryPolicy(attempts=10, deadline=0.0).run(flaky, (ConnectionError,), what="op")
    assert flaky.calls == 1
    slow = Flaky(5, ConnectionError("down"))
    with pytest.raises(StoreUnavailable):
        # every wait is at least 0.2 s, so no second try fits in 0.1 s
        RetryPolicy(attempts=10, deadline=0.1, initial=0.2, max_wait=0.2, jitter=0).run(
            slow, (ConnectionError,), what="op"
        )
    assert slow.calls == 1


def test_a_fatal_error_is_not_retried_and_anything_else_passes_through() -> None:
    fatal = Flaky(5, PermissionError("no"))
    with pytest.raises(StoreUnavailable, match="no"):
        RetryPolicy().run(fatal, (ConnectionError,), fatal=(PermissionError,), what="op")
    assert fatal.calls == 1
    # a fatal error after a transient one is not retried either
    mixed_errors = iter([ConnectionError("down"), PermissionError("no")])

    def mixed() -> str:
        raise next(mixed_errors)

    with pytest.raises(StoreUnavailable, match="no"):
        RetryPolicy().run(mixed, (ConnectionError,), fatal=(PermissionError,), what="op")
    bug = Flaky(5, KeyError("bug"))
    with pytest.raises(KeyError):
        RetryPolicy().run(bug, (ConnectionError,), what="op")
    assert bug.calls == 1


def test_a_retry_policy_must_make_sense() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=float("inf"))


# --- the `guardrail revoke` and `guardrail usage` commands ----------------------------------


def cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    from guardrail._cli import main

    return main(list(argv))


def test_cli_revoke_and_usage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/g.db"
    with SQLiteStore(tmp_path / "g.db", create=True) as store:
        store.consume([Charge("refund-1", "calls", 1.0, 5.0)], expires_at=time.time() + 60)
    argv = ["revoke", "--store", url, "--reason", "ops said so", "--ttl", "1h", "refund-1"]
    assert cli(monkeypatch, *argv) == 0
    assert capsys.readouterr().out == f"revoked task 'refund-1' in {url}\n"
    with SQLiteStore(tmp_path / "g.db", create=True) as store:
        assert store.revoked(["refund-1"]) == "ops said so"
        expiry = store._conn().execute("SELECT drop_after FROM guardrail_revoked").fetchone()[0]
        assert expiry == pytest.approx(time.time() + 3600 + store.grace, abs=60)

    monkeypatch.setenv("GUARDRAIL_STORE", url)  # the default --store
    assert cli(monkeypatch, "usage", "--json", "refund-1") == 0
    assert json.loads(capsys.readouterr().out) == {
        "task": "refund-1",
        "revoked": "ops said so",
        "usage": {"calls": 1.0},
    }
    assert cli(monkeypatch, "usage", "refund-1") == 0
    assert capsys.readouterr().out.splitlines() == [
        "task: refund-1",
        "revoked: yes (ops said so)",
        "usage:",
        "  calls  1",
    ]


def test_cli_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GUARDRAIL_STORE", raising=False)
    assert cli(monkeypatch, "usage", "t") == 2
    assert "--store" in capsys.readouterr().err
    assert cli(monkeypatch, "revoke", "--store", "ftp://x", "t") == 2
    assert "unknown store URL scheme" in capsys.readouterr().err
    assert cli(monkeypatch, "revoke", "--store", f"sqlite:///{tmp_path}/g.db", "--ttl", "soon", "t") == 2
    assert "--ttl" in capsys.readouterr().err


def test_cli_usage_on_a_mistyped_path_says_so_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "budgest.db"
    assert cli(monkeypatch, "usage", "--store", f"sqlite:///{typo}", "t") == 5
    err = capsys.readouterr().err
    assert "no database at" in err and "budgest.db" in err and "guardrail store init" in err
    assert cli(monkeypatch, "revoke", "--store", f"sqlite:///{typo}", "t") == 5
    assert not typo.exists()


def test_cli_store_init_then_usage_lists_tasks_and_shows_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    url = "sqlite:///budgets.db"  # relative to the working directory
    assert cli(monkeypatch, "store", "init", url) == 0
    assert capsys.readouterr().out == f"created: SQLite database {tmp_path / 'budgets.db'}\n"
    assert cli(monkeypatch, "store", "init", url) == 0
    assert capsys.readouterr().out.startswith("already there:")
    assert cli(monkeypatch, "store", "init", "sqlite:///no/such/dir/x.db") == 5
    assert "store unavailable" in capsys.readouterr().err

    assert cli(monkeypatch, "usage", "--store", url) == 0
    assert capsys.readouterr().out == "no tasks in the store\n"
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "task: refund-7\nttl: 1h\nbudget: {calls: 10}\n"
        "tools: {pay: {args: {amount: {}}, budget: {calls: 3, sum: {amount: 100}}}, read: {}}\n"
    )
    guard = Guard(manifest, store=url)
    assert guard.authorize("pay", {"amount": 12.5}).allowed
    with SQLiteStore("budgets.db") as store:
        store.revoke("other", "x")
    assert cli(monkeypatch, "usage", "--store", url) == 0
    assert capsys.readouterr().out == "other\nrefund-7\n"
    assert cli(monkeypatch, "usage", "--store", url, "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"tasks": ["other", "refund-7"]}

    assert cli(monkeypatch, "usage", "--store", url, "--manifest", str(manifest)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "task: refund-7",
        "revoked: no",
        "usage:",
        "  calls                 1 of 10",
        "  tools.pay.calls       1 of 3",
        "  tools.pay.sum.amount  12.5 of 100",
    ]
    assert cli(monkeypatch, "usage", "--store", url, "--manifest", str(manifest), "--json") == 0
    assert json.loads(capsys.readouterr().out)["limits"] == {
        "calls": 10, "tools.pay.calls": 3, "tools.pay.sum.amount": 100,
    }  # fmt: skip
    assert cli(monkeypatch, "usage", "--store", url, "--manifest", str(manifest), "other") == 2
    assert "is for task 'refund-7'" in capsys.readouterr().err
