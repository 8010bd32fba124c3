"""Helpers for the store tests: real redis-server processes and worker processes.

Every redis-server runs on a free 127.0.0.1 port in a temporary directory, with an append-only
file fsynced on every write (so a killed and restarted server keeps every acknowledged charge),
and is stopped by the fixture that started it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from guardrail import Decision, DenialCode

if TYPE_CHECKING:  # redis-py is imported where a server is used: SQLite tests do without it
    import redis

REDIS_EXTRA = "needs the redis extra: pip install '.[redis]'"

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WORKER = HERE / "_worker.py"


def redis_py() -> Any:
    """redis-py, imported only by tests that talk to a Redis server: the SQLite and memory store
    tests run without it (a test that needs it is skipped when the extra is not installed)."""
    return pytest.importorskip("redis", reason=REDIS_EXTRA)


def redis_server_binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if found is None:
        pytest.fail(
            "redis-server is not installed: the store tests need a real one (apt-get install -y redis-server)"
        )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server child process with its own directory, port and append-only file."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis_py().Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self, timeout: float = 10.0) -> RedisServer:
        redis = redis_py()  # before the server starts: a skip must not leave it running
        conf = self.directory / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    f'dir "{self.directory}"',
                    'logfile "redis.log"',
                    "daemonize no",
                    "protected-mode yes",
                    'save ""',
                    "appendonly yes",
                    "appendfsync always",
                    "",
                ]
            )
        )
        self.proc = subprocess.Popen(
            [redis_server_binary(), str(conf)],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        deadline = time.monotonic() + timeout
        probe = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited at start:\n{self.log_tail()}")
                try:
                    if probe.ping():
                        return self
                except redis.ConnectionError:  # not listening yet, or loading its data
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"redis-server did not start in {timeout}s:\n{self.log_tail()}")
                time.sleep(0.02)
        finally:
            probe.close()

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed beyond what appendfsync already wrote."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def log_tail(self) -> str:
        log = self.directory / "redis.log"
        return "\n".join(log.read_text().splitlines()[-20:]) if log.exists() else "(no log)"


def start_redis(directory: Path) -> RedisServer:
    last: Exception | None = None
    for _ in range(3):  # another process may take the free port between probe and bind
        try:
            return RedisServer(directory).start()
        except RuntimeError as exc:
            last = exc
    raise RuntimeError(f"could not start redis-server: {last}")


def guard_manifest(task: str) -> dict[str, Any]:
    """A refund task's manifest: 10 calls in all, send_refund 5 calls and 80 in amounts."""
    return {
        "manifest": 1,
        "task": task,
        "principal": "agent:support-bot",
        "ttl": "15m",
        "budget": {"calls": 10},
        "tools": {
            "send_refund": {
                "args": {"amount": {"type": "number", "min": 0, "max": 50}},
                "budget": {"calls": 5, "sum": {"amount": 80}},
            },
            "read_ticket": {"args": {"ticket_id": {}}},
        },
    }


def code(decision: Decision) -> DenialCode | None:
    return None if decision.denial is None else decision.denial.code


def unique_prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


class Workers:
    """Worker processes running tests/stores/_worker.py; all killed when the test ends."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.procs: list[subprocess.Popen[str]] = []
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        )

    def spawn(self, command: str, **args: Any) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), command, json.dumps(args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.directory,
        )
        self.procs.append(proc)
        return proc

    def run(self, command: str, timeout: float = 30.0, **args: Any) -> Any:
        """Run one worker to the end and return what it printed (JSON)."""
        return self.result(self.spawn(command, **args), timeout)

    def result(self, proc: subprocess.Popen[str], timeout: float = 30.0) -> Any:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"worker did not finish in {timeout}s; stderr:\n{err}") from None
        assert proc.returncode == 0, f"worker failed ({proc.returncode}):\n{err}"
        return json.loads(out.strip().splitlines()[-1])

    def wait_for_files(self, paths: list[Path], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(path.exists() for path in paths):
            for proc in self.procs:
                if proc.poll() is not None and proc.returncode != 0:
                    raise AssertionError(f"worker died early:\n{proc.communicate()[1]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"workers not ready in {timeout}s")
            time.sleep(0.01)

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
