"""The guard: a policy enforcement point in front of an agent's tools."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar, cast, overload

import tenacity
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind

from .. import _telemetry as tel
from .._errors import DelegationDenied, ManifestError, StoreUnavailable
from .._manifest._models import Manifest
from .._outcome import BudgetUse, Decision, Denial, DenialCode
from .._policy import ArgsRule, Fields, Violation, is_finite_number, written
from .._policy._compiled import CompiledManifest, CompiledTool
from .._stores import (
    REVOCATION_RETENTION_SECONDS,
    BudgetStore,
    Charge,
    Overrun,
    default_store,
)
from .._text import iso as _iso
from .._text import num as _num
from .._text import short as _short

__all__ = ["AuditSink", "Guard", "Mode"]

log = logging.getLogger("guardrail")

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
Mode = Literal["enforce", "shadow"]
Clock = Callable[[], float]

# Call ids without uuid4 on the hot path: a per-process random prefix and a counter.
_CALL_PREFIX = os.urandom(4).hex()
_call_counter = itertools.count(1)


_DURATION_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
                     1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def new_call_id() -> str:
    return f"call-{_CALL_PREFIX}-{next(_call_counter)}"


class AuditSink(Protocol):
    """Receives every decision before the tool runs (see `guardrail.AuditLog`)."""

    def record(self, decision: Decision, guard: Guard, args: Mapping[str, Any] | None) -> None: ...




class Guard:
    """Checks every tool call against a delegation manifest before the tool runs.

    >>> guard = Guard({"task": "t-1", "ttl": "5m", "tools": {"add": {"args": {"a": {}, "b": {}}}}},
    ...               store=MemoryStore())
    >>> guard.authorize("add", {"a": 1, "b": 2}).allowed
    True
    >>> guard.authorize("delete_all", {}).denial.code
    <DenialCode.TOOL_NOT_ALLOWED: 'tool_not_allowed'>
    """

    def __init__(
        self,
        manifest: Manifest | Mapping[str, Any] | str | Path,
        *,
        store: BudgetStore | str | None = None,
        clock: Clock | None = None,
        mode: Mode = "enforce",
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        record_values: bool = False,
        audit: AuditSink | None = None,
        trusted_keys: Sequence[Any] | None = None,
        _parent: Guard | None = None,
    ) -> None:
        if mode not in ("enforce", "shadow"):
            raise ValueError(f"mode must be 'enforce' or 'shadow', not {mode!r}")
        if clock is not None and not callable(clock):
            raise TypeError("clock must be a callable returning POSIX seconds")
        self.manifest = Manifest.load(manifest)
        if trusted_keys is not None:
            from .._manifest import verify_manifest

            verify_manifest(self.manifest, trusted_keys)
        self.mode: Mode = mode
        self.parent = _parent
        if isinstance(store, str):  # a store URL: memory:, sqlite:///path, redis://host:port/db
            from .._stores._url import open_store

            store = open_store(store)
        self.store: BudgetStore = store if store is not None else (
            _parent.store if _parent is not None else default_store()
        )
        self.clock: Clock = clock or (_parent.clock if _parent is not None else time.time)
        self.record_values = record_values
        self.audit = audit
        compiled: CompiledManifest = self.manifest.compiled()
        ancestors = _parent._links if _parent is not None else ()
        # The chain of manifests a call must satisfy: this guard's first, then each ancestor's.
        self._links: tuple[CompiledManifest, ...] = (compiled, *ancestors)
        self._tasks = tuple(dict.fromkeys(link.task for link in self._links))
        self._depth_of_task = {link.task: depth for depth, link in enumerate(self._links)}
        self._expires_ts = min(link.expires_ts for link in self._links)
        self._revoked_here: str | None = None
        if _parent is not None:  # a sub-agent's guard reports where its parent's does
            tracer_provider = tracer_provider or _parent.tracer_provider
            meter_provider = meter_provider or _parent.meter_provider
        self.tracer_provider: trace.TracerProvider | None = tracer_provider
        self.meter_provider: metrics.MeterProvider | None = meter_provider
        self._tracer = tel.get_tracer(tracer_provider)
        meter = tel.get_meter(meter_provider)
        self._decisions = meter.create_counter(
            tel.DECISIONS_COUNTER, unit="{decision}", description="Tool-call decisions by outcome"
        )
        self._duration = meter.create_histogram(
            tel.CHECK_DURATION, unit="s", description="Time to decide one tool call",
            # Decisions take microseconds (milliseconds with a remote store): the SDK's default
            # buckets (0, 5, 10, ... seconds) would put every one in the first bucket.
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._count = self._decisions.add
        self._time = self._duration.record
        self._metric_attrs: dict[tuple[str, str, str], dict[str, str]] = {}
        self._allow_attrs: dict[str, dict[str, str]] = {}
        self._root = compiled
        self._allow_cache: dict[str, Decision] = {}
        self._no_retry: set[str] = set()
        self._span_starts: dict[str, tuple[str, dict[str, Any]]] = {}
        self._single = len(self._links) == 1
        self._span_attrs: dict[str, Any] = {
            tel.GEN_AI_OPERATION_NAME: tel.EXECUTE_TOOL,
            tel.TASK: self.manifest.task,
            tel.MANIFEST_DIGEST: self.manifest.digest,
            tel.MODE: mode,
            tel.DELEGATION_DEPTH: len(self._links) - 1,
        }
        if self.manifest.principal is not None:
            self._span_attrs[tel.PRINCIPAL] = self.manifest.principal
        if len(self._links) > 1:
            self._span_attrs[tel.DELEGATION_CHAIN] = [link.task for link in reversed(self._links)]

    # -- identity -------------------------------------------------------------------------

    @property
    def task(self) -> str:
        return self.manifest.task

    @property
    def principal(self) -> str | None:
        return self.manifest.principal

    @property
    def depth(self) -> int:
        """0 for a root guard, 1 for a sub-agent's, and so on."""
        return len(self._links) - 1

    def __repr__(self) -> str:
        return f"<Guard task={self.task!r} mode={self.mode} tools={len(self.manifest.tools)}>"

    # -- deciding -------------------------------------------------------------------------

    def authorize(
        self, tool: str, args: Mapping[str, Any] | None = None, *, call_id: str | None = None
    ) -> Decision:
        """Decide a call and, when it is allowed, charge every budget that applies, atomically."""
        if call_id is None:
            call_id = new_call_id()
        return self._decide_and_record(tool, args, call_id, charge=True)

    def check(
        self, tool: str, args: Mapping[str, Any] | None = None, *, call_id: str | None = None
    ) -> Decision:
        """The decision `authorize` would make now, charging nothing."""
        return self._decide_and_record(tool, args, call_id, charge=False)

    def _decide_and_record(
        self, tool: str, args: Mapping[str, Any] | None, call_id: str | None, charge: bool
    ) -> Decision:
        start = perf_counter()
        try:
            decision = self._decide(tool, args, call_id, charge)
        except StoreUnavailable as exc:
            decision = self._deny(
                DenialCode.STORE_UNAVAILABLE,
                f"The budget store is unavailable ({_short(str(exc) or 'no detail', 200)}); "
                "the call is denied.",
                tool, call_id,
            )
        except Exception as exc:  # fail closed: an error in the checker never allows
            log.debug("guardrail: internal error while deciding", exc_info=True)
            decision = self._deny(
                DenialCode.INTERNAL_ERROR,
                f"The guard failed while deciding ({type(exc).__name__}); the call is denied.",
                tool, call_id,
            )
        elapsed = perf_counter() - start
        # Audited before counting (a failed write turns the decision into a denial); a dry-run
        # check() decides nothing that runs, so only authorize() writes the decision log.
        if self.audit is not None and charge:
            decision = self._audited(decision, args)
        attrs = self._allow_attrs.get(tool) if decision.allowed else None
        if attrs is None:
            attrs = self._metric_attributes(decision)
        self._count(1, attrs)
        self._time(elapsed, attrs)
        return decision

    def _audited(self, decision: Decision, args: Mapping[str, Any] | None) -> Decision:
        assert self.audit is not None
        try:
            self.audit.record(decision, self, args if self.record_values else None)
        except Exception as exc:
            # What cannot be audited does not run.
            log.warning("guardrail: audit log write failed: %s", type(exc).__name__)
            return self._deny(
                DenialCode.INTERNAL_ERROR,
                f"The decision could not be written to the audit log ({type(exc).__name__}); "
                "the call is denied.",
                decision.tool, decision.call_id,
            )
        return decision

    def _metric_attributes(self, decision: Decision) -> dict[str, str]:
        # Tools outside the manifest share one attribute value: metric cardinality stays bounded.
        tool = decision.tool if decision.tool in self._links[0].tools else tel.OTHER_TOOL
        code = decision.denial.code.value if decision.denial is not None else ""
        key = (decision.outcome, code, tool)
        attrs = self._metric_attrs.get(key)
        if attrs is None:
            attrs = {"decision": decision.outcome, "tool": tool}
            if code:
                attrs["code"] = code
            if len(self._metric_attrs) < 10_000:
                self._metric_attrs[key] = attrs
        if decision.allowed:
            self._allow_attrs[decision.tool] = attrs
        return attrs

    def _decide(
        self, tool: str, args: Mapping[str, Any] | None, call_id: str | None, charge: bool
    ) -> Decision:
        # The common case, straight through: one manifest, in its window, a granted tool, no
        # budget, arguments that pass. Anything else takes the full path, which also explains.
        if self._single and self._revoked_here is None:
            link = self._root
            now = self.clock()
            compiled = link.tools.get(tool) if type(tool) is str else None
            if (
                compiled is not None
                and not compiled.budgeted
                and now < link.expires_ts
                and (link.not_before_ts is None or now >= link.not_before_ts)
                and (type(args) is dict or args is None)
                and compiled.args.test(args or {})
                and self.store.revoked(self._tasks) is None
            ):
                if call_id is None:
                    # Decisions are read-only: one allow per tool serves every anonymous check.
                    cached = self._allow_cache.get(tool)
                    if cached is None:
                        cached = self._allow_cache[tool] = Decision(True, tool)
                    return cached
                return Decision(True, tool, call_id)
        return self._decide_fully(tool, args, call_id, charge)

    def _decide_fully(
        self, tool: str, args: Mapping[str, Any] | None, call_id: str | None, charge: bool
    ) -> Decision:
        now = self.clock()
        reason = self._locally_revoked()
        if reason is None:
            reason = self.store.revoked(self._tasks)
        if reason is not None:
            detail = f": {_short(reason, 200)}" if reason else ""
            return self._deny(
                DenialCode.REVOKED,
                f"The delegation for task {self.task!r} was revoked{detail}.",
                tool, call_id,
            )
        for depth, link in enumerate(self._links):
            if link.not_before_ts is not None and now < link.not_before_ts:
                return self._deny(
                    DenialCode.NOT_YET_VALID,
                    f"The delegation for task {link.task!r} is not valid before "
                    f"{_iso(link.not_before_ts)}.",
                    tool, call_id, depth=depth,
                )
            if not now < link.expires_ts:  # `not <`: a NaN clock counts as expired
                return self._deny(
                    DenialCode.EXPIRED,
                    f"The delegation for task {link.task!r} expired at {_iso(link.expires_ts)}.",
                    tool, call_id, depth=depth,
                )
        if args is None:
            args = {}
        charges: list[Charge] = []
        for depth, link in enumerate(self._links):
            compiled = link.tools.get(tool) if isinstance(tool, str) else None
            if compiled is None:
                name = tool if isinstance(tool, str) else repr(tool)
                return self._deny(
                    DenialCode.TOOL_NOT_ALLOWED,
                    f"Tool {_short(name)!r} is not granted by the delegation for task "
                    f"{link.task!r}.",
                    name, call_id, depth=depth,
                )
            if not is_mapping(args):  # callers are untyped: a model may send a list
                return self._deny(
                    DenialCode.ARGUMENT_INVALID,
                    f"The arguments of tool {tool!r} must be an object, not "
                    f"{type(args).__name__}.",
                    tool, call_id, constraint="type: \"object\"", depth=depth,
                )
            if not compiled.args.test(args):
                found = compiled.args.violation(args)
                if found is None:  # the fast test and the explanation disagree: still deny
                    raise AssertionError("constraint test failed without a violation")
                return self._violation(found, tool, call_id, depth)
            if compiled.sum_scopes or compiled.call_scopes:
                denial = self._charges(compiled, link, args, charges, tool, call_id, depth)
                if denial is not None:
                    return denial
        if charges:
            overrun: Overrun | None
            if charge:
                overrun = self.store.consume(charges, expires_at=self._expires_ts)
            else:
                overrun = _peek(self.store, charges)
            if overrun is not None:
                return self._exhausted(overrun, tool, call_id)
        return Decision(True, tool, call_id)

    def _charges(
        self,
        compiled: CompiledTool,
        link: CompiledManifest,
        args: Mapping[str, Any],
        charges: list[Charge],
        tool: str,
        call_id: str | None,
        depth: int,
    ) -> Decision | None:
        task = link.task
        for scope, limit in compiled.call_scopes:
            charges.append(Charge(task, scope, 1.0, limit))
        for arg, scope, limit in compiled.sum_scopes:
            value = args.get(arg)
            if value is None:
                continue
            if not is_finite_number(value) or value < 0:
                return self._violation(
                    Violation(
                        DenialCode.ARGUMENT_INVALID, [arg],
                        f"{written('sum', {arg: limit})} (a non-negative number)",
                    ),
                    tool, call_id, depth,
                )
            if value > 0:
                charges.append(Charge(task, scope, float(value), limit))
        return None

    # -- denials --------------------------------------------------------------------------

    def _deny(
        self,
        code: DenialCode,
        message: str,
        tool: str,
        call_id: str | None,
        *,
        argument: str | None = None,
        constraint: str | None = None,
        budget: BudgetUse | None = None,
        depth: int = 0,
    ) -> Decision:
        link = self._links[min(depth, len(self._links) - 1)]
        denial = Denial(
            code=code,
            message=message,
            tool=tool if isinstance(tool, str) else repr(tool),
            argument=argument,
            constraint=constraint,
            budget=budget,
            task=link.task,
            principal=link.principal,
            manifest_digest=link.digest,
            call_id=call_id if call_id is None else str(call_id),  # an int id must not crash
            depth=depth,
            at=self._denial_time(),
        )
        return Decision(False, denial.tool or "", call_id, denial, enforced=self.mode == "enforce")

    def _denial_time(self) -> datetime:
        # The guard's clock, so that a denial's `at` agrees with the window it was judged in.
        try:
            return datetime.fromtimestamp(float(self.clock()), UTC)
        except Exception:
            return datetime.now(UTC)

    def _violation(
        self, found: Violation, tool: str, call_id: str | None, depth: int
    ) -> Decision:
        arg = _short(found.dotted, 200)
        if found.code is DenialCode.ARGUMENT_NOT_ALLOWED:
            message = f"Argument {arg!r} is not granted for tool {tool!r}."
        elif found.code is DenialCode.ARGUMENT_MISSING:
            message = f"Required argument {arg!r} of tool {tool!r} is missing."
        else:
            message = (
                f"Argument {arg!r} of tool {tool!r} does not satisfy "
                f"{_short(found.constraint or 'its constraint', 300)}."
            )
        return self._deny(
            found.code, message, tool, call_id,
            argument=arg, constraint=found.constraint, depth=depth,
        )

    def _exhausted(self, overrun: Overrun, tool: str, call_id: str | None) -> Decision:
        charge, used = overrun
        depth = self._depth_of_task.get(charge.task, 0)
        if charge.scope.endswith("calls"):
            message = (
                f"Budget {charge.scope!r} of task {charge.task!r} is exhausted: "
                f"{_num(used)} of {_num(charge.limit)} calls used."
            )
        else:
            message = (
                f"Budget {charge.scope!r} of task {charge.task!r} would be exceeded: "
                f"{_num(used)} of {_num(charge.limit)} already used."
            )
        return self._deny(
            DenialCode.BUDGET_EXHAUSTED, message, tool, call_id,
            budget=BudgetUse(scope=charge.scope, limit=charge.limit, used=used), depth=depth,
        )

    # -- running tools --------------------------------------------------------------------

    def constrained_defaults(self, tool: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
        """Of the values a tool runs with when an argument is left out, those any manifest of the
        chain constrains (optional arguments it names, sums in a budget, and keys inside a
        `fields` constraint, at any depth). They are checked and charged like passed values, so
        `amount=1000` cannot slip past `max: 50` (or a sum budget, or a parent's constraint) by
        being left out. `wrap` does this itself; adapters pass what the tool will run with to
        `invoke(defaults=)`."""
        return self.with_defaults(tool, {}, defaults)

    def with_defaults(
        self, tool: str, args: Mapping[str, Any], defaults: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """`args` completed by the `defaults` the manifest chain constrains (see
        `constrained_defaults`); what was passed is never replaced. `defaults` may be nested:
        the arguments as the tool will see them, e.g. after a framework's schema filled them."""
        out = dict(args)
        if not isinstance(tool, str) or not defaults:
            return out
        rules = [link.tools[tool].args for link in self._links if tool in link.tools]
        sums = {arg for link in self._links if tool in link.tools
                for arg, _, _ in link.tools[tool].sum_scopes}
        return _fill_defaults(out, defaults, rules, sums)

    def invoke(
        self, tool: str, fn: Callable[..., T], args: Mapping[str, Any] | None = None,
        *, call_id: str | None = None, defaults: Mapping[str, Any] | None = None,
    ) -> T:
        """Authorize `tool(**args)` and run `fn(**args)` inside the tool's span. `defaults`: what
        the tool uses for arguments left out; those the manifest constrains are checked too."""
        # Arguments that are not a mapping reach the decision as they are (and are denied).
        call_args = _call_args(args, self, tool, defaults)
        return self._run(tool, call_args, lambda: fn(**call_args), call_id)

    @overload
    async def ainvoke(
        self, tool: str, fn: Callable[..., Awaitable[T]], args: Mapping[str, Any] | None = None,
        *, call_id: str | None = None, defaults: Mapping[str, Any] | None = None,
    ) -> T: ...
    @overload
    async def ainvoke(
        self, tool: str, fn: Callable[..., T], args: Mapping[str, Any] | None = None,
        *, call_id: str | None = None, defaults: Mapping[str, Any] | None = None,
    ) -> T: ...

    async def ainvoke(
        self, tool: str, fn: Callable[..., Any], args: Mapping[str, Any] | None = None,
        *, call_id: str | None = None, defaults: Mapping[str, Any] | None = None,
    ) -> Any:
        """`invoke` for async callers; `fn(**args)` may return an awaitable, which is awaited."""
        call_args = _call_args(args, self, tool, defaults)
        return await self._arun(tool, call_args, lambda: fn(**call_args), call_id)

    def _start_span(self, tool: str) -> Any:
        if self._tracing_off():
            # No SDK configured (yet): skip building a span nobody records. Checked per call, so
            # a provider set later is used from then on.
            return contextlib.nullcontext(trace.INVALID_SPAN)
        cached = self._span_starts.get(tool) if type(tool) is str else None
        if cached is None:
            name = _short(tool if isinstance(tool, str) else repr(tool), 256)
            attrs = dict(self._span_attrs)
            attrs[tel.GEN_AI_TOOL_NAME] = name
            cached = (f"{tel.EXECUTE_TOOL} {name}", attrs)
            # Names outside the manifest come from the model: do not let them grow the cache.
            if type(tool) is str and tool in self._root.tools:
                self._span_starts[tool] = cached
        return self._tracer.start_as_current_span(
            cached[0],
            kind=SpanKind.INTERNAL,
            attributes=cached[1],
            record_exception=False,
            set_status_on_exception=False,
        )

    def _tracing_off(self) -> bool:
        provider: object = self.tracer_provider
        if provider is None:
            # trace.get_tracer_provider() reads the environment on every call until a provider
            # is set; the module's own slot says the same for a fraction of the cost.
            provider = getattr(trace, "_TRACER_PROVIDER", _UNSET)
            if provider is _UNSET:
                provider = trace.get_tracer_provider()
            if provider is None:
                return True
        return isinstance(provider, _NO_TRACING)

    def _enter(self, span: Any, tool: str, args: dict[str, Any], call_id: str | None) -> None:
        if self.record_values:
            try:
                span.set_attribute(tel.GEN_AI_TOOL_CALL_ARGUMENTS, tel.arguments_json(args))
            except Exception:  # values are best effort; the decision is not
                span.set_attribute(tel.GEN_AI_TOOL_CALL_ARGUMENTS, "[unserializable]")
        decision = self.authorize(tool, args, call_id=call_id)
        tel.annotate(span, decision)
        if decision.blocks:
            assert decision.denial is not None
            raise decision.denial.to_exception(guard=self)

    def _retrying(self, tool: str) -> dict[str, Any] | None:
        """tenacity settings for a tool whose grant says `retry:`, else None."""
        if not isinstance(tool, str) or tool in self._no_retry:
            return None  # a name that is not a string is denied by the decision, once
        grant = self.manifest.grant(tool)
        spec = grant.retry if grant is not None else None
        if spec is None:
            if grant is not None:
                self._no_retry.add(tool)
            return None
        backoff = spec.backoff_seconds
        wait = (
            tenacity.wait_exponential(multiplier=backoff, max=backoff * 16)
            + tenacity.wait_random(0, backoff / 2)
            if backoff
            else tenacity.wait_none()
        )
        return {
            "stop": tenacity.stop_after_attempt(spec.attempts) | _StopAtExpiry(self),
            "wait": wait,
            # A denial is final; only the tool's own listed failures are retried.
            "retry": tenacity.retry_if_exception(
                lambda exc: not isinstance(exc, DelegationDenied) and spec.matches(exc)
            ),
            "reraise": True,
        }

    def _run(
        self, tool: str, args: dict[str, Any], call: Callable[[], T], call_id: str | None
    ) -> T:
        settings = self._retrying(tool)
        if settings is None:
            return self._run_once(tool, args, call, call_id)
        attempt = itertools.count(1)

        def once() -> T:
            n = next(attempt)
            return self._run_once(tool, args, call, _attempt_id(call_id, n))

        return tenacity.Retrying(sleep=time.sleep, **settings)(once)

    async def _arun(
        self, tool: str, args: dict[str, Any], call: Callable[[], Awaitable[T] | T],
        call_id: str | None,
    ) -> T:
        settings = self._retrying(tool)
        if settings is None:
            return await self._arun_once(tool, args, call, call_id)
        attempt = itertools.count(1)

        async def once() -> T:
            n = next(attempt)
            return await self._arun_once(tool, args, call, _attempt_id(call_id, n))

        result: T = await tenacity.AsyncRetrying(sleep=asyncio.sleep, **settings)(once)
        return result

    def _run_once(
        self, tool: str, args: dict[str, Any], call: Callable[[], T], call_id: str | None
    ) -> T:
        with self._start_span(tool) as span:
            self._enter(span, tool, args, call_id)
            try:
                return call()
            except BaseException as exc:
                tel.record_tool_error(span, exc, self.record_values)
                raise

    async def _arun_once(
        self, tool: str, args: dict[str, Any], call: Callable[[], Awaitable[T] | T],
        call_id: str | None,
    ) -> T:
        with self._start_span(tool) as span:
            self._enter(span, tool, args, call_id)
            try:
                result = call()
                if inspect.isawaitable(result):
                    return cast(T, await result)
                return result
            except BaseException as exc:
                tel.record_tool_error(span, exc, self.record_values)
                raise

    # -- wrapping a registry --------------------------------------------------------------

    def wrap(self, fn: F, *, name: str | None = None) -> F:
        """`fn` behind the guard: same signature, sync or async. Each call binds its arguments to
        names, is authorized, and raises the matching `DelegationDenied` when denied."""
        tool = name or getattr(fn, "__name__", None)
        if not tool:
            raise TypeError(f"cannot tell the tool name of {fn!r}: pass name=")
        sig = inspect.signature(fn)
        self._check_signature(tool, fn, sig)
        params = sig.parameters
        defaults = self.constrained_defaults(tool, {
            pname: p.default for pname, p in params.items() if p.default is not inspect.Parameter.empty
        })

        # Plain parameters (no *args, **kwargs or positional-only) bind without inspect, which
        # costs several microseconds per call; anything unusual takes inspect's path.
        plain = all(
            p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
            for p in params.values()
        )
        positional = tuple(
            name for name, p in params.items() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        )

        def bind(a: tuple[Any, ...], kw: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] | None = None
            if plain and len(a) <= len(positional):
                out = dict(zip(positional, a, strict=False))
                if kw and not all(k in params and k not in out for k in kw):
                    out = None  # an unknown or repeated keyword: let inspect say so
                else:
                    out.update(kw)
            if out is None:
                # bind_partial: a missing argument is for the manifest to deny
                # (argument_missing); if the manifest lets it through, fn raises its TypeError.
                out = {}
                for pname, value in sig.bind_partial(*a, **kw).arguments.items():
                    kind = params[pname].kind
                    if kind is inspect.Parameter.VAR_KEYWORD:
                        out.update(value)
                    elif kind is inspect.Parameter.VAR_POSITIONAL:
                        out[pname] = list(value)
                    else:
                        out[pname] = value
            for pname, value in defaults.items():
                out.setdefault(pname, value)
            return out

        if _is_async(fn):

            @functools.wraps(fn)
            async def guarded_async(*a: Any, **kw: Any) -> Any:
                return await self._arun(tool, bind(a, kw), lambda: fn(*a, **kw), None)

            guarded_async.__guardrail__ = self  # type: ignore[attr-defined]
            return cast(F, guarded_async)

        @functools.wraps(fn)
        def guarded(*a: Any, **kw: Any) -> Any:
            return self._run(tool, bind(a, kw), lambda: fn(*a, **kw), None)

        guarded.__guardrail__ = self  # type: ignore[attr-defined]
        return cast(F, guarded)

    @overload
    def wrap_all(self, registry: Mapping[str, F]) -> dict[str, F]: ...
    @overload
    def wrap_all(self, registry: Iterable[F]) -> list[F]: ...

    def wrap_all(self, registry: Mapping[str, F] | Iterable[F]) -> dict[str, F] | list[F]:
        """Wrap a tool registry: a mapping name -> callable, or an iterable of callables."""
        if isinstance(registry, Mapping):
            return {name: self.wrap(fn, name=name) for name, fn in registry.items()}
        wrapped = [self.wrap(fn) for fn in registry]
        return cast(list[F], type(registry)(wrapped)) if isinstance(registry, tuple) else wrapped

    def _check_signature(self, tool: str, fn: Any, sig: inspect.Signature) -> None:
        grant = self.manifest.grant(tool)
        if grant is None:
            return
        params = sig.parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return
        missing = [arg for arg in grant.args if arg not in params]
        if missing:
            fname = getattr(fn, "__qualname__", repr(fn))
            raise ManifestError(
                [
                    f"tools.{tool}.args.{arg}: {fname}() has no parameter {arg!r}, so this "
                    "constraint would never apply (a typo?)"
                    for arg in missing
                ],
                source=None,
            )

    # -- delegation -----------------------------------------------------------------------

    def delegate(self, child: Manifest | Mapping[str, Any] | str | Path, **options: Any) -> Guard:
        """A guard for a sub-agent that can only narrow this one: see `guardrail._runtime._delegation`."""
        from ._delegation import delegate

        guard: Guard = delegate(self, child, **options)
        return guard

    def owns(self, exc: BaseException) -> bool:
        """True when `exc` is the `DelegationDenied` this guard raised for one of its own decisions
        (`invoke`, `ainvoke`, `wrap`), False for anything else: in particular for a
        `DelegationDenied` that the tool itself raised, which is the tool's own error."""
        return isinstance(exc, DelegationDenied) and exc.guard is self

    # -- lifetime -------------------------------------------------------------------------

    def revoke(self, reason: str = "") -> None:
        """End the delegation now: every later decision for this task (and any sub-agent's) is
        `revoked`, in every process sharing the store."""
        if self._revoked_here is None:  # the first reason stands, as in the store
            self._revoked_here = reason
        self.store.revoke(
            self.task, reason, expires_at=self.manifest.expires_ts + REVOCATION_RETENTION_SECONDS
        )

    def _locally_revoked(self) -> str | None:
        # This guard's own revocation or an ancestor's, even one the store did not record.
        guard: Guard | None = self
        while guard is not None:
            if guard._revoked_here is not None:
                return guard._revoked_here
            guard = guard.parent
        return None

    @property
    def revoked(self) -> bool:
        if self._locally_revoked() is not None:
            return True
        return self.store.revoked(self._tasks) is not None

    def usage(self) -> dict[str, dict[str, float]]:
        """Budget use so far, by scope: {"calls": {"used", "limit", "remaining"}, ...}."""
        budgets = self._links[0].budgets()
        used = self.store.used([(self.task, scope) for scope in budgets])
        return {
            scope: {"used": u, "limit": limit, "remaining": max(limit - u, 0.0)}
            for (scope, limit), u in zip(budgets.items(), used, strict=True)
        }

    def __enter__(self) -> Guard:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.revoke("task ended")

    async def __aenter__(self) -> Guard:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.revoke("task ended")


class _StopAtExpiry(tenacity.stop.stop_base):
    """Never sleep into the end of the delegation."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        upcoming = retry_state.upcoming_sleep or 0.0
        return self.guard.clock() + upcoming >= self.guard._expires_ts


_NO_TRACING = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
_UNSET = object()


def _attempt_id(call_id: str | None, attempt: int) -> str | None:
    if attempt == 1:
        return call_id
    return f"{call_id or new_call_id()}#{attempt}"


def _call_args(
    args: object, guard: Guard, tool: str, defaults: Mapping[str, Any] | None
) -> dict[str, Any]:
    # A copy the tool receives exactly as it was checked. What is not a mapping reaches the
    # decision as it is, to be denied (typed as a dict only for the checker's sake).
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        return cast(dict[str, Any], args)
    return guard.with_defaults(tool, args, defaults)


def _fill_defaults(
    args: dict[str, Any], defaults: Mapping[str, Any], rules: list[ArgsRule],
    extra: set[str] | frozenset[str] = frozenset(),
) -> dict[str, Any]:
    # A default is added where some rule names the key (or a sum budget counts it) and no rule
    # requires it (left out, a required argument is `argument_missing`, not its default). Inside
    # an object that a `fields` constraint checks, the same again, one level down.
    for name, value in defaults.items():
        if value is None or not isinstance(name, str):
            continue
        if name not in args:
            named = name in extra or any(name in rule.names for rule in rules)
            if named and not any(name in rule.required for rule in rules):
                args[name] = value
            continue
        current = args[name]
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            inner = [
                part.args
                for rule in rules for arg, sub in rule.rules if arg == name
                for part in sub.structural if isinstance(part, Fields)
            ]
            if inner:
                args[name] = _fill_defaults(dict(current), value, inner)
    return args


def is_mapping(value: object) -> bool:
    return isinstance(value, Mapping)


def _peek(store: BudgetStore, charges: Sequence[Charge]) -> Overrun | None:
    used = store.used([(c.task, c.scope) for c in charges])
    totals: dict[tuple[str, str], float] = {}
    for charge, before in zip(charges, used, strict=True):
        key = (charge.task, charge.scope)
        base = totals.get(key, before)
        if not base + charge.amount <= charge.limit:  # as the stores: NaN never fits
            return Overrun(charge, base)
        totals[key] = base + charge.amount
    return None



def _is_async(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004
    return call is not None and inspect.iscoroutinefunction(call)
