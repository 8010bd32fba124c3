"""The JSON Schema file editors use (`schema/manifest.schema.json`, named by a
`# yaml-language-server: $schema=...` line at the top of each example manifest) is what
`guardrail schema` prints, and the examples validate against it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from guardrail import Manifest
from guardrail._manifest._data import load_yaml
from tests.authoring.support import ROOT, run_cli

SCHEMA_FILE = ROOT / "schema" / "manifest.schema.json"
EXAMPLES = sorted(
    p for p in [*(ROOT / "examples").glob("*.yaml"), *(ROOT / "examples" / "delegation").glob("*.yaml")]
    if "template" not in p.name and not p.is_symlink()
)


def test_the_schema_file_is_what_guardrail_schema_prints() -> None:
    done = run_cli("schema")
    assert done.returncode == 0
    assert SCHEMA_FILE.read_text(encoding="utf-8") == done.stdout, (
        "schema/manifest.schema.json is stale: regenerate it with "
        "`python -m guardrail schema > schema/manifest.schema.json`"
    )
    assert json.loads(done.stdout) == Manifest.json_schema()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_name_the_schema_and_validate_against_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    target = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == SCHEMA_FILE
    data, _, problems = load_yaml(text)
    assert not problems
    jsonschema.validate(data, json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def test_the_schema_rejects_what_the_manifest_rejects() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    bad = {"task": "t", "ttl": "5m", "tools": {"t": {"args": {"a": {"max_lenght": 3}}}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
