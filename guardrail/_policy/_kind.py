"""What a constraint kind is: one key of a constraint mapping (`max`, `pattern`, `each`, ...) and
everything the library knows about it, given in one place, the module of its family.

A kind gives:

- `annotation()`: the pydantic type of the value as written (`int | float | None`; `typing.Self`
  stands for a nested constraint). The manifest's `Constraint` model gets one field per kind
  from it, and so its JSON Schema fragment (override with pydantic's `WithJsonSchema`) and its
  field-level validation (`AfterValidator`: the error names the key's own path).
- `validate(value, written)`: what the type cannot say (a finite bound, a valid RE2 pattern,
  `min <= max`), raising `ValueError` with a sentence naming the problem; the error names the
  constraint's path. `written` holds every kind set in the same constraint.
- `compile(value)`: the predicate, built once. A leaf kind returns a `Predicate` (`value -> bool`
  with its `written` label); a structural kind (`structural = True`) returns a `Structural`, which
  also says where inside the argument a value failed. `rank` orders the checks of one constraint:
  the cheapest, broadest run first, and a denial names the first that fails.
- `template`: where a `${param}` lands in the value: `text`, `regex` (escaped), `path` (no `.`/`..`
  segment), `host` (no `*`), `constraint`, `constraints` (a list of them), `args` (name ->
  constraint), or a mapping from the keys of an object value to one of those.
- The narrowing analysis hooks: `implies` (the type atoms a value must have; `atoms` when it does
  not depend on the value), `proves(branch, value)` (every value of the child's branch satisfies
  this parent constraint), `disjoint(branch, value)` (no value of the branch does; by default,
  when the branch's types and `implies` do not meet), `listed` / `bounded` (the few values a
  constraint or a branch allows, when known), `alternatives` (`any_of`), `harvest` (constants to
  build candidate values from, by default the value into `bucket`; a family's `Sampler`s turn
  buckets into candidates). All answers are sound, not complete: `False` means "not proven".

A kind is registered in `_registry.py`; adding one is its module plus its tests.
"""

from __future__ import annotations

import json
import keyword
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ._json import ANY

if TYPE_CHECKING:
    from ._rules import Rule, Violation

__all__ = [
    "Branch",
    "Harvest",
    "Kind",
    "Nested",
    "Predicate",
    "Sampler",
    "Slot",
    "Structural",
    "inline",
    "written",
]

Slot = Literal["text", "regex", "path", "host", "constraint", "constraints", "args"]


def written(key: str, value: Any) -> str:
    """A constraint as the manifest wrote it, e.g. `max: 50` or `one_of: ["EUR", "GBP"]`."""
    return f"{key}: {json.dumps(value, ensure_ascii=False, separators=(', ', ': '), default=str)}"


INLINE = "__guardrail_inline__"


def inline(fn: Callable[[Any], bool], template: str, *constants: Any) -> Callable[[Any], bool]:
    """Mark a test with an equivalent expression over `v` that generated code can inline:
    `{i}` placeholders become names bound to `constants` in the generated code's namespace."""
    setattr(fn, INLINE, (template, constants))
    return fn


class Predicate(Protocol):
    """A leaf test. Never raises on a value of the wrong type: it returns False. May carry `fast`,
    an equivalent test that is cheaper on the common types."""

    written: str

    def __call__(self, value: Any, /) -> bool: ...


class Structural(Protocol):
    """A test over the inside of a value (`each`, `fields`, `any_of`, `not`)."""

    written: str

    def violation(self, value: Any, /) -> Violation | None: ...

    def test(self, value: Any, /) -> bool: ...


class Nested(Protocol):
    """A constraint inside a constraint's value, as the manifest model holds it."""

    @property
    def required(self) -> bool: ...

    def compile(self) -> Rule: ...

    def spec(self) -> dict[str, Any]: ...


class Branch(Protocol):
    """One alternative of the child's constraints at one place (`any_of` expanded), as the
    narrowing analysis sees it. It answers the recursive questions itself."""

    @property
    def types(self) -> frozenset[str]: ...

    def values(self, key: str) -> list[Any]:
        """The values of every constraint of kind `key` in the branch."""
        ...

    def accepts(self, value: Any) -> bool: ...

    def proves(self, constraint: Any) -> bool:
        """Every value of the branch satisfies every part of `constraint`."""
        ...

    def disjoint(self, constraint: Any) -> bool:
        """No value of the branch satisfies `constraint`."""
        ...

    def within(self, children: Sequence[Any], parent: Any) -> bool:
        """Every value the `children` constraints (together) allow satisfies `parent`."""
        ...

    def args_within(self, child: Mapping[str, Any], parent: Mapping[str, Any]) -> bool:
        """Every object `child` (name -> constraint, as `fields`) allows, `parent` allows."""
        ...


class Harvest(Protocol):
    """Constants found in constraints, by bucket, to build candidate values from."""

    depth: int

    def put(self, bucket: str, *values: Any) -> None: ...

    def get(self, bucket: str) -> list[Any]: ...

    def add(self, constraint: Any) -> None:
        """Harvest a nested constraint too."""
        ...

    def pool(self, constraints: Sequence[Any], depth: int) -> list[Any]:
        """Candidate values for nested constraints."""
        ...


@dataclass(frozen=True)
class Sampler:
    """Turns harvested constants into candidate values; samplers run in `rank` order, so that
    the earlier (simpler) candidates become the counterexamples a report shows."""

    rank: int
    make: Callable[[Harvest], list[Any]]


class Kind:
    """One constraint kind. Subclass it, set `key`, and override what the kind knows."""

    key: str = ""
    rank: int = 500
    structural: bool = False
    default: Any = None
    # The value a bare scalar or a bare list in a constraint's place stands for.
    shorthand: Literal["scalar", "list"] | None = None
    # `equals: null` compares with null; for every other kind a null value leaves the key unset.
    null_is_value: bool = False
    template: Slot | Mapping[str, Slot] = "text"
    # Said when a proof involving this kind fails and no counterexample was found.
    hint: str = ""
    # The type atoms every value this kind accepts has (`_json.STR`, ...): what it `implies`.
    atoms: frozenset[str] = ANY
    # The harvest bucket its value goes to, for the samplers to build candidates from.
    bucket: str = ""
    # Its test depends on the task's recorded tool results (`provenance`, `from_results`): the
    # decider runs it with the task's view, and static analysis asks only its `proves` hook.
    contextual: bool = False

    @property
    def attr(self) -> str:
        """The model's attribute for the key (`not` is a Python keyword: `not_`)."""
        return self.key + "_" if keyword.iskeyword(self.key) else self.key

    def __repr__(self) -> str:
        return f"<kind {self.key}>"

    # -- reading and checking ------------------------------------------------------------------

    def annotation(self) -> Any:
        """The pydantic type of the written value (`typing.Self`: a nested constraint)."""
        raise NotImplementedError

    def validate(self, value: Any, written: Mapping[str, Any]) -> None:
        """Raise ValueError naming what is wrong with a value its type admits."""

    def compile(self, value: Any) -> Predicate | Structural | None:
        raise NotImplementedError

    # -- narrowing ----------------------------------------------------------------------------

    def implies(self, value: Any) -> frozenset[str]:
        return self.atoms

    def listed(self, value: Any) -> list[Any] | None:
        """Every value this constraint alone allows, when it lists them (`equals`, `one_of`)."""
        return None

    def bounded(self, branch: Branch) -> list[Any] | None:
        """Every value of `branch` (a superset is fine), when this kind bounds it to a few."""
        return None

    def alternatives(self, value: Any) -> Sequence[Any] | None:
        """The constraints of which any one must hold (`any_of`), expanded into branches."""
        return None

    def proves(self, branch: Branch, value: Any) -> bool:
        return False

    def disjoint(self, branch: Branch, value: Any) -> bool:
        return not branch.types & self.implies(value)

    def harvest(self, value: Any, h: Harvest) -> None:
        """Put the constants of `value` into `h`'s buckets."""
        if self.bucket:
            h.put(self.bucket, value)
