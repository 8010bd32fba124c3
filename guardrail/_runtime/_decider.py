"""The decision engine: one call in, one `Decision` out.

Pure apart from the store it is given (revocation, budget use, the atomic charge, approvals) and
the clock. Checks run in the order of DESIGN.md ("Decisions and denials"); the first failure is
the denial. A call that passes them all but that an `ask` rule sends to a person takes the
approval steps (`_approvals`): the budget peek, the person's answer, then the charge.
A fast path takes the common case straight through (one manifest, in its window, a granted tool
without budget or condition, arguments that pass, not revoked); anything else takes the full path,
which also explains. Whatever goes wrong while deciding denies: `StoreUnavailable` as
`store_unavailable`, anything else as `internal_error`.

`decide` (sync) and `adecide` (a store's native async methods) are one engine: they differ only
in how they call the store; every step between the store calls (`fast`, `plan`,
`unless_revoked`, `settled`, `failed`) is shared.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, cast

from .. import _provenance
from .._errors import ManifestError, StoreUnavailable
from .._outcome import ApprovalRequest, Decision, DenialCode
from .._policy import Violation, is_finite_number, written
from .._policy._budgets import ABSENT, per_scope, value_digest
from .._policy._compiled import CompiledManifest, CompiledTool
from .._policy._conditions import call_data
from .._stores import BudgetStore, Charge
from .._stores._approvals import Taken
from .._stores._async import AsyncBudgetStore
from .._stores._protocol import Overrun, Revoked, refunder, settler, unsupported
from ._approvals import Approvals, Asked, Commit, StoreOp, TakeOp, cel_error, offered, taken_next
from ._arguments import Unreadable
from ._chain import Chain
from ._denials import Denials

__all__ = ["Decider"]

log = logging.getLogger("guardrail")

# The last call charged in this context (thread, or asyncio task): (decider, call id, charges),
# for `refund` right after it. A context variable, so that concurrent tasks on one event loop
# each see their own, and the worker thread an async audit write runs in sees its task's.
_charged: contextvars.ContextVar[tuple[Decider, str, list[Charge]] | None] = contextvars.ContextVar(
    "guardrail_charged", default=None
)


# One step of a call that asks: a store operation to run next, or the decision.
Step = Decision | TakeOp | StoreOp | Commit


class _Unsettled(NamedTuple):
    """A decision the manifests give, which stands unless the store says the chain is revoked."""

    decision: Decision


class Decider:
    """Decides calls against a `Chain`, charging its budgets in `store` when asked to."""

    __slots__ = ("_allow_cache", "_approvals", "_asking", "_chain", "_clock", "_contextual",
                 "_denials", "_enforced", "_fast", "_mark", "_own", "_refund", "_refund_tools",
                 "_refundable", "_revoked", "_settle", "_store", "_tasks", "_unsupported", "_views")

    def __init__(
        self, chain: Chain, store: BudgetStore, clock: Callable[[], float], denials: Denials,
        approvals: Approvals, views: tuple[_provenance.View, ...] = (), *, enforced: bool = True,
    ) -> None:
        self._chain = chain
        self._approvals = approvals
        self._enforced = enforced
        # The tools some link has an ask rule for: the others never look.
        self._asking = frozenset(
            name for link in chain.links for name, t in link.tools.items() if t.asks
        )
        self._store = store
        self._clock = clock
        self._denials = denials
        # What the fast path reads, bound once.
        self._fast = len(chain.links) == 1
        self._own = chain.own
        self._mark = chain.mark
        self._revoked = store.revoked
        self._tasks = chain.tasks
        # One store operation per decision: revocation and charge together (`settle`).
        self._settle = settler(store)
        self._refund = refunder(store)
        # Decisions are immutable: one allow per granted tool serves every anonymous check.
        self._allow_cache: dict[str, Decision] = {}
        # A store that cannot keep a window or distinct values must never count them as totals.
        needed = frozenset().union(*(link.features for link in chain.links))
        self._unsupported = unsupported(store, needed) if needed else None
        if self._unsupported is not None:
            raise ManifestError(self._unsupported, source=None)
        # refund_on_error: the tools some link grants with it, and what each allowed call of
        # theirs was charged (by call id) until the tool has run (`take_refund`).
        self._refund_tools = frozenset(
            t for link in chain.links for t, c in link.tools.items() if c.refund_on_error
        )
        self._refundable: dict[str, list[Charge]] = {}
        # Provenance: per link, what its checks read (the task's recorded results, trusted
        # texts); the tools some link checks against them (they never take the fast path).
        self._views = views
        self._contextual = frozenset(
            name for link in chain.links for name, t in link.tools.items() if t.contextual
        )

    def decide(self, tool: Any, args: object, call_id: str | None, charge: bool) -> Decision:
        """The decision for `tool(**args)`; with `charge`, an allowed call's budgets are charged.
        `tool` and `args` are typed loosely on purpose: callers are untyped (a model may send a
        list), and whatever they are, they are decided."""
        try:
            allow = self.fast(tool, args, call_id)
            if allow is not None and self._revoked(self._tasks) is None:
                return allow
        except Exception as exc:
            return self.failed(exc, tool, call_id)
        return self.decide_fully(tool, args, call_id, charge)

    def decide_fully(self, tool: Any, args: object, call_id: str | None, charge: bool) -> Decision:
        """The full path, every check in order (also what explains a denial)."""
        # The store calls are all that differs from `adecide`: every step between them is
        # shared (`fast`, `plan`, `unless_revoked`, `settled`, `failed`).
        try:
            planned = self.plan(tool, args, call_id)
            if type(planned) is Decision:
                return planned
            if type(planned) is _Unsettled:
                return self.unless_revoked(self._revoked(self._tasks), planned.decision)
            chain = self._chain
            if type(planned) is Asked:
                return self._ask(planned, tool, args, call_id, charge)
            assert isinstance(planned, list)
            settled = self._settle(chain.tasks, planned, expires_at=chain.expires_ts, commit=charge)
            return self.settled(settled, planned, tool, call_id, charge)
        except Exception as exc:
            return self.failed(exc, tool, call_id)

    def _ask(
        self, asked: Asked, tool: str, args: object, call_id: str | None, charge: bool
    ) -> Decision:
        """The approval steps with the synchronous store (see `asking`)."""
        chain, book = self._chain, self._approvals.book
        peek = self._settle(chain.tasks, asked.charges, expires_at=chain.expires_ts, commit=False)
        step: Step = self.asking(peek, asked, tool, args, call_id, charge)
        while True:
            if type(step) is TakeOp:
                request = step.request
                taken = book.take_approval(
                    request.task, request.tool, request.args_digest,
                    request_id=step.request_id, grant=step.grant, now=self._clock(),
                )
                step = self.took(taken, step, asked, call_id)
            elif type(step) is StoreOp:
                stored = book.request_approval(step.request, now=self._clock())
                step = self.stored(stored, step, asked, call_id)
            elif type(step) is Commit:
                settled = self._settle(
                    chain.tasks, asked.charges, expires_at=chain.expires_ts, commit=charge
                )
                return self.committed(settled, step, tool, call_id, charge)
            else:
                assert type(step) is Decision
                return step

    async def adecide(
        self, store: AsyncBudgetStore, tool: Any, args: object, call_id: str | None, charge: bool
    ) -> Decision:
        """`decide` with the store's native async methods (`store` is this decider's store)."""
        try:
            allow = self.fast(tool, args, call_id)
            if allow is not None and await store.arevoked(self._tasks) is None:
                return allow
            planned = self.plan(tool, args, call_id)
            if type(planned) is Decision:
                return planned
            if type(planned) is _Unsettled:
                return self.unless_revoked(await store.arevoked(self._tasks), planned.decision)
            chain = self._chain
            if type(planned) is Asked:
                return await self._aask(store, planned, tool, args, call_id, charge)
            assert isinstance(planned, list)
            settled = await store.asettle(
                chain.tasks, planned, expires_at=chain.expires_ts, commit=charge
            )
            return self.settled(settled, planned, tool, call_id, charge)
        except Exception as exc:
            return self.failed(exc, tool, call_id)

    async def _aask(
        self, store: AsyncBudgetStore, asked: Asked, tool: str, args: object,
        call_id: str | None, charge: bool,
    ) -> Decision:
        """`_ask` with the store's native async methods (its approval twins when it has them)."""
        chain, book = self._chain, self._approvals.book
        atake = getattr(book, "atake_approval", None)
        arequest = getattr(book, "arequest_approval", None)
        peek = await store.asettle(chain.tasks, asked.charges, expires_at=chain.expires_ts, commit=False)
        step: Step = self.asking(peek, asked, tool, args, call_id, charge)
        while True:
            if type(step) is TakeOp:
                request = step.request
                key = (request.task, request.tool, request.args_digest)
                if atake is not None:
                    taken: Taken = await atake(
                        *key, request_id=step.request_id, grant=step.grant, now=self._clock()
                    )
                else:
                    taken = book.take_approval(
                        *key, request_id=step.request_id, grant=step.grant, now=self._clock()
                    )
                step = self.took(taken, step, asked, call_id)
            elif type(step) is StoreOp:
                if arequest is not None:
                    stored: ApprovalRequest = await arequest(step.request, now=self._clock())
                else:
                    stored = book.request_approval(step.request, now=self._clock())
                step = self.stored(stored, step, asked, call_id)
            elif type(step) is Commit:
                settled = await store.asettle(
                    chain.tasks, asked.charges, expires_at=chain.expires_ts, commit=charge
                )
                return self.committed(settled, step, tool, call_id, charge)
            else:
                assert type(step) is Decision
                return step

    # -- the steps both paths share -------------------------------------------------------

    def failed(self, exc: Exception, tool: Any, call_id: str | None) -> Decision:
        """Whatever goes wrong while deciding denies."""
        if isinstance(exc, StoreUnavailable):
            return self._denials.store_unavailable(exc, tool, call_id)
        # fail closed: an error in the checker never allows
        log.debug("guardrail: internal error while deciding", exc_info=exc)
        return self._denials.internal_error(exc, tool, call_id)

    def fast(self, tool: Any, args: object, call_id: str | None) -> Decision | None:
        """The allow of the common case (one manifest, in its window, a granted tool without
        budget or condition, arguments that pass, not revoked here), provided the store says the chain is not
        revoked; None: take the full path."""
        if self._fast and self._mark.reason is None:
            link = self._own
            now = self._clock()
            compiled = link.tools.get(tool) if type(tool) is str else None
            if (
                compiled is not None
                and compiled.direct
                and now < link.expires_ts
                and (link.not_before_ts is None or now >= link.not_before_ts)
                and (type(args) is dict or args is None)
                and compiled.args.test(args or {})
            ):
                if call_id is None:
                    cached = self._allow_cache.get(tool)
                    if cached is None:
                        cached = self._allow_cache[tool] = Decision(True, tool)
                    return cached
                return Decision(True, tool, call_id)
        return None

    def plan(
        self, tool: Any, args: object, call_id: str | None
    ) -> Decision | _Unsettled | Asked | list[Charge]:
        """What the manifests alone say: a final decision (revoked in this process), a decision
        that stands unless the store says the chain is revoked (`_Unsettled`: a denial, or an
        allow that charges nothing), a call a person must approve (`Asked`), or the charges to
        settle with the store."""
        chain, denials = self._chain, self._denials
        now = self._clock()
        reason = chain.revocation(None)  # revoked in this process: no need to ask the store
        if reason is not None:
            return denials.revoked(reason, tool, call_id)
        charges: list[Charge] = []
        if type(tool) is str and tool in self._contextual:
            with _provenance.static():  # the static checks first; `_conditions` probes the results
                denial = self._local_denial(tool, args, call_id, now, charges)
        else:
            denial = self._local_denial(tool, args, call_id, now, charges)
        if denial is None and tool in self._asking:
            view = self._view if tool in self._contextual else None
            asked = self._approvals.asks(tool, cast(Mapping[str, Any], args or {}), now, view)
            if asked is not None:
                return Asked(charges, *asked)
        if denial is not None or not charges:
            # revocation outranks every other denial: one read of the store says
            return _Unsettled(denial if denial is not None else Decision(True, tool, call_id))
        return charges

    def unless_revoked(self, reason: str | None, decision: Decision) -> Decision:
        if reason is not None:
            return self._denials.revoked(reason, decision.tool, decision.call_id)
        return decision

    def settled(
        self, settled: Revoked | Overrun | None, charges: list[Charge], tool: Any,
        call_id: str | None, charge: bool,
    ) -> Decision:
        """The decision once the store has settled the charges."""
        if settled is None:
            if charge and call_id is not None:
                _charged.set((self, call_id, charges))
                if tool in self._refund_tools:
                    self._keep_refundable(tool, call_id, charges)
            return Decision(True, tool, call_id)
        if type(settled) is Revoked:
            return self._denials.revoked(settled.reason, tool, call_id)
        return self._denials.exhausted(settled, tool, call_id)  # type: ignore[arg-type]

    # -- the approval steps both paths share ----------------------------------------------------

    def asking(
        self, peek: Revoked | Overrun | None, asked: Asked, tool: str, args: object,
        call_id: str | None, charge: bool,
    ) -> Step:
        """After the budget peek: a call that cannot run is never put to a person; shadow mode
        never asks (it charges, and reports `shadow_ask`); a dry run (`check`) reports the ask
        and stores nothing; otherwise take what the call brings, or the identical call's
        stored answer."""
        if peek is not None:
            return self.settled(peek, asked.charges, tool, call_id, False)
        approvals = self._approvals
        request = approvals.request(asked, tool, cast(Mapping[str, Any], args or {}), self._clock())
        if not self._enforced:
            return Commit(asked, request, None)
        if not charge:
            return self._denials.asking(
                request, asked.depth, cel_error(asked.value), approvals.shared, call_id,
                stored=False,
            )
        return approvals.first(request, offered.get())

    def took(self, taken: Taken, op: TakeOp, asked: Asked, call_id: str | None) -> Step:
        status, denials = taken.status, self._denials
        if status == "approved":
            return Commit(asked, taken.request, taken.approval)
        if status == "rejected":
            assert taken.request is not None and taken.approval is not None
            return denials.refused(taken.request, taken.approval, asked.depth, call_id)
        if status == "pending":
            assert taken.request is not None
            return denials.asking(
                taken.request, asked.depth, cel_error(asked.value), self._approvals.shared, call_id
            )
        following = taken_next(taken, op)
        if following is not None:
            return following
        assert op.request_id is not None
        return denials.unusable(status, op.request_id, taken.request, op.request, call_id)

    def stored(
        self, stored: ApprovalRequest, op: StoreOp, asked: Asked, call_id: str | None
    ) -> Step:
        if op.then_grant is not None:  # `approval=True`: answered at once
            return TakeOp(stored, stored.id, op.then_grant)
        return self._denials.asking(
            stored, asked.depth, cel_error(asked.value), self._approvals.shared, call_id
        )

    def committed(
        self, settled: Revoked | Overrun | None, commit: Commit, tool: str, call_id: str | None,
        charge: bool,
    ) -> Decision:
        """The decision once an approved (or shadow) call has been charged."""
        decision = self.settled(settled, commit.asked.charges, tool, call_id, charge)
        if not decision.allowed:
            return decision
        if not self._enforced:  # shadow: the call runs, reported as the ask it would have been
            assert commit.request is not None
            return self._denials.asking(
                commit.request, commit.asked.depth, cel_error(commit.asked.value), True, call_id,
                stored=False,
            )
        return Decision(True, tool, call_id, approval=commit.request, resolution=commit.approval)

    def _local_denial(
        self, tool: Any, args: object, call_id: str | None, now: float, charges: list[Charge]
    ) -> Decision | None:
        """The first denial the manifests alone give (window, grant, arguments), else None with
        `charges` filled in."""
        chain, denials = self._chain, self._denials
        for depth, link in enumerate(chain.links):
            # `not <`: a NaN clock counts as expired.
            if (link.not_before_ts is not None and now < link.not_before_ts) or not (
                now < link.expires_ts
            ):
                return denials.outside_window(link, depth, now, tool, call_id)
        if args is None:
            args = {}
        for depth, link in enumerate(chain.links):
            compiled = link.tools.get(tool) if isinstance(tool, str) else None
            if compiled is None:
                return denials.tool_not_allowed(link, depth, tool, call_id)
            if type(args) is Unreadable:  # not JSON data where a constraint looks (`_arguments`)
                return denials.violation(args.violation, depth, tool, call_id)
            if not isinstance(args, Mapping):  # callers are untyped: a model may send a list
                return denials.not_an_object(args, depth, tool, call_id)
            if not compiled.args.test(args):
                found = compiled.args.violation(args)
                if found is None:  # the fast test and the explanation disagree: still deny
                    raise AssertionError("constraint test failed without a violation")
                return denials.violation(found, depth, tool, call_id)
            if compiled.budgeted:
                bad = _charges(compiled, link, args, charges, now)
                if bad is not None:
                    return denials.violation(bad, depth, tool, call_id)
        if self._unsupported is not None and any(c.window or c.member for c in charges):
            raise StoreUnavailable(self._unsupported)  # fail closed (the guard refused it first)
        return self._conditions(tool, cast(Mapping[str, Any], args), now, call_id)

    def _keep_refundable(self, tool: str, call_id: str, charges: list[Charge]) -> None:
        """Remember the charges an error of the tool gives back: those of the links whose grant
        says `refund_on_error` (a child's cannot give back its parent's)."""
        refundable = {link.task for link in self._chain.links if link.tools[tool].refund_on_error}
        # A task named by a link without it keeps its charges.
        refundable -= {link.task for link in self._chain.links
                       if not link.tools[tool].refund_on_error}
        mine = [c for c in charges if c.task in refundable]
        if mine:
            pending = self._refundable
            if len(pending) >= 4096:  # calls authorized but never run (bounded)
                del pending[next(iter(pending))]
            pending[call_id] = mine

    def refundable(self, call_id: str | None) -> bool:
        return bool(self._refundable) and call_id in self._refundable

    def take_refund(self, call_id: str | None) -> list[Charge] | None:
        """The refundable charges of an allowed call (forgotten once taken)."""
        if call_id is None or not self._refundable:
            return None
        return self._refundable.pop(call_id, None)

    def refund_failed(self, call_id: str | None) -> bool:
        """Give back what the allowed call `call_id` was charged, its tool having raised
        (`refund_on_error`); idempotent: the store refunds once per call id."""
        charges = self.take_refund(call_id)
        if not charges or call_id is None:
            return False
        return self._refund(charges, f"{call_id}:error")

    def refund(self, decision: Decision) -> bool:
        """Give back what `decision` charged, when it was this context's last charged call (what
        an audit log that could not record it needs); True when the store refunded."""
        last = _charged.get()
        if last is None or last[0] is not self or last[1] != decision.call_id or not decision.allowed:
            return False
        _charged.set(None)
        return self._refund(last[2], last[1])

    def _conditions(
        self, tool: str, args: Mapping[str, Any], now: float, call_id: str | None
    ) -> Decision | None:
        """`condition_failed` unless every link's `when` for `tool` is true (after every link's
        argument checks, before the budgets). Before them, for a tool whose constraints read the
        task's recorded results, `argument_untrusted` (`_untrusted`)."""
        contextual = tool in self._contextual
        if contextual:
            denial = self._untrusted(tool, args, call_id)
            if denial is not None:
                return denial
        for depth, link in enumerate(self._chain.links):
            condition = link.tools[tool].condition
            if condition is None:
                continue
            data = call_data(condition, args, tool, link.task, link.principal, now)
            if contextual:  # `untrusted()` / `from_results()` read this link's view
                with _provenance.probing(_provenance.Probe(self._view(depth))):
                    if condition.holds(data):
                        continue
                    result = condition.evaluate(data)
            elif condition.holds(data):
                continue
            else:
                result = condition.evaluate(data)
            return self._denials.condition_failed(condition, result, depth, tool, call_id)
        return None

    def _view(self, depth: int) -> _provenance.View | None:
        views = self._views
        return views[depth] if depth < len(views) else None

    def _untrusted(self, tool: str, args: Mapping[str, Any], call_id: str | None) -> Decision | None:
        """`argument_untrusted` when a link's `provenance` / `from_results` constraint fails
        against that link's view (its task's and its ancestors' recorded results). The static
        checks have passed, so whatever fails now is one of those."""
        for depth, link in enumerate(self._chain.links):
            compiled = link.tools[tool]
            if not compiled.provenance:
                continue
            view = self._view(depth)
            if view is None:  # a guard without results memory: fail closed
                view = _provenance.View((_FULL_MEMORY,), ())
            with _provenance.probing(_provenance.Probe(view)) as probe:
                if compiled.args.test(args):
                    continue
                found = compiled.args.violation(args)
            if found is None:  # the fast test and the explanation disagree: still deny
                raise AssertionError("constraint test failed without a violation")
            return self._denials.untrusted(found, probe.hit, depth, tool, call_id)
        return None


_FULL_MEMORY = _provenance.Memory(0)
_FULL_MEMORY.mark_full()


def _charges(
    compiled: CompiledTool, link: CompiledManifest, args: Mapping[str, Any], charges: list[Charge],
    now: float,
) -> Violation | None:
    """Append what a call of `compiled` costs `link`; a summed value that cannot count is a
    violation."""
    task = link.task
    for scope, limit in compiled.call_scopes:
        charges.append(Charge(task, scope, 1, limit))
    for arg, scope, limit in compiled.sum_scopes:
        value = args.get(arg)
        if value is None:
            continue
        amount = _amount(value)
        if amount is None:
            return _not_summable(arg, limit)
        if amount > 0:
            charges.append(Charge(task, scope, value, limit))  # as it is: the stores add exactly
    if compiled.rules:
        return _rule_charges(compiled, task, args, charges, now)
    return None


def _not_summable(arg: str, limit: float) -> Violation:
    return Violation(
        DenialCode.ARGUMENT_INVALID, [arg],
        f"{written('sum', {arg: limit})} (a non-negative number within float range)",
    )


def _rule_charges(
    compiled: CompiledTool, task: str, args: Mapping[str, Any], charges: list[Charge], now: float
) -> Violation | None:
    """The charges of the budgets with `per`, `distinct` or `window`."""
    event = ""
    for rule in compiled.rules:
        scope = rule.scope
        if rule.per is not None:
            value = args.get(rule.per, _MISSING)
            digest = ABSENT if value is _MISSING or value is None else value_digest(value)
            if digest is None:
                return Violation(DenialCode.ARGUMENT_INVALID, [rule.per],
                                 f"budget per {rule.per} (a JSON value)")
            scope = per_scope(scope, rule.per, digest)
        if rule.window:
            # This decision's entry in the window's log: unique, also when two links charge
            # one key.
            if not event:
                event = _event_id()
            name = f"{event}.{len(charges)}"
        else:
            name = ""
        if rule.kind == "calls":
            charges.append(Charge(task, scope, 1, rule.limit, rule.window, now, "", name))
            continue
        assert rule.arg is not None
        value = args.get(rule.arg)
        if value is None:
            continue  # as a plain sum: nothing to add, no value to count
        if rule.kind == "sum":
            amount = _amount(value)
            if amount is None:
                return _not_summable(rule.arg, rule.limit)
            if amount > 0:
                charges.append(Charge(task, scope, value, rule.limit, rule.window, now, "", name))
            continue
        member = value_digest(value)
        if member is None:
            return Violation(DenialCode.ARGUMENT_INVALID, [rule.arg],
                             f"budget distinct {rule.arg} (a JSON value)")
        charges.append(Charge(task, scope, 1, rule.limit, rule.window, now, member, name))
    return None


_MISSING = object()

# Window entries are named by this process's random prefix and a counter: unique across
# processes and hosts sharing a store without a system call per decision.
_events = itertools.count()
_prefix = os.urandom(8).hex()


def _event_id() -> str:
    return f"{_prefix}{next(_events):x}"


def _new_prefix() -> None:
    global _prefix
    _prefix = os.urandom(8).hex()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_prefix)


def _amount(value: Any) -> float | None:
    """What a summed value charges, as a float for comparisons; None for a value that cannot
    count: not a number, negative, or an integer too large for a float (10**400)."""
    if not is_finite_number(value) or value < 0:
        return None
    try:
        return float(value)
    except OverflowError:
        return None
