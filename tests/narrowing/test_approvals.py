"""`narrower` and `ask`: a child that drops a parent's ask rule still asks at run time, so it is a
note, never a widening."""

from __future__ import annotations

from typing import Any

from guardrail import narrower
from guardrail._cli._main import main


def grant(task: str, ask: Any = None) -> dict[str, Any]:
    tool: dict[str, Any] = {"args": {"amount": {"type": "number", "max": 100}}}
    if ask is not None:
        tool["ask"] = ask
    return {"task": task, "ttl": "1h", "tools": {"pay": tool}}


def test_a_child_that_drops_the_parents_ask_is_narrower_with_a_note() -> None:
    report = narrower(grant("child"), grant("parent", ["args.amount > 50.0", "true"]))
    assert report.verdict == "narrower"
    notes = report.by_status("note")
    assert [(n.where, n.check) for n in notes] == [
        ("tools.pay.ask", "ask: args.amount > 50.0"), ("tools.pay.ask", "ask: true")]
    assert "still asks" in notes[0].detail
    text = report.format(show_ok=False)
    assert "note        tools.pay.ask  [ask: args.amount > 50.0]" in text
    assert [f["status"] for f in report.to_dict()["findings"]][:2] == ["note", "note"]


def test_a_child_that_repeats_or_asks_always_is_ok() -> None:
    parent = grant("parent", "args.amount > 50.0")
    for child_ask in ("args.amount > 50.0", True, ["args.amount > 10.0", "args.amount > 50.0"]):
        report = narrower(grant("child", child_ask), parent)
        assert report.verdict == "narrower" and report.by_status("note") == []
        assert any(f.check == "ask: args.amount > 50.0" and f.status == "ok" for f in report.findings)
    # A child asking where the parent does not only narrows: nothing to say.
    assert narrower(grant("child", True), grant("parent")).by_status("note") == []


def test_the_cli_exit_code_ignores_notes(tmp_path: Any, capsys: Any) -> None:
    import json

    child, parent = tmp_path / "c.json", tmp_path / "p.json"
    child.write_text(json.dumps(grant("child")))
    parent.write_text(json.dumps(grant("parent", True)))
    assert main(["narrower", str(child), str(parent)]) == 0
    assert "ask: true" in capsys.readouterr().out
