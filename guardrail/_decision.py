"""The outcome of one authorization."""

from __future__ import annotations

from typing import Literal

from ._denial import Denial

Outcome = Literal["allow", "deny", "shadow_deny"]


class Decision:
    """What the guard decided for one call. Built on every check, so a plain slots class.

    `allowed` is true when the manifest grants the call. In shadow mode a denied call has
    `allowed=False` and `enforced=False` (outcome `shadow_deny`): it is reported, not blocked.
    """

    __slots__ = ("allowed", "call_id", "denial", "enforced", "outcome", "tool")

    def __init__(
        self,
        allowed: bool,
        tool: str,
        call_id: str | None = None,
        denial: Denial | None = None,
        enforced: bool = True,
    ) -> None:
        self.allowed = allowed
        self.tool = tool
        self.call_id = call_id
        self.denial = denial
        self.enforced = enforced
        self.outcome: Outcome = "allow" if allowed else ("deny" if enforced else "shadow_deny")

    @property
    def blocks(self) -> bool:
        """True when the call must not run."""
        return not self.allowed and self.enforced

    def raise_for_denial(self) -> None:
        """Raise the matching `DelegationDenied` subclass if this decision blocks the call."""
        if self.denial is not None and self.enforced:
            raise self.denial.to_exception()

    def __repr__(self) -> str:
        if self.denial is None:
            return f"<Decision allow {self.tool!r} call_id={self.call_id!r}>"
        return f"<Decision {self.outcome} {self.tool!r} {self.denial.code.value}: {self.denial.message}>"
