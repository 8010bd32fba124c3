"""Constraint kind `from_results: TOOL | [TOOLS]`: the value occurs in an earlier result of one
of those tools in this task ("share the file you just created").

Every string and number inside the value must occur (case-insensitively, whitespace-normalised)
in a result recorded for one of the tools in this task or an ancestor's; a value with neither
fails. Like `provenance` it reads the current decision's view (see `_trusted`); its failure is
`argument_untrusted`. A tool the manifest does not grant is a `ManifestError` (checked by the
manifest model, which knows the grants).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from .. import _provenance
from ._kind import Branch, Kind, written

__all__ = ["KINDS", "FromResults", "result_tools"]


def result_tools(value: Any) -> list[str]:
    """The tool names a `from_results` value lists."""
    return [value] if isinstance(value, str) else list(value)


class FromResults:
    __slots__ = ("tools", "written")

    def __init__(self, tools: list[str]) -> None:
        self.tools = frozenset(tools)
        self.written = written("from_results", tools[0] if len(tools) == 1 else tools)

    def __call__(self, value: Any) -> bool:
        probe = _provenance.current()
        if probe is None:
            return False  # no decision's view: fail closed
        view = probe.view
        if view is None:  # static analysis
            return True
        return view.from_results(value, self.tools)


Name = Annotated[str, Field(min_length=1, max_length=256)]


class _FromResults(Kind):
    key = "from_results"
    rank = 910
    contextual = True
    hint = "the parent requires `from_results` here; say it in the child with the same or fewer tools"

    def annotation(self) -> Any:
        return Name | Annotated[list[Name], Field(min_length=1)] | None

    def validate(self, value: Any, written: Mapping[str, Any]) -> None:
        tools = result_tools(value)
        if len(set(tools)) != len(tools):
            raise ValueError("from_results names a tool twice")

    def compile(self, value: Any) -> FromResults:
        return FromResults(result_tools(value))

    def proves(self, branch: Branch, value: Any) -> bool:
        parent = set(result_tools(value))
        return any(set(result_tools(v)) <= parent for v in branch.values("from_results"))

    def disjoint(self, branch: Branch, value: Any) -> bool:
        return False


KINDS: tuple[Kind, ...] = (_FromResults(),)
