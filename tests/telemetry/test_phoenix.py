"""End to end: a scoped run's spans exported over OTLP/HTTP to a real Arize Phoenix server (started
here on loopback, no external resources), read back with Phoenix's client by trace id."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from guardrail import DelegationDenied, Guard, MemoryStore
from guardrail._telemetry._setup import configure_tracing
from tests.telemetry.support import manifest

pytestmark = pytest.mark.phoenix
pytest.importorskip("phoenix", reason="needs the phoenix extra: pip install '.[phoenix]'")
pytest.importorskip(
    "opentelemetry.exporter.otlp.proto.http", reason="needs the otlp extra: pip install '.[otlp]'"
)

STARTUP_SECONDS = 180


@dataclass
class Phoenix:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _phoenix_executable() -> str:
    candidate = Path(sys.executable).with_name("phoenix")
    return str(candidate) if candidate.exists() else "phoenix"


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    workdir = tmp_path_factory.mktemp("phoenix")
    port = _free_port()
    env = {
        **os.environ,
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": "0",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_WORKING_DIR": str(workdir),
    }
    log = workdir / "phoenix.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [_phoenix_executable(), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stopping it stops its children
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"phoenix serve exited with {process.returncode}:\n"
                            f"{log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"phoenix did not start in {STARTUP_SECONDS}s:\n"
                            f"{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.25)
        yield Phoenix(base_url, process, log)
    finally:
        _stop(process)
        assert process.poll() is not None, "phoenix serve is still running"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _get_spans(base_url: str, project: str, trace_id: str, expected: int) -> list[Any]:
    from phoenix.client import Client

    client = Client(base_url=base_url)
    spans: list[Any] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            spans = client.spans.get_spans(project_identifier=project, trace_ids=[trace_id], limit=100)
        except Exception:  # the project appears once its first span is ingested
            spans = []
        if len(spans) >= expected:
            return spans
        time.sleep(0.25)
    return spans


def test_denials_reach_phoenix_with_their_codes(phoenix: Phoenix) -> None:
    project = f"guardrail-e2e-{uuid.uuid4().hex[:8]}"
    provider = configure_tracing(
        f"otlp:{phoenix.base_url}/v1/traces",
        resource_attributes={"openinference.project.name": project},
    )
    guard = Guard(manifest(), store=MemoryStore(), tracer_provider=provider)
    shadow = Guard(manifest(), store=MemoryStore(), tracer_provider=provider, mode="shadow")

    def send(**kwargs: Any) -> str:
        return "ok"

    tracer = provider.get_tracer("e2e-agent")
    with tracer.start_as_current_span("invoke_agent support-bot") as root:
        trace_id = format(root.get_span_context().trace_id, "032x")
        guard.invoke("send", send, {"to": "ann@example.com", "amount": 5})
        attempts: list[tuple[str, dict[str, Any]]] = [
            ("send", {"to": "ann@example.com", "amount": 500}),   # argument_invalid
            ("send", {"to": "ann@example.com", "cc": "x"}),       # argument_not_allowed
            ("send", {"amount": 1}),                              # argument_missing
            ("delete_all", {}),                                   # tool_not_allowed
        ]
        for tool, args in attempts:
            with pytest.raises(DelegationDenied):
                guard.invoke(tool, send, args)
        shadow.invoke("delete_all", send, {})                     # shadow_deny, runs
    provider.shutdown()  # flushes the OTLP batch

    spans = _get_spans(phoenix.base_url, project, trace_id, expected=7)
    assert len(spans) == 7, [s.get("name") for s in spans]
    assert {s["context"]["trace_id"] for s in spans} == {trace_id}
    tool_spans = [s for s in spans if s["name"].startswith("execute_tool ")]
    assert len(tool_spans) == 6
    root_id = next(s["context"]["span_id"] for s in spans if s["name"] == "invoke_agent support-bot")
    assert all(s["parent_id"] == root_id for s in tool_spans)

    denied = [s for s in tool_spans if s["attributes"].get("guardrail.decision") == "deny"]
    codes = sorted(s["attributes"]["guardrail.denial.code"] for s in denied)
    assert codes == ["argument_invalid", "argument_missing", "argument_not_allowed",
                     "tool_not_allowed"]
    for s in denied:
        attrs = s["attributes"]
        code = attrs["guardrail.denial.code"]
        assert s["status_code"] == "ERROR"
        assert attrs["error.type"] == code
        assert attrs["guardrail.task"] == guard.task
        assert attrs["gen_ai.operation.name"] == "execute_tool"
        (event,) = [e for e in s["events"] if e["name"] == "guardrail.denial"]
        assert event["attributes"]["code"] == code
        assert event["attributes"]["task"] == guard.task
    by_code = {s["attributes"]["guardrail.denial.code"]: s["attributes"] for s in denied}
    assert by_code["argument_invalid"]["guardrail.denial.argument"] == "amount"
    assert by_code["argument_invalid"]["guardrail.denial.constraint"] == "max: 50"

    (allowed,) = [s for s in tool_spans if s["attributes"].get("guardrail.decision") == "allow"]
    assert allowed["status_code"] != "ERROR"
    (shadowed,) = [s for s in tool_spans if s["attributes"].get("guardrail.decision") == "shadow_deny"]
    assert shadowed["status_code"] != "ERROR"
    assert shadowed["attributes"]["guardrail.denial.code"] == "tool_not_allowed"
    assert shadowed["attributes"]["guardrail.task"] == shadow.task
