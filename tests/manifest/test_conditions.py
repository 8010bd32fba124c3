"""`when:` as the manifest reads it: compiled at load, a bad expression is a `ManifestError` naming
its path and line; the engine missing is one naming the extra; templates cannot inject into it."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from guardrail import Guard, Manifest, ManifestError
from guardrail._policy import _conditions

YAML = """\
task: pay-1
ttl: 1h
tools:
  lookup: {}
  pay:
    args: {amount: {type: number}}
    when: {expr}
"""


def load(expr: str) -> Manifest:
    return Manifest.from_yaml(YAML.replace("{expr}", expr), source="pay.yaml")


def test_a_condition_is_compiled_at_load() -> None:
    manifest = load('"args.amount <= 100.0"')
    assert manifest.tools["pay"] is not None and manifest.tools["pay"].when == "args.amount <= 100.0"
    condition = manifest.compiled().tools["pay"].condition
    assert condition is not None and condition.source == "args.amount <= 100.0"


@pytest.mark.parametrize(("expr", "message"), [
    ('"args.amount <= "', "line 1, column 16: Syntax error"),
    ('"amount <= 100"', "undeclared reference to 'amount' (the variables are args, tool, task, "
                        "principal, now)"),
    ('"args.amount + 1"', "must be a boolean expression; this one is of type int"),
    ("true", "Input should be a valid string"),
    ('""', "at least 1 character"),
])
def test_a_bad_condition_names_its_path_and_line(expr: str, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        load(expr)
    (problem,) = info.value.problems
    assert problem.startswith("tools.pay.when (line 7): ")
    assert message in problem
    assert str(info.value).startswith("pay.yaml: ")


def test_a_multi_line_condition_names_the_line_inside_it() -> None:
    text = YAML.replace("{expr}", "|\n      args.amount <= 100.0 &&\n      payee == 'x'")
    with pytest.raises(ManifestError, match=r"tools\.pay\.when \(line 7\).*line 2, column 1: "
                                            r"undeclared reference to 'payee'"):
        Manifest.from_yaml(text)


def test_round_trip_keeps_the_condition() -> None:
    manifest = load("\"args.amount <= 100.0 && tool == 'pay'\"")
    again = Manifest.from_yaml(manifest.to_yaml())
    assert again.tools["pay"] is not None
    assert again.tools["pay"].when == "args.amount <= 100.0 && tool == 'pay'"


@pytest.fixture
def without_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if `cel-expr-python` were not installed (the `cel` extra left out)."""
    monkeypatch.setitem(sys.modules, "cel_expr_python", None)  # import raises ImportError
    _conditions.compile_condition.cache_clear()
    _conditions._call_environment.cache_clear()
    yield
    _conditions.compile_condition.cache_clear()
    _conditions._call_environment.cache_clear()


def test_without_the_extra_a_condition_is_a_manifest_error(without_engine: None) -> None:
    with pytest.raises(ManifestError) as info:
        load('"args.amount <= 100.0"')
    (problem,) = info.value.problems
    assert problem == ("tools.pay.when (line 7): conditions need the CEL engine: "
                       "pip install 'task-guardrail[cel]'")
    with pytest.raises(ManifestError, match=r"task-guardrail\[cel\]"):
        Guard({"task": "pay-2", "ttl": "1h", "tools": {"pay": {"when": "true"}}})
    # A manifest without a condition does not need the engine.
    guard = Guard({"task": "pay-3", "ttl": "1h", "tools": {"lookup": {}}})
    assert guard.check("lookup", {}).allowed


def test_a_template_parameter_cannot_be_inserted_into_a_condition() -> None:
    template = {
        "params": {"payee": "string"}, "task": "${task}", "ttl": "1h",
        "tools": {"pay": {"args": {"payee": {}}, "when": "args.payee == '${payee}'"}},
    }
    with pytest.raises(ManifestError, match=r"tools\.pay\.when: a `when` condition cannot hold a "
                                            r"parameter"):
        Manifest.from_template(template, task="t-1", payee="x' || true || '")
    # `$${` is a literal `${`, not a parameter.
    template["tools"]["pay"]["when"] = "args.payee != '$${payee}'"  # type: ignore[index]
    manifest = Manifest.from_template(template, task="t-1", payee="x")
    assert manifest.tools["pay"] is not None
    assert manifest.tools["pay"].when == "args.payee != '${payee}'"
