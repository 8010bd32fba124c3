"""Telemetry (layer 4): the names guardrail writes, redaction, writing decisions onto spans (all
with the OpenTelemetry API only), and the SDK side: the JSONL exporter, `configure_tracing` and
the report over exported files.

The SDK is imported only when an SDK-using name is first asked for (module ``__getattr__``), so
``import guardrail`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._names import *  # noqa: F403 - every name is re-exported
from ._names import __all__ as _names_all
from ._redact import MAX_ARGUMENTS_CHARS, REDACTED, SECRET_KEYS, arguments_json, is_secret_key, redact
from ._report import DenialGroup, Report, build_report, load_report, render_report
from ._spans import annotate, denial_attributes, get_meter, get_tracer, record_tool_error

if TYPE_CHECKING:
    from ._export import SPAN_FORMAT, JsonlSpanExporter, read_spans, span_to_dict
    from ._setup import TRACE_SPEC_HELP, configure_tracing, make_exporter

# name -> the submodule that defines it; those submodules import the OpenTelemetry SDK.
_LAZY = {
    "SPAN_FORMAT": "._export",
    "JsonlSpanExporter": "._export",
    "read_spans": "._export",
    "span_to_dict": "._export",
    "TRACE_SPEC_HELP": "._setup",
    "configure_tracing": "._setup",
    "make_exporter": "._setup",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = [
    "MAX_ARGUMENTS_CHARS",
    "REDACTED",
    "SECRET_KEYS",
    "SPAN_FORMAT",
    "TRACE_SPEC_HELP",
    "DenialGroup",
    "JsonlSpanExporter",
    "Report",
    "annotate",
    "arguments_json",
    "build_report",
    "configure_tracing",
    "denial_attributes",
    "get_meter",
    "get_tracer",
    "is_secret_key",
    "load_report",
    "make_exporter",
    "read_spans",
    "record_tool_error",
    "redact",
    "render_report",
    "span_to_dict",
]
__all__ += _names_all
