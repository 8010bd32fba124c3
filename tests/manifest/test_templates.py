"""Manifest templates: typed parameters substituted into the parsed data, never into the text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrail import Guard, Manifest, ManifestError, MemoryStore
from guardrail._manifest import render_template
from guardrail.cli import ExitCode
from tests.support.delegation import EXAMPLES, run_cli

TEMPLATE = EXAMPLES / "refund_template.yaml"
GOOD = {"order": "ORD-004711", "limit": 50, "customer": "acme"}


def _open_template(**args: Any) -> dict[str, Any]:
    """A template whose string parameters have no pattern, to try injections against."""
    return {
        "params": {"note": "string", "limit": "integer", "ok": "boolean", "rate": "number"},
        "task": "${task}",
        "ttl": "5m",
        "tools": {"f": {"args": {
            "note": {"equals": "${note}"},
            "n": {"type": "number", "max": "${limit}"},
            "label": "note=${note}; limit=${limit}; ok=${ok}; rate=${rate}",
            "flag": {"equals": "${ok}"},
            "rate": {"max": "${rate}"},
            **args,
        }}},
    }


def _args(manifest: Manifest) -> dict[str, Any]:
    grant = manifest.tools["f"]
    assert grant is not None
    return {name: c.spec() for name, c in grant.args.items()}


def test_render_the_example() -> None:
    manifest = Manifest.from_template(TEMPLATE, task="case-4711/refund", **GOOD)
    assert manifest.task == "case-4711/refund"
    grant = manifest.tools["send_refund"]
    assert grant is not None
    assert grant.args["order_id"].equals == "ORD-004711"
    assert grant.args["amount"].max == 50 and isinstance(grant.args["amount"].max, int)
    assert grant.budget is not None and grant.budget.sum == {"amount": 50}
    assert grant.args["note"].pattern == "^refund ORD\\-004711: .{0,200}$"
    read = manifest.tools["read_file"]
    assert read is not None and read.args["path"].path_within == "/srv/customers/acme"
    guard = Guard(manifest, store=MemoryStore())
    assert guard.check("send_refund", {"order_id": "ORD-004711", "amount": 50,
                                       "note": "refund ORD-004711: late"}).allowed
    assert not guard.check("send_refund", {"order_id": "ORD-004711", "amount": 51}).allowed
    assert not guard.check("read_file", {"path": "/srv/customers/other/x"}).allowed


def test_params_do_not_stay_in_the_rendered_manifest() -> None:
    manifest = Manifest.from_template(TEMPLATE, task="t-1", **GOOD)
    assert "params" not in manifest.model_dump(by_alias=True, exclude_unset=True)
    # two instances differ only by their parameters: different digests
    other = Manifest.from_template(TEMPLATE, task="t-1", **{**GOOD, "limit": 60})
    assert other.digest != manifest.digest


@pytest.mark.parametrize("attack", [
    "x\nmax: 9999",
    "x\n  allow_other_args: true",
    "{max: 9999}",
    "'}, max: 9999, x: {'",
    '", "max": 9999, "x": "',
    "!!python/object:os.system ['id']",
    "&a x\n*a",
])
def test_a_parameter_cannot_inject_structure(attack: str) -> None:
    manifest = render_template(_open_template(), task="t", note=attack, limit=5, ok=True, rate=1.5)
    args = _args(manifest)
    assert args["note"] == {"equals": attack}  # one value, exactly as given
    assert args["n"] == {"type": "number", "max": 5}  # no max: 9999 appeared anywhere
    assert set(args) == {"note", "n", "label", "flag", "rate"}
    grant = manifest.tools["f"]
    assert grant is not None and grant.allow_other_args is False
    assert args["label"] == {"equals": f"note={attack}; limit=5; ok=true; rate=1.5"}


def test_a_reference_inside_a_value_is_not_expanded_again() -> None:
    manifest = render_template(_open_template(), task="t", note="${limit}", limit=5, ok=False,
                               rate=2.0)
    args = _args(manifest)
    assert args["note"] == {"equals": "${limit}"}
    assert args["label"] == {"equals": "note=${limit}; limit=5; ok=false; rate=2.0"}
    assert args["flag"] == {"equals": False} and args["rate"] == {"max": 2.0}


def test_a_task_with_a_reference_is_not_expanded() -> None:
    manifest = render_template(_open_template(tag="${task}"), task="job-${note}", note="n",
                               limit=1, ok=True, rate=1)
    assert manifest.task == "job-${note}" and _args(manifest)["tag"] == {"equals": "job-${note}"}


def test_dollar_dollar_is_a_literal() -> None:
    manifest = render_template(_open_template(lit="cost $${note} and $5"), task="t", note="n",
                               limit=1, ok=True, rate=1)
    assert _args(manifest)["lit"] == {"equals": "cost ${note} and $5"}


def test_a_parameter_in_a_pattern_matches_itself_literally() -> None:
    template = _open_template(code={"pattern": "^${note}-[0-9]+$"},
                              cls={"pattern": "^[${note}]$"})
    manifest = render_template(template, task="t", note=".*", limit=1, ok=True, rate=1)
    guard = Guard(manifest, store=MemoryStore())
    assert guard.check("f", {"code": ".*-12"}).allowed
    assert not guard.check("f", {"code": "anything-12"}).allowed
    ranged = render_template(template, task="t", note="a-z", limit=1, ok=True, rate=1)
    guard = Guard(ranged, store=MemoryStore())
    assert guard.check("f", {"cls": "-"}).allowed
    assert not guard.check("f", {"cls": "q"}).allowed  # no range a-z was injected


@pytest.mark.parametrize("value", ["..", "../etc", "a/../../etc", ".", "a/./b", "a\\b"])
def test_a_parameter_in_a_path_cannot_climb(value: str) -> None:
    with pytest.raises(ManifestError, match=r"cannot hold '\.' or '\.\.' segments"):
        render_template(_open_template(p={"path_within": "/srv/${note}"}), task="t", note=value,
                        limit=1, ok=True, rate=1)
    with pytest.raises(ManifestError, match="cannot hold"):
        render_template(_open_template(u={"url": {"path_prefix": "/api/${note}"}}), task="t",
                        note=value, limit=1, ok=True, rate=1)


def test_a_parameter_in_an_argument_named_pattern_is_a_plain_value() -> None:
    # `pattern` here is an argument's name (a bare scalar = equals), not a regular expression
    manifest = render_template(_open_template(pattern="${note}"), task="t", note="a.b",
                               limit=1, ok=True, rate=1)
    assert _args(manifest)["pattern"] == {"equals": "a.b"}
    # and a one_of list of values is values, even when an item looks like a constraint
    listed = render_template(_open_template(k=[{"pattern": "${note}"}]), task="t", note="a.b",
                             limit=1, ok=True, rate=1)
    assert _args(listed)["k"] == {"one_of": [{"pattern": "a.b"}]}


@pytest.mark.parametrize(("params", "message"), [
    ({"order": "ORD-004711", "limit": 50}, "missing parameter 'customer' (a string)"),
    ({**GOOD, "admin": True}, "unknown parameter 'admin'"),
    ({**GOOD, "limit": "50"}, "parameter 'limit' must be an integer, not a string"),
    ({**GOOD, "limit": True}, "must be an integer, not a boolean"),
    ({**GOOD, "limit": 50.0}, "must be an integer, not a number"),
    ({**GOOD, "order": "ORD-1"}, "parameter 'order' does not match pattern"),
    ({**GOOD, "customer": "acme/../../etc"}, "parameter 'customer' does not match pattern"),
    ({**GOOD, "order": 4711}, "parameter 'order' must be a string"),
])
def test_bad_parameters(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestError) as err:
        Manifest.from_template(TEMPLATE, task="t", **params)
    assert message in str(err.value)
    assert str(TEMPLATE) in str(err.value)  # the error names the template


def test_number_and_boolean_types() -> None:
    base = {"note": "n", "limit": 1, "ok": True}
    with pytest.raises(ManifestError, match="'rate' must be a number, not a non-finite number"):
        render_template(_open_template(), task="t", rate=float("nan"), **base)
    with pytest.raises(ManifestError, match="'rate' must be a number, not a boolean"):
        render_template(_open_template(), task="t", rate=True, **base)
    with pytest.raises(ManifestError, match="'ok' must be a boolean, not an integer"):
        render_template(_open_template(), task="t", note="n", limit=1, ok=1, rate=1)


@pytest.mark.parametrize(("template", "message"), [
    ({"params": {"a": "string"}, "ttl": "5m", "tools": {"f": {"args": {"x": "${b}"}}}},
     "${b} is not a declared parameter"),
    ({"params": {"a": "string"}, "ttl": "5m", "tools": {"f": {"args": {"x": "${a"}}}},
     "'${' is not closed"),
    ({"params": {"a": "string"}, "ttl": "5m", "tools": {"${a}": None}},
     "a key cannot hold a parameter"),
    ({"params": {"a": "string"}, "task": "fixed", "ttl": "5m", "tools": {}},
     "a template does not fix the task id"),
    ({"params": {"task": "string"}, "ttl": "5m", "tools": {}}, "'task' is reserved"),
    ({"params": {"a": "text"}, "ttl": "5m", "tools": {}}, "params.a.type"),
    ({"params": {"a": {"type": "integer", "pattern": "^1$"}}, "ttl": "5m", "tools": {}},
     "pattern applies to string parameters only"),
    ({"params": {"a": {"type": "string", "patern": "x"}}, "ttl": "5m", "tools": {}},
     "unknown key 'patern'"),
    ({"params": {"1a": "string"}, "ttl": "5m", "tools": {}}, "a parameter name is"),
    ({"params": ["a"], "ttl": "5m", "tools": {}}, "params: must be a mapping"),
])
def test_bad_templates(template: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestError) as err:
        render_template(template, task="t", **({"a": "v"} if "a" in str(template) else {}))
    assert message in str(err.value)


def test_a_parameter_of_the_wrong_type_for_its_place_is_a_manifest_error(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("params: {who: string}\nttl: 5m\ntools:\n  f:\n    args:\n"
                    "      n: {max: '${who}'}\n")
    with pytest.raises(ManifestError) as err:
        Manifest.from_template(path, task="t", who="ten")
    assert "tools.f.args.n" in str(err.value) and "(line 6)" in str(err.value)


def test_json_templates(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"params": {"limit": "integer"}, "ttl": "5m",
                                "tools": {"f": {"args": {"n": {"max": "${limit}"}}}}}))
    manifest = Manifest.from_template(path, task="j-1", limit=3)
    assert _args(manifest)["n"] == {"max": 3}
    path.write_text('{"params": {}, "params": {}}')
    with pytest.raises(ManifestError, match="duplicate key"):
        Manifest.from_template(path, task="j-1")


# -- command line ------------------------------------------------------------------------------


def test_cli_render_yaml_round_trips() -> None:
    result = run_cli("render", str(TEMPLATE), "--task", "case-4711/refund", "--param",
                     "order=ORD-004711", "--param", "limit=50", "--param", "customer=acme")
    assert result.returncode == 0, result.stderr
    printed = Manifest.from_yaml(result.stdout)
    api = Manifest.from_template(TEMPLATE, task="case-4711/refund", **GOOD)
    assert printed.digest == api.digest
    assert "params" not in yaml.safe_load(result.stdout)


def test_cli_render_json_keeps_an_injection_a_value(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("params: {note: string, n: integer}\nttl: 5m\ntools:\n  f:\n    args:\n"
                    "      note: '${note}'\n      n: {max: '${n}'}\n")
    attack = "x\nmax: 9999\n  y: {z: 1}"
    result = run_cli("render", str(path), "--task", "t", "--param", f"note={attack}",
                     "--param", "n=7", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["tools"]["f"]["args"] == {"note": attack, "n": {"max": 7}}
    as_yaml = run_cli("render", str(path), "--task", "t", "--param", f"note={attack}",
                      "--param", "n=7")
    assert Manifest.from_yaml(as_yaml.stdout).digest == Manifest.model_validate(data).digest


def test_cli_render_errors() -> None:
    bad_int = run_cli("render", str(TEMPLATE), "--task", "t", "--param", "order=ORD-004711",
                      "--param", "limit=fifty", "--param", "customer=acme")
    assert bad_int.returncode == ExitCode.USAGE and "must be an integer, got 'fifty'" in bad_int.stderr
    assert bad_int.stderr.startswith("guardrail render: --param: ") and bad_int.stderr.count("\n") == 1
    missing = run_cli("render", str(TEMPLATE), "--task", "t", "--param", "order=ORD-004711")
    assert missing.returncode == ExitCode.USAGE and "missing parameter 'limit'" in missing.stderr
    no_eq = run_cli("render", str(TEMPLATE), "--task", "t", "--param", "order")
    assert no_eq.returncode == ExitCode.USAGE and "write name=value" in no_eq.stderr
    twice = run_cli("render", str(TEMPLATE), "--task", "t", "--param", "limit=1", "--param",
                    "limit=2")
    assert twice.returncode == ExitCode.USAGE and "given twice" in twice.stderr
