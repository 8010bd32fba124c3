"""Decisions read back from traces and decision logs: records, a pandas DataFrame, an HTML page.

    from guardrail.report import load, to_dataframe, to_html

    records = load("spans.jsonl")          # a JSONL trace (--trace jsonl:PATH) or an AuditLog file
    denied = [r for r in records if r.denied]
    frame = to_dataframe(records)          # needs pandas
    Path("report.html").write_text(to_html(records), encoding="utf-8")

One `Record` per decision the guard made: a tool span (``execute_tool {tool}`` with
``guardrail.decision``) written by `JsonlSpanExporter`, or a line of a decision log written by
`AuditLog`. Spans that are not the guard's decisions are left out. `from_spans` does the same for
finished spans in memory (for example from an ``InMemorySpanExporter``).

Records hold what the trace holds: argument *values* are there only if the guard ran with
``record_values=True`` (and are not part of a record). A budget is known where the trace carries
one: on ``budget_exhausted`` denials (its scope, limit, and what was used before the call).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ._telemetry import _names as tel
from ._telemetry._html import render_html

if TYPE_CHECKING:
    import pandas
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["Record", "from_spans", "load", "to_dataframe", "to_html"]

_OUTCOMES = ("allow", "deny", "ask", "shadow_deny", "shadow_ask")


@dataclass(frozen=True, slots=True)
class Record:
    """One decision of the guard, as a trace or decision log recorded it.

    Attributes:
        time: when the call was decided (the span's start, or the log line's time), UTC.
        task: the task of the guard that made the call.
        principal: who held the authority.
        tool: the tool called.
        call_id: the guard's call id (the framework's tool call id where there is one).
        decision: ``allow``, ``deny``, ``ask`` (put to a person, not run), ``shadow_deny`` or
            ``shadow_ask``.
        code: the denial code (``argument_invalid``, ``budget_exhausted``, ...), None if allowed.
        argument: the argument path that failed, if any.
        constraint: the constraint that failed, as written (``max: 50``), if any.
        message: the denial's one-sentence message.
        budget_scope: for a budget denial, the budget (``tools.send_refund.calls``).
        budget_limit: that budget's limit.
        budget_used: what the task had used of it before this call.
        denied_by: the task whose manifest denied (a sub-agent's call may be denied by an
            ancestor's manifest); None if allowed.
        depth: the delegation depth of the guard that made the call (0 for a root task).
        mode: ``enforce`` or ``shadow``.
        manifest_digest: the digest of the calling guard's manifest.
        duration_ms: the span's duration (the decision plus the tool's run when allowed).
        trace_id: the OpenTelemetry trace id, if recorded.
        span_id: the OpenTelemetry span id, if recorded.
        source: ``span`` or ``audit``: what the record was read from.
        approval_id: for a call that asked, its approval request's id.
        approval: what became of that request: ``approved``, ``rejected``, ``pending`` or
            ``expired``.
        approved_by: who answered it, when recorded.
    """

    time: datetime | None
    task: str
    principal: str | None
    tool: str
    call_id: str | None
    decision: str
    code: str | None
    argument: str | None
    constraint: str | None
    message: str | None
    budget_scope: str | None
    budget_limit: float | None
    budget_used: float | None
    denied_by: str | None
    depth: int | None
    mode: str | None
    manifest_digest: str | None
    duration_ms: float | None
    trace_id: str | None
    span_id: str | None
    source: str
    approval_id: str | None = None
    approval: str | None = None
    approved_by: str | None = None

    @property
    def denied(self) -> bool:
        """True for a denial, enforced or in shadow mode."""
        return self.decision != "allow"


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(nanos: Any, text: Any) -> datetime | None:
    if isinstance(nanos, int) and not isinstance(nanos, bool):
        try:
            return datetime.fromtimestamp(nanos / 1e9, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    if isinstance(text, str):
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None


def _from_span(obj: Mapping[str, Any]) -> Record | None:
    attrs = obj.get("attributes")
    if not isinstance(attrs, Mapping) or attrs.get(tel.DECISION) not in _OUTCOMES:
        return None
    event: Mapping[str, Any] = {}
    for ev in obj.get("events") or ():
        if isinstance(ev, Mapping) and ev.get("name") == tel.DENIAL_EVENT:
            found = ev.get("attributes")
            event = found if isinstance(found, Mapping) else {}
            break
    decision = attrs[tel.DECISION]
    denied = decision != "allow"
    return Record(
        time=_time(obj.get("start_time_unix_nano"), obj.get("start_time")),
        task=_text(attrs.get(tel.TASK)) or _text(event.get("task")) or "",
        principal=_text(attrs.get(tel.PRINCIPAL)),
        tool=_text(attrs.get(tel.GEN_AI_TOOL_NAME)) or "",
        call_id=_text(attrs.get(tel.GEN_AI_TOOL_CALL_ID)),
        decision=decision,
        code=_text(attrs.get(tel.DENIAL_CODE)) or _text(event.get("code")) if denied else None,
        argument=_text(attrs.get(tel.DENIAL_ARGUMENT)) if denied else None,
        constraint=_text(attrs.get(tel.DENIAL_CONSTRAINT)) if denied else None,
        message=_text(attrs.get(tel.DENIAL_MESSAGE)) or _text(event.get("message")) if denied else None,
        budget_scope=_text(attrs.get(tel.DENIAL_BUDGET_SCOPE)) if denied else None,
        budget_limit=_number(attrs.get(tel.DENIAL_BUDGET_LIMIT)) if denied else None,
        budget_used=_number(attrs.get(tel.DENIAL_BUDGET_USED)) if denied else None,
        denied_by=(_text(event.get("task")) or _text(attrs.get(tel.TASK))) if denied else None,
        depth=_integer(attrs.get(tel.DELEGATION_DEPTH)),
        mode=_text(attrs.get(tel.MODE)),
        manifest_digest=_text(attrs.get(tel.MANIFEST_DIGEST)),
        duration_ms=_number(obj.get("duration_ms")),
        trace_id=_text(obj.get("trace_id")),
        span_id=_text(obj.get("span_id")),
        source="span",
        approval_id=_text(attrs.get(tel.APPROVAL_ID)),
        approval=_text(attrs.get(tel.APPROVAL_OUTCOME)),
        approved_by=_text(attrs.get(tel.APPROVAL_BY)),
    )


def _from_audit(obj: Mapping[str, Any]) -> Record | None:
    decision = obj.get("outcome")
    if decision not in _OUTCOMES:
        return None
    raw = obj.get("denial")
    denial: Mapping[str, Any] = raw if isinstance(raw, Mapping) and decision != "allow" else {}
    raw_budget = denial.get("budget")
    budget: Mapping[str, Any] = raw_budget if isinstance(raw_budget, Mapping) else {}
    raw_approval = obj.get("approval")
    approval: Mapping[str, Any] = raw_approval if isinstance(raw_approval, Mapping) else {}
    return Record(
        time=_time(None, obj.get("time")),
        task=_text(obj.get("task")) or _text(denial.get("task")) or "",
        principal=_text(obj.get("principal")),
        tool=_text(obj.get("tool")) or "",
        call_id=_text(obj.get("call_id")),
        decision=decision,
        code=_text(denial.get("code")),
        argument=_text(denial.get("argument")),
        constraint=_text(denial.get("constraint")),
        message=_text(denial.get("message")),
        budget_scope=_text(budget.get("scope")),
        budget_limit=_number(budget.get("limit")),
        budget_used=_number(budget.get("used")),
        denied_by=_text(denial.get("task")) if denial else None,
        depth=None,
        mode=_text(obj.get("mode")),
        manifest_digest=_text(obj.get("manifest_digest")),
        duration_ms=None,
        trace_id=_text(obj.get("trace_id")),
        span_id=_text(obj.get("span_id")),
        source="audit",
        approval_id=_text(approval.get("id")),
        approval=_text(approval.get("outcome")),
        approved_by=_text(approval.get("by")),
    )


def _records_from(objects: Iterable[Any]) -> list[Record]:
    """Records from parsed JSON objects (span dicts or decision-log entries); other objects are
    left out."""
    out: list[Record] = []
    for obj in objects:
        if not isinstance(obj, Mapping):
            continue
        record = _from_span(obj) if "attributes" in obj else _from_audit(obj)
        if record is not None:
            out.append(record)
    return out


def _read_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON or None when the line is not JSON) for each non-blank line."""
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except (ValueError, RecursionError):
                yield number, None


def load(path: str | os.PathLike[str]) -> list[Record]:
    """The decisions in a JSONL trace (``--trace jsonl:PATH``), a decision log (`AuditLog`) or an
    OTLP/JSON file (the OpenTelemetry Collector's file exporter).

    Raises:
        OSError: the file cannot be read.
        ValueError: a line is not JSON (the error names the file and line), the file is not
            UTF-8 text, or no line is a span or a decision.
    """
    for number, obj in _read_lines(path):
        if obj is None:
            raise ValueError(f"{os.fspath(path)}:{number}: not a JSON line")
    from ._telemetry._report import read_records

    return _records_from(read_records(path))


def from_spans(spans: Iterable[ReadableSpan]) -> list[Record]:
    """The decisions among finished spans in memory (say, from an ``InMemorySpanExporter``)."""
    from ._telemetry._export import span_to_dict

    return _records_from(span_to_dict(span) for span in spans)


def to_dataframe(records: Iterable[Record]) -> pandas.DataFrame:
    """The records as a pandas DataFrame: one row per decision, one column per `Record` field
    (``time`` as UTC timestamps), in order of time. Needs pandas (``pip install pandas``)."""
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("to_dataframe needs pandas: pip install pandas") from exc
    columns = [f.name for f in fields(Record)]
    frame = pd.DataFrame([asdict(r) for r in records], columns=columns)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame.sort_values("time", kind="stable", ignore_index=True)


def to_html(
    records: Sequence[Record], *, title: str = "guardrail report", sources: Sequence[str] = ()
) -> str:
    """The HTML report: one self-contained page (inline CSS and SVG, nothing loaded from anywhere)
    with the totals, a timeline of the calls and their decisions, the denials grouped by task,
    tool and code, and the budgets the records carry as bars against their limits."""
    return render_html(records, title=title, sources=sources)
