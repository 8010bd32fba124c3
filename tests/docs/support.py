"""Reading the docs' code blocks and the markers around them.

Markers (an HTML comment on the line before a fenced block, invisible in the built site):

- ``<!-- run -->`` before a ```python block: the block runs in a fresh interpreter from the
  repository root and must exit 0.
- ``<!-- output -->`` before a ```text block right after a runnable block: what the block prints.
  Each line must equal a printed line, in order (other printed lines may come between); ``...``
  in a line matches any text.
- ``<!-- delegation-examples:start ... -->`` .. ``<!-- delegation-examples:end -->``: a section
  whose python and bash blocks build on each other; tests/docs/test_docs_delegation.py runs
  them in order, in one namespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
_MARKER = re.compile(r"<!--\s*([\w:-]+)[^>]*-->\s*\Z")
_SECTION = re.compile(r"<!-- delegation-examples:start.*?<!-- delegation-examples:end -->", re.S)


@dataclass(frozen=True)
class Block:
    page: str  # path relative to docs/
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: str | None  # the marker comment on the line before, if any
    in_section: bool  # inside a delegation-examples section
    output: str | None = None  # for a runnable block: the marked output block after it

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def blocks(path: Path) -> list[Block]:
    """Every fenced block of one page, with its marker; runnable blocks get their output."""
    text = path.read_text("utf-8")
    sections = [m.span() for m in _SECTION.finditer(text)]
    found: list[Block] = []
    for m in _FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        found.append(Block(
            page=path.relative_to(DOCS).as_posix(),
            line=text.count("\n", 0, m.start()) + 1,
            lang=m.group(1),
            code=m.group(2),
            marker=marker.group(1) if marker else None,
            in_section=any(a <= m.start() < b for a, b in sections),
        ))
    out: list[Block] = []
    for i, block in enumerate(found):
        nxt = found[i + 1] if i + 1 < len(found) else None
        if block.marker == "run" and nxt is not None and nxt.marker == "output":
            block = Block(**{**block.__dict__, "output": nxt.code})
        out.append(block)
    return out


def all_blocks() -> list[Block]:
    return [b for page in pages() for b in blocks(page)]


def runnable() -> list[Block]:
    return [b for b in all_blocks() if b.marker == "run"]


def output_matches(expected: str, printed: str) -> str | None:
    """None when every expected line is a printed line, in order; else what is missing."""
    lines = printed.splitlines()
    at = 0
    for want in expected.splitlines():
        if not want.strip():
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in want.rstrip().split("...")) + r"\Z")
        while at < len(lines) and not pattern.match(lines[at].rstrip()):
            at += 1
        if at == len(lines):
            return f"expected line not printed (in order): {want!r}"
        at += 1
    return None


# A block that uses an adapter (or its framework, or pandas) needs that extra installed to run.
EXTRAS = {
    "guardrail_langchain": ("langchain", "langchain"), "langchain": ("langchain", "langchain"),
    "langchain_core": ("langchain", "langchain"), "langgraph": ("langgraph", "langchain"),
    "guardrail_mcp": ("mcp", "mcp"), "mcp": ("mcp", "mcp"),
    "guardrail_openai_agents": ("agents", "openai-agents"), "agents": ("agents", "openai-agents"),
    "pandas": ("pandas", "notebooks"), "to_dataframe": ("pandas", "notebooks"),
}


def needs_extras(block: str) -> None:
    """Skip (naming the extra) when a block needs an extra that is not installed."""
    import pytest

    names = set(re.findall(r"^\s*(?:from|import) (\w+)", block, re.M))
    names |= {word for word in re.findall(r"\b\w+\b", block) if word == "to_dataframe"}
    for name in sorted(names):
        if name in EXTRAS:
            module, extra = EXTRAS[name]
            pytest.importorskip(module, reason=f"needs the {extra} extra: pip install '.[{extra}]'")


def section_blocks(pages_in_order: list[str]) -> list[tuple[str, str]]:
    """(lang, code) of the python and bash blocks inside the delegation-examples sections of these
    pages, in order."""
    result: list[tuple[str, str]] = []
    for page in pages_in_order:
        for block in blocks(DOCS / page):
            if block.in_section and block.lang in ("python", "bash"):
                result.append((block.lang, block.code))
    return result
