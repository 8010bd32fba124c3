"""The decision engine: one call in, one `Decision` out.

Pure apart from the store it is given (revocation, budget use, the atomic charge) and the clock.
Checks run in the order of DESIGN.md ("Decisions and denials"); the first failure is the denial.
A fast path takes the common case straight through (one manifest, in its window, a granted tool
without budget, arguments that pass, not revoked); anything else takes the full path, which
also explains. Whatever goes wrong while deciding denies: `StoreUnavailable` as
`store_unavailable`, anything else as `internal_error`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._errors import StoreUnavailable
from .._outcome import Decision, DenialCode
from .._policy import Violation, is_finite_number, written
from .._policy._compiled import CompiledManifest, CompiledTool
from .._stores import BudgetStore, Charge, Overrun
from ._chain import Chain
from ._denials import Denials

__all__ = ["Decider"]

log = logging.getLogger("guardrail")


class Decider:
    """Decides calls against a `Chain`, charging its budgets in `store` when asked to."""

    __slots__ = ("_allow_cache", "_chain", "_clock", "_denials", "_fast", "_mark", "_own",
                 "_revoked", "_store", "_tasks")

    def __init__(
        self, chain: Chain, store: BudgetStore, clock: Callable[[], float], denials: Denials
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
        # Decisions are immutable: one allow per granted tool serves every anonymous check.
        self._allow_cache: dict[str, Decision] = {}

    def decide(self, tool: Any, args: object, call_id: str | None, charge: bool) -> Decision:
        """The decision for `tool(**args)`; with `charge`, an allowed call's budgets are charged.
        `tool` and `args` are typed loosely on purpose: callers are untyped (a model may send a
        list), and whatever they are, they are decided."""
        try:
            if self._fast and self._mark.reason is None:
                link = self._own
                now = self._clock()
                compiled = link.tools.get(tool) if type(tool) is str else None
                if (
                    compiled is not None
                    and not compiled.budgeted
                    and now < link.expires_ts
                    and (link.not_before_ts is None or now >= link.not_before_ts)
                    and (type(args) is dict or args is None)
                    and compiled.args.test(args or {})
                    and self._revoked(self._tasks) is None
                ):
                    if call_id is None:
                        cached = self._allow_cache.get(tool)
                        if cached is None:
                            cached = self._allow_cache[tool] = Decision(True, tool)
                        return cached
                    return Decision(True, tool, call_id)
            return self.decide_fully(tool, args, call_id, charge)
        except StoreUnavailable as exc:
            return self._denials.store_unavailable(exc, tool, call_id)
        except Exception as exc:  # fail closed: an error in the checker never allows
            log.debug("guardrail: internal error while deciding", exc_info=True)
            return self._denials.internal_error(exc, tool, call_id)

    def decide_fully(self, tool: Any, args: object, call_id: str | None, charge: bool) -> Decision:
        """The full path, every check in order. Raises what the store or a checker raises."""
        chain, denials = self._chain, self._denials
        now = self._clock()
        reason = chain.revocation(self._store)
        if reason is not None:
            return denials.revoked(reason, tool, call_id)
        for depth, link in enumerate(chain.links):
            # `not <`: a NaN clock counts as expired.
            if (link.not_before_ts is not None and now < link.not_before_ts) or not (
                now < link.expires_ts
            ):
                return denials.outside_window(link, depth, now, tool, call_id)
        if args is None:
            args = {}
        charges: list[Charge] = []
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
        if charges:
            overrun: Overrun | None
            if charge:
                overrun = self._store.consume(charges, expires_at=chain.expires_ts)
            else:
                overrun = _peek(self._store, charges)
            if overrun is not None:
                return denials.exhausted(overrun, tool, call_id)
        return Decision(True, tool, call_id)


def _charges(
    compiled: CompiledTool, link: CompiledManifest, args: Mapping[str, Any], charges: list[Charge]
) -> Violation | None:
    """Append what a call of `compiled` costs `link`; a summed value that cannot count is a
    violation."""
    task = link.task
    for scope, limit in compiled.call_scopes:
        charges.append(Charge(task, scope, 1.0, limit))
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
            charges.append(Charge(task, scope, amount, limit))
    return None


def _amount(value: Any) -> float | None:
    """What a summed value charges; None for a value that cannot count: not a number, negative,
    or an integer too large for a float (10**400 would overflow the sum)."""
    if not is_finite_number(value) or value < 0:
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _peek(store: BudgetStore, charges: Sequence[Charge]) -> Overrun | None:
    """The first charge that would overrun, charging nothing (what `check` reports)."""
    used = store.used([(c.task, c.scope) for c in charges])
    totals: dict[tuple[str, str], float] = {}
    for charge, before in zip(charges, used, strict=True):
        key = (charge.task, charge.scope)
        base = totals.get(key, before)
        if not base + charge.amount <= charge.limit:  # as the stores: NaN never fits
            return Overrun(charge, base)
        totals[key] = base + charge.amount
    return None
