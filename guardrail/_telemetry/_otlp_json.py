"""OTLP/JSON trace files, read as the span dicts `JsonlSpanExporter` writes (``guardrail.span/1``).

The OpenTelemetry Collector's file exporter (and other tools speaking OTLP/JSON) write one
``ExportTraceServiceRequest`` per line::

    {"resourceSpans": [{"resource": {"attributes": [...]},
                        "scopeSpans": [{"scope": {"name": ..., "version": ...},
                                        "spans": [{"traceId": "<hex>", "spanId": "<hex>", ...}]}]}]}

Attribute values are OTLP ``AnyValue`` objects (``{"stringValue": ...}``, ``{"intValue": "5"}``,
arrays, key-value lists), times are nanoseconds (as strings or numbers), ids are hex (the OTLP/JSON
rule) or base64 (what protobuf's generic JSON mapping writes); both are read. Field names may be
lowerCamelCase (OTLP/JSON) or snake_case (the proto's own names).

Pure data conversion: no OpenTelemetry SDK, so `guardrail report` stays light.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["is_otlp_request", "otlp_spans"]

_FORMAT = "guardrail.span/1"  # the shape of `_export.span_to_dict`, which readers of traces expect
_HEX = re.compile(r"[0-9a-fA-F]*\Z")
_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUS = ("UNSET", "OK", "ERROR")


def _get(obj: Mapping[str, Any], camel: str) -> Any:
    """`obj[camel]`, or its snake_case spelling."""
    if camel in obj:
        return obj[camel]
    return obj.get(re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower())


def is_otlp_request(obj: Any) -> bool:
    """Whether a parsed JSON line is an OTLP ``ExportTraceServiceRequest``."""
    return isinstance(obj, Mapping) and _get(obj, "resourceSpans") is not None


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _id(value: Any, size: int, where: str) -> str | None:
    """A trace (16 bytes) or span (8 bytes) id as lowercase hex; empty means none."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where}: an id must be a string, got {type(value).__name__}")
    if len(value) == 2 * size and _HEX.match(value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise ValueError(f"{where}: {value!r} is not an id of {size} bytes (hex or base64)")
    return raw.hex()


def _nanos(value: Any, where: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{where}: a time must be nanoseconds, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{where}: a time must be nanoseconds, got {value!r}") from None


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    dt = datetime.fromtimestamp(ns / 1e9, UTC)
    return dt.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _value(any_value: Any, where: str) -> Any:
    """An OTLP AnyValue as the plain value a span attribute holds."""
    v = _mapping(any_value, where)
    if not v:
        return None
    for key in ("stringValue", "boolValue", "doubleValue", "bytesValue"):
        if _get(v, key) is not None:
            return _get(v, key)
    if _get(v, "intValue") is not None:
        raw = _get(v, "intValue")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: intValue {raw!r} is not an integer") from None
    if _get(v, "arrayValue") is not None:
        values = _list(_mapping(_get(v, "arrayValue"), where).get("values"), where)
        return [_value(item, where) for item in values]
    if _get(v, "kvlistValue") is not None:
        return _attrs(_mapping(_get(v, "kvlistValue"), where).get("values"), where)
    raise ValueError(f"{where}: unknown attribute value {dict(v)!r}")


def _attrs(items: Any, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in _list(items, where):
        kv = _mapping(item, where)
        key = kv.get("key")
        if not isinstance(key, str):
            raise ValueError(f"{where}: an attribute without a string key")
        out[key] = _value(kv.get("value"), f"{where}: {key}")
    return {key: out[key] for key in sorted(out)}


def _enum(value: Any, names: tuple[str, ...], prefix: str, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return names[value]
    if isinstance(value, str) and value.removeprefix(prefix) in names:
        return value.removeprefix(prefix)
    if value is None:
        return names[0]
    raise ValueError(f"{where}: unknown value {value!r}")


def _event(event: Mapping[str, Any], where: str) -> dict[str, Any]:
    ns = _nanos(_get(event, "timeUnixNano"), where)
    return {"name": str(event.get("name") or ""), "time": _iso(ns), "time_unix_nano": ns,
            "attributes": _attrs(event.get("attributes"), where)}


def _link(link: Mapping[str, Any], where: str) -> dict[str, Any]:
    return {"trace_id": _id(_get(link, "traceId"), 16, where),
            "span_id": _id(_get(link, "spanId"), 8, where),
            "attributes": _attrs(link.get("attributes"), where)}


def _span(span: Mapping[str, Any], resource: dict[str, Any], scope: Mapping[str, Any],
          where: str) -> dict[str, Any]:
    start = _nanos(_get(span, "startTimeUnixNano"), where)
    end = _nanos(_get(span, "endTimeUnixNano"), where)
    status = _mapping(span.get("status"), where)
    kind = _enum(span.get("kind"), _KINDS, "SPAN_KIND_", f"{where}: kind")
    return {
        "format": _FORMAT,
        "name": str(span.get("name") or ""),
        "trace_id": _id(_get(span, "traceId"), 16, where),
        "span_id": _id(_get(span, "spanId"), 8, where),
        "parent_span_id": _id(_get(span, "parentSpanId"), 8, where),
        "kind": "INTERNAL" if kind == "UNSPECIFIED" else kind,
        "start_time": _iso(start),
        "end_time": _iso(end),
        "start_time_unix_nano": start,
        "end_time_unix_nano": end,
        "duration_ms": (end - start) / 1e6 if start is not None and end is not None else None,
        "status": {
            "code": _enum(status.get("code"), _STATUS, "STATUS_CODE_", f"{where}: status"),
            "description": status.get("message") or None,
        },
        "attributes": _attrs(span.get("attributes"), f"{where}: attributes"),
        "events": [_event(_mapping(event, f"{where}: events"), where)
                   for event in _list(span.get("events"), f"{where}: events")],
        "links": [_link(_mapping(link, f"{where}: links"), where)
                  for link in _list(span.get("links"), f"{where}: links")],
        "resource": resource,
        "scope": {"name": scope.get("name") or None, "version": scope.get("version") or None},
    }


def otlp_spans(request: Mapping[str, Any], where: str = "OTLP request") -> list[dict[str, Any]]:
    """The spans of one ``ExportTraceServiceRequest`` (parsed JSON), as span dicts.

    Raises ValueError, naming `where`, for a request that does not have the OTLP shape."""
    out: list[dict[str, Any]] = []
    for rs in _list(_get(request, "resourceSpans"), f"{where}: resourceSpans"):
        rs = _mapping(rs, f"{where}: resourceSpans")
        resource = _attrs(_mapping(rs.get("resource"), where).get("attributes"), where)
        # instrumentationLibrarySpans: the name before OTLP 0.15, still written by old tools.
        scoped = _get(rs, "scopeSpans")
        if scoped is None:
            scoped = _get(rs, "instrumentationLibrarySpans")
        for ss in _list(scoped, f"{where}: scopeSpans"):
            ss = _mapping(ss, f"{where}: scopeSpans")
            scope = _mapping(ss.get("scope", _get(ss, "instrumentationLibrary")), f"{where}: scope")
            out.extend(_span(_mapping(span, f"{where}: spans"), resource, scope, where)
                       for span in _list(ss.get("spans"), f"{where}: spans"))
    return out
