"""A guard's OpenTelemetry instrumentation, with the API only (never the SDK).

- tool spans: `execute_tool {tool}`, their start attributes cached per granted tool, and none
  built while no tracer provider records them;
- metrics: the decision counter and the check-duration histogram, their attribute sets cached,
  and neither timed nor recorded while the guard has no meter provider and no global one is set.

Whether a provider is there is asked on every call, so a provider set later is used from then on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Container, Mapping, Sequence
from time import perf_counter
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind

from .._outcome import Decision
from .._text import short
from . import _names as tel
from ._redact import arguments_json
from ._spans import annotate, get_meter, get_tracer, record_tool_error

try:  # where the API keeps the global meter provider (None until one is set)
    from opentelemetry.metrics import _internal as _metrics_state
except ImportError:  # pragma: no cover - a future API without it: always measure
    _metrics_state = None  # type: ignore[assignment]

__all__ = ["ADecide", "AFinish", "Decide", "Finish", "Instruments", "span_attributes"]

# (tool, args, call_id, charge) -> Decision: the shape of every layer of a guard's decision path.
Decide = Callable[[Any, Mapping[str, Any] | None, str | None, bool], Decision]
# (decision, args, charge) -> the decision that stands: what runs after deciding, untimed (I/O).
Finish = Callable[[Decision, Mapping[str, Any] | None, bool], Decision]
# Their async twins (the guard's async path).
ADecide = Callable[[Any, Mapping[str, Any] | None, str | None, bool], Awaitable[Decision]]
AFinish = Callable[[Decision, Mapping[str, Any] | None, bool], Awaitable[Decision]]

_DURATION_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
                     1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_NO_TRACING = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
_UNSET = object()
_MAX_ATTRIBUTE_SETS = 10_000


def span_attributes(
    *, task: str, digest: str, principal: str | None, mode: str, chain: Sequence[str]
) -> dict[str, Any]:
    """What every tool span of a guard starts with; `chain`: the tasks of its delegation chain,
    root first, ending with the guard's own."""
    attrs: dict[str, Any] = {
        tel.GEN_AI_OPERATION_NAME: tel.EXECUTE_TOOL,
        tel.TASK: task,
        tel.MANIFEST_DIGEST: digest,
        tel.MODE: mode,
        tel.DELEGATION_DEPTH: len(chain) - 1,
    }
    if principal is not None:
        attrs[tel.PRINCIPAL] = principal
    if len(chain) > 1:
        attrs[tel.DELEGATION_CHAIN] = list(chain)
    return attrs


class Instruments:
    """The tracer, meter instruments and caches of one guard.

    `span_attributes`: what every tool span of the guard starts with (see `span_attributes`);
    `granted`: the guard's own tools, the only names that are cached or appear in metrics (a name
    from outside the manifest comes from the model: cardinality and caches stay bounded).
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None,
        meter_provider: metrics.MeterProvider | None,
        span_attributes: Mapping[str, Any],
        granted: Container[str],
        record_values: bool,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._span_attributes = dict(span_attributes)
        self._granted = granted
        self._record_values = record_values
        self._tracer = get_tracer(tracer_provider)
        meter = get_meter(meter_provider)
        self._count = meter.create_counter(
            tel.DECISIONS_COUNTER, unit="{decision}", description="Tool-call decisions by outcome"
        ).add
        self._time = meter.create_histogram(
            tel.CHECK_DURATION, unit="s", description="Time to decide one tool call",
            # Decisions take microseconds (milliseconds with a remote store): the SDK's default
            # buckets (0, 5, 10, ... seconds) would put every one in the first bucket.
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        ).record
        # Writes a decision onto its tool span.
        self.annotate: Callable[[Span, Decision], None] = annotate
        self._span_starts: dict[str, tuple[str, dict[str, Any]]] = {}
        self._attribute_sets: dict[tuple[str, str, str], dict[str, str]] = {}
        self._allow_attributes: dict[str, dict[str, str]] = {}

    # -- metrics: a layer around the decision path ------------------------------------------------

    def measured(self, decide: Decide, finish: Finish | None = None) -> Decide:
        """`decide`, timed, then `finish` (not timed), then counted: the decision that stands is
        the one counted, and both instruments get the same attributes."""
        count, record, attributes_of = self._count, self._time, self._attributes
        allow_attributes = self._allow_attributes
        explicit = self._meter_provider is not None

        def measured_decide(
            tool: Any, args: Mapping[str, Any] | None, call_id: str | None, charge: bool
        ) -> Decision:
            # Without a provider of its own, the guard's instruments are the global provider's
            # proxies, which drop every measurement until one is set: then skip the work.
            # (_UNSET: an API that keeps the global elsewhere; measure.)
            if not explicit and getattr(_metrics_state, "_METER_PROVIDER", _UNSET) is None:
                decision = decide(tool, args, call_id, charge)
                return decision if finish is None else finish(decision, args, charge)
            start = perf_counter()
            decision = decide(tool, args, call_id, charge)
            elapsed = perf_counter() - start
            if finish is not None:
                decision = finish(decision, args, charge)
            attrs = allow_attributes.get(tool) if decision.allowed else None
            if attrs is None:
                attrs = attributes_of(decision)
            count(1, attrs)
            record(elapsed, attrs)
            return decision

        return measured_decide

    def ameasured(self, adecide: ADecide, afinish: AFinish | None = None) -> ADecide:
        """`measured` for the async path: the same timing, counting and attributes."""
        explicit = self._meter_provider is not None

        async def measured_adecide(
            tool: Any, args: Mapping[str, Any] | None, call_id: str | None, charge: bool
        ) -> Decision:
            if not explicit and getattr(_metrics_state, "_METER_PROVIDER", _UNSET) is None:
                decision = await adecide(tool, args, call_id, charge)
                return decision if afinish is None else await afinish(decision, args, charge)
            start = perf_counter()
            decision = await adecide(tool, args, call_id, charge)
            elapsed = perf_counter() - start
            if afinish is not None:
                decision = await afinish(decision, args, charge)
            attrs = self._allow_attributes.get(tool) if decision.allowed else None
            if attrs is None:
                attrs = self._attributes(decision)
            self._count(1, attrs)
            self._time(elapsed, attrs)
            return decision

        return measured_adecide

    def _attributes(self, decision: Decision) -> dict[str, str]:
        tool = decision.tool if decision.tool in self._granted else tel.OTHER_TOOL
        code = decision.denial.code.value if decision.denial is not None else ""
        key = (decision.outcome, code, tool)
        attrs = self._attribute_sets.get(key)
        if attrs is None:
            attrs = {"decision": decision.outcome, "tool": tool}
            if code:
                attrs["code"] = code
            if len(self._attribute_sets) < _MAX_ATTRIBUTE_SETS:
                self._attribute_sets[key] = attrs
        if decision.allowed:
            self._allow_attributes[decision.tool] = attrs
        return attrs

    # -- tool spans -------------------------------------------------------------------------------

    def span(self, tool: Any) -> contextlib.AbstractContextManager[Span]:
        """The span of one tool call, made current."""
        if self._tracing_off():
            # No SDK configured (yet): skip building a span nobody records. Checked per call, so
            # a provider set later is used from then on.
            return contextlib.nullcontext(trace.INVALID_SPAN)
        cached = self._span_starts.get(tool) if type(tool) is str else None
        if cached is None:
            name = short(tool if isinstance(tool, str) else repr(tool), 256)
            attrs = dict(self._span_attributes)
            attrs[tel.GEN_AI_TOOL_NAME] = name
            cached = (f"{tel.EXECUTE_TOOL} {name}", attrs)
            if type(tool) is str and tool in self._granted:
                self._span_starts[tool] = cached
        return self._tracer.start_as_current_span(
            cached[0],
            kind=SpanKind.INTERNAL,
            attributes=cached[1],
            record_exception=False,
            set_status_on_exception=False,
        )

    def _tracing_off(self) -> bool:
        provider: object = self._tracer_provider
        if provider is None:
            # trace.get_tracer_provider() reads the environment on every call until a provider
            # is set; the module's own slot says the same for a fraction of the cost.
            provider = getattr(trace, "_TRACER_PROVIDER", _UNSET)
            if provider is _UNSET:
                provider = trace.get_tracer_provider()
            if provider is None:
                return True
        return isinstance(provider, _NO_TRACING)

    def arguments(self, span: Span, args: Mapping[str, Any]) -> None:
        """With value recording, the call's arguments (redacted, capped) go on its span."""
        if self._record_values:
            try:
                span.set_attribute(tel.GEN_AI_TOOL_CALL_ARGUMENTS, arguments_json(args))
            except Exception:  # values are best effort; the decision is not
                span.set_attribute(tel.GEN_AI_TOOL_CALL_ARGUMENTS, "[unserializable]")


    def tool_failed(self, span: Span, exc: BaseException) -> None:
        """The tool raised: its span says so (the message only with value recording)."""
        record_tool_error(span, exc, self._record_values)

