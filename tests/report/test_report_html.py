"""The HTML report: content, escaping, self-containment, and `guardrail report --html`."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from guardrail.report import Record, load, to_html
from tests.report.support import HOSTILE_TOOL, guarded_run

GUARDRAIL = [sys.executable, "-m", "guardrail"]


class _Page(HTMLParser):
    """Tags, attributes and text of a page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def record(i: int, decision: str = "allow", **fields: object) -> Record:
    base: dict[str, object] = {f: None for f in Record.__dataclass_fields__}
    base.update(time=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i), task="t-1",
                tool="tool", decision=decision, source="span")
    base.update(fields)
    return Record(**base)  # type: ignore[arg-type]


def test_the_page_shows_totals_denials_and_budgets(tmp_path: Path) -> None:
    run = guarded_run(tmp_path)
    records = load(run.trace)
    page = to_html(records, sources=["spans.jsonl"])
    parsed = parse(page)
    text = " ".join(parsed.text)
    total = {a.get("id"): None for _, a in parsed.tags if (a.get("id") or "").startswith("total-")}
    assert set(total) == {"total-decisions", "total-allowed", "total-denied", "total-shadow-denied",
                          "total-tasks", "total-tools"}
    assert re.search(r'id="total-denied"><b>6</b>', page)  # 5 + the sub-agent's: enforced
    assert re.search(r'id="total-shadow-denied"><b>1</b>', page)
    assert re.search(r'id="total-decisions"><b>10</b>', page)
    # Denials grouped with their argument and constraint.
    rows = re.findall(r'<tr class="denial" data-code="(\w+)">(.*?)</tr>', page)
    assert len(rows) == 7  # 7 distinct (task, tool, code, argument, constraint), incl. shadow
    assert any("amount" in r and "max: 50" in r for _, r in rows)
    assert any("budget tools.send_refund.sum.amount (limit 80)" in r for _, r in rows)
    assert {code for code, _ in rows} >= {"argument_invalid", "budget_exhausted", "tool_not_allowed"}
    [child] = [r for _, r in rows if run.child_task in r]
    assert f"denied by {run.parent_task}" in child and "min: 0" in child
    # A timeline marker per call, shaped by decision; budgets as bars.
    markers = [a.get("class") for _, a in parsed.tags if "call" in (a.get("class") or "").split()]
    assert len(markers) == len(records)
    assert markers.count("call deny") == 6 and markers.count("call shadow_deny") == 1
    assert "used 45 of 80" in text
    [bar] = [a for t, a in parsed.tags if t == "rect" and a.get("class") == "used"]
    assert float(bar["width"] or 0) == pytest.approx(520 * 45 / 80, abs=0.1)


def test_the_page_is_self_contained() -> None:
    page = to_html([record(1), record(2, "deny", code="tool_not_allowed")])
    parsed = parse(page)
    tags = {t for t, _ in parsed.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}
    for _, attrs in parsed.tags:
        for name, value in attrs.items():
            assert not (name in ("src", "href") or name.startswith("on")), (name, value)
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "@import" not in page and "url(" not in page


def test_markup_in_a_trace_stays_text(tmp_path: Path) -> None:
    run = guarded_run(tmp_path)
    page = to_html(load(run.trace), title="<b>report</b>", sources=["<i>x</i>.jsonl"])
    parsed = parse(page)
    assert not {t for t, _ in parsed.tags} & {"img", "i"}
    assert "<b>report</b>" in parsed.text and "&lt;b&gt;report&lt;/b&gt;" in page
    assert not any(name.startswith("on") for _, a in parsed.tags for name in a)
    assert any(HOSTILE_TOOL in chunk for chunk in parsed.text)  # shown, as text


def test_the_timeline_has_integer_ticks() -> None:
    for n in (1, 7, 12, 13, 40, 999):
        page = to_html([record(i) for i in range(n)])
        ticks = [int(t) for t in re.findall(r'class="tick">([^<]*)<', page)]
        assert ticks[0] == 1 and ticks[-1] <= n and len(ticks) <= 13
        assert ticks == sorted(set(ticks))
        steps = {b - a for a, b in itertools.pairwise(ticks[1:])}
        assert len(steps) <= 1  # evenly spaced after the first


def test_a_long_trace_is_capped_and_says_so() -> None:
    page = to_html([record(i) for i in range(2100)])
    assert page.count('class="call allow"') == 2000
    assert "Showing the first 2,000 of 2,100 calls." in page


def test_no_decisions_and_no_budgets() -> None:
    page = to_html([])
    assert "No calls." in page and "No denials." in page and "No budget in these records" in page


def test_cli_report_html(tmp_path: Path) -> None:
    run = guarded_run(tmp_path)
    out = tmp_path / "report.html"
    (tmp_path / "torn.jsonl").write_text('{"outcome": "allow", "tool": "t", "task": "k"}\n{"trunc\n')
    result = subprocess.run(
        [*GUARDRAIL, "report", "--html", str(out), str(run.trace), str(tmp_path / "torn.jsonl")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"wrote {out}: 11 decisions, 7 denied (1 line(s) skipped: not JSON)")
    page = out.read_text("utf-8")
    assert "spans.jsonl" in page and "torn.jsonl" in page
    assert page.count('<tr class="denial"') == 7


def test_cli_report_takes_several_files(tmp_path: Path) -> None:
    run = guarded_run(tmp_path)
    result = subprocess.run([*GUARDRAIL, "report", str(run.trace), str(run.audit)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    # 10 spans + the log's 9 decisions (authorize only: the shadow guard has no log)
    assert first.startswith("19 decisions: 6 allowed, 12 denied, 1 shadow-denied")
    assert str(run.trace) in first and str(run.audit) in first


def test_cli_report_errors(tmp_path: Path) -> None:
    run = guarded_run(tmp_path)
    both = subprocess.run([*GUARDRAIL, "report", "--json", "--html", "x.html", str(run.trace)],
                          capture_output=True, text=True, timeout=120)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    missing = subprocess.run([*GUARDRAIL, "report", "--html", str(tmp_path / "r.html"),
                              str(tmp_path / "nope.jsonl")], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "nope.jsonl" in missing.stderr
    assert not (tmp_path / "r.html").exists()
    unwritable = subprocess.run([*GUARDRAIL, "report", "--html", str(tmp_path / "no" / "dir" / "r.html"),
                                 str(run.trace)], capture_output=True, text=True, timeout=120)
    assert unwritable.returncode == 2 and "cannot write" in unwritable.stderr
