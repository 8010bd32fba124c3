"""`notebooks/learning_a_manifest.ipynb` (executed by nbmake with the rest of the suite) uses the
public API only, and is committed with its outputs."""

from __future__ import annotations

import json
import re

from tests.authoring.support import ROOT

NOTEBOOK = ROOT / "notebooks" / "learning_a_manifest.ipynb"


def test_public_api_only_and_committed_with_outputs() -> None:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    private = [line for source in code for line in source.splitlines()
               if re.search(r"\bguardrail\w*\._", line)]
    assert private == []
    assert "suggest_manifest(" in "".join(code) and "narrower(" in "".join(code)
    assert all(cell.get("execution_count") for cell in cells if cell["cell_type"] == "code")
    outputs = [o for cell in cells for o in cell.get("outputs", ())]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the chart
    assert not any(o.get("output_type") == "error" for o in outputs)
