"""The notebooks are committed with their outputs, use only the public API, and each draws a chart.
(CI executes them: `pytest --nbmake notebooks` in .ci/run.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.docs.support import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def _cells(path: Path) -> list[dict[str, object]]:
    cells: list[dict[str, object]] = json.loads(path.read_text("utf-8"))["cells"]
    return cells


def _source(cell: dict[str, object]) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)  # type: ignore[arg-type]


def test_the_notebooks() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"inspecting_denials.ipynb", "scoped_agent_run.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_uses_only_the_public_api(path: Path) -> None:
    code = "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "code")
    private = re.findall(r"\bguardrail(?:_\w+)?\._\w+", code)
    assert private == [], f"{path.name} imports private modules: {private}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_with_outputs_and_charts(path: Path) -> None:
    code_cells = [c for c in _cells(path) if c["cell_type"] == "code"]
    outputs = [o for c in code_cells for o in c["outputs"]]  # type: ignore[attr-defined]
    assert all(c["execution_count"] is not None for c in code_cells), "not executed"
    assert not [o for o in outputs if o["output_type"] == "error"]
    charts = [o for o in outputs if "image/png" in o.get("data", {})]
    # Every notebook draws a chart; the two about a run draw its timeline and its budgets.
    wanted = 2 if path.name in ("inspecting_denials.ipynb", "scoped_agent_run.ipynb") else 1
    assert len(charts) >= wanted, f"{path.name} draws {len(charts)} chart(s)"
    counts = [c["execution_count"] for c in code_cells]
    assert counts == list(range(1, len(counts) + 1)), "cells were not run top to bottom"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_charts_use_colour_blind_safe_colours(path: Path) -> None:
    code = "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "code")
    colours = {c.upper() for c in re.findall(r"#[0-9A-Fa-f]{6}\b", code)}
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
    greys = {"#E5E5E5", "#444444"}
    assert colours and colours <= okabe_ito | greys, colours - okabe_ito - greys
    assert not re.search(r"tab:(red|green)|'(red|green)'|\"(red|green)\"", code)
