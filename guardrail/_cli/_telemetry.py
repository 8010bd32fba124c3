"""CLI commands for traces and decision logs: `guardrail report` and `guardrail audit verify`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .._exit import ExitCode

__all__ = ["register"]


def _cmd_report(ns: argparse.Namespace) -> int:
    from .._telemetry._report import build_report, read_records, render_report
    from ..report import _records_from, to_html

    objects: list[Any] = []  # None for a line that is not JSON: counted as skipped
    for path in ns.paths:
        try:
            objects.extend(read_records(path))
        except OSError as exc:
            print(f"guardrail report: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
            return ExitCode.USAGE
        except UnicodeDecodeError:
            print(f"guardrail report: {path} is not a UTF-8 text file", file=sys.stderr)
            return ExitCode.USAGE
        except ValueError as exc:  # not a trace, or an OTLP line of the wrong shape
            print(f"guardrail report: {exc}", file=sys.stderr)
            return ExitCode.USAGE
    if ns.html:
        records = _records_from(objects)
        try:
            with open(ns.html, "w", encoding="utf-8") as out:
                out.write(to_html(records, sources=ns.paths))
        except OSError as exc:
            print(f"guardrail report: cannot write {ns.html}: {exc.strerror or exc}", file=sys.stderr)
            return ExitCode.USAGE
        denied = sum(1 for r in records if r.denied)
        skipped = sum(1 for obj in objects if obj is None)
        print(f"wrote {ns.html}: {len(records)} decision{'' if len(records) == 1 else 's'}, "
              f"{denied} denied" + (f" ({skipped} line(s) skipped: not JSON)" if skipped else ""))
        return ExitCode.OK
    report = build_report(objects, source=", ".join(ns.paths))
    if ns.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(render_report(report))
    return ExitCode.OK


def _cmd_audit_verify(ns: argparse.Namespace) -> int:
    from .._audit import verify

    try:
        result = verify(ns.path, partial=ns.partial, anchor=ns.anchor)
    except OSError as exc:
        print(f"guardrail audit verify: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if ns.json:
        body: dict[str, Any] = {
            "ok": result.ok,
            "files": result.files,
            "lines": result.lines,
            "first_seq": result.first_seq,
            "last_seq": result.last_seq,
            "head": result.head,
            "bad": None if result.bad is None else {
                "file": result.bad.file, "line": result.bad.line, "reason": result.bad.reason,
            },
            "notes": result.notes,
        }
        print(json.dumps(body, indent=2))
    else:
        print(result.summary())
        for note in result.notes:
            print(f"note: {note}")
    return ExitCode.OK if result.ok else ExitCode.FAILED


def register(subparsers: Any) -> None:
    """Add `report` and `audit` to the `guardrail` command's subparsers."""
    p = subparsers.add_parser(
        "report",
        help="summarise the decisions in a trace (--trace jsonl:PATH, OTLP/JSON) or decision log",
        description="Totals of allowed and denied calls, and denials grouped by task, tool and "
        "code with the argument and constraint that failed. Reads the JSONL spans of --trace "
        "jsonl:PATH, an AuditLog decision log, or OTLP/JSON (the OpenTelemetry Collector's file "
        "exporter: one ExportTraceServiceRequest per line); refuses any other file.",
    )
    p.add_argument("paths", nargs="+", metavar="TRACE",
                   help="JSONL traces (--trace jsonl:PATH), decision logs (AuditLog) or OTLP/JSON")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print the report as JSON")
    form.add_argument("--html", metavar="OUT.html",
                      help="write a self-contained HTML page: totals, timeline, denials, budgets")
    p.set_defaults(func=_cmd_report)

    p = subparsers.add_parser("audit", help="decision logs written by AuditLog")
    audit = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    v = audit.add_parser(
        "verify",
        help="check a decision log's hash chain (exit 0 intact, 1 broken)",
        description="Check every line of a decision log (its rotated files PATH.000001... and "
        "PATH) and name the first line that was edited, deleted or moved.",
    )
    v.add_argument("path", metavar="PATH", help="the decision log (its newest file)")
    v.add_argument("--partial", action="store_true",
                   help="accept a chain that starts after seq 1 (older rotated files removed)")
    v.add_argument("--anchor", metavar="HASH",
                   help="a head recorded earlier: the chain must contain a line with this hash")
    v.add_argument("--json", action="store_true", help="print the result as JSON")
    v.set_defaults(func=_cmd_audit_verify)
