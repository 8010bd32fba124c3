"""Decisions read back from what the guard wrote: JSONL spans (`JsonlSpanExporter`, format
`guardrail.span/1`), OTLP JSON (one `ExportTraceServiceRequest` per line, as the OpenTelemetry
Collector's file exporter writes it, or one document per file) and decision logs (`AuditLog`).

Argument values are there only when the guard ran with `record_values=True`: spans carry them as
`gen_ai.tool.call.arguments` (JSON text, secret-named keys redacted, cut at 8 KiB), audit lines as
`args`. A decision without them is read with `args=None`, and one whose values were cut or could
not be serialised names why in `args_problem`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import _telemetry as tel
from ._errors import AuthoringError

__all__ = ["Observed", "read_trace"]

_OUTCOME_KEYS = ("outcome", "tool")


@dataclass(frozen=True)
class Observed:
    """One decision the guard made: where it was read, what was called, what was decided."""

    where: str  # FILE:LINE
    kind: str  # "span", "otlp" or "audit"
    task: str
    principal: str | None
    tool: str
    outcome: str
    call_id: str | None
    args: dict[str, Any] | None  # None: values not recorded (or unreadable: see args_problem)
    args_problem: str | None
    start: float | None  # POSIX seconds
    end: float | None

    @property
    def allowed(self) -> bool:
        return self.outcome == "allow"


def _lines(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuthoringError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise AuthoringError(f"{path} is not UTF-8 text") from None
    if not text.strip():
        raise AuthoringError(f"{path} is empty: there is nothing to learn from")
    # Split on newlines only: str.splitlines() also splits on U+0085 and U+2028, which JSON
    # text written with ensure_ascii=False may hold inside a string.
    rows = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    try:
        first = json.loads(rows[0][1])
    except (ValueError, RecursionError):
        first = None
    if not isinstance(first, Mapping):
        try:  # one JSON document over several lines (an OTLP export, pretty-printed)
            whole = json.loads(text)
        except (ValueError, RecursionError):
            whole = None
        if isinstance(whole, Mapping):
            yield 1, whole
            return
    for n, line in rows:
        try:
            yield n, json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise AuthoringError(f"{path}:{n}: not a JSON line ({exc})") from None


def _seconds(value: Any) -> float | None:
    """Unix nanoseconds (int, or a string as OTLP JSON writes int64) as seconds."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value / 1e9
    return None


def _iso_seconds(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _arguments(text: Any) -> tuple[dict[str, Any] | None, str | None]:
    if text is None:
        return None, None
    if not isinstance(text, str):
        return None, f"{tel.GEN_AI_TOOL_CALL_ARGUMENTS} is not JSON text"
    if text.endswith("...[truncated]"):
        return None, (f"the arguments were cut at {tel.MAX_ARGUMENTS_CHARS} characters when "
                      "recorded, so their values are not all known")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None, "the recorded arguments are not JSON (they could not be serialised)"
    if not isinstance(value, dict):
        return None, "the recorded arguments are not a JSON object"
    return value, None


def _from_span(attrs: Mapping[str, Any], where: str, kind: str, start: float | None,
               end: float | None) -> Observed | None:
    outcome = attrs.get(tel.DECISION)
    if not isinstance(outcome, str):
        return None
    args, problem = _arguments(attrs.get(tel.GEN_AI_TOOL_CALL_ARGUMENTS))
    principal = attrs.get(tel.PRINCIPAL)
    call_id = attrs.get(tel.GEN_AI_TOOL_CALL_ID)
    return Observed(
        where=where, kind=kind, task=str(attrs.get(tel.TASK) or ""),
        principal=principal if isinstance(principal, str) else None,
        tool=str(attrs.get(tel.GEN_AI_TOOL_NAME) or ""), outcome=outcome,
        call_id=str(call_id) if call_id is not None else None,
        args=args, args_problem=problem, start=start, end=end,
    )


def _from_audit(obj: Mapping[str, Any], where: str) -> Observed | None:
    outcome, tool = obj.get("outcome"), obj.get("tool")
    if not isinstance(outcome, str) or not isinstance(tool, str):
        return None
    raw = obj.get("args")
    args: dict[str, Any] | None = None
    problem = None
    if isinstance(raw, dict):
        args = raw
    elif raw is not None:
        problem = "the recorded arguments are not a JSON object"
    at = _iso_seconds(obj.get("time"))
    principal = obj.get("principal")
    call_id = obj.get("call_id")
    return Observed(
        where=where, kind="audit", task=str(obj.get("task") or ""),
        principal=principal if isinstance(principal, str) else None,
        tool=tool, outcome=outcome, call_id=str(call_id) if call_id is not None else None,
        args=args, args_problem=problem, start=at, end=at,
    )


def _otlp_value(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return None
    for key in ("stringValue", "string_value"):
        if key in value:
            return value[key]
    for key in ("boolValue", "bool_value"):
        if key in value:
            return bool(value[key])
    for key in ("intValue", "int_value"):
        if key in value:
            try:
                return int(value[key])
            except (TypeError, ValueError):
                return None
    for key in ("doubleValue", "double_value"):
        if key in value:
            try:
                return float(value[key])
            except (TypeError, ValueError):
                return None
    for key in ("arrayValue", "array_value"):
        if key in value:
            inner = value[key] if isinstance(value[key], Mapping) else {}
            return [_otlp_value(v) for v in inner.get("values") or ()]
    for key in ("kvlistValue", "kvlist_value"):
        if key in value:
            inner = value[key] if isinstance(value[key], Mapping) else {}
            return _otlp_attrs(inner.get("values"))
    return None


def _otlp_attrs(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or ():
        if isinstance(item, Mapping) and isinstance(item.get("key"), str):
            out[item["key"]] = _otlp_value(item.get("value"))
    return out


def _otlp_spans(obj: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for resource in obj.get("resourceSpans") or obj.get("resource_spans") or ():
        if not isinstance(resource, Mapping):
            continue
        scopes = (resource.get("scopeSpans") or resource.get("scope_spans")
                  or resource.get("instrumentationLibrarySpans") or ())
        for scope in scopes:
            if isinstance(scope, Mapping):
                for span in scope.get("spans") or ():
                    if isinstance(span, Mapping):
                        yield span


def read_trace(path: str | os.PathLike[str]) -> tuple[list[Observed], int]:
    """The guard's decisions in one file, and how many records were something else."""
    p = Path(path)
    found: list[Observed] = []
    other = 0
    for n, obj in _lines(p):
        where = f"{p}:{n}"
        if not isinstance(obj, Mapping):
            other += 1
            continue
        if "resourceSpans" in obj or "resource_spans" in obj:
            for span in _otlp_spans(obj):
                start = _seconds(span.get("startTimeUnixNano", span.get("start_time_unix_nano")))
                end = _seconds(span.get("endTimeUnixNano", span.get("end_time_unix_nano")))
                seen = _from_span(_otlp_attrs(span.get("attributes")), where, "otlp", start, end)
                if seen is None:
                    other += 1
                else:
                    found.append(seen)
            continue
        attrs = obj.get("attributes")
        if isinstance(attrs, Mapping):
            seen = _from_span(attrs, where, "span", _seconds(obj.get("start_time_unix_nano")),
                              _seconds(obj.get("end_time_unix_nano")))
        elif all(k in obj for k in _OUTCOME_KEYS):
            seen = _from_audit(obj, where)
        else:
            seen = None
        if seen is None:
            other += 1
        else:
            found.append(seen)
    return found, other
