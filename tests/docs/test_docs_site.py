"""The docs site: generated pages (performance tables, CLI help) and the strict build."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import guardrail
import guardrail.report
from tests.docs.support import DOCS, REPO


def _hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", DOCS / "hooks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


performance = _hook("performance")
cli_help = _hook("cli_help")
RESULTS = json.loads((REPO / "benchmarks" / "results.json").read_text("utf-8"))


def test_performance_page_has_a_marker_for_every_recorded_benchmark() -> None:
    page = (DOCS / "performance.md").read_text("utf-8")
    assert set(performance.MARKER.findall(page)) == set(RESULTS["benchmarks"]) == set(performance.TABLES)
    # No hand-written table of numbers on the page: every table comes from the results.
    assert not re.search(r"^\|.*\d", page, re.M)


def test_performance_tables_are_the_recorded_numbers() -> None:
    page = performance.render((DOCS / "performance.md").read_text("utf-8"), RESULTS)
    assert "<!-- performance:" not in page
    for name, entry in RESULTS["benchmarks"].items():
        result = entry["result"]
        assert f"| x {result['baseline']} |" in page, name
        for row in result["rows"]:
            assert f"| {row['name']} | {row['median_us']:,.2f} | {row['ratio']:.2f}x |" in page, (name, row)
    [guarded] = [r for r in RESULTS["benchmarks"]["langchain"]["result"]["rows"] if r["name"] == "guarded"]
    assert f"**{guarded['ratio']:.3f}x**" in page
    stores = RESULTS["benchmarks"]["stores"]["result"]
    for row in stores["rows"]:
        p99 = stores["latency_us"][row["name"]]["p99"]
        assert f"{1e6 / row['median_us']:,.0f} |" in page and f"{p99:,.1f} |" in page
    tel = RESULTS["benchmarks"]["telemetry"]["result"]
    assert f"beyond the span ({tel['guard_added_us']:,.1f} µs)" in page
    assert page.count("*Measured ") == len(RESULTS["benchmarks"]) == 8


def test_a_missing_benchmark_is_an_error_not_an_empty_table() -> None:
    with pytest.raises(ValueError, match="no results for 'core'"):
        performance.render("<!-- performance:core -->", {"benchmarks": {}})
    with pytest.raises(ValueError, match="unknown benchmark marker"):
        performance.render("<!-- performance:nope -->", RESULTS)


def test_cli_help_covers_every_command() -> None:
    found = {" ".join(path) for path, _ in cli_help.commands()}
    top = cli_help.subcommands(cli_help.help_text([]))
    assert {"validate", "check", "report", "audit", "narrower", "mcp-proxy"} <= set(top)
    assert set(top) <= found and "audit verify" in found
    # The hand-written summary at the top of the page names every command too.
    page = (DOCS / "cli.md").read_text("utf-8")
    summary = page[: page.index("## Every command's help")]
    for name in top:
        assert re.search(rf"guardrail [^\n]*\b{re.escape(name)}\b", summary), f"cli.md: no {name}"


def test_cli_page_console_example_is_what_the_cli_prints() -> None:
    page = (DOCS / "cli.md").read_text("utf-8")
    [block] = re.findall(r"<!-- console -->\n```console\n(.*?)```", page, re.S)
    command, *expected = block.rstrip("\n").split("\n")
    argv = shlex.split(command.removeprefix("$ "))
    assert argv[0] == "guardrail"
    result = subprocess.run([sys.executable, "-m", "guardrail", *argv[1:]], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3
    assert result.stdout.rstrip("\n").split("\n") == expected


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocstrings", reason="needs the docs extra: pip install '.[docs]'")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    api = (site / "api" / "index.html").read_text("utf-8")
    # The API reference documents every public name.
    for name in guardrail.__all__:
        if name != "__version__":
            assert f'id="guardrail.{name}"' in api, name
    for name in guardrail.report.__all__:
        assert f'id="guardrail.report.{name}"' in api, name
    assert "<!-- cli-help -->" not in (site / "cli" / "index.html").read_text("utf-8")
    assert "usage: guardrail report" in (site / "cli" / "index.html").read_text("utf-8")
    perf = (site / "performance" / "index.html").read_text("utf-8")
    assert "performance:" not in perf and "Cedar (cedarpy)" in perf
    assert (site / "report-screenshot.png").exists()
    # Nothing on the site loads from elsewhere: no web fonts.
    assert "fonts.googleapis.com" not in (site / "index.html").read_text("utf-8")
