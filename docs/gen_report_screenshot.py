"""Make docs/report-screenshot.png: the HTML report of `guardrail demo --plain`, as headless
Chromium draws it. The browser tests (tests/report/test_report_browser.py) use the same helpers.

    python docs/gen_report_screenshot.py

Needs Debian's `chromium` (`apt-get install chromium`; `.ci/run` installs it), or a Chromium
named by $CHROMIUM.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
SCREENSHOT = DOCS / "report-screenshot.png"


def chromium() -> str:
    """The Chromium binary: $CHROMIUM, else the first of the usual names on PATH."""
    named = os.environ.get("CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("no Chromium found: apt-get install chromium (or set $CHROMIUM)")


def run_chromium(page: Path, *flags: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on a local file, with a profile of its own (runs may overlap)."""
    with tempfile.TemporaryDirectory(prefix="guardrail-chromium-") as profile:
        return subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
             *flags, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=timeout, check=True,
        )


def dump_dom(page: Path) -> str:
    """The page's DOM after Chromium has loaded it, serialised."""
    return run_chromium(page, "--dump-dom").stdout


def screenshot(page: Path, png: Path, width: int = 1100, height: int = 1320) -> Path:
    run_chromium(page, f"--window-size={width},{height}", f"--screenshot={png.resolve()}")
    if not png.exists():
        raise RuntimeError(f"Chromium wrote no screenshot to {png}")
    return png


def demo_report(workdir: Path) -> Path:
    """Run `guardrail demo --plain` with a JSONL trace and render its HTML report; the page."""
    guardrail = [sys.executable, "-m", "guardrail"]
    # Relative names, so the page names the trace as a user would see it.
    subprocess.run([*guardrail, "demo", "--plain", "--trace", "jsonl:spans.jsonl"],
                   check=True, capture_output=True, timeout=120, cwd=workdir)
    subprocess.run([*guardrail, "report", "--html", "report.html", "spans.jsonl"],
                   check=True, capture_output=True, timeout=120, cwd=workdir)
    return workdir / "report.html"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        screenshot(demo_report(Path(tmp)), SCREENSHOT)
    print(f"wrote {SCREENSHOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
