"""The guard: a policy enforcement point in front of an agent's tools.

`Guard` is a facade. What it composes, each in its own module, each adding one concern:

- `Chain` (`_chain`): the compiled manifests a call must satisfy (own first, then each
  ancestor's), their tasks, depth, expiry and local revocation;
- `Decider` (`_decider`): the decision engine, fast path and full path, with `Denials`
  (`_denials`) for the texts; pure apart from the store and the clock;
- the audit hook (`_audit_hook`): every authorization recorded before the tool runs;
- `Instruments` (`guardrail._telemetry._instrument`): metrics around the decision, tool spans;
- `Retries` (`_retries`): a grant's `retry:` around each attempt of a tool call;
- defaults (`_defaults`) and signature binding (`_wrap`) for `invoke` and `wrap`;
- delegation (`_delegation`): checks a sub-agent's manifest against the chain.

A decision (`authorize`, `check`) is `Instruments.measured(Decider.decide, audited(...))`. A tool
call (`invoke`, `ainvoke`, `wrap`) is `Retries` wrapping `Guard._attempt`: open the span, decide
(as above), annotate the span, raise the denial or run the tool.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar, cast, overload

from opentelemetry import metrics, trace

from .. import _provenance
from .._errors import ApprovalError, DelegationDenied, ManifestError
from .._manifest._models import Manifest
from .._outcome import Approval, ApprovalRequest, Decision, new_call_id
from .._stores import (
    REVOCATION_RETENTION_SECONDS,
    AsyncBudgetStore,
    BudgetStore,
    MemoryStore,
    default_store,
)
from .._telemetry._instrument import ADecide, AFinish, Finish, Instruments, span_attributes
from ._approvals import DEFAULT_TTL, Approvals, Offer, offered
from ._arguments import Copier, Unreadable
from ._audit_hook import AuditSink, audited
from ._chain import Chain
from ._decider import Decider
from ._defaults import with_defaults
from ._delegation import child_manifest
from ._denials import Denials
from ._retries import Retries
from ._usage import budget_usage
from ._wrap import argument_problems, binder, caller, guarded, parameter_defaults, signature_names

__all__ = ["Approver", "AuditSink", "Guard", "Mode"]

log = logging.getLogger("guardrail")

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
Mode = Literal["enforce", "shadow"]
Clock = Callable[[], float]
# fn(request) -> True/False or an `Approval` (or an awaitable of one, under aauthorize/ainvoke).
Approver = Callable[[ApprovalRequest], Any]

# What `invoke`/`ainvoke` were given as `approval=`, for the first attempt's authorization.
_invoke_offer: contextvars.ContextVar[Offer] = contextvars.ContextVar(
    "guardrail_invoke_approval", default=None
)


class Guard:
    """Checks every tool call against a delegation manifest before the tool runs.

    >>> guard = Guard({"task": "t-1", "ttl": "5m", "tools": {"add": {"args": {"a": {}, "b": {}}}}},
    ...               store=MemoryStore())
    >>> guard.authorize("add", {"a": 1, "b": 2}).allowed
    True
    >>> guard.authorize("delete_all", {}).denial.code
    <DenialCode.TOOL_NOT_ALLOWED: 'tool_not_allowed'>

    Lifetime. Leaving ``with Guard(...) as guard:`` (or ``async with``) ends this guard and the
    guards it delegated to (`end`): their later decisions are ``revoked``. It is local: another
    worker's guard for the same task on a shared store keeps working. ``guard.revoke(reason)``
    and ``guardrail revoke --store URL TASK`` end the task for the whole fleet.

    Provenance. Every tool call the guard runs (``invoke``, ``ainvoke``, ``wrap``) records its
    result for the task (``record_result`` for tools run another way), capped at
    ``max_results_bytes``; ``inputs`` (and the manifest's ``inputs:``, ``add_inputs``) are trusted
    content. The ``provenance: trusted`` and ``from_results`` constraints read both.

    Async. ``aauthorize`` / ``acheck`` (and ``ainvoke``, async ``wrap``ped tools) make the same
    decisions as ``authorize`` / ``check`` without blocking the event loop: a store with native
    async methods (`AsyncBudgetStore`: ``AsyncRedisStore``, which ``store="redis://..."``
    opens) is awaited; any other store (SQLite, your own `BudgetStore`), and an audit sink, run
    in a worker thread; the `MemoryStore` does no I/O and runs inline.

    Approvals. A grant's ``ask`` sends a call to a person: ``approver=fn`` answers at once
    (``fn(request)`` returns True/False or an `Approval`; an async ``fn`` is awaited under
    ``aauthorize``/``ainvoke``, a sync one runs off the event loop there; one that raises, or
    answers after the request expired, refuses). Without one the request waits in the task's
    store (``pending()``; ``approve``/``reject`` or ``guardrail approvals``) and ``authorize``
    returns the ``ask`` decision (``invoke`` raises `ApprovalRequired`); the identical call
    retried after the answer takes it, once. ``approval_ttl``: how long a request stays valid
    (seconds, default 10 minutes, never after the delegation).
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
        inputs: Sequence[str] | None = None,
        max_results_bytes: int = _provenance.DEFAULT_MAX_BYTES,
        approver: Approver | None = None,
        approval_ttl: float = DEFAULT_TTL,
    ) -> None:
        if mode not in ("enforce", "shadow"):
            raise ValueError(f"mode must be 'enforce' or 'shadow', not {mode!r}")
        if clock is not None and not callable(clock):
            raise TypeError("clock must be a callable returning POSIX seconds")
        if approver is not None and not callable(approver):
            raise TypeError("approver must be a callable taking an ApprovalRequest")
        if isinstance(approval_ttl, bool) or not (
            isinstance(approval_ttl, int | float) and 0 < approval_ttl < float("inf")
        ):
            raise ValueError(f"approval_ttl must be a positive number of seconds, not {approval_ttl!r}")
        loaded = Manifest.load(manifest)
        if trusted_keys is not None:
            from .._manifest import verify_manifest

            verify_manifest(loaded, trusted_keys)
        if isinstance(store, str):  # a store URL: memory:, sqlite:///path, redis://host:port/db
            from .._stores._url import open_store

            # Redis: an AsyncRedisStore, so that aauthorize talks to Redis natively.
            store = open_store(store, asynchronous=True)
        self._compose(
            loaded, Chain.root(loaded.compiled()),
            store=store if store is not None else default_store(),
            clock=clock or time.time, mode=mode, tracer_provider=tracer_provider,
            meter_provider=meter_provider, record_values=record_values, audit=audit, parent=None,
            memories=(_provenance.Memory(max_results_bytes),),
            trusted=(_trusted(loaded, _inputs(inputs)),),
            approver=approver, approval_ttl=float(approval_ttl),
        )

    def _compose(
        self, manifest: Manifest, chain: Chain, *, store: BudgetStore, clock: Clock, mode: Mode,
        tracer_provider: trace.TracerProvider | None, meter_provider: metrics.MeterProvider | None,
        record_values: bool, audit: AuditSink | None, parent: Guard | None,
        memories: tuple[_provenance.Memory, ...], trusted: tuple[_provenance.Trusted, ...],
        approver: Approver | None, approval_ttl: float,
    ) -> None:
        self.manifest = manifest
        self.mode: Mode = mode
        self.parent = parent
        self.store: BudgetStore = store
        self.clock: Clock = clock
        self.record_values = record_values
        self.audit = audit
        self.tracer_provider: trace.TracerProvider | None = tracer_provider
        self.meter_provider: metrics.MeterProvider | None = meter_provider
        self._chain = chain
        self._copier = Copier(chain)
        self.approver = approver
        self.approval_ttl = approval_ttl
        denials = Denials(chain, clock, enforced=mode == "enforce")
        self._approvals = Approvals(chain, store, approval_ttl)
        # Provenance: this guard's results memory and trusted texts, then its ancestors'; link
        # `d` of the chain checks against the memories and trusted texts from `d` up.
        self._memories = memories
        self._trusted = trusted
        views = tuple(
            _provenance.View(memories[d:], trusted[d:]) for d in range(len(chain.links))
        )
        self._decider = Decider(
            chain, store, clock, denials, self._approvals, views, enforced=mode == "enforce"
        )
        self._instruments = Instruments(
            tracer_provider=tracer_provider, meter_provider=meter_provider,
            span_attributes=span_attributes(
                task=manifest.task, digest=manifest.digest, principal=manifest.principal,
                mode=mode, chain=[link.task for link in reversed(chain.links)],
            ),
            granted=chain.own.tools, record_values=record_values,
        )
        finish = (
            audited(audit, self, record_values, denials, self._decider.refund)
            if audit is not None else None
        )
        # (tool, args, call_id, charge) -> Decision, measured, audited, failing closed.
        self._decide = self._instruments.measured(self._decider.decide, finish)
        # Its async twin, which never blocks the event loop on the store or the audit sink.
        self._adecide = self._async_decide(store, finish)
        # A tool call: attempts (span, decision, the tool), retried as the grant says.
        retries = Retries(self._attempt, self._aattempt, manifest=manifest, clock=clock,
                          expires_ts=chain.expires_ts)
        self._run = retries.run
        self._arun = retries.arun

    def _async_decide(self, store: BudgetStore, finish: Finish | None) -> ADecide:
        """The async decision path for `store`: native for an `AsyncBudgetStore` (the audit write
        in a worker thread), inline for a `MemoryStore` without audit (no I/O at all), and
        otherwise the whole synchronous decision in a worker thread (SQLite, a user's store)."""
        decide = self._decide
        if isinstance(store, AsyncBudgetStore):
            afinish: AFinish | None = None
            if finish is not None:
                sync_finish = finish

                async def afinish(
                    decision: Decision, args: Mapping[str, Any] | None, charge: bool
                ) -> Decision:
                    if not charge:  # a dry run writes nothing
                        return decision
                    return await asyncio.to_thread(sync_finish, decision, args, charge)

            adecide = self._decider.adecide

            def native(
                tool: Any, args: Mapping[str, Any] | None, call_id: str | None, charge: bool
            ) -> Awaitable[Decision]:
                return adecide(store, tool, args, call_id, charge)

            return self._instruments.ameasured(native, afinish)
        if type(store) is MemoryStore and finish is None:

            async def inline(
                tool: Any, args: Mapping[str, Any] | None, call_id: str | None, charge: bool
            ) -> Decision:
                return decide(tool, args, call_id, charge)

            return inline

        async def off_loop(
            tool: Any, args: Mapping[str, Any] | None, call_id: str | None, charge: bool
        ) -> Decision:
            return await asyncio.to_thread(decide, tool, args, call_id, charge)

        return off_loop

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
        return self._chain.depth

    def __repr__(self) -> str:
        return f"<Guard task={self.task!r} mode={self.mode} tools={len(self.manifest.tools)}>"

    # -- deciding -------------------------------------------------------------------------

    def authorize(
        self, tool: str, args: Mapping[str, Any] | None = None, *, call_id: str | None = None,
        approval: Approval | str | bool | None = None,
    ) -> Decision:
        """Decide a call and, when it is allowed, charge every budget that applies, atomically.
        The decision is made on `args` as given: run the tool with the same values, or let the
        guard run it (`invoke`, `wrap`), which decides on a private copy and hands the tool that.

        `approval`, for a call a person must approve (`ask`): an `Approval` (of this call's
        request), a request id whose answer is in the store, or True ("a person approved this
        exact call just now": recorded as such and used). Each is used once, for this call only.
        """
        cid = new_call_id() if call_id is None else call_id
        if approval is None and self.approver is None:
            return self._decide(tool, args, cid, True)
        decision = self._offered(approval, tool, args, cid)
        if decision.outcome == "ask" and self.approver is not None:
            assert decision.approval is not None
            answer = _consulted(self.approver, decision.approval)
            decision = self._offered(answer, tool, args, cid)
        return decision

    def _offered(
        self, offer: Offer, tool: str, args: Mapping[str, Any] | None, call_id: str
    ) -> Decision:
        token = offered.set(_offer(offer))
        try:
            return self._decide(tool, args, call_id, True)
        finally:
            offered.reset(token)

    def check(
        self, tool: str, args: Mapping[str, Any] | None = None, *, call_id: str | None = None
    ) -> Decision:
        """The decision `authorize` would make now, charging nothing (a call that would ask is
        reported as `ask`; nothing is stored, no approval is used)."""
        return self._decide(tool, args, call_id, False)

    async def aauthorize(
        self, tool: str, args: Mapping[str, Any] | None = None, *, call_id: str | None = None,
        approval: Approval | str | bool | None = None,
    ) -> Decision:
        """`authorize` for async callers: the same decision, and the event loop never waits on
        the store, the audit sink or a synchronous approver (see `_async_decide`)."""
        cid = new_call_id() if call_id is None else call_id
        if approval is None and self.approver is None:
            return await self._adecide(tool, args, cid, True)
        decision = await self._aoffered(approval, tool, args, cid)
        if decision.outcome == "ask" and self.approver is not None:
            assert decision.approval is not None
            answer = await _aconsulted(self.approver, decision.approval, self.clock)
            decision = await self._aoffered(answer, tool, args, cid)
        return decision

    async def _aoffered(
        self, offer: Offer, tool: str, args: Mapping[str, Any] | None, call_id: str
    ) -> Decision:
        token = offered.set(_offer(offer))
        try:
            return await self._adecide(tool, args, call_id, True)
        finally:
            offered.reset(token)

    async def acheck(
        self, tool: str, args: Mapping[str, Any] | None = None, *, call_id: str | None = None
    ) -> Decision:
        """`check` for async callers: the decision `aauthorize` would make now, charging nothing."""
        return await self._adecide(tool, args, call_id, False)

    # -- approvals ------------------------------------------------------------------------

    def approve(
        self, request_or_id: ApprovalRequest | str, *, by: str | None = None,
        reason: str | None = None,
    ) -> Approval:
        """Approve a pending request (this process, or any sharing the store): the identical call
        retried (or `authorize(..., approval=id)`) runs, once. Raises `ApprovalError` when the
        request is unknown, answered before, used or expired."""
        return self._answer(request_or_id, True, by, reason)

    def reject(
        self, request_or_id: ApprovalRequest | str, *, by: str | None = None,
        reason: str | None = None,
    ) -> Approval:
        """Refuse a pending request: the identical call retried is denied `approval_denied`
        (once; a later one asks again)."""
        return self._answer(request_or_id, False, by, reason)

    def _answer(
        self, request_or_id: ApprovalRequest | str, approved: bool, by: str | None,
        reason: str | None,
    ) -> Approval:
        rid = request_or_id.id if isinstance(request_or_id, ApprovalRequest) else request_or_id
        if not isinstance(rid, str):
            raise TypeError(f"approve/reject take an ApprovalRequest or its id, not {rid!r}")
        answer = Approval(request_id=rid, approved=approved, by=by, reason=reason)
        resolved = self._approvals.book.resolve_approval(rid, answer, now=self.clock())
        if resolved.status != "resolved":
            raise ApprovalError(_unanswerable(rid, resolved.status), status=resolved.status)
        assert resolved.approval is not None
        return resolved.approval

    def pending(self) -> list[ApprovalRequest]:
        """This task's requests waiting for a person, oldest first."""
        return [
            request for request, answer in self._approvals.book.approval_requests(
                self.task, now=self.clock()
            ) if answer is None
        ]

    def owns(self, exc: BaseException) -> bool:
        """True when `exc` is the `DelegationDenied` this guard raised for one of its own decisions
        (`invoke`, `ainvoke`, `wrap`), False for anything else: in particular for a
        `DelegationDenied` that the tool itself raised, which is the tool's own error."""
        return (
            isinstance(exc, DelegationDenied) and exc.guard is self
            and not getattr(exc, _RAISED_BY_TOOL, False)
        )

    # -- running tools --------------------------------------------------------------------

    def constrained_defaults(self, tool: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
        """Of the values a tool runs with when an argument is left out, those any manifest of the
        chain constrains (optional arguments it names, sums in a budget, and keys inside a
        `fields` constraint, at any depth). They are checked and charged like passed values, so
        `amount=1000` cannot slip past `max: 50` (or a sum budget, or a parent's constraint) by
        being left out. `wrap` does this itself; adapters pass what the tool will run with to
        `invoke(defaults=)`."""
        return with_defaults(self._chain, tool, {}, defaults)

    def with_defaults(
        self, tool: str, args: Mapping[str, Any], defaults: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """`args` completed by the `defaults` the manifest chain constrains (see
        `constrained_defaults`); what was passed is never replaced. `defaults` may be nested:
        the arguments as the tool will see them, e.g. after a framework's schema filled them."""
        return with_defaults(self._chain, tool, args, defaults)

    def invoke(
        self, tool: str, fn: Callable[..., T], args: Mapping[str, Any] | None = None,
        *, call_id: str | None = None, defaults: Mapping[str, Any] | None = None,
        approval: Approval | str | bool | None = None,
    ) -> T:
        """Authorize `tool(**args)` and run `fn(**args)` inside the tool's span. `defaults`: what
        the tool uses for arguments left out; those the manifest constrains are checked too.

        The guard decides on a private copy of the arguments and `fn` receives exactly that
        copy: every argument a manifest looks at in exact JSON types (tuples as lists,
        subclasses of str/int/float/list/dict as their plain value; anything else is denied
        `argument_invalid`), any other one as given; a null counts as left out (not passed).

        `approval`: as for `authorize` (used by the first attempt); a call that asks without an
        approval or approver raises `ApprovalRequired` (its `request` is pending)."""
        checked = self._call_arguments(tool, args, defaults)
        if approval is None:
            return self._run(tool, checked, lambda: fn(**_runnable(checked)), call_id)
        token = _invoke_offer.set(approval)
        try:
            return self._run(tool, checked, lambda: fn(**_runnable(checked)), call_id)
        finally:
            _invoke_offer.reset(token)

    def _call_arguments(
        self, tool: str, args: Mapping[str, Any] | None, defaults: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The private copy of `args` that `invoke` decides on and runs `fn` with (see there),
        nulls left out, completed by the `defaults` the manifest chain constrains. Arguments
        that cannot be copied give an object the decision denies; what is not a mapping is
        returned as it is, to be denied (typed as a dict only for the checker's sake)."""
        copier = self._copier
        copied = copier.copy(tool, {} if args is None else args, drop_nulls=True)
        if type(copied) is not dict or not defaults or type(tool) is not str:
            return cast(dict[str, Any], copied)
        filled = with_defaults(self._chain, tool, copied, defaults)
        return cast(dict[str, Any], copier.filled(tool, copied, filled))

    @overload
    async def ainvoke(
        self, tool: str, fn: Callable[..., Awaitable[T]], args: Mapping[str, Any] | None = None,
        *, call_id: str | None = None, defaults: Mapping[str, Any] | None = None,
        approval: Approval | str | bool | None = None,
    ) -> T: ...
    @overload
    async def ainvoke(
        self, tool: str, fn: Callable[..., T], args: Mapping[str, Any] | None = None,
        *, call_id: str | None = None, defaults: Mapping[str, Any] | None = None,
        approval: Approval | str | bool | None = None,
    ) -> T: ...

    async def ainvoke(
        self, tool: str, fn: Callable[..., Any], args: Mapping[str, Any] | None = None,
        *, call_id: str | None = None, defaults: Mapping[str, Any] | None = None,
        approval: Approval | str | bool | None = None,
    ) -> Any:
        """`invoke` for async callers; `fn(**args)` may return an awaitable, which is awaited."""
        checked = self._call_arguments(tool, args, defaults)
        if approval is None:
            return await self._arun(tool, checked, lambda: fn(**_runnable(checked)), call_id)
        token = _invoke_offer.set(approval)
        try:
            return await self._arun(tool, checked, lambda: fn(**_runnable(checked)), call_id)
        finally:
            _invoke_offer.reset(token)

    def _attempt(
        self, tool: str, args: dict[str, Any], call: Callable[[], T], call_id: str | None
    ) -> T:
        instruments = self._instruments
        with instruments.span(tool) as span:
            decision = self._enter(span, tool, args, call_id)
            try:
                result = call()
            except BaseException as exc:
                _raised_by_tool(exc, self)
                instruments.tool_failed(span, exc)
                self._settle_failed(decision, exc)
                raise
            self._decider.take_refund(decision.call_id)
            self.record_result(tool, result, call_id=decision.call_id)
            return result

    async def _aattempt(
        self, tool: str, args: dict[str, Any], call: Callable[[], Awaitable[T] | T],
        call_id: str | None,
    ) -> T:
        instruments = self._instruments
        with instruments.span(tool) as span:
            if self.record_values:
                instruments.arguments(span, args)
            # `args` is the guard's copy already (`call_arguments`): decided as it is.
            decision = await self.aauthorize(tool, args, call_id=call_id, approval=_first_offer())
            self._admit(span, decision)
            try:
                result = call()
                if inspect.isawaitable(result):
                    result = await result
            except BaseException as exc:
                _raised_by_tool(exc, self)
                instruments.tool_failed(span, exc)
                if self._decider.refundable(decision.call_id):
                    if type(self.store) is MemoryStore or not isinstance(exc, Exception):
                        self._settle_failed(decision, exc)
                    else:  # the store's I/O off the event loop
                        await asyncio.to_thread(self._settle_failed, decision, exc)
                raise
            self._decider.take_refund(decision.call_id)
            self.record_result(tool, result, call_id=decision.call_id)
            return cast(T, result)

    def _settle_failed(self, decision: Decision, exc: BaseException) -> None:
        """`refund_on_error`: an allowed call whose tool raised gives its charges back (a
        refund that fails leaves them spent: stricter, never looser)."""
        if not isinstance(exc, Exception):  # cancelled or interrupted: it may have run
            self._decider.take_refund(decision.call_id)
            return
        try:
            self._decider.refund_failed(decision.call_id)
        except Exception as refund_exc:
            log.warning("guardrail: refund failed: %s", type(refund_exc).__name__)

    def _enter(self, span: Any, tool: str, args: dict[str, Any], call_id: str | None) -> Decision:
        """Authorize the call on its span; a blocking denial raises, owned by this guard."""
        if self.record_values:
            self._instruments.arguments(span, args)
        # `args` is the guard's copy already (`call_arguments`): decided as it is.
        decision = self.authorize(tool, args, call_id=call_id, approval=_first_offer())
        self._admit(span, decision)
        return decision

    def _admit(self, span: Any, decision: Decision) -> None:
        """Put the decision on the span; a blocking denial raises, owned by this guard."""
        self._instruments.annotate(span, decision)
        if decision.blocks:
            assert decision.denial is not None
            raise decision.denial.to_exception(guard=self, request=decision.approval)

    # -- provenance ------------------------------------------------------------------------

    def record_result(self, tool: str, result: Any, *, call_id: str | None = None) -> None:
        """Remember what `tool` returned, for the provenance checks of this task and of every
        ancestor's task (what a sub-agent read is untrusted for its parent too). `invoke`,
        `ainvoke` and `wrap`ped tools record by themselves; an adapter that runs tools some other
        way calls this with what the model will see. A result is untrusted unless the grant
        says `results: trusted`. It is kept as text: a str as it is, a JSON value as canonical
        JSON, anything else by `str()`; past the cap (`max_results_bytes`) it is kept up to the
        cap and the provenance checks of the task deny from then on. Never raises: a result that
        cannot be rendered marks the memory full (fail closed)."""
        links = self._chain.links
        try:
            pieces = _provenance.render(result)
            if not pieces:
                return
            text = "\x00".join(_provenance.normalise(p) for p in pieces)
        except Exception:
            for memory in self._memories:
                memory.mark_full()
            return
        name = tool if isinstance(tool, str) else repr(tool)
        ident = None if call_id is None else str(call_id)
        for depth, memory in enumerate(self._memories):
            granted = links[depth].tools.get(name) if depth < len(links) else None
            memory.add(name, ident, granted is not None and granted.trusted_results, text)

    def add_inputs(self, *texts: str) -> None:
        """Add trusted content for this guard's task: the user's request, values the issuer
        supplies (as `Guard(..., inputs=[...])` and the manifest's `inputs:` do). A value the user
        typed is trusted even when it also occurs in an untrusted tool result."""
        self._trusted[0].add(_inputs(texts))

    @property
    def results_full(self) -> bool:
        """True once this task's recorded results passed their cap (provenance checks deny)."""
        return any(memory.full for memory in self._memories)

    # -- wrapping a registry --------------------------------------------------------------

    def wrap(self, fn: F, *, name: str | None = None) -> F:
        """`fn` behind the guard: same signature, sync or async. Each call binds its arguments to
        names, is authorized, and raises the matching `DelegationDenied` when denied. As with
        `invoke`, the guard decides on a private copy of the arguments and `fn` is called with
        that copy (re-bound to its signature), and a null for a parameter that has a default
        counts as left out: `fn` runs with its default (checked where the manifest constrains
        it). A null for a parameter without a default is passed on (Python cannot leave it out)."""
        tool = name or getattr(fn, "__name__", None)
        if not tool:
            raise TypeError(f"cannot tell the tool name of {fn!r}: pass name=")
        sig = inspect.signature(fn)
        names, others = signature_names(sig)
        self.check_arguments(tool, names, others=others,
                             what=f"{getattr(fn, '__qualname__', repr(fn))}()")
        defaults = self.constrained_defaults(tool, parameter_defaults(sig))
        copier = self._copier

        def copy(bound: dict[str, Any]) -> Any:
            return copier.copy(tool, bound, drop_nulls=False)  # `bind` left the nulls out

        wrapped = guarded(fn, tool, binder(sig, defaults), copy, caller(fn, sig), self._run, self._arun)
        wrapped.__guardrail__ = self  # type: ignore[attr-defined]
        return wrapped

    def check_arguments(
        self, tool: str, names: Iterable[str], *, others: bool = False, what: str | None = None
    ) -> None:
        """A `ManifestError` naming every argument this guard's manifest constrains for `tool`
        that is not among `names`, the arguments the tool takes: such a constraint would never
        apply (a typo?), and a required one would deny every call. `others`: the tool takes
        arguments it does not name (`**kwargs`, `additionalProperties`), so nothing is refused.
        `what` names the tool in the message (default ``tool 'NAME'``). `wrap` and every
        adapter check the manifest against the tool's signature or schema with this."""
        problems = argument_problems(
            self.manifest.grant(tool), tool, names, others=others,
            what=f"tool {tool!r}" if what is None else what,
        )
        if problems:
            raise ManifestError(problems)

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

    # -- delegation -----------------------------------------------------------------------

    def delegate(self, child: Manifest | Mapping[str, Any] | str | Path, **options: Any) -> Guard:
        """A guard for a sub-agent that can only narrow this one: see `guardrail._runtime._delegation`.
        It shares this guard's store, clock, mode, audit sink, value recording and providers."""
        manifest = child_manifest(self._chain, self.store, self.clock, child, **options)
        guard = Guard.__new__(Guard)
        guard._compose(
            manifest, self._chain.extend(manifest.compiled()),
            store=self.store, clock=self.clock, mode=self.mode,
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider,
            record_values=self.record_values, audit=self.audit, parent=self,
            memories=(_provenance.Memory(self._memories[0].max_bytes), *self._memories),
            trusted=(_trusted(manifest, []), *self._trusted),
            approver=self.approver, approval_ttl=self.approval_ttl,
        )
        return guard

    # -- lifetime -------------------------------------------------------------------------

    def revoke(self, reason: str = "") -> None:
        """End the delegation now, fleet-wide: every later decision for this task (and any
        sub-agent's) is `revoked`, in every process sharing the store."""
        self._chain.revoke_locally(reason)
        self.store.revoke(
            self.task, reason, expires_at=self.manifest.expires_ts + REVOCATION_RETENTION_SECONDS
        )

    def end(self, reason: str = "task ended") -> None:
        """End this guard and its delegates (every later decision of theirs is `revoked`), here
        only: other guards for the same task, in this process or another one sharing the store,
        keep working. What leaving `with Guard(...)` / `async with` does; `revoke` is the
        fleet-wide one."""
        self._chain.revoke_locally(reason)

    @property
    def revoked(self) -> bool:
        return self._chain.revocation(self.store) is not None

    def usage(self) -> dict[str, dict[str, float]]:
        """Budget use so far, by scope: {"calls": {"used", "limit", "remaining"}, ...}. A
        per-value budget appears once per value charged, as `scope[arg=<digest>]` (never the
        value); a windowed one counts its window as of the guard's clock (and says its
        "window" in seconds); a distinct one counts values."""
        return budget_usage(self.store, self._chain.own, self.clock())

    # A `with` block is one worker's use of the task: leaving it ends this guard (and the
    # guards it delegated to), not the task of every worker sharing the store.
    def __enter__(self) -> Guard:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end()

    async def __aenter__(self) -> Guard:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end()


def _runnable(checked: Any) -> Any:
    """What the tool is called with: the checked copy; for arguments the guard could not copy
    (denied, so only a shadow-mode guard gets here) the arguments as given."""
    return checked.given if type(checked) is Unreadable else checked


# Set on a `DelegationDenied` that came out of a tool's run: even when this guard raised it (the
# tool called `invoke` on it for another tool, and that call was denied), it is the tool's own
# error for the call that ran the tool, so `owns` says False.
_RAISED_BY_TOOL = "_guardrail_raised_by_tool"


def _raised_by_tool(exc: BaseException, guard: Guard) -> None:
    if isinstance(exc, DelegationDenied) and exc.guard is guard:
        setattr(exc, _RAISED_BY_TOOL, True)


def _inputs(inputs: Iterable[str] | None) -> list[str]:
    """Task inputs, checked: a list of strings (one str is an error, not a list of letters)."""
    if inputs is None:
        return []
    if isinstance(inputs, str):
        raise TypeError("inputs must be a list of strings, not one string")
    out = list(inputs)
    for item in out:
        if not isinstance(item, str):
            raise TypeError(f"inputs must be strings, not {type(item).__name__}")
    return out


def _trusted(manifest: Manifest, inputs: list[str]) -> _provenance.Trusted:
    """What a guard trusts: every string its manifest says (the `inputs:` key included) and the
    inputs it was given."""
    data = manifest.model_dump(by_alias=True, exclude_unset=True, mode="json")
    data.pop("signature", None)
    return _provenance.Trusted([*_provenance.manifest_strings(data), *inputs])
# -- approvals: what a call brings, and what an approver answers -----------------------------


def _first_offer() -> Offer:
    """What `invoke`/`ainvoke` were given, for the first attempt only: a retried attempt asks
    again (an approval allows one call)."""
    offer = _invoke_offer.get()
    if offer is not None:
        _invoke_offer.set(None)
    return offer


def _offer(offer: Offer) -> Offer:
    if offer is None or offer is True or isinstance(offer, Approval | str):
        return offer
    # False, 1, "yes"-like objects: nothing a person approved; fail closed with a clear error.
    raise TypeError(
        "approval must be an Approval, a request id or True, not "
        f"{type(offer).__name__} {offer!r}"[:200]
    )


def _refusal(request: ApprovalRequest, why: str) -> Approval:
    return Approval(request_id=request.id, approved=False, by="approver", reason=why)


def _answer_of(request: ApprovalRequest, result: object) -> Approval:
    """An approver's return value as an `Approval`; anything but a bool or an `Approval` of this
    request refuses."""
    if type(result) is bool:
        return Approval(request_id=request.id, approved=result)
    if isinstance(result, Approval):
        if result.request_id != request.id:
            return _refusal(request, f"the approver answered another request ({result.request_id})")
        return result
    return _refusal(
        request, f"the approver returned {type(result).__name__}, not a bool or an Approval"
    )


def _consulted(approver: Approver, request: ApprovalRequest) -> Approval:
    try:
        result = approver(request)
    except Exception as exc:
        return _refusal(request, f"the approver raised {type(exc).__name__}")
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()  # never awaited: no "was never awaited" warning
        return _refusal(request, "the approver is async: use aauthorize / ainvoke")
    return _answer_of(request, result)


async def _aconsulted(approver: Approver, request: ApprovalRequest, clock: Clock) -> Approval:
    """The approver's answer without blocking the event loop: an async approver is awaited, a
    sync one runs in a worker thread; either is given until the request expires."""
    left = request.expires_ts - clock()
    if not left > 0:
        return _refusal(request, "the request expired before the approver was asked")

    async def answer() -> object:
        if _is_async(approver):
            return await approver(request)
        result = await asyncio.to_thread(approver, request)
        return await result if inspect.isawaitable(result) else result

    try:
        result = await asyncio.wait_for(answer(), timeout=min(left, 86400.0 * 365))
    except TimeoutError:
        return _refusal(request, "the approver did not answer before the request expired")
    except Exception as exc:
        return _refusal(request, f"the approver raised {type(exc).__name__}")
    return _answer_of(request, result)


def _is_async(fn: object) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


def _unanswerable(request_id: str, status: str) -> str:
    rid = repr(request_id[:100])
    if status == "decided":
        return f"approval request {rid} was answered before"
    if status == "used":
        return f"approval request {rid} was used before"
    if status == "expired":
        return f"approval request {rid} has expired"
    return f"there is no approval request {rid} (unknown, or dropped after it expired)"
