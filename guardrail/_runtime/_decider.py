"""The decision engine: one call in, one `Decision` out.

Pure apart from the store it is given (revocation, budget use, the atomic charge) and the clock.
Checks run in the order of DESIGN.md ("Decisions and denials"); the first failure is the denial.
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
import logging
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, cast

from .. import _provenance
from .._errors import StoreUnavailable
from .._outcome import Decision, DenialCode
from .._policy import Violation, is_finite_number, written
from .._policy._compiled import CompiledManifest, CompiledTool
from .._policy._conditions import call_data
from .._stores import BudgetStore, Charge
from .._stores._async import AsyncBudgetStore
from .._stores._protocol import Overrun, Revoked, refunder, settler
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


class _Unsettled(NamedTuple):
    """A decision the manifests give, which stands unless the store says the chain is revoked."""

    decision: Decision


class Decider:
    """Decides calls against a `Chain`, charging its budgets in `store` when asked to."""

    __slots__ = ("_allow_cache", "_chain", "_clock", "_contextual", "_denials", "_fast", "_mark",
                 "_own", "_refund", "_revoked", "_settle", "_store", "_tasks", "_views")

    def __init__(
        self, chain: Chain, store: BudgetStore, clock: Callable[[], float], denials: Denials,
        views: tuple[_provenance.View, ...] = (),
    ) -> None:
        self._chain = chain
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
            assert isinstance(planned, list)
            chain = self._chain
            settled = self._settle(chain.tasks, planned, expires_at=chain.expires_ts, commit=charge)
            return self.settled(settled, planned, tool, call_id, charge)
        except Exception as exc:
            return self.failed(exc, tool, call_id)

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
            assert isinstance(planned, list)
            chain = self._chain
            settled = await store.asettle(
                chain.tasks, planned, expires_at=chain.expires_ts, commit=charge
            )
            return self.settled(settled, planned, tool, call_id, charge)
        except Exception as exc:
            return self.failed(exc, tool, call_id)

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

    def plan(self, tool: Any, args: object, call_id: str | None) -> Decision | _Unsettled | list[Charge]:
        """What the manifests alone say: a final decision (revoked in this process), a decision
        that stands unless the store says the chain is revoked (`_Unsettled`: a denial, or an
        allow that charges nothing), or the charges to settle with the store."""
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
            return Decision(True, tool, call_id)
        if type(settled) is Revoked:
            return self._denials.revoked(settled.reason, tool, call_id)
        return self._denials.exhausted(settled, tool, call_id)  # type: ignore[arg-type]

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
            if not isinstance(args, Mapping):  # callers are untyped: a model may send a list
                return denials.not_an_object(args, depth, tool, call_id)
            if not compiled.args.test(args):
                found = compiled.args.violation(args)
                if found is None:  # the fast test and the explanation disagree: still deny
                    raise AssertionError("constraint test failed without a violation")
                return denials.violation(found, depth, tool, call_id)
            if compiled.sum_scopes or compiled.call_scopes:
                bad = _charges(compiled, link, args, charges)
                if bad is not None:
                    return denials.violation(bad, depth, tool, call_id)
        return self._conditions(tool, cast(Mapping[str, Any], args), now, call_id)

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
    compiled: CompiledTool, link: CompiledManifest, args: Mapping[str, Any], charges: list[Charge]
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
            return Violation(
                DenialCode.ARGUMENT_INVALID, [arg],
                f"{written('sum', {arg: limit})} (a non-negative number within float range)",
            )
        if amount > 0:
            charges.append(Charge(task, scope, value, limit))  # as it is: the stores add exactly
    return None


def _amount(value: Any) -> float | None:
    """What a summed value charges, as a float for comparisons; None for a value that cannot
    count: not a number, negative, or an integer too large for a float (10**400)."""
    if not is_finite_number(value) or value < 0:
        return None
    try:
        return float(value)
    except OverflowError:
        return None
