"""The HTML report in a real browser: headless Chromium (Debian's `chromium`, installed by .ci/run)
loads the page `guardrail report --html` wrote, and shows the denials."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from PIL import Image

from tests.report.support import REPO, guarded_run


def _load_browser_helpers() -> ModuleType:
    # The helpers that also make the docs' screenshot (docs/gen_report_screenshot.py).
    spec = importlib.util.spec_from_file_location("gen_report_screenshot",
                                                  REPO / "docs" / "gen_report_screenshot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


browser = _load_browser_helpers()
VERMILLION, BLUE = (0xD5, 0x5E, 0x00), (0x00, 0x72, 0xB2)  # denied, allowed (Okabe-Ito)


def _report(tmp_path: Path) -> Path:
    run = guarded_run(tmp_path)
    page = tmp_path / "report.html"
    subprocess.run([sys.executable, "-m", "guardrail", "report", "--html", str(page), str(run.trace)],
                   check=True, capture_output=True, timeout=120)
    return page


def _pixels_near(png: Path, colour: tuple[int, int, int], tolerance: int = 24) -> int:
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        return sum(
            count for count, (r, g, b) in rgb.getcolors(maxcolors=1 << 24) or []
            if abs(r - colour[0]) <= tolerance and abs(g - colour[1]) <= tolerance
            and abs(b - colour[2]) <= tolerance
        )


def test_chromium_renders_the_denials(tmp_path: Path) -> None:
    dom = browser.dump_dom(_report(tmp_path))
    # The DOM Chromium built: the denial rows with their codes, argument and constraint.
    rows = re.findall(r'<tr class="denial" data-code="(\w+)">(.*?)</tr>', dom, re.S)
    assert {code for code, _ in rows} == {"argument_invalid", "budget_exhausted", "tool_not_allowed"}
    assert any("amount" in row and "max: 50" in row for _, row in rows)
    assert any("path_within" in row for _, row in rows)
    # The hostile tool name is text in the page (escaped when serialised), not an element.
    assert "<img" not in dom and "&lt;img src=x onerror=" in dom
    assert dom.count('class="call deny"') == 6


def test_chromium_draws_the_page(tmp_path: Path) -> None:
    page = _report(tmp_path)
    png = browser.screenshot(page, tmp_path / "report.png", width=1100, height=1400)
    with Image.open(png) as image:
        assert image.size == (1100, 1400)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    assert len(colours) > 50  # text, markers and bars, not a blank page
    # Denials are drawn (vermillion crosses and codes), and so are allowed calls and the bars.
    assert _pixels_near(png, VERMILLION) > 400
    assert _pixels_near(png, BLUE) > 2000


def test_a_page_without_denials_draws_no_denial_marks(tmp_path: Path) -> None:
    trace = tmp_path / "allowed.jsonl"
    trace.write_text("".join(
        f'{{"outcome": "allow", "tool": "read_ticket", "task": "t-1", "time": "2026-01-01T00:00:0{i}Z"}}\n'
        for i in range(5)
    ))
    page = tmp_path / "allowed.html"
    subprocess.run([sys.executable, "-m", "guardrail", "report", "--html", str(page), str(trace)],
                   check=True, capture_output=True, timeout=120)
    png = browser.screenshot(page, tmp_path / "allowed.png", width=1100, height=900)
    # Only the "0 denied" figure and the legend's cross are vermillion.
    assert _pixels_near(png, VERMILLION) < 400
    assert "No denials." in browser.dump_dom(page)


def test_the_docs_screenshot_is_the_demo_report(tmp_path: Path) -> None:
    # The committed screenshot is what the docs show; the script that makes it still works.
    png = browser.screenshot(browser.demo_report(tmp_path), tmp_path / "demo.png")
    with Image.open(png) as made, Image.open(browser.SCREENSHOT) as kept:
        assert made.size == kept.size
    assert _pixels_near(browser.SCREENSHOT, VERMILLION) > 400
