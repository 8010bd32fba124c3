"""Loading manifests: strict keys with their lines, shorthands, expiry forms, YAML read as JSON
data, digests, the JSON Schema, and errors that list every problem."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from guardrail import Guard, Manifest, ManifestError, MemoryStore, parse_duration
from guardrail._manifest._data import load_yaml
from tests.support.decisions import manifest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

BASE = "manifest: 1\ntask: t-1\nttl: 5m\n"


def load(text: str) -> Manifest:
    return Manifest.from_yaml(text, source="m.yaml")


def problems(text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load(text)
    assert isinstance(info.value, ValueError)
    return info.value.problems


# -- strict keys ------------------------------------------------------------------------------


def test_misspelled_constraint_key_is_named_with_its_line() -> None:
    text = BASE + "tools:\n  f:\n    args:\n      name: {type: string,\n             max_lenght: 3}\n"
    found = problems(text)
    assert len(found) == 1
    assert "max_lenght" in found[0]
    assert "(line 8)" in found[0]
    assert "did you mean 'max_length'" in found[0]
    assert found[0].startswith("tools.f.args.name")


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        (BASE + "tool:\n  f: {}\n", "tool", 4),
        (BASE + "tools:\n  f:\n    arg: {}\n", "tools.f.arg", 6),
        (BASE + "tools:\n  f:\n    budget: {call: 3}\n", "tools.f.budget.call", 6),
        (BASE + "tools:\n  f:\n    args:\n      u: {url: {host: [a.com]}}\n", "tools.f.args.u.url.host", 7),
        (BASE + "budget: {calls: 1, sums: {}}\ntools: {f: }\n", "budget.sums", 4),
        (BASE + "tools:\n  f:\n    allow_other_arg: true\n", "tools.f.allow_other_arg", 6),
        (BASE + "tools:\n  f:\n    args:\n      a: {each: {typ: string}}\n", "tools.f.args.a.each.typ", 7),
    ],
)
def test_every_unknown_key_is_an_error(text: str, key: str, line: int) -> None:
    found = problems(text)
    assert any(p.startswith(f"{key} (line {line}): unknown key") for p in found), found


def test_unknown_key_in_a_mapping_is_an_error_too() -> None:
    data = manifest({"f": {"args": {"a": {"max_lenght": 3}}}})
    with pytest.raises(ManifestError) as info:
        Manifest.model_validate(data)
    assert info.value.problems == ["tools.f.args.a.max_lenght: unknown key 'max_lenght' (did you mean "
                                   "'max_length'?)"]
    with pytest.raises(ManifestError):
        Guard(data, store=MemoryStore())


def test_manifest_error_lists_every_problem() -> None:
    text = BASE + (
        "principal: 5\n"
        "tools:\n"
        "  f:\n"
        "    args:\n"
        "      a: {max_lenght: 3}\n"
        "      b: {type: float}\n"
        "      c: {pattern: '(unclosed'}\n"
        "      d: {min: 5, max: 1}\n"
        "    bogus: 1\n"
    )
    with pytest.raises(ManifestError) as info:
        load(text)
    found = info.value.problems
    expected = ["principal (line 4)", "tools.f.args.a.max_lenght (line 8)", "tools.f.args.b.type (line 9)",
                "tools.f.args.c (line 10)", "tools.f.args.d (line 11)", "tools.f.bogus (line 12)"]
    for where in expected:
        assert any(p.startswith(where) for p in found), (where, found)
    assert f"{len(found)} problems" in str(info.value)
    assert info.value.source == "m.yaml"
    assert str(info.value).startswith("m.yaml: ")


def test_missing_end_is_listed_with_the_other_problems() -> None:
    found = problems("task: t\ntools:\n  f:\n    args: {a: {max_lenght: 1}}\n")
    assert any("max_lenght" in p for p in found)
    assert any(p.startswith("(top level) (line 1): every delegation must end") for p in found), found
    with pytest.raises(ManifestError) as info:
        Manifest.model_validate({"task": "", "tools": {}})
    assert len(info.value.problems) == 2


def test_yaml_problems_and_model_problems_together() -> None:
    text = BASE + "tools:\n  f:\n    args:\n      a: .nan\n      b: {max_lenght: 1}\n"
    found = problems(text)
    assert any(p.startswith("tools.f.args.a (line 7)") for p in found)
    assert any("max_lenght" in p for p in found)


# -- shorthands -------------------------------------------------------------------------------


def test_shorthands() -> None:
    m = load(BASE + "tools:\n  f:\n    args:\n      s: EUR\n      n: 5\n      b: false\n"
             "      l: [EUR, GBP]\n      e: {}\n  g:\n  h: {}\n")
    args = m.tools["f"].args  # type: ignore[union-attr]
    assert args["s"].spec() == {"equals": "EUR"}
    assert args["n"].spec() == {"equals": 5}
    assert args["b"].spec() == {"equals": False}
    assert args["l"].spec() == {"one_of": ["EUR", "GBP"]}
    assert args["e"].spec() == {}
    assert m.tools["g"] is None and m.grant("g") is not None
    guard = Guard(m, store=MemoryStore())
    assert guard.check("f", {"s": "EUR", "n": 5, "b": False, "l": "GBP", "e": [1]}).allowed
    assert not guard.check("f", {"b": 0}).allowed
    assert not guard.check("f", {"l": "USD"}).allowed
    assert guard.check("g", {}).allowed and guard.check("h").allowed
    assert not guard.check("g", {"x": 1}).allowed


def test_bare_null_constraint_is_an_error() -> None:
    found = problems(BASE + "tools:\n  f:\n    args:\n      a:\n")
    assert found and "bare null" in found[0] and "(line 7)" in found[0]


# -- expiry -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "seconds"),
    [("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("250ms", 0.25),
     ("90", 90), ("1.5", 1.5), ("0.5h", 1800), ("1e3", 1000)],
)
def test_ttl_forms(ttl: str, seconds: float) -> None:
    m = load(f"task: t\nttl: {ttl}\nissued_at: 2030-01-01T00:00:00Z\ntools: {{f: }}\n")
    assert m.expires_at == datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


@pytest.mark.parametrize("ttl", ["0", "0s", "-5m", "15x", "m", "15 m", "1.5.3h", "true", "[]", "''", ".inf"])
def test_bad_ttl(ttl: str) -> None:
    found = problems(f"task: t\nttl: {ttl}\ntools: {{f: }}\n")
    assert any("(line 2)" in p for p in found), found


def test_parse_duration() -> None:
    assert parse_duration("2h") == 7200
    assert parse_duration(5) == 5.0
    for bad in (True, 0, -1, "", "abc", float("nan"), float("inf")):
        with pytest.raises(ValueError):
            parse_duration(bad)  # type: ignore[arg-type]


def test_ttl_counts_from_load_time_by_default() -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    m = load("task: t\nttl: 10m\ntools: {f: }\n")
    assert m.issued_at is not None and m.issued_at >= before
    assert m.expires_at == m.issued_at + timedelta(minutes=10)


def test_expires_at() -> None:
    m = load("task: t\nexpires_at: 2030-01-01T10:00:00Z\ntools: {f: }\n")
    assert m.expires_ts == datetime(2030, 1, 1, 10, tzinfo=UTC).timestamp()
    m = load("task: t\nexpires_at: '2030-01-01T12:00:00+02:00'\ntools: {f: }\n")
    assert m.expires_ts == datetime(2030, 1, 1, 10, tzinfo=UTC).timestamp()


def test_every_delegation_must_end() -> None:
    found = problems("task: t\ntools: {f: }\n")
    assert len(found) == 1 and "ttl" in found[0] and "expires_at" in found[0]
    with pytest.raises(ManifestError):
        Manifest.model_validate({"task": "t", "tools": {}})


@pytest.mark.parametrize(
    "text",
    [
        "task: t\nexpires_at: 2030-01-01T10:00:00\ntools: {f: }\n",  # no timezone
        "task: t\nexpires_at: tomorrow\ntools: {f: }\n",
        "task: t\nttl: 5m\nexpires_at: 2030-01-01T10:00:00Z\ntools: {f: }\n",  # both, disagreeing
        "task: t\nnot_before: 2030-01-02T00:00:00Z\nexpires_at: 2030-01-01T00:00:00Z\ntools: {f: }\n",
        "task: t\nnot_before: 2030-01-01T00:00:00Z\nexpires_at: 2030-01-01T00:00:00Z\ntools: {f: }\n",
    ],
)
def test_bad_validity_window(text: str) -> None:
    assert problems(text)


# -- YAML read as JSON data -------------------------------------------------------------------


def test_yaml_scalars_stay_strings() -> None:
    text = BASE + (
        "tools:\n  f:\n    args:\n"
        "      a: NO\n      b: on\n      c: 12:30\n      d: 2026-11-27\n      e: 2026-11-27T10:00:00Z\n"
        "      g: yes\n      h: 0x1F\n      i: 012\n      j: 1_000\n      k: Off\n"
        "      'on': 1\n      'no': 2\n"
    )
    args = load(text).tools["f"].args  # type: ignore[union-attr]
    expected = {"a": "NO", "b": "on", "c": "12:30", "d": "2026-11-27", "e": "2026-11-27T10:00:00Z",
                "g": "yes", "h": "0x1F", "i": "012", "j": "1_000", "k": "Off", "on": 1, "no": 2}
    assert {k: v.equals for k, v in args.items()} == expected
    for key, value in expected.items():
        assert type(args[key].equals) is type(value)


def test_yaml_keys_stay_strings() -> None:
    args = load(BASE + "tools:\n  f:\n    args: {on: 1, no: 2, 1: 3, null: 4, true: 5}\n").tools["f"].args  # type: ignore[union-attr]
    assert list(args) == ["on", "no", "1", "null", "true"]


def test_yaml_numbers_as_in_json() -> None:
    args = load(BASE + "tools:\n  f:\n    args:\n      a: {not_one_of: [1e3, 1.5, -2, 0.5e-1, 1E2, 7]}\n"
                ).tools["f"].args  # type: ignore[union-attr]
    values = args["a"].not_one_of
    assert values == [1000.0, 1.5, -2, 0.05, 100.0, 7]
    assert [type(v) for v in values] == [float, float, int, float, float, int]
    guard = Guard(load(BASE + "tools:\n  f:\n    args:\n      a: {not_one_of: [1e3]}\n"), store=MemoryStore())
    assert not guard.check("f", {"a": 1000}).allowed


def test_yaml_null_and_booleans() -> None:
    args = load(BASE + "tools:\n  f:\n    args:\n      a: {equals: ~}\n      b: true\n      c: False\n"
                "      d: {equals: null}\n").tools["f"].args  # type: ignore[union-attr]
    assert args["a"].equals is None and "equals" in args["a"].model_fields_set
    assert args["b"].equals is True and args["c"].equals is False
    assert args["d"].equals is None


@pytest.mark.parametrize(
    "value", [".nan", ".NaN", ".inf", "-.inf", "+.INF", "1e999", "-1.0e+999", "1" * 5000]
)
def test_yaml_values_json_cannot_hold_are_errors(value: str) -> None:
    found = problems(BASE + f"tools:\n  f:\n    args:\n      a: {{not_one_of: [1, {value}]}}\n")
    assert any(p.startswith("tools.f.args.a.not_one_of.1 (line 7)") for p in found), found


@pytest.mark.parametrize(
    "value",
    ["!!binary aGVsbG8=", "!!set {a, b}", "!!python/object:os.system {}", "!!omap [a: 1]", "!custom 1",
     "!!python/name:os.system ''"],
)
def test_yaml_types_json_cannot_hold_are_errors(value: str) -> None:
    found = problems(BASE + f"tools:\n  f:\n    args:\n      a: {value}\n")
    assert any("(line 7)" in p for p in found), found


def test_duplicate_yaml_keys() -> None:
    found = problems(BASE + "tools:\n  f:\n    args:\n      a: 1\n      b: 2\n      a: 3\n")
    assert any(p.startswith("tools.f.args.a (line 9): duplicate key") for p in found), found
    found = problems("task: t\nttl: 5m\ntask: u\ntools: {f: }\n")
    assert any(p.startswith("task (line 3): duplicate key") for p in found), found
    found = problems(BASE + "tools: {f: , f: }\n")
    assert any("duplicate key" in p for p in found)


def test_yaml_merge_keys() -> None:
    text = BASE + (
        "tools:\n"
        "  f:\n    args: &common {queue: eu, limit: {max: 10}}\n"
        "  g:\n    args:\n      <<: *common\n      limit: {max: 5}\n"
    )
    args = load(text).tools["g"].args  # type: ignore[union-attr]
    assert args["queue"].equals == "eu"
    assert args["limit"].max == 5  # an explicit key overrides a merged one
    found = problems(BASE + "tools:\n  f:\n    args: &c {a: 1}\n  g:\n    args:\n      <<: *c\n"
                     "      b: 1\n      b: 2\n")
    assert any("duplicate key" in p for p in found)
    for bad in ("tools: {<<: 5}\n", "tools:\n  <<: [1]\n", "tools: {? [a] : 1}\n"):
        found = problems(BASE + bad)
        assert len(found) == 1 and found[0].startswith("tools (line "), found


def test_yaml_syntax_errors_and_wrong_shapes() -> None:
    for text, needle in [("task: [\n", "YAML syntax error"), ("", "empty"), ("# only a comment\n", "empty"),
                         ("- a\n- b\n", "mapping"), ("just a string\n", "mapping"),
                         ("task: t\n\ttab: 1\n", "YAML syntax error")]:
        with pytest.raises(ManifestError, match=needle):
            load(text)


def test_yaml_nesting_and_alias_bombs_are_errors() -> None:
    with pytest.raises(ManifestError, match="nested"):
        load("task: " + "[" * 1_000 + "]" * 1_000 + "\n")
    with pytest.raises(ManifestError, match="nested"):
        load("task: " + "[" * 100 + "]" * 100 + "\n")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 8):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 10) + "]\n"
    with pytest.raises(ManifestError, match="more than"):
        load(bomb)


def test_load_yaml_returns_lines() -> None:
    data, lines, found = load_yaml("a: 1\nb:\n  c: [x,\n      y]\n")
    assert data == {"a": 1, "b": {"c": ["x", "y"]}}
    assert lines[("a",)] == 1 and lines[("b", "c")] == 3 and lines[("b", "c", 1)] == 4
    assert found == []


# -- JSON -------------------------------------------------------------------------------------


def test_json_manifests() -> None:
    text = json.dumps(manifest({"f": {"args": {"a": {"max": 3}}}}))
    m = Manifest.from_json(text)
    assert Guard(m, store=MemoryStore()).check("f", {"a": 3}).allowed
    for bad, needle in [('{"task": "t", "task": "u", "ttl": "5m", "tools": {}}', "duplicate key"),
                        ('{"task": "t", "ttl": NaN, "tools": {}}', "NaN"),
                        ('{"task": "t", "ttl": Infinity, "tools": {}}', "Infinity"),
                        ('{"task": "t", "ttl": 1e999, "tools": {}}', "too large"),
                        ('{"task": "t",\n "ttl": }', "line 2"),
                        ("[1]", "object"),
                        ('{"task": "t", "ttl": "5m", "tools": {}, "max_lenght": 1}', "max_lenght")]:
        with pytest.raises(ManifestError, match=needle):
            Manifest.from_json(bad)


def test_from_file(tmp_path: Path) -> None:
    y = tmp_path / "m.yaml"
    y.write_text(BASE + "tools:\n  f:\n    args:\n      a: {max_lenght: 1}\n", "utf-8")
    with pytest.raises(ManifestError) as info:
        Manifest.from_file(y)
    assert info.value.source == str(y) and "(line 7)" in info.value.problems[0]
    j = tmp_path / "m.json"
    j.write_text(json.dumps({"task": "t", "ttl": "5m", "tools": {"f": None}}), "utf-8")
    assert Manifest.from_file(j).task == "t"
    with pytest.raises(ManifestError, match="cannot read"):
        Manifest.from_file(tmp_path / "missing.yaml")
    b = tmp_path / "bin.yaml"
    b.write_bytes(b"task: \xff\xfe\n")
    with pytest.raises(ManifestError, match="UTF-8"):
        Manifest.from_file(b)


def test_guard_loads_every_form(tmp_path: Path) -> None:
    text = BASE + "tools:\n  f:\n"
    path = tmp_path / "m.yaml"
    path.write_text(text, "utf-8")
    for source in (text, path, str(path), load(text), {"task": "t-1", "ttl": "5m", "tools": {"f": None}}):
        guard = Guard(source, store=MemoryStore())
        assert guard.task == "t-1" and guard.check("f").allowed
    with pytest.raises(TypeError):
        Guard(42, store=MemoryStore())  # type: ignore[arg-type]


def test_names_must_be_printable() -> None:
    for data in ({"task": "", "ttl": "5m", "tools": {}}, {"task": "a\nb", "ttl": "5m", "tools": {}},
                 {"task": "t", "ttl": "5m", "tools": {"bad\x00name": None}},
                 {"task": "t", "principal": "x" * 300, "ttl": "5m", "tools": {}},
                 {"task": "t", "ttl": "5m", "tools": {}, "manifest": 2}):
        with pytest.raises(ManifestError):
            Manifest.model_validate(data)


@pytest.mark.parametrize(
    "args",
    [
        {"a": {"pattern": "(a)\\1"}},  # backreferences are not RE2
        {"a": {"pattern": "(?=x)"}},
        {"a": {"path_within": "relative/root"}},
        {"a": {"path_within": []}},
        {"a": {"starts_with": []}},
        {"a": {"any_of": []}},
        {"a": {"type": []}},
        {"a": {"min": True}},
        {"a": {"max": "5"}},
        {"a": {"min_length": -1}},
        {"a": {"max_length": 1.5}},
        {"a": {"min_length": 3, "max_length": 2}},
        {"a": {"required": "yes"}},
        {"a": {"url": {"schemes": []}}},
        {"a": {"url": {"schemes": ["ht tp"]}}},
        {"a": {"url": {"hosts": ["a b.com"]}}},
        {"a": {"url": {"hosts": ["a.com:99999"]}}},
        {"a": {"url": {"path_prefix": "api"}}},
        {"a": {"equals": float("nan")}},
        {"a": {"one_of": [1, float("inf")]}},
    ],
)
def test_invalid_constraints_are_errors(args: dict[str, Any]) -> None:
    with pytest.raises(ManifestError) as info:
        Manifest.model_validate(manifest({"f": {"args": args}}))
    assert all(p.startswith("tools.f.args.a") for p in info.value.problems), info.value.problems


def test_budget_validation() -> None:
    for budget in ({"calls": -1}, {"calls": 1.5}, {"calls": True}, {"sum": {"a": -1}},
                   {"sum": {"a": float("inf")}}, {"sum": {"b": 1}}):
        with pytest.raises(ManifestError):
            Manifest.model_validate(manifest({"f": {"args": {"a": {}}, "budget": budget}}))
    with pytest.raises(ManifestError, match="no tool's args grant"):
        Manifest.model_validate(manifest({"f": {"args": {"a": {}}}}, budget={"sum": {"b": 1}}))


# -- digest -----------------------------------------------------------------------------------


def test_digest_stable_across_loads_and_sensitive_to_values(tmp_path: Path) -> None:
    text = BASE + "principal: agent:x\ntools:\n  f:\n    args:\n      a: {max: 50}\n"
    path = tmp_path / "m.yaml"
    path.write_text(text, "utf-8")
    first, second = Manifest.from_file(path), Manifest.from_file(path)
    assert first.digest == second.digest
    assert first.digest.startswith("sha256:") and len(first.digest) == len("sha256:") + 64
    assert load(text).digest == first.digest
    # the same data as JSON, in another key order, has the same digest
    data = {"tools": {"f": {"args": {"a": {"max": 50}}}}, "principal": "agent:x", "ttl": "5m",
            "task": "t-1", "manifest": 1}
    assert Manifest.from_json(json.dumps(data)).digest == first.digest
    assert Manifest.model_validate(data).digest == first.digest
    changed = {text.replace("max: 50", "max: 51"), text.replace("ttl: 5m", "ttl: 6m"),
               text.replace("agent:x", "agent:y"), text.replace("a: {max: 50}", "a: {max: 50, min: 0}"),
               text.replace("task: t-1", "task: t-2")}
    digests = {load(t).digest for t in changed}
    assert len(digests) == len(changed) and first.digest not in digests
    # a comment or layout change is not a change of the manifest
    assert load("# note\n" + text.replace("{max: 50}", "\n        max: 50")).digest == first.digest


def test_digest_of_a_manifest_built_in_python() -> None:
    data = manifest({"f": None}, issued_at=datetime(2030, 1, 1, tzinfo=UTC))
    m1, m2 = Manifest.model_validate(data), Manifest.model_validate(dict(data))
    assert m1.digest == m2.digest
    assert Manifest.model_validate(m1).digest == m1.digest


# -- JSON Schema ------------------------------------------------------------------------------


def test_json_schema_is_valid_and_accepts_example_manifests() -> None:
    schema = Manifest.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    packaged = EXAMPLES.parent / "guardrail" / "examples"
    files = sorted(EXAMPLES.glob("*.yaml")) + sorted(packaged.glob("*.yaml"))
    assert files
    for path in files:
        data, _, found = load_yaml(path.read_text("utf-8"))
        assert found == []
        errors = list(validator.iter_errors(data))
        assert errors == [], (path, [e.message for e in errors])
        Manifest.from_file(path)  # and pydantic agrees


def test_json_schema_rejects_what_the_model_rejects() -> None:
    validator = jsonschema.Draft202012Validator(Manifest.json_schema())
    good = {"manifest": 1, "task": "t", "ttl": "5m",
            "tools": {"f": {"args": {"a": "x", "b": [1, 2], "c": {}, "d": {"max": 3, "not": {"equals": 1}}}}}}
    assert list(validator.iter_errors(good)) == []
    Manifest.model_validate(good)
    for bad in (
        {**good, "tool": {}},
        {**good, "tools": {"f": {"args": {"a": {"max_lenght": 3}}}}},
        {**good, "tools": {"f": {"arg": {}}}},
        {**good, "tools": {"f": {"args": {"a": {"each": {"typ": "x"}}}}}},
        {"task": "t", "ttl": "5m"},
        {**good, "manifest": 2},
    ):
        assert list(validator.iter_errors(bad)), bad
        with pytest.raises(ManifestError):
            Manifest.model_validate(bad)
