"""Nested defaults declared in a JSON Schema ($ref included) are checked where `fields` constrains them."""

from __future__ import annotations

from guardrail import DenialCode, Guard, MemoryStore, json_schema_defaults
from guardrail.testing import task_id


def test_json_schema_defaults_follow_refs_and_nesting() -> None:
    schema = {
        "$defs": {"Options": {"properties": {"limit": {"default": 1000, "type": "integer"}}}},
        "properties": {
            "queue": {"type": "string"},
            "page": {"type": "integer", "default": 1},
            "options": {"$ref": "#/$defs/Options"},
            "filters": {"allOf": [{"$ref": "#/$defs/Options"}], "description": "wrapped"},
        },
    }
    assert json_schema_defaults(schema) == {
        "page": 1, "options": {"limit": 1000}, "filters": {"limit": 1000},
    }
    assert json_schema_defaults({"properties": "nonsense"}) == {}
    assert json_schema_defaults(None) == {}


def _guard() -> Guard:
    manifest = {"task": task_id("nested"), "ttl": "5m", "tools": {"export": {"args": {
        "queue": {}, "options": {"fields": {"limit": {"type": "integer", "max": 50}, "verbose": {}}},
    }}}}
    return Guard(manifest, store=MemoryStore())


def test_with_defaults_fills_only_keys_the_manifest_names_and_never_replaces_sent_values() -> None:
    guard = _guard()
    defaults = {"queue": "x", "options": {"limit": 1000, "verbose": False, "other": 1}, "page": 2}
    filled = guard.with_defaults("export", {"queue": "q", "options": {}}, defaults)
    assert filled == {"queue": "q", "options": {"limit": 1000, "verbose": False}}
    denial = guard.authorize("export", filled).denial
    assert denial is not None and denial.code is DenialCode.ARGUMENT_INVALID
    assert (denial.argument, denial.constraint) == ("options.limit", "max: 50")
    kept = guard.with_defaults("export", {"queue": "q", "options": {"limit": 3}}, defaults)
    assert kept["options"]["limit"] == 3 and guard.authorize("export", kept).allowed
