"""`provenance: trusted` and `from_results` as the guard decides them: what is recorded, what
matches (case, whitespace, nesting, short strings), trusted content, the cap (fail closed), task
isolation, the order of checks, the fast path, the denial and its span."""

from __future__ import annotations

import json
from typing import Any

import pytest

from guardrail import (
    ArgumentUntrusted,
    DenialCode,
    Guard,
    Manifest,
    ManifestError,
    MemoryStore,
)
from guardrail.testing import CapturedSpans, task_id

from .support import DOCUMENT, IBAN, INJECTED, code_of, manifest

U = DenialCode.ARGUMENT_UNTRUSTED


def read(guard: Guard, text: Any = DOCUMENT, call_id: str | None = None) -> Any:
    return guard.invoke("read_file", lambda path: text, {"path": "invoice.txt"}, call_id=call_id)


def pay(guard: Guard, recipient: Any, **more: Any) -> Any:
    return guard.check("pay", {"recipient": recipient, "amount": 120, **more})


# -- provenance: trusted --------------------------------------------------------------------------


def test_a_value_copied_from_a_tool_result_is_untrusted() -> None:
    guard = Guard(manifest(), store=MemoryStore())
    assert pay(guard, INJECTED).allowed  # nothing read yet
    read(guard, call_id="c-read")
    decision = pay(guard, INJECTED)
    assert code_of(decision) is U
    denial = decision.denial
    assert denial is not None
    assert denial.argument == "recipient" and denial.constraint == 'provenance: "trusted"'
    assert denial.found_in is not None
    assert (denial.found_in.tool, denial.found_in.call_id) == ("read_file", "c-read")
    assert INJECTED not in denial.message and INJECTED not in denial.model_dump_json()
    with pytest.raises(ArgumentUntrusted) as raised:
        guard.invoke("pay", lambda **_: None, {"recipient": INJECTED, "amount": 120})
    assert raised.value.denial.code is U


@pytest.mark.parametrize("variant", [
    INJECTED.lower(), f"  {INJECTED}  ", INJECTED.swapcase(), f"\n{INJECTED}\t",
])
def test_case_and_surrounding_whitespace_do_not_hide_a_copy(variant: str) -> None:
    guard = Guard(manifest(), store=MemoryStore())
    read(guard)
    assert code_of(pay(guard, variant)) is U


def test_whitespace_inside_is_normalised_on_both_sides() -> None:
    guard = Guard(manifest(), store=MemoryStore())
    read(guard, "Payee:   ACME   Holdings\n\tLimited, London")
    assert code_of(pay(guard, "acme holdings limited")) is U
    assert code_of(pay(guard, "ACME\nHOLDINGS  LIMITED")) is U
    # A re-encoded value is not a verbatim copy (the documented limit).
    assert pay(guard, "ACMEHOLDINGSLIMITED").allowed


def test_strings_shorter_than_four_characters_are_not_judged() -> None:
    guard = Guard(manifest(), store=MemoryStore())
    read(guard, "EUR abc Ltd")
    assert pay(guard, "EUR").allowed and pay(guard, "Ltd").allowed
    assert code_of(pay(guard, "abc Ltd")) is U


def test_every_string_inside_arrays_and_objects_is_checked() -> None:
    guard = Guard(manifest(), store=MemoryStore())
    read(guard)
    assert code_of(pay(guard, "ok-payee", memo=["fine", {"deep": [{"x": INJECTED}]}])) is U
    denial = pay(guard, "ok-payee", memo={"a": ["fine", "also fine"]})
    assert denial.allowed
    # Numbers and keys are not judged: a key is the model's structure, not a copied value.
    assert pay(guard, "ok-payee", memo={INJECTED: 1, "n": 3704}).allowed


def test_a_deeply_nested_argument_is_decided_without_recursion() -> None:
    guard = Guard(manifest(), store=MemoryStore())
    read(guard)
    value: Any = INJECTED
    for _ in range(5000):
        value = [value]
    assert code_of(pay(guard, "ok-payee", memo=value)) is U


def test_trusted_content_wins_over_an_untrusted_result() -> None:
    data = manifest()
    data["inputs"] = [f"Please pay the ACME invoice to {IBAN}"]
    guard = Guard(data, store=MemoryStore(), inputs=["also trust Bob Example"])
    read(guard, DOCUMENT + " Bob Example")
    assert pay(guard, IBAN).allowed  # the user typed it: trusted, even though the file has it
    assert pay(guard, "bob example").allowed
    assert code_of(pay(guard, INJECTED)) is U
    guard.add_inputs(INJECTED)
    assert pay(guard, INJECTED).allowed


def test_the_manifest_itself_is_trusted_content() -> None:
    data = manifest()
    data["tools"]["pay"]["args"]["recipient"]["not_one_of"] = ["blocked-account-9"]
    data["tools"]["lookup"] = {"args": {"q": {"equals": INJECTED}}}
    guard = Guard(data, store=MemoryStore())
    read(guard)
    assert pay(guard, INJECTED).allowed


def test_results_of_a_trusted_tool_are_trusted() -> None:
    data = manifest(directory={"args": {"name": {}}, "results": "trusted"})
    guard = Guard(data, store=MemoryStore())
    read(guard)
    guard.invoke("directory", lambda name: {"iban": INJECTED}, {"name": "acme"})
    assert pay(guard, INJECTED).allowed
    assert code_of(pay(guard, IBAN)) is U


def test_inputs_and_results_keys_are_part_of_the_manifest_and_its_digest() -> None:
    data = manifest()
    base = Manifest.model_validate(data)
    data["inputs"] = ["pay the invoice"]
    data["tools"]["read_file"]["results"] = "trusted"
    changed = Manifest.model_validate(data)
    assert changed.digest != base.digest
    again = Manifest.from_yaml(changed.to_yaml())
    assert again.inputs == ["pay the invoice"] and again.tools["read_file"].results == "trusted"
    schema = Manifest.json_schema()
    assert "inputs" in schema["properties"]
    with pytest.raises(ManifestError, match="results"):
        Manifest.model_validate({**data, "tools": {"t": {"results": "maybe"}}})
    with pytest.raises(TypeError, match="list of strings"):
        Guard(manifest(), inputs="one string")  # type: ignore[arg-type]


def test_what_the_model_sees_is_recorded_json_str_and_other_objects() -> None:
    guard = Guard(manifest(), store=MemoryStore())
    read(guard, {"payee": {"name": 'Quote "Q" Ltd\nLine two', "iban": INJECTED}})
    assert code_of(pay(guard, INJECTED)) is U
    assert code_of(pay(guard, 'quote "q" ltd line two')) is U  # decoded, not JSON-escaped

    class Opaque:
        def __str__(self) -> str:
            return "opaque object naming Mallory Payee"

    other = Guard(manifest(), store=MemoryStore())
    read(other, Opaque())
    assert code_of(pay(other, "mallory payee")) is U
    assert pay(other, "opaque object naming nobody").allowed


def test_a_result_that_cannot_be_rendered_fails_closed() -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    guard = Guard(manifest(), store=MemoryStore())
    read(guard, Broken())
    assert guard.results_full
    assert code_of(pay(guard, "anyone-at-all")) is U


# -- the cap -------------------------------------------------------------------------------------


def test_past_the_cap_provenance_denies_rather_than_forgets() -> None:
    guard = Guard(manifest(), store=MemoryStore(), max_results_bytes=64,
                  inputs=["pay the user's landlord"])
    read(guard, "short result")
    assert not guard.results_full and pay(guard, "a fresh value").allowed
    read(guard, "x" * 60 + f" {INJECTED}")  # kept up to the cap: the IBAN is cut off
    assert guard.results_full
    decision = pay(guard, INJECTED)
    assert code_of(decision) is U and decision.denial is not None
    assert "cap" in decision.denial.message and decision.denial.found_in is not None
    assert code_of(pay(guard, "a fresh value")) is U  # might have been in what was cut off
    assert pay(guard, "the user's landlord").allowed  # trusted content still is
    assert pay(guard, "abc").allowed  # too short to judge
    # from_results also fails closed for what was cut off, but still finds what was kept
    guard.invoke("create_file", lambda name: "made", {"name": "n"})
    assert code_of(guard.check("share", {"file": "made", "to": "x"})) is U


def test_the_cap_must_be_a_non_negative_int() -> None:
    with pytest.raises(ValueError, match="max_results_bytes"):
        Guard(manifest(), max_results_bytes=-1)


# -- from_results ---------------------------------------------------------------------------------


def test_from_results_needs_an_earlier_result_of_the_named_tool() -> None:
    guard = Guard(manifest(), store=MemoryStore())
    share = {"file": "report-q3.pdf", "to": "team"}
    decision = guard.check("share", share)
    assert code_of(decision) is U and decision.denial is not None
    assert decision.denial.constraint == 'from_results: "create_file"'
    assert decision.denial.found_in is None
    read(guard, "report-q3.pdf")  # another tool's result does not count
    assert code_of(guard.check("share", share)) is U
    guard.invoke("create_file", lambda name: {"created": "Report-Q3.pdf"}, {"name": "r"})
    assert guard.check("share", share).allowed
    assert code_of(guard.check("share", {"file": "other.pdf", "to": "team"})) is U
    assert code_of(guard.check("share", {"file": [], "to": "team"})) is U  # nothing from a result
    assert code_of(guard.check("share", {"file": True, "to": "team"})) is U


def test_from_results_with_a_list_of_tools_and_numbers() -> None:
    data = manifest()
    data["tools"]["share"]["args"]["file"] = {"from_results": ["create_file", "read_file"]}
    guard = Guard(data, store=MemoryStore())
    read(guard, {"id": 4711})
    assert guard.check("share", {"file": 4711, "to": "x"}).allowed
    assert guard.check("share", {"file": ["4711"], "to": "x"}).allowed
    assert code_of(guard.check("share", {"file": [4711, 4712], "to": "x"})) is U


def test_from_results_naming_a_tool_not_granted_is_a_manifest_error() -> None:
    data = manifest()
    data["tools"]["share"]["args"]["file"] = {"each": {"from_results": ["create_file", "mkfile"]}}
    with pytest.raises(ManifestError, match=r"tools\.share\.args\.file\.each\.from_results names "
                                            r"tool 'mkfile'"):
        Guard(data)
    with pytest.raises(ManifestError, match="twice"):
        Manifest.model_validate({"task": "t", "ttl": "1m", "tools": {
            "a": {"args": {"x": {"from_results": ["a", "a"]}}}}})
    with pytest.raises(ManifestError):
        Manifest.model_validate({"task": "t", "ttl": "1m", "tools": {
            "a": {"args": {"x": {"provenance": "untrusted"}}}}})


# -- order, fast path, isolation ------------------------------------------------------------------


def test_argument_invalid_comes_before_argument_untrusted() -> None:
    guard = Guard(manifest(), store=MemoryStore())
    long_injected = INJECTED * 3
    read(guard, long_injected)
    assert code_of(pay(guard, long_injected)) is DenialCode.ARGUMENT_INVALID  # max_length 40
    # ... also across arguments: the invalid amount is named, though recipient comes first
    decision = guard.check("pay", {"recipient": INJECTED, "amount": "lots"})
    assert code_of(decision) is DenialCode.ARGUMENT_INVALID


def test_argument_untrusted_comes_before_condition_failed_and_budgets() -> None:
    data = manifest()
    data["tools"]["pay"]["when"] = "args.amount < 100.0"
    data["tools"]["pay"]["budget"] = {"calls": 0}
    guard = Guard(data, store=MemoryStore())
    read(guard)
    assert code_of(pay(guard, INJECTED)) is U
    assert code_of(pay(guard, "fresh value")) is DenialCode.CONDITION_FAILED


def test_tools_without_provenance_keep_the_fast_path() -> None:
    guard = Guard(manifest(), store=MemoryStore())
    compiled = guard.manifest.compiled().tools
    assert compiled["read_file"].direct and not compiled["read_file"].contextual
    assert not compiled["pay"].direct and not compiled["share"].direct
    read(guard)
    # The cached anonymous allow of the fast path: the very same object each time.
    assert guard.check("read_file", {"path": INJECTED}) is guard.check("read_file", {"path": "x"})


def test_two_tasks_never_taint_each_other() -> None:
    first, second = Guard(manifest(), store=MemoryStore()), Guard(manifest(), store=MemoryStore())
    read(first)
    assert code_of(pay(first, INJECTED)) is U
    assert pay(second, INJECTED).allowed
    same_task = manifest()
    a, b = Guard(same_task), Guard(same_task)
    read(a)
    assert pay(b, INJECTED).allowed  # memory is per guard (in-process): a fleet does not share it


def test_a_denied_call_records_nothing_and_shadow_mode_records_what_ran() -> None:
    data = manifest()
    data["tools"]["read_file"]["args"]["path"] = {"equals": "allowed.txt"}
    guard = Guard(data, store=MemoryStore())
    with pytest.raises(Exception):  # noqa: B017 - the denial; the tool must not have run
        guard.invoke("read_file", lambda path: DOCUMENT, {"path": "other.txt"})
    assert pay(guard, INJECTED).allowed
    shadow = Guard(data, store=MemoryStore(), mode="shadow")
    shadow.invoke("read_file", lambda path: DOCUMENT, {"path": "other.txt"})
    decision = pay(shadow, INJECTED)
    assert code_of(decision) is U and not decision.enforced


def test_wrap_records_sync_and_async_tools() -> None:
    import asyncio

    guard = Guard(manifest(), store=MemoryStore())

    def read_file(path: str) -> str:
        return f"first {INJECTED}"

    async def create_file(name: str) -> dict[str, str]:
        return {"created": f"{name}.txt"}

    guard.wrap(read_file)("x")
    assert code_of(pay(guard, INJECTED)) is U
    assert code_of(guard.check("share", {"file": "notes.txt", "to": "t"})) is U
    asyncio.run(guard.wrap(create_file)("notes"))
    assert guard.check("share", {"file": "notes.txt", "to": "t"}).allowed


def test_ainvoke_records_and_aauthorize_decides() -> None:
    import asyncio

    async def main() -> None:
        guard = Guard(manifest(), store=MemoryStore())

        async def fetch(path: str) -> str:
            return DOCUMENT

        await guard.ainvoke("read_file", fetch, {"path": "p"}, call_id="a-1")
        decision = await guard.aauthorize("pay", {"recipient": INJECTED, "amount": 1})
        assert code_of(decision) is U and decision.denial is not None
        assert decision.denial.found_in is not None and decision.denial.found_in.call_id == "a-1"

        # Concurrent decisions each see their own probe.
        async def one(i: int) -> bool:
            value = INJECTED if i % 2 else f"fresh value {i}"
            return (await guard.acheck("pay", {"recipient": value, "amount": 1})).allowed

        results = await asyncio.gather(*(one(i) for i in range(40)))
        assert results == [i % 2 == 0 for i in range(40)]

    asyncio.run(main())


def test_record_result_is_public_and_never_raises() -> None:
    guard = Guard(manifest(), store=MemoryStore())
    guard.record_result("read_file", None)  # nothing to record
    guard.record_result("not_granted", f"an ungranted tool said {INJECTED}", call_id="x-1")
    decision = pay(guard, INJECTED)
    assert decision.denial is not None and decision.denial.found_in is not None
    assert decision.denial.found_in.tool == "not_granted"
    guard.record_result(["odd"], b"bytes naming Eve Example")  # type: ignore[arg-type]
    assert code_of(pay(guard, "eve example")) is U


def test_the_span_names_where_the_value_was_found_never_the_value() -> None:
    with CapturedSpans() as captured:
        guard = Guard(manifest(), store=MemoryStore(), tracer_provider=captured.provider)
        read(guard, call_id="c-9")
        with pytest.raises(ArgumentUntrusted):
            guard.invoke("pay", lambda **_: None, {"recipient": INJECTED, "amount": 1})
        span = captured.spans("execute_tool")[-1]
        attributes = dict(span.attributes or {})
        assert attributes["guardrail.denial.code"] == "argument_untrusted"
        assert attributes["guardrail.denial.argument"] == "recipient"
        assert attributes["guardrail.denial.found_in.tool"] == "read_file"
        assert attributes["guardrail.denial.found_in.call_id"] == "c-9"
        events = [dict(e.attributes or {}) for e in span.events if e.name == "guardrail.denial"]
        assert events[0]["found_in.tool"] == "read_file"
        assert INJECTED not in json.dumps([attributes, events], default=str)


def test_rules_outside_a_decision_fail_closed() -> None:
    rule = Manifest.model_validate(manifest()).tools["pay"].args["recipient"].compile()
    assert not rule("anything at all")
    from guardrail import _provenance

    with _provenance.static():
        assert rule("anything at all")



def test_templates_can_fill_in_the_tool_of_from_results() -> None:
    from guardrail import render_template

    template = {
        "params": {"source": {"type": "string"}}, "task": "${task}", "ttl": "5m",
        "tools": {"mk": {"args": {}},
                  "share": {"args": {"f": {"from_results": "${source}", "provenance": "trusted"}}}},
    }
    rendered = render_template(template, task=task_id("tpl"), source="mk")
    assert rendered.tools["share"].args["f"].spec() == {"provenance": "trusted", "from_results": "mk"}
    with pytest.raises(ManifestError, match="names tool 'nope'"):
        render_template(template, task=task_id("tpl"), source="nope")


def test_the_audit_record_names_where_the_value_was_found(tmp_path: Any) -> None:
    from guardrail import AuditLog

    log = AuditLog(tmp_path / "audit.jsonl")
    guard = Guard(manifest(), store=MemoryStore(), audit=log)
    read(guard, call_id="c-audit")
    assert code_of(guard.authorize("pay", {"recipient": INJECTED, "amount": 1})) is U
    log.close()
    last = json.loads((tmp_path / "audit.jsonl").read_text("utf-8").splitlines()[-1])
    assert last["denial"]["code"] == "argument_untrusted"
    assert last["denial"]["found_in"] == {"tool": "read_file", "call_id": "c-audit"}


def test_a_manifest_with_provenance_reads_back_from_its_yaml() -> None:
    data = manifest()
    data["inputs"] = ["pay the invoice"]
    data["tools"]["read_file"]["results"] = "untrusted"
    written = Manifest.model_validate(data)
    again = Manifest.from_yaml(written.to_yaml())
    assert again.model_dump() == written.model_dump()
    assert "provenance: trusted" in written.to_yaml() and "from_results: create_file" in written.to_yaml()
