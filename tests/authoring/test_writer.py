"""`Manifest.to_yaml()` / `to_file()`: readable YAML (keys in the docs' order, short constraints on
one line, comments) that reads back as the same manifest, so the same decisions."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from guardrail import Guard, Manifest, ManifestError, MemoryStore
from guardrail._manifest._writer import Comments, manifest_yaml, string
from tests.authoring.support import ROOT

SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

EXAMPLES = sorted(
    p for p in [*(ROOT / "examples").glob("*.yaml"), *(ROOT / "examples" / "delegation").glob("*.yaml")]
    if "template" not in p.name
)


def dump(m: Manifest) -> dict[str, Any]:
    return m.model_dump(by_alias=True, exclude_unset=True, mode="json")


def same_decisions(a: Manifest, b: Manifest, calls: list[tuple[str, dict[str, Any]]]) -> None:
    ga, gb = Guard(a, store=MemoryStore()), Guard(b, store=MemoryStore())
    for tool, args in calls:
        da, db = ga.check(tool, args), gb.check(tool, args)
        assert da.allowed == db.allowed, (tool, args)
        if da.denial is not None and db.denial is not None:
            assert (da.denial.code, da.denial.argument, da.denial.constraint) == (
                db.denial.code, db.denial.argument, db.denial.constraint)


# -- readable output --------------------------------------------------------------------------

REFUND = {
    "manifest": 1, "task": "refund-4711", "principal": "agent:support-bot", "issuer": "user:alice",
    "ttl": "15m", "budget": {"calls": 20},
    "tools": {
        "read_ticket": {"budget": {"calls": 10}, "args": {
            "ticket_id": {"required": True, "pattern": "^T-[0-9]{1,8}$"},
            "queue": {"equals": "support-eu"}}},
        "send_refund": {"args": {
            "amount": {"required": True, "max": 50, "min": 0, "type": "number"},
            "currency": {"one_of": ["EUR", "GBP"]}}, "budget": {"sum": {"amount": 80}, "calls": 2}},
        "fetch_url": {"args": {"url": {"url": {"hosts": ["*.example.com"], "schemes": ["https"]}}}},
        "ping": None,
    },
}


def test_keys_in_the_docs_order_and_short_constraints_on_one_line() -> None:
    text = Manifest.model_validate(REFUND).to_yaml()
    assert text.splitlines() == [
        "# Delegation manifest for task refund-4711.",
        "manifest: 1",
        "task: refund-4711",
        "principal: agent:support-bot",
        "issuer: user:alice",
        "ttl: 15m",
        "budget: {calls: 20}  # the whole task, all tools together",
        "tools:",
        "  read_ticket:",
        "    args:",
        "      ticket_id: {pattern: '^T-[0-9]{1,8}$', required: true}",
        "      queue: {equals: support-eu}",
        "    budget: {calls: 10}",
        "  send_refund:",
        "    args:",
        "      amount: {type: number, min: 0, max: 50, required: true}",
        "      currency: {one_of: [EUR, GBP]}",
        "    budget: {calls: 2, sum: {amount: 80}}",
        "  fetch_url:",
        "    args:",
        "      url: {url: {schemes: [https], hosts: ['*.example.com']}}",
        "  ping: null",
    ]


def test_round_trip_keeps_the_digest_of_a_manifest_written_without_shorthands() -> None:
    m = Manifest.model_validate(REFUND)
    back = Manifest.from_yaml(m.to_yaml())
    assert dump(back) == dump(m)
    assert back.digest == m.digest


def test_a_signed_manifest_written_out_still_verifies(tmp_path: Path) -> None:
    from guardrail import sign_file, verify_file, write_keypair

    private, public, _ = write_keypair(tmp_path / "key")
    source = tmp_path / "m.yaml"
    Manifest.model_validate(REFUND).to_file(source)
    sign_file(source, private)
    signed = Manifest.from_file(source, trusted_keys=[public])
    copy = tmp_path / "copy.yaml"
    signed.to_file(copy)
    assert "# Covers everything above" in copy.read_text()
    assert verify_file(copy, [public]).digest == signed.digest


def test_ttl_stays_a_ttl_and_expires_at_is_not_invented() -> None:
    text = Manifest.model_validate({"task": "t", "ttl": "5m", "tools": {}}).to_yaml()
    assert "ttl: 5m" in text
    assert "expires_at" not in text and "issued_at" not in text


def test_long_constraints_become_blocks_and_lists_of_mappings_stay_valid() -> None:
    data = {"task": "t", "ttl": 60, "tools": {"t": {"args": {"a": {
        "any_of": [
            {"type": "string", "pattern": "^" + "x" * 90 + "$"},
            {"fields": {"deep": {"each": {"one_of": list(range(40))}}}},
            {"type": "null"},
        ],
        "required": True,
    }}}}}
    m = Manifest.model_validate(data)
    text = m.to_yaml()
    assert "      a:\n        any_of:\n          - " in text
    assert max(len(line) for line in text.splitlines()) > 100  # a long flow is kept when one part is long
    assert dump(Manifest.from_yaml(text)) == dump(m)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_round_trips_to_the_same_decisions(path: Path) -> None:
    m = Manifest.from_file(path)
    back = Manifest.from_yaml(m.to_yaml())
    assert dump(back) == dump(m)
    calls = [(tool, {}) for tool in m.tools] + [
        ("read_ticket", {"queue": "support-eu", "ticket_id": "T-1"}),
        ("read_ticket", {"queue": "billing", "ticket_id": "T-1"}),
        ("send_refund", {"order_id": "ORD-004711", "amount": 30, "currency": "EUR"}),
        ("send_refund", {"order_id": "ORD-004711", "amount": 300, "currency": "EUR"}),
        ("read_file", {"path": "/srv/tickets/../etc/passwd"}),
        ("fetch_url", {"url": "https://api.example.com/v1"}),
        ("delete_account", {"user_id": "u1"}),
    ]
    same_decisions(m, back, calls)


def test_to_file_writes_yaml_or_json_by_suffix(tmp_path: Path) -> None:
    m = Manifest.model_validate(REFUND)
    m.to_file(tmp_path / "m.yaml")
    m.to_file(tmp_path / "m.JSON")
    assert (tmp_path / "m.yaml").read_text().startswith("# Delegation manifest")
    assert json.loads((tmp_path / "m.JSON").read_text())["tools"]["ping"] is None
    for name in ("m.yaml", "m.JSON"):
        back = Manifest.from_file(tmp_path / name)
        assert dump(back) == dump(m) and back.digest == m.digest


def test_to_file_into_a_missing_directory_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        Manifest.model_validate(REFUND).to_file(tmp_path / "no" / "such" / "m.yaml")


# -- adversarial values -----------------------------------------------------------------------

TRICKY = [
    "yes", "no", "on", "off", "null", "Null", "~", "", " ", "true", "False", "1", "-1", "012", "1e3",
    "1_000", "0x1F", ".5", "1.", ".inf", "-.Inf", ".nan", "2026-01-01", "2026-01-01T10:00:00Z", "12:30",
    "a: b", "a:b", "a #b", "a#b", "#x", "- x", "-x", "---", "...", "? x", "?x", ": x", "*.example.com",
    "&anchor", "*alias", "!tag", "%x", "@x", "`x", "|", ">", "[x]", "{x}", "a,b", "a, b", "<<", "=",
    "'q'", '"d"', "it's", 'say "hi"', "back\\slash", "tab\tin", " lead", "trail ", "a\nb", "a\r\nb",
    "nul\x00", "bell\x07", "del\x7f", "nel\x85", "ls\u2028", "ps\u2029", "bom\ufeff", "\ufffe",
    "snow\u2603", "emoji\U0001F600", "\U0010FFFD", "ctl\x1b[31m",
    "x\n# comment\nevil: 1", "x\ntools: {evil: {}}",
]


@pytest.mark.parametrize("text", TRICKY, ids=repr)
def test_every_string_reads_back_as_itself_as_value_key_and_in_lists(text: str) -> None:
    data = {"task": "t", "ttl": "5m", "tools": {"ok": {"args": {
        "a": {"equals": text}, "b": {"one_of": [text, "x"]},
    }}}}
    if text and not re.search(r"[\x00-\x1f\x7f]", text):
        data["tools"][text] = None  # type: ignore[index]
        data["principal"] = text
    m = Manifest.model_validate(data)
    back = Manifest.from_yaml(m.to_yaml())
    assert dump(back) == dump(m)
    assert set(back.tools) == set(m.tools)


@pytest.mark.parametrize("text", TRICKY, ids=repr)
def test_a_string_scalar_is_read_back_by_plain_pyyaml_too(text: str) -> None:
    # Editors and other tools read the file with ordinary YAML 1.1 readers.
    assert yaml.safe_load(f"k: {string(text)}\nl: [{string(text)}]") == {"k": text, "l": [text]}


def test_comments_cannot_add_keys() -> None:
    notes = Comments(
        header=["line\nmanifest: 2", "nul\x00 and \u2028 separators"],
        trailing={("task",): "x\ntools: {evil: {}}"},
        before={("tools",): ["a\rb: 1"]},
        end={("tools", "ok"): ["\x85budget: {calls: 0}"]},
    )
    data = {"manifest": 1, "task": "t", "ttl": "5m", "tools": {"ok": {"args": {}}}}
    text = manifest_yaml(data, notes)
    back = Manifest.from_yaml(text)
    assert dump(back) == data
    assert all(line.lstrip().startswith("#") or ":" in line for line in text.splitlines())


def test_floats_keep_their_value_and_type() -> None:
    values = [0.1, 1e20, 1e-7, -2.5e-300, 1.7976931348623157e308, 5e-324, -0.0, 3.0, 2**53 + 1]
    data = {"task": "t", "ttl": "5m", "tools": {"t": {"args": {"a": {"one_of": values}}}}}
    back = Manifest.from_yaml(Manifest.model_validate(data).to_yaml())
    got = back.tools["t"].args["a"].one_of  # type: ignore[union-attr]
    assert got == values and [type(v) for v in got] == [type(v) for v in values]
    assert math.copysign(1, got[6]) == -1


# -- property: generated manifests round-trip ------------------------------------------------

words = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
names = words.filter(lambda s: not re.search(r"[\x00-\x1f\x7f]", s))
strings = st.one_of(st.sampled_from(TRICKY), words, st.just(""))
finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**64), 2**64), finite, strings)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=8,
)
patterns = st.sampled_from(["^T-[0-9]{1,8}$", "[a-z]+", "(?i)eur|gbp", "x{2,}", ".*"])
paths = st.sampled_from(["/", "/srv", "/srv/data", "/a b/c", "/srv/ünï"])
hosts = st.sampled_from(["api.example.com", "*.example.com", "localhost:8080", "[::1]"])


def constraints() -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.fixed_dictionaries({}, optional={
        "type": st.sampled_from(["string", "integer", "number", "boolean", "array", "object", "null"])
        | st.lists(st.sampled_from(["string", "integer", "null"]), min_size=1, max_size=3, unique=True),
        "equals": json_values,
        "one_of": st.lists(json_values, max_size=4),
        "not_one_of": st.lists(scalars, max_size=3),
        "min": st.integers(-100, 0) | st.floats(-100, 0),
        "max": st.integers(0, 100) | st.floats(0, 100),
        "min_length": st.integers(0, 3),
        "max_length": st.integers(3, 9),
        "pattern": patterns,
        "starts_with": strings | st.lists(strings, min_size=1, max_size=3),
        "path_within": paths | st.lists(paths, min_size=1, max_size=2),
        "url": st.fixed_dictionaries({}, optional={
            "schemes": st.lists(st.sampled_from(["https", "http", "s3"]), min_size=1, max_size=2),
            "hosts": st.lists(hosts, max_size=3),
            "path_prefix": st.sampled_from(["/", "/v1", "/a/b"]),
        }),
        "required": st.booleans(),
    })

    def extend(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        return st.one_of(
            st.builds(lambda base, sub: {**base, "each": sub}, leaf, inner),
            st.builds(lambda base, fields: {**base, "fields": fields}, leaf,
                      st.dictionaries(names, inner, max_size=3)),
            st.builds(lambda base, alts: {**base, "any_of": alts}, leaf,
                      st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda base, sub: {**base, "not": sub}, leaf, inner),
        )

    return st.recursive(leaf, extend, max_leaves=6)


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    tools: dict[str, Any] = {}
    for tool in draw(st.lists(names, min_size=1, max_size=4, unique=True)):
        if draw(st.booleans()) and not tools:
            tools[tool] = None
            continue
        args = draw(st.dictionaries(names, constraints(), max_size=4))
        grant: dict[str, Any] = {"args": args}
        if draw(st.booleans()):
            grant["allow_other_args"] = draw(st.booleans())
        if draw(st.booleans()):
            budget: dict[str, Any] = {"calls": draw(st.integers(0, 50))}
            if args and draw(st.booleans()):
                limit = draw(st.integers(0, 99) | st.floats(0, 1e6))
                budget["sum"] = {draw(st.sampled_from(sorted(args))): limit}
            grant["budget"] = budget
        tools[tool] = grant
    data: dict[str, Any] = {"task": draw(names), "tools": tools,
                            "ttl": draw(st.sampled_from(["15m", "1h30m", 90, 2.5]))}
    if draw(st.booleans()):
        data = {"manifest": 1, **data}
    for key in ("principal", "issuer"):
        if draw(st.booleans()):
            data[key] = draw(names)
    if draw(st.booleans()):
        data["budget"] = {"calls": draw(st.integers(0, 100))}
    if draw(st.booleans()):
        data["not_before"] = "2026-01-01T00:00:00Z"
        data["issued_at"] = "2025-12-31T23:00:00Z"
    return data


@SETTINGS
@given(manifests(), st.lists(st.tuples(names, st.dictionaries(names, json_values, max_size=3)),
                             max_size=6))
def test_generated_manifests_round_trip_to_the_same_manifest_and_decisions(
    data: dict[str, Any], calls: list[tuple[str, dict[str, Any]]]
) -> None:
    try:
        m = Manifest.model_validate(data)
    except ManifestError:
        assume(False)
        return
    text = m.to_yaml()
    back = Manifest.from_yaml(text)
    assert dump(back) == dump(m)
    assert back.digest == m.digest
    tools = list(m.tools)
    probes = [(tools[i % len(tools)], args) for i, (_, args) in enumerate(calls)]
    for tool in tools:
        grant = m.grant(tool)
        assert grant is not None
        probes.append((tool, {a: None for a in grant.args}))
    same_decisions(m, back, probes)
    # And as JSON.
    assert dump(Manifest.from_json(json.dumps(dump(m)))) == dump(m)
