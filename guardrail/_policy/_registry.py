"""The registry of constraint kinds, built once at import.

Everything that handles constraints goes through a `Registry`: the manifest's `Constraint` model
(one field per kind, its JSON Schema and its validation), compiling a constraint into a `Rule`,
where a template parameter lands, and the narrowing analysis. A kind is a `Kind` in the module of
its family (`_values`, `_numbers`, `_strings`, `_paths`, `_urls`, `_structure`, `_trusted`,
`_from_results`); to add one, write
it there (or in a new module) and list it in `REGISTRY` below.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

from . import _from_results, _numbers, _paths, _strings, _structure, _trusted, _urls, _values
from ._kind import Kind, Predicate, Sampler, Structural
from ._rules import Rule

__all__ = ["REGISTRY", "Registry"]


class Registry:
    """Constraint kinds by key. `kinds` keeps the order they were given in (the order of the
    model's fields, of `spec()` and of the JSON Schema); `checks` is the order of the tests."""

    def __init__(self, kinds: Iterable[Kind], samplers: Iterable[Sampler] = ()) -> None:
        self.kinds: tuple[Kind, ...] = tuple(kinds)
        self._by_key: dict[str, Kind] = {}
        shorthand: dict[str, Kind] = {}
        for kind in self.kinds:
            if not kind.key.isidentifier() or kind.key != kind.key.lower():
                raise ValueError(f"constraint key {kind.key!r} must be a lower-case identifier")
            if kind.key in self._by_key:
                raise ValueError(f"constraint key {kind.key!r} is registered twice")
            if kind.shorthand is not None:
                if kind.shorthand in shorthand:
                    raise ValueError(f"two kinds claim the bare {kind.shorthand} shorthand")
                shorthand[kind.shorthand] = kind
            self._by_key[kind.key] = kind
        self.checks: tuple[Kind, ...] = tuple(sorted(self.kinds, key=lambda k: k.rank))
        self.scalar: Kind | None = shorthand.get("scalar")
        self.list: Kind | None = shorthand.get("list")
        self.samplers: tuple[Sampler, ...] = tuple(sorted(samplers, key=lambda s: s.rank))

    def __getitem__(self, key: str) -> Kind:
        return self._by_key[key]

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[Kind]:
        return iter(self.kinds)

    def __len__(self) -> int:
        return len(self.kinds)

    def get(self, key: Any) -> Kind | None:
        return self._by_key.get(key) if isinstance(key, str) else None

    def compile(self, values: Mapping[str, Any]) -> Rule:
        """The rule of one constraint, given as `{key: value}` of the kinds it sets."""
        leaves: list[Predicate] = []
        parts: list[Structural] = []
        for kind in self.checks:
            if kind.key not in values:
                continue
            compiled = kind.compile(values[kind.key])
            if compiled is None:
                continue
            if kind.structural:
                parts.append(cast(Structural, compiled))
            else:
                leaves.append(cast(Predicate, compiled))
        return Rule(leaves, parts, required=values.get("required") is True)


REGISTRY = Registry(
    [*_values.KINDS, *_numbers.KINDS, *_strings.KINDS, *_paths.KINDS, *_urls.KINDS,
     *_trusted.KINDS, *_from_results.KINDS, *_structure.KINDS],
    [*_values.SAMPLERS, *_numbers.SAMPLERS, *_strings.SAMPLERS, *_paths.SAMPLERS,
     *_urls.SAMPLERS, *_structure.SAMPLERS],
)
