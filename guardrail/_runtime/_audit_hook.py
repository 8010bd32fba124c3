"""The audit hook: every authorization is recorded before the tool runs, and what cannot be
recorded does not run."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .._outcome import Decision
from .._telemetry._instrument import Finish
from ._denials import Denials

if TYPE_CHECKING:
    from ._guard import Guard

__all__ = ["AuditSink", "audited"]

log = logging.getLogger("guardrail")


class AuditSink(Protocol):
    """Receives every decision before the tool runs (see `guardrail.AuditLog`)."""

    def record(self, decision: Decision, guard: Guard, args: Mapping[str, Any] | None) -> None: ...


def audited(
    sink: AuditSink, guard: Guard, record_values: bool, denials: Denials,
    refund: Callable[[Decision], bool] | None = None,
) -> Finish:
    """The step after each decision that writes it to `sink`. A dry-run `check` decides nothing
    that runs, so only `authorize` (charge) writes; a failed write turns the decision into an
    `internal_error` denial, and `refund` gives back what the decision charged."""

    def finish(decision: Decision, args: Mapping[str, Any] | None, charge: bool) -> Decision:
        if not charge:
            return decision
        try:
            sink.record(decision, guard, args if record_values else None)
        except Exception as exc:
            log.warning("guardrail: audit log write failed: %s", type(exc).__name__)
            if refund is not None:
                try:
                    refund(decision)
                except Exception as refund_exc:  # the budget stays spent: stricter, never looser
                    log.warning("guardrail: refund failed: %s", type(refund_exc).__name__)
            return denials.audit_failed(exc, decision)
        return decision

    return finish
