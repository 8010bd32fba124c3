"""Constraint kind `provenance: trusted`: the value was not copied from an untrusted tool result.

A string (and each string value inside an array or object) of 4+ characters fails when it
occurs, case-insensitively and whitespace-normalised, in an untrusted result recorded for the
task and not in trusted content (the manifest, the task's inputs, results of `results: trusted`
tools). The recorded results are not known when the manifest compiles: the predicate reads the
view of the current decision (`guardrail._provenance.current`), which the decider sets for tools
that use the kind; the decider turns its failure into `argument_untrusted`. Outside a decision
it fails closed; under static analysis (`_provenance.static()`) it accepts every value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from .. import _provenance
from ._kind import Branch, Kind, written

__all__ = ["KINDS", "Trusted"]


class Trusted:
    __slots__ = ("written",)

    def __init__(self) -> None:
        self.written = written("provenance", "trusted")

    def __call__(self, value: Any) -> bool:
        probe = _provenance.current()
        if probe is None:
            return False  # no decision's view: fail closed
        view = probe.view
        if view is None:  # static analysis
            return True
        hit = view.untrusted(value)
        if hit is None:
            return True
        probe.hit = hit
        return False


class _Provenance(Kind):
    key = "provenance"
    rank = 900  # after every static check: a value that is invalid anyway is argument_invalid
    contextual = True
    hint = "the parent requires `provenance: trusted` here; say it in the child too"

    def annotation(self) -> Any:
        return Literal["trusted"] | None

    def validate(self, value: Any, written: Mapping[str, Any]) -> None:
        if value != "trusted":
            raise ValueError("provenance must be 'trusted'")

    def compile(self, value: Any) -> Trusted:
        return Trusted()

    def proves(self, branch: Branch, value: Any) -> bool:
        # Only the same demand proves it: what else a child says does not tell where its
        # values come from.
        return "trusted" in branch.values("provenance")

    def disjoint(self, branch: Branch, value: Any) -> bool:
        return False  # any value may be trusted


KINDS: tuple[Kind, ...] = (_Provenance(),)
