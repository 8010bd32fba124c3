"""CLI commands for writing manifests: `guardrail init` and `guardrail suggest`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .._authoring import (
    AuthoringError,
    ToolSpec,
    load_source,
    read_openai_file,
    resolve_target,
    skeleton,
    specs_from_python,
    specs_from_source,
    suggest,
)
from .._errors import ManifestError
from .._exit import ExitCode
from ._manifests import plural

__all__ = ["register"]


def _emit(text: str, out: str | None, what: str) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise AuthoringError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    print(f"wrote {out} ({what})", file=sys.stderr)


def _importable_cwd() -> None:
    # `module:attr` names a module of the project the command runs in, as `python -m` would.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _specs(ns: argparse.Namespace) -> tuple[list[ToolSpec], str]:
    if ns.python is not None:
        _importable_cwd()
        return specs_from_python(resolve_target(ns.python), ns.python), ns.python
    if ns.langchain is not None:
        # Named before the module is imported: the module needs LangChain too, and would fail
        # with a less helpful message.
        load_source("langchain")
        _importable_cwd()
        target = resolve_target(ns.langchain)
        return specs_from_source("langchain", target, ns.langchain), ns.langchain
    if ns.openai_tools is not None:
        return read_openai_file(ns.openai_tools), ns.openai_tools
    argv = list(ns.command or ())
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise AuthoringError("--mcp needs the server command: guardrail init --mcp -- CMD ARGS...")
    return specs_from_source("mcp", argv, " ".join(argv)), f"the MCP server {' '.join(argv)}"


def _cmd_init(ns: argparse.Namespace) -> int:
    chosen = [ns.python, ns.langchain, ns.openai_tools, True if ns.mcp else None]
    if sum(x is not None for x in chosen) != 1:
        print("guardrail init: name one tool registry: --python, --langchain, --openai-tools or "
              "--mcp -- CMD", file=sys.stderr)
        return ExitCode.USAGE
    if ns.command and not ns.mcp:
        print(f"guardrail init: unexpected arguments {' '.join(ns.command)!r}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        specs, source = _specs(ns)
        result = skeleton(specs, task=ns.task, ttl=ns.ttl, source=source)
        _emit(result.yaml, ns.out, plural(len(specs), "tool"))
    except AuthoringError as exc:
        print(f"guardrail init: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    return ExitCode.OK


def _margin(text: str) -> float:
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or a percentage: {text!r}") from None
    if not 0 <= value <= 10:
        raise argparse.ArgumentTypeError(f"must be from 0 to 10 (0.1 or 10% widens by a tenth): {text!r}")
    return value


def _cmd_suggest(ns: argparse.Namespace) -> int:
    try:
        result = suggest(ns.traces, margin=ns.margin, task=ns.task, within=ns.within)
    except ManifestError as exc:  # the ceiling
        print(f"guardrail suggest: --within: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except AuthoringError as exc:
        print(f"guardrail suggest: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    report = result.within
    if report is not None and not report.ok:
        # What is wider than the ceiling is not written: fix the trace or the ceiling first.
        print(report.format(), file=sys.stderr)
        if ns.explain:
            sys.stderr.write(result.explain())
        return report.exit_code
    try:
        _emit(result.yaml, ns.out, f"{plural(len(result.manifest.tools), 'tool')} from "
                                   f"{plural(result.learned_from, 'allowed call')}")
    except AuthoringError as exc:
        print(f"guardrail suggest: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    notes = sys.stdout if ns.out is not None else sys.stderr
    if ns.explain:
        notes.write(result.explain())
    if report is not None:
        print(report.format(), file=notes)
    return ExitCode.OK


def register(subparsers: Any) -> None:
    """Add `init` and `suggest` to the `guardrail` command's subparsers."""
    p = subparsers.add_parser(
        "init",
        help="write a skeleton manifest from a tool registry (Python, LangChain, MCP, OpenAI JSON)",
        description="A skeleton manifest granting every tool of a registry: each argument named "
        "with the type, enum and bounds of its schema, required arguments marked, a task, a ttl "
        "and commented budget lines to fill in. It loads as it is; narrow it before use.",
    )
    source = p.add_argument_group("tool registry (one of)")
    source.add_argument("--python", metavar="MODULE:ATTR",
                        help="a function, or a list or dict of functions (types from annotations)")
    source.add_argument("--langchain", metavar="MODULE:ATTR",
                        help="a LangChain tool or a list of them (needs task-guardrail[langchain])")
    source.add_argument("--openai-tools", metavar="FILE.json",
                        help="OpenAI-style function tools: a JSON list of {type: function, ...}")
    source.add_argument("--mcp", action="store_true",
                        help="an MCP server's tools/list over stdio: --mcp -- CMD ARGS... "
                        "(needs task-guardrail[mcp])")
    p.add_argument("--task", default="my-task", help="the task name to write (default: my-task)")
    p.add_argument("--ttl", default="15m", help="the ttl to write (default: 15m)")
    p.add_argument("--out", metavar="FILE", help="write the manifest here (default: stdout)")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ARGS",
                   help="with --mcp: the server command")
    p.set_defaults(func=_cmd_init)

    p = subparsers.add_parser(
        "suggest",
        help="learn the least-privilege manifest from a trace recorded with values",
        description="The manifest that would have allowed exactly the calls the trace shows the "
        "guard allowing: exact values when few, numeric ranges, common directories, URL hosts and "
        "path prefixes, obvious patterns, types otherwise; budgets from the most one task used; a "
        "ttl from the longest task. Denied calls are not learned from. Reads JSONL spans "
        "(--trace jsonl:PATH), OTLP JSON and decision logs, written with record_values=True.",
    )
    p.add_argument("traces", nargs="+", metavar="TRACE",
                   help="traces recorded with values: JSONL spans, OTLP JSON or decision logs")
    p.add_argument("--margin", type=_margin, default=0.0, metavar="FRACTION",
                   help="widen numeric ranges and lengths by this fraction (0.1 or 10%%; default 0)")
    p.add_argument("--task", help="the task name to write (default: the trace's, if one)")
    p.add_argument("--explain", action="store_true", help="say why each constraint was chosen")
    p.add_argument("--within", metavar="CEILING",
                   help="prove the suggestion narrower than this manifest (exit 0), or name where "
                   "it is wider (exit 1; 4 when unprovable) and write nothing")
    p.add_argument("--out", metavar="FILE", help="write the manifest here (default: stdout)")
    p.set_defaults(func=_cmd_suggest)
