"""The `Constraint` model: one field per kind of the constraint registry, so that adding a kind
adds its key here, to the JSON Schema and to the did-you-mean suggestions without touching this
module. Unknown keys are errors (a typo such as `max_lenght` must never drop a constraint)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from .._policy import REGISTRY, Registry, Rule

__all__ = ["Constraint", "ConstraintBase", "constraint_model"]


class ConstraintBase(BaseModel):
    """The constraints on one argument. All keys must hold. A bare scalar means `equals`, a bare
    list means `one_of`, `{}` allows the argument unconstrained."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    registry: ClassVar[Registry] = REGISTRY

    if TYPE_CHECKING:
        # The fields come from the registry: `constraint.max`, `constraint.not_`, ...
        def __getattr__(self, name: str) -> Any: ...

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, ConstraintBase | Mapping):
            return data
        scalar, listed = cls.registry.scalar, cls.registry.list
        if data is None:
            hint = f", or {{{scalar.key}: null}}" if scalar is not None and scalar.null_is_value else ""
            raise ValueError(f"a bare null is ambiguous: write {{}} to allow any value{hint}")
        form = listed if isinstance(data, list | tuple) else scalar
        if form is None:
            raise ValueError("a constraint must be a mapping")
        return {form.key: list(data) if isinstance(data, list | tuple) else data}

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        written = self.kind_values()
        for key, value in written.items():
            self.registry[key].validate(value, written)
        return self

    def kind_values(self) -> dict[str, Any]:
        """The kinds this constraint sets, by key, in registry order. A null value sets nothing,
        except where null is a value (`equals: null`)."""
        written = self.model_fields_set
        out: dict[str, Any] = {}
        for kind in self.registry.kinds:
            if kind.attr in written:
                value = getattr(self, kind.attr)
                if value is not None or kind.null_is_value:
                    out[kind.key] = value
        return out

    def spec(self) -> dict[str, Any]:
        """The constraint as a mapping (shorthand expanded), for messages and digests."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")

    def compile(self) -> Rule:
        return self.registry.compile(self.kind_values())

    def contextual(self, path: str = "") -> Iterator[tuple[str, str, Any]]:
        """Where this constraint (or one nested in it) uses a kind that reads the task's recorded
        results (`provenance`, `from_results`): `(path, key, value)`, the path dotted from here."""
        for key, value in self.kind_values().items():
            if self.registry[key].contextual:
                yield path, key, value
            for inner, nested in _nested(value, f"{path}.{key}" if path else key):
                yield from nested.contextual(inner)


def _nested(value: Any, path: str) -> Iterator[tuple[str, ConstraintBase]]:
    if isinstance(value, ConstraintBase):
        yield path, value
    elif isinstance(value, Mapping):
        for name, item in value.items():
            if isinstance(item, ConstraintBase):
                yield f"{path}.{name}", item
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if isinstance(item, ConstraintBase):
                yield f"{path}.{i}", item


def constraint_model(registry: Registry, name: str = "Constraint") -> type[ConstraintBase]:
    """A constraint model with one field per kind of `registry`."""
    fields: dict[str, Any] = {}
    for kind in registry.kinds:
        attr = kind.attr
        if hasattr(ConstraintBase, attr) or attr.startswith("model_"):
            raise ValueError(f"constraint key {kind.key!r} clashes with the model's own names")
        alias = kind.key if attr != kind.key else None
        fields[attr] = (kind.annotation(), Field(default=kind.default, alias=alias))
    model = create_model(name, __base__=ConstraintBase, __module__=__name__,
                         __doc__=ConstraintBase.__doc__, **fields)
    model.registry = registry
    return model


if TYPE_CHECKING:
    Constraint = ConstraintBase
else:
    Constraint = constraint_model(REGISTRY)
