"""The view the provenance checks of the current decision read: a context variable, so that
concurrent decisions (threads, asyncio tasks) each see their own.

Outside a decision nothing is set, and the checks fail closed: `provenance: trusted` and
`from_results` say no, CEL's `untrusted()` says yes. Static analysis (the narrowing check) runs
under `static()`, where the constraint kinds accept every value: an over-approximation of what a
child allows; the kinds' own proof hooks decide for a parent's provenance constraints.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from ._memory import Record, View

__all__ = ["STATIC", "Probe", "current", "probing", "static"]


class Probe:
    """One decision's use of a view; `hit` is where the last failing check found its value."""

    __slots__ = ("hit", "view")

    def __init__(self, view: View | None) -> None:
        self.view = view
        self.hit: Record | None = None


STATIC = Probe(None)
"""The probe of static analysis: every value passes the provenance kinds."""

_current: contextvars.ContextVar[Probe | None] = contextvars.ContextVar(
    "guardrail_provenance", default=None
)

current = _current.get


@contextmanager
def probing(probe: Probe) -> Iterator[Probe]:
    token = _current.set(probe)
    try:
        yield probe
    finally:
        _current.reset(token)


def static() -> AbstractContextManager[Probe]:
    """Static analysis: the provenance kinds accept every value."""
    return probing(STATIC)
