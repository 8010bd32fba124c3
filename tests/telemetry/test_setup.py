"""What `import guardrail` loads, and the errors of a bad trace spec."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import guardrail
from guardrail import _cli, _telemetry
from guardrail._telemetry._setup import make_exporter
from guardrail.cli import ExitCode

REPO = Path(__file__).resolve().parents[2]  # the checkout this test belongs to


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """`python -c code` in a fresh interpreter importing this checkout."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": path},
        capture_output=True, text=True, timeout=120,
    )


def test_import_guardrail_loads_no_opentelemetry_sdk() -> None:
    result = run_python(
        "import guardrail, sys; "
        "assert not any(m.startswith('opentelemetry.sdk') for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk'))"
    )
    assert result.returncode == 0, result.stderr


def test_import_guardrail_loads_no_redis_client() -> None:
    result = run_python(
        "import guardrail, sys; "
        "assert not any(m == 'redis' or m.startswith('redis.') for m in sys.modules)"
    )
    assert result.returncode == 0, result.stderr


def test_sdk_names_load_on_first_use() -> None:
    result = run_python(
        "import guardrail, sys\n"
        "from guardrail import JsonlSpanExporter, configure_tracing\n"
        "assert 'opentelemetry.sdk.trace' in sys.modules\n"
        "assert JsonlSpanExporter.__module__ == 'guardrail._telemetry._export', JsonlSpanExporter\n"
        "assert configure_tracing.__module__ == 'guardrail._telemetry._setup', configure_tracing\n"
        "assert guardrail.JsonlSpanExporter is JsonlSpanExporter\n"
    )
    assert result.returncode == 0, result.stderr


def test_the_lazy_names_stay_public() -> None:
    for name in ("JsonlSpanExporter", "configure_tracing", "RedisStore"):
        assert name in guardrail.__all__
        assert getattr(guardrail, name) is not None
    for name in ("SPAN_FORMAT", "JsonlSpanExporter", "read_spans", "span_to_dict",
                 "TRACE_SPEC_HELP", "configure_tracing", "make_exporter"):
        assert name in _telemetry.__all__
        assert getattr(_telemetry, name) is not None


@pytest.mark.parametrize("module", [guardrail, _telemetry])
def test_an_unknown_name_is_still_an_attribute_error(module: object) -> None:
    with pytest.raises(AttributeError, match="has no attribute 'JsonlSpanExport'"):
        getattr(module, "JsonlSpanExport")  # noqa: B009 - the name is the point


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("jsonl", "trace spec 'jsonl' names no file: use jsonl:PATH"),
        ("jsonl:  ", "trace spec 'jsonl:  ' names no file: use jsonl:PATH"),
        ("otlp:ftp://x", "the otlp endpoint in trace spec 'otlp:ftp://x' must be an http(s) URL, got 'ftp://x'"),
        ("zipkin", "unknown trace spec 'zipkin': use console | jsonl:PATH | otlp[:URL]"),
        ("console:x", "unknown trace spec 'console:x'"),
        ("", "unknown trace spec ''"),
    ],
)
def test_a_bad_trace_spec_says_what_is_wrong_with_it_not_which_flag(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        make_exporter(spec)
    assert "--trace" not in str(info.value)


def test_the_cli_names_its_flag_before_the_library_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.main(["demo", "--plain", "--trace", "jsonl"]) == ExitCode.USAGE
    expected = "guardrail demo: --trace jsonl: trace spec 'jsonl' names no file: use jsonl:PATH\n"
    assert capsys.readouterr().err == expected
