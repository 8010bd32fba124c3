"""`narrower(child, parent)` and `guardrail narrower`: known answers (including cases that must
be reported unprovable), counterexamples checked by real guards, and a soundness property."""

from __future__ import annotations

import json
from typing import Any, Final

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from guardrail import Constraint, Guard, ManifestError, MemoryStore
from guardrail._narrowing import Finding, NarrowerReport, narrower, regex_samples
from tests.support.delegation import EXAMPLES, manifest, run_cli

OK: Final = "ok"
WIDER: Final = "wider"
UNPROVABLE: Final = "unprovable"


def _arg_pair(child: Any, parent: Any) -> NarrowerReport:
    report = narrower(
        manifest("child", {"f": {"args": {"x": child}}}),
        manifest("parent", {"f": {"args": {"x": parent}}}),
        budgets=False, expiry=False,
    )
    _check_counterexamples(report, manifest("child", {"f": {"args": {"x": child}}}),
                           manifest("parent", {"f": {"args": {"x": parent}}}))
    return report


def _check_counterexamples(report: NarrowerReport, child: Any, parent: Any) -> None:
    """Every counterexample call is allowed by a real guard of the child and denied by the
    parent's: `wider` is never a guess."""
    for finding in report.findings:
        if finding.status == WIDER and finding.has_counterexample:
            example = finding.counterexample
            if isinstance(example, dict) and "tool" in example:
                tool, args = example["tool"], example["args"]
                assert Guard(child, store=MemoryStore()).check(tool, args).allowed, finding
                assert not Guard(parent, store=MemoryStore()).check(tool, args).allowed, finding
        if finding.status != OK:
            assert finding.detail  # every problem says why


def _status_at(report: NarrowerReport, where: str) -> str:
    statuses = {f.status for f in report.findings if f.where == where}
    assert statuses, f"no finding at {where}: {report.format()}"
    for worst in (WIDER, UNPROVABLE, OK):
        if worst in statuses:
            return worst
    raise AssertionError(statuses)


ARG_CASES: list[tuple[str, Any, Any, str]] = [
    # equals / one_of
    ("one_of subset", {"one_of": ["a", "b"]}, {"one_of": ["a", "b", "c"]}, OK),
    ("equals in one_of", "a", ["a", "b"], OK),
    ("one_of not subset", ["a", "d"], ["a", "b", "c"], WIDER),
    ("equals 1 also accepts 1.0", {"equals": 1}, {"type": "integer"}, WIDER),
    ("small integer range is enumerated", {"type": "integer", "min": 1, "max": 3}, [1, 2, 3], OK),
    ("equals checked against a pattern", "T-123", {"pattern": "^T-[0-9]+$"}, OK),
    ("equals failing a pattern", {"one_of": ["T-1", "X-1"]}, {"pattern": "^T-[0-9]+$"}, WIDER),
    # numbers
    ("range inside", {"type": "number", "min": 0, "max": 10}, {"type": "number", "min": 0, "max": 50}, OK),
    ("max above", {"type": "number", "max": 60}, {"max": 50}, WIDER),
    ("no max", {}, {"max": 50}, WIDER),
    ("min below", {"min": -1, "max": 5}, {"min": 0}, WIDER),
    # types
    ("integer within number", {"type": "integer"}, {"type": "number"}, OK),
    ("number not within integer", {"type": "number"}, {"type": "integer"}, WIDER),
    ("type set wider", {"type": ["string", "integer"]}, {"type": "string"}, WIDER),
    ("null is absence", {"type": ["string", "null"]}, {"type": "string"}, OK),
    ("min implies number", {"min": 0, "max": 3}, {"type": "number"}, OK),
    # lengths
    ("max_length inside", {"max_length": 5}, {"max_length": 10}, OK),
    ("max_length above", {"max_length": 20}, {"max_length": 10}, WIDER),
    ("min_length inside", {"min_length": 3, "max_length": 4}, {"min_length": 2}, OK),
    ("prefix gives a length", {"starts_with": "abcd"}, {"min_length": 3}, OK),
    # prefixes
    ("prefix extends", {"starts_with": "/srv/a/"}, {"starts_with": ["/srv/", "/tmp/"]}, OK),
    ("prefix shorter", {"starts_with": "/s"}, {"starts_with": "/srv/"}, WIDER),
    # paths
    ("root inside", {"path_within": "/srv/data/x"}, {"path_within": "/srv/data"}, OK),
    ("roots inside", {"path_within": ["/a/b", "/c"]}, {"path_within": ["/a", "/c"]}, OK),
    ("sibling with a shared prefix", {"path_within": "/srv/database"}, {"path_within": "/srv/data"}, WIDER),
    ("root above", {"path_within": "/"}, {"path_within": "/srv"}, WIDER),
    ("a prefix is not a root", {"starts_with": "/srv/data/"}, {"path_within": "/srv/data"}, WIDER),
    # urls
    ("url inside",
     {"url": {"schemes": ["https"], "hosts": ["api.example.com"], "path_prefix": "/v1/orders"}},
     {"url": {"schemes": ["https", "http"], "hosts": ["*.example.com"], "path_prefix": "/v1"}}, OK),
    ("wildcard inside wildcard", {"url": {"hosts": ["*.eu.example.com"]}},
     {"url": {"hosts": ["*.example.com"]}}, OK),
    ("explicit default port", {"url": {"schemes": ["https"], "hosts": ["api.example.com:443"]}},
     {"url": {"schemes": ["https"], "hosts": ["api.example.com"]}}, OK),
    ("more schemes", {"url": {"schemes": ["https", "http"]}}, {"url": {"schemes": ["https"]}}, WIDER),
    ("wildcard vs exact", {"url": {"hosts": ["*.example.com"]}},
     {"url": {"hosts": ["api.example.com"]}}, WIDER),
    ("wildcard does not cover its apex", {"url": {"hosts": ["example.com"]}},
     {"url": {"hosts": ["*.example.com"]}}, WIDER),
    ("any host vs some", {"url": {"schemes": ["https"]}}, {"url": {"hosts": ["api.example.com"]}}, WIDER),
    ("other port", {"url": {"hosts": ["api.example.com:8443"]}},
     {"url": {"hosts": ["*.example.com"]}}, WIDER),
    ("other path", {"url": {"hosts": ["a.example.com"], "path_prefix": "/v2"}},
     {"url": {"path_prefix": "/v1"}}, WIDER),
    ("no path prefix", {"url": {"hosts": ["a.example.com"]}}, {"url": {"path_prefix": "/v1"}}, WIDER),
    # patterns
    ("identical pattern", {"pattern": "^[a-z]+$"}, {"pattern": "^[a-z]+$"}, OK),
    ("two patterns, really narrower", {"pattern": "^[a-z]+$"}, {"pattern": "^[a-z0-9]+$"}, UNPROVABLE),
    ("two patterns, same language", {"pattern": "^[0-9]+$"}, {"pattern": "^\\d+$"}, UNPROVABLE),
    ("pattern vs length", {"pattern": "^[a-z]{3}$"}, {"max_length": 3}, UNPROVABLE),
    ("two patterns with a counterexample", {"pattern": "^[0-9]+$"}, {"pattern": "^[a-z]+$"}, WIDER),
    ("unconstrained vs pattern", {}, {"pattern": "^[a-z]+$"}, WIDER),
    # not_one_of, not, any_of
    ("one_of avoids", {"one_of": ["a", "b"]}, {"not_one_of": ["c"]}, OK),
    ("strings avoid a number", {"type": "string"}, {"not_one_of": [1]}, OK),
    ("open vs not_one_of", {}, {"not_one_of": ["c"]}, WIDER),
    ("disjoint range", {"type": "number", "min": 10}, {"not": {"max": 5}}, OK),
    ("overlapping range", {"min": 3}, {"not": {"max": 5}}, WIDER),
    ("any_of inside any_of",
     {"any_of": [{"equals": "a"}, {"type": "number", "min": 0, "max": 1}]},
     {"any_of": [{"one_of": ["a", "b"]}, {"type": "number", "min": 0, "max": 5}]}, OK),
    ("any_of wider", {"any_of": [{"equals": "z"}, {"type": "number", "min": 0, "max": 1}]},
     {"any_of": [{"one_of": ["a", "b"]}, {"type": "number", "min": 0, "max": 5}]}, WIDER),
    # each and fields
    ("each inside", {"each": {"max": 5}}, {"each": {"max": 10}}, OK),
    ("each wider", {"each": {"max": 10}}, {"each": {"max": 5}}, WIDER),
    ("no each", {"type": "array"}, {"each": {"type": "string"}}, WIDER),
    ("fields inside", {"fields": {"a": {"max": 1, "required": True}}}, {"fields": {"a": {"max": 5}}}, OK),
    ("fields wider", {"fields": {"a": {"max": 10}}}, {"fields": {"a": {"max": 5}}}, WIDER),
    ("fields missing a required key", {"fields": {"a": {}}}, {"fields": {"a": {"required": True}}}, WIDER),
    # unconstrained parent
    ("open parent", {"max": 1}, {}, OK),
]


@pytest.mark.parametrize(("child", "parent", "expected"),
                         [case[1:] for case in ARG_CASES], ids=[case[0] for case in ARG_CASES])
def test_argument_constraints(child: Any, parent: Any, expected: str) -> None:
    report = _arg_pair(child, parent)
    assert _status_at(report, "tools.f.args.x") == expected, report.format()
    assert report.verdict == {OK: "narrower", WIDER: "not_narrower",
                              UNPROVABLE: "unprovable"}[expected]
    assert report.exit_code == {OK: 0, WIDER: 1, UNPROVABLE: 4}[expected]
    if expected == WIDER:
        wider = [f for f in report.findings if f.status == WIDER]
        assert all(f.has_counterexample for f in wider), report.format()


def test_counterexamples_are_concrete() -> None:
    report = _arg_pair({"equals": 1}, {"type": "integer"})
    (finding,) = report.by_status(WIDER)
    assert finding.counterexample == {"tool": "f", "args": {"x": 1.0}}
    report = _arg_pair(["a", "d"], ["a", "b", "c"])
    assert report.by_status(WIDER)[0].counterexample["args"] == {"x": "d"}
    report = _arg_pair({"pattern": "^[0-9]+$"}, {"pattern": "^[a-z]+$"})
    assert report.by_status(WIDER)[0].counterexample["args"]["x"].isdigit()


def test_unprovable_names_the_regular_expressions() -> None:
    report = _arg_pair({"pattern": "^[a-z]+$"}, {"pattern": "^[a-z0-9]+$"})
    (finding,) = report.problems()
    assert finding.status == UNPROVABLE and finding.where == "tools.f.args.x"
    assert finding.check == 'pattern: "^[a-z0-9]+$"'
    assert "regular expressions are proven only when identical" in finding.detail
    assert not finding.has_counterexample


# -- tools and argument names ------------------------------------------------------------------


def _pair(child_tools: dict[str, Any], parent_tools: dict[str, Any], **kw: Any) -> NarrowerReport:
    child, parent = manifest("c", child_tools), manifest("p", parent_tools)
    report = narrower(child, parent, budgets=kw.get("budgets", False), expiry=False)
    _check_counterexamples(report, child, parent)
    return report


def test_tools_must_be_a_subset() -> None:
    ok = _pair({"f": None}, {"f": None, "g": None})
    assert ok.narrower and _status_at(ok, "tools") == OK
    wider = _pair({"f": None, "h": {"args": {"q": {"required": True}}}}, {"f": None})
    assert _status_at(wider, "tools.h") == WIDER
    finding = next(f for f in wider.findings if f.where == "tools.h")
    assert finding.counterexample["tool"] == "h" and "q" in finding.counterexample["args"]


def test_allow_other_args() -> None:
    both = _pair({"f": {"allow_other_args": True}}, {"f": {"allow_other_args": True}})
    assert both.narrower
    closed_child = _pair({"f": {"args": {"a": {}}}}, {"f": {"allow_other_args": True}})
    assert closed_child.narrower
    open_child = _pair({"f": {"args": {"a": {}}, "allow_other_args": True}}, {"f": {"args": {"a": {}}}})
    assert _status_at(open_child, "tools.f") == WIDER
    args = next(f for f in open_child.findings if f.where == "tools.f").counterexample["args"]
    assert set(args) - {"a"}  # an argument the parent does not name
    # an open child against a parent that constrains a named argument
    open_vs_named = _pair({"f": {"allow_other_args": True}}, {"f": {"args": {"a": {"max": 1}}}})
    assert _status_at(open_vs_named, "tools.f.args.a") == WIDER


def test_required_and_argument_names() -> None:
    missing = _pair({"f": {"args": {"a": {}}}}, {"f": {"args": {"a": {"required": True}}}})
    assert _status_at(missing, "tools.f.args.a") == WIDER
    finding = next(f for f in missing.problems())
    assert finding.counterexample == {"tool": "f", "args": {}}
    assert _pair({"f": {"args": {"a": {"required": True}}}}, {"f": {"args": {"a": {}}}}).narrower
    extra = _pair({"f": {"args": {"a": {}, "b": {}}}}, {"f": {"args": {"a": {}}}})
    assert _status_at(extra, "tools.f.args.b") == WIDER
    fewer = _pair({"f": {"args": {"a": {}}}}, {"f": {"args": {"a": {}, "b": {"max": 1}}}})
    assert fewer.narrower and _status_at(fewer, "tools.f.args.b") == OK


def test_a_parent_sum_budget_constrains_its_argument() -> None:
    # the parent's guard denies a negative or non-numeric amount because it sums it
    parent = {"f": {"args": {"amount": {}}, "budget": {"sum": {"amount": 100}}}}
    report = _pair({"f": {"args": {"amount": {}}}}, parent)
    assert _status_at(report, "tools.f.args.amount") == WIDER
    assert any("a budget sums it" in f.check for f in report.by_status(WIDER))
    ok = _pair({"f": {"args": {"amount": {"type": "number", "min": 0, "max": 5}}}}, parent)
    assert ok.narrower


# -- budgets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("child_budget", "child_tools", "parent_budget", "parent_tools", "where", "expected"),
    [
        ({"calls": 5}, None, {"calls": 10}, None, "budget.calls", OK),
        (None, None, {"calls": 10}, None, "budget.calls", WIDER),
        ({"calls": 20}, None, {"calls": 10}, None, "budget.calls", WIDER),
        # the child's task budget covers a parent tool budget
        ({"calls": 2}, None, None, {"f": {"budget": {"calls": 3}}}, "tools.f.budget.calls", OK),
        # two tool budgets add up past the parent's task budget
        (None, {"f": {"budget": {"calls": 2}}, "g": {"budget": {"calls": 2}}}, {"calls": 3}, None,
         "budget.calls", WIDER),
        (None, {"f": {"budget": {"calls": 1}}, "g": {"budget": {"calls": 2}}}, {"calls": 3}, None,
         "budget.calls", OK),
    ],
)
def test_call_budgets(child_budget: Any, child_tools: Any, parent_budget: Any, parent_tools: Any,
                      where: str, expected: str) -> None:
    tools_c = child_tools or {"f": None, "g": None}
    tools_p = {"f": None, "g": None, **(parent_tools or {})}
    extra_c = {"budget": child_budget} if child_budget else {}
    extra_p = {"budget": parent_budget} if parent_budget else {}
    report = narrower(manifest("c", tools_c, **extra_c), manifest("p", tools_p, **extra_p),
                      expiry=False)
    assert _status_at(report, where) == expected, report.format()


def test_sum_budgets() -> None:
    parent = manifest("p", {"pay": {"args": {"amount": {"type": "number", "min": 0}},
                                    "budget": {"sum": {"amount": 100}}}})

    def child(calls: int | None, high: float | None, total: float | None = None) -> dict[str, Any]:
        budget: dict[str, Any] = {}
        if calls is not None:
            budget["calls"] = calls
        if total is not None:
            budget["sum"] = {"amount": total}
        amount: dict[str, Any] = {"type": "number", "min": 0}
        if high is not None:
            amount["max"] = high
        return manifest("c", {"pay": {"args": {"amount": amount}, "budget": budget or None}})

    where = "tools.pay.budget.sum.amount"
    assert _status_at(narrower(child(2, 50), parent, expiry=False), where) == OK  # 2 x 50
    wider = narrower(child(3, 50), parent, expiry=False)  # 3 x 50 = 150
    assert _status_at(wider, where) == WIDER
    assert "3 calls of pay with amount=50" in next(f.detail for f in wider.by_status(WIDER))
    assert _status_at(narrower(child(None, None, 80), parent, expiry=False), where) == OK
    assert _status_at(narrower(child(None, None, 120), parent, expiry=False), where) == WIDER
    assert _status_at(narrower(child(None, None), parent, expiry=False), where) == WIDER


def test_a_budget_that_cannot_be_reached_by_a_built_call_is_unprovable() -> None:
    # `\\p{Greek}` is RE2 syntax the sample generator cannot read and no stock candidate is
    # three Greek letters: no call of f can be built, so the missing budget cannot be shown to
    # matter, and it is not assumed to
    child = manifest("c", {"f": {"args": {"q": {"pattern": "^\\p{Greek}{3}$", "required": True}}}})
    parent = manifest("p", {"f": {"args": {"q": {}}}}, budget={"calls": 5})
    report = narrower(child, parent, expiry=False)
    assert _status_at(report, "budget.calls") == UNPROVABLE
    assert report.exit_code == 4


# -- validity windows --------------------------------------------------------------------------


def test_expiry() -> None:
    tools = {"f": None}
    shorter = narrower(manifest("c", tools, ttl="10m"), manifest("p", tools, ttl="30m"))
    assert _status_at(shorter, "expires_at") == OK
    longer = narrower(manifest("c", tools, ttl="2h"), manifest("p", tools, ttl="30m"))
    assert _status_at(longer, "expires_at") == WIDER
    fixed = {"expires_at": "2030-01-01T00:00:00Z"}
    mixed = narrower(manifest("c", tools, **fixed), manifest("p", tools, ttl="30m"))
    assert _status_at(mixed, "expires_at") == UNPROVABLE
    later = {"expires_at": "2030-06-01T00:00:00Z"}
    assert _status_at(narrower(manifest("c", tools, **fixed), manifest("p", tools, **later)),
                      "expires_at") == OK
    assert _status_at(narrower(manifest("c", tools, **later), manifest("p", tools, **fixed)),
                      "expires_at") == WIDER
    start = {"not_before": "2029-01-01T00:00:00Z", **later}
    assert _status_at(narrower(manifest("c", tools, **fixed), manifest("p", tools, **start)),
                      "not_before") == WIDER
    assert narrower(manifest("c", tools, **start), manifest("p", tools, **start)).narrower


# -- soundness property ------------------------------------------------------------------------

_leaf = st.one_of(
    st.fixed_dictionaries({}, optional={"type": st.sampled_from(["number", "integer"]),
                                        "min": st.integers(-3, 3), "max": st.integers(-3, 3)}),
    st.builds(lambda xs: {"one_of": xs}, st.lists(
        st.sampled_from([0, 1, 2, 1.5, "a", "ab", "b", True]), min_size=1, max_size=4)),
    st.fixed_dictionaries({}, optional={"starts_with": st.sampled_from(["a", "ab", "b"]),
                                        "max_length": st.integers(0, 3),
                                        "min_length": st.integers(0, 3)}),
    st.builds(lambda p: {"pattern": p}, st.sampled_from(["^a+$", "^[ab]*$", "^b"])),
    st.builds(lambda t: {"type": t}, st.sampled_from(["string", "number", "integer", "boolean"])),
    st.builds(lambda xs: {"not_one_of": xs}, st.lists(st.sampled_from([0, 1, "a"]), min_size=1)),
)
_constraint = st.one_of(
    _leaf,
    st.builds(lambda c: {"not": c}, _leaf),
    st.builds(lambda a, b: {"any_of": [a, b]}, _leaf, _leaf),
)
_values = st.one_of(
    st.integers(-5, 5), st.floats(-5, 5, allow_nan=False), st.booleans(),
    st.text(alphabet="ab", max_size=4), st.lists(st.integers(0, 2), max_size=2),
)


def _valid(spec: dict[str, Any]) -> bool:
    try:
        Constraint.model_validate(spec)
    except (ValueError, ManifestError):
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(child=_constraint, parent=_constraint, values=st.lists(_values, min_size=1, max_size=25))
def test_a_proven_answer_is_never_contradicted(child: dict[str, Any], parent: dict[str, Any],
                                               values: list[Any]) -> None:
    assume(_valid(child) and _valid(parent))
    report = _arg_pair(child, parent)  # also checks every counterexample with real guards
    if report.verdict == "narrower":
        c_rule, p_rule = Constraint.model_validate(child).compile(), Constraint.model_validate(
            parent).compile()
        for value in values:
            if c_rule(value):
                assert p_rule(value), (child, parent, value)


def test_regex_samples_are_candidates_only() -> None:
    assert "T-0" in regex_samples("^T-[0-9]{1,8}$")
    assert regex_samples("(a|bc)d") == ["ad", "bcd"] or "ad" in regex_samples("(a|bc)d")
    assert regex_samples("\\pL") == []  # RE2 syntax Python cannot parse: no samples, no guess


# -- the report and the command line -----------------------------------------------------------


def test_report_shapes() -> None:
    report = _arg_pair({"max": 60}, {"max": 50})
    data = report.to_dict()
    assert data["verdict"] == "not_narrower" and data["child_task"] == "child"
    assert data["findings"][0]["status"] == WIDER and "counterexample" in data["findings"][0]
    json.dumps(data)
    text = report.format(child_name="c.yaml", parent_name="p.yaml")
    assert text.startswith("NOT NARROWER: c.yaml allows calls p.yaml denies")
    assert "counterexample:" in text
    assert isinstance(report.findings[0], Finding)


@pytest.mark.parametrize(("child", "code", "first_line"), [
    ("child.yaml", 0, "NARROWER"),
    ("child_wider.yaml", 1, "NOT NARROWER"),
    ("child_unprovable.yaml", 4, "UNPROVABLE"),
])
def test_cli_exit_codes(child: str, code: int, first_line: str) -> None:
    result = run_cli("narrower", str(EXAMPLES / child), str(EXAMPLES / "parent.yaml"))
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout.startswith(first_line + ":")


def test_cli_reports_each_wider_part_of_the_example() -> None:
    result = run_cli("narrower", "-q", str(EXAMPLES / "child_wider.yaml"),
                     str(EXAMPLES / "parent.yaml"))
    out = result.stdout
    for where in ("tools.delete_ticket", "tools.send_refund.args.amount",
                  "tools.send_refund.args.currency", "tools.fetch_url.args.url", "budget.calls",
                  "tools.send_refund.budget.calls", "tools.send_refund.budget.sum.amount",
                  "expires_at"):
        assert f"wider       {where}" in out, where
    assert "  ok " not in out  # -q shows the problems only


def test_cli_json_and_invalid_input(tmp_path: Any) -> None:
    result = run_cli("narrower", "--json", str(EXAMPLES / "child_unprovable.yaml"),
                     str(EXAMPLES / "parent.yaml"))
    data = json.loads(result.stdout)
    assert result.returncode == 4 and data["verdict"] == "unprovable"
    unprovable = [f for f in data["findings"] if f["status"] == UNPROVABLE]
    assert [f["where"] for f in unprovable] == ["tools.send_refund.args.order_id"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: x\ntools: {}\n")  # no ttl / expires_at
    result = run_cli("narrower", str(bad), str(EXAMPLES / "parent.yaml"))
    assert result.returncode == 2 and "every delegation must end" in result.stderr
    skip = run_cli("narrower", "--no-budgets", "--no-expiry", str(EXAMPLES / "child.yaml"),
                   str(EXAMPLES / "parent.yaml"))
    assert skip.returncode == 0 and "budget" not in skip.stdout.split("\n", 1)[1]
