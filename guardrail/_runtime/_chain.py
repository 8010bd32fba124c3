"""The delegation chain a guard enforces: its own compiled manifest first, then each ancestor's.

A root guard's chain has one link; `chain.extend(child)` is a sub-agent's. A call must satisfy
every link (conjunction), is charged to every link's budgets, and ends at the earliest expiry.
The links are immutable; what is shared along a chain is each link's local revocation mark, so
that revoking a parent guard denies its sub-agents at once, even when the store did not record
the revocation.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._policy._compiled import CompiledManifest
from .._stores import BudgetStore

__all__ = ["Chain", "Mark"]


class Mark:
    """One link's local revocation: None, or the reason given (the first one stands)."""

    __slots__ = ("reason",)

    def __init__(self) -> None:
        self.reason: str | None = None


class Chain:
    """The compiled manifests a call must satisfy, own first, and what follows from them."""

    __slots__ = ("_depth_of_task", "_marks", "expires_ts", "links", "mark", "tasks")

    def __init__(self, links: Sequence[CompiledManifest], marks: Sequence[Mark]) -> None:
        self.links: tuple[CompiledManifest, ...] = tuple(links)
        self._marks: tuple[Mark, ...] = tuple(marks)
        self.mark = self._marks[0]  # the own link's
        # Distinct tasks, own first: what the store is asked about revocation.
        self.tasks: tuple[str, ...] = tuple(dict.fromkeys(link.task for link in self.links))
        self._depth_of_task = {link.task: depth for depth, link in enumerate(self.links)}
        self.expires_ts: float = min(link.expires_ts for link in self.links)

    @classmethod
    def root(cls, compiled: CompiledManifest) -> Chain:
        return cls((compiled,), (Mark(),))

    def extend(self, child: CompiledManifest) -> Chain:
        """The chain of a sub-agent whose manifest is `child`: ancestors' marks are shared."""
        return Chain((child, *self.links), (Mark(), *self._marks))

    @property
    def own(self) -> CompiledManifest:
        """This guard's own compiled manifest (the first link)."""
        return self.links[0]

    @property
    def depth(self) -> int:
        """0 for a root guard, 1 for a sub-agent's, and so on."""
        return len(self.links) - 1

    def depth_of(self, task: str) -> int:
        """The depth of the link whose task is `task` (0 when none is)."""
        return self._depth_of_task.get(task, 0)

    # -- revocation ---------------------------------------------------------------------------

    def revoke_locally(self, reason: str) -> None:
        """Mark the own link revoked (the first reason stands, as in the stores)."""
        if self.mark.reason is None:
            self.mark.reason = reason

    def revocation(self, store: BudgetStore | None) -> str | None:
        """Why the chain is revoked, or None: the nearest link revoked in this process (even one
        the store lost), else what the store says (without a store: this process only). May
        raise `StoreUnavailable`."""
        for mark in self._marks:
            if mark.reason is not None:
                return mark.reason
        return None if store is None else store.revoked(self.tasks)

    # -- grants -------------------------------------------------------------------------------

    def grants(self, tool: str) -> list[CompiledManifest]:
        """The links that grant `tool` (all of them, for a call that can be allowed)."""
        return [link for link in self.links if tool in link.tools]
