"""The constraint kind registry: one `Kind`, defined in one module, gives the manifest model its
field, validation and JSON Schema, and the checker its compiled predicate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import pytest
from pydantic import Field, StrictInt, ValidationError

from guardrail import Constraint, Manifest, ManifestError
from guardrail._manifest import constraint_model
from guardrail._policy import REGISTRY, ArgsRule, Branch, Kind, Registry, is_integer, written

# -- a toy kind, as a new family module would define it -------------------------------------------


class MultipleOf:
    __slots__ = ("step", "written")

    def __init__(self, step: int) -> None:
        self.step = step
        self.written = written("multiple_of", step)

    def __call__(self, value: Any) -> bool:
        return is_integer(value) and value % self.step == 0


class MultipleOfKind(Kind):
    key = "multiple_of"
    rank = 45
    atoms = frozenset({"integer"})
    bucket = "numbers"

    def annotation(self) -> Any:
        return Annotated[StrictInt, Field(ge=1)] | None

    def validate(self, value: Any, written: Mapping[str, Any]) -> None:
        if value > 1_000_000:
            raise ValueError("multiple_of must be at most 1000000")

    def compile(self, value: Any) -> MultipleOf:
        return MultipleOf(value)

    def proves(self, branch: Branch, value: Any) -> bool:
        return branch.types <= {"integer"} and any(own % value == 0 for own in branch.values(self.key))


def with_toy() -> Registry:
    return Registry([*REGISTRY.kinds, MultipleOfKind()], REGISTRY.samplers)


# -- what one module gives ------------------------------------------------------------------------


def test_a_kind_gives_the_model_its_field_and_the_checker_its_predicate() -> None:
    model = constraint_model(with_toy())
    constraint = model.model_validate({"multiple_of": 5, "min": 0})
    assert constraint.multiple_of == 5
    assert constraint.spec() == {"multiple_of": 5, "min": 0}
    assert constraint.kind_values() == {"min": 0, "multiple_of": 5}
    rule = constraint.compile()
    for value, allowed in [(10, True), (0, True), (7, False), (-5, False), (10.0, False), (True, False),
                           ("10", False), (None, False)]:
        assert rule.test(value) is allowed, value
        assert (rule.violation(value) is None) is allowed, value
    found = rule.violation(7)
    assert found is not None and found.constraint == "multiple_of: 5"
    found = rule.violation(-5)
    assert found is not None and found.constraint == "min: 0"  # rank 40 runs before 45
    args = ArgsRule({"n": rule})
    assert args.test({"n": 15}) and not args.test({"n": 16}) and args.violation({"n": 16}) is not None


def test_a_kind_gives_the_model_its_validation() -> None:
    model = constraint_model(with_toy())
    with pytest.raises(ValidationError) as info:
        model.model_validate({"multiple_of": 0})
    assert info.value.errors()[0]["loc"] == ("multiple_of",)
    assert "greater than or equal to 1" in str(info.value)
    with pytest.raises(ValidationError, match="multiple_of must be at most 1000000"):
        model.model_validate({"multiple_of": 10_000_000})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate({"multiple_off": 3})
    with pytest.raises(ValidationError):
        model.model_validate({"multiple_of": True})


def test_a_kind_gives_the_model_its_json_schema() -> None:
    schema = constraint_model(with_toy()).model_json_schema()["$defs"]["Constraint"]
    prop = schema["properties"]["multiple_of"]
    assert {"type": "integer", "minimum": 1} in prop["anyOf"] and {"type": "null"} in prop["anyOf"]
    assert schema["additionalProperties"] is False
    assert list(schema["properties"])[-1] == "multiple_of"


def test_the_default_model_does_not_know_the_toy_kind() -> None:
    with pytest.raises(ValidationError):
        Constraint.model_validate({"multiple_of": 3})
    data = {"task": "t", "ttl": "5m", "tools": {"f": {"args": {"a": {"multiple_of": 3}}}}}
    with pytest.raises(ManifestError, match="unknown key 'multiple_of'"):
        Manifest.model_validate(data)


# -- the registry itself --------------------------------------------------------------------------


def test_the_default_registry_is_complete_and_consistent() -> None:
    keys = [kind.key for kind in REGISTRY]
    assert keys == ["equals", "one_of", "not_one_of", "type", "min", "max", "min_length",
                    "max_length", "pattern", "starts_with", "path_within", "url", "provenance",
                    "from_results", "each", "fields",
                    "any_of", "not", "required"]
    assert [f.alias or name for name, f in Constraint.model_fields.items()] == keys
    schema = Manifest.json_schema()["$defs"]["ConstraintObject"]
    assert list(schema["properties"]) == keys and schema["additionalProperties"] is False
    assert REGISTRY.scalar is REGISTRY["equals"] and REGISTRY.list is REGISTRY["one_of"]
    assert REGISTRY.checks[0] is REGISTRY["type"]  # the broadest test runs first
    assert len({kind.rank for kind in REGISTRY}) == len(REGISTRY)
    slots = {"text", "regex", "path", "host", "constraint", "constraints", "args"}
    for kind in REGISTRY:
        template = kind.template
        assert (set(template.values()) if isinstance(template, Mapping) else {template}) <= slots
    assert REGISTRY["not"].attr == "not_" and Constraint.model_validate({"not": 1}).not_ is not None
    assert REGISTRY["required"].compile(True) is None  # a property of the argument, not a test
    assert [s.rank for s in REGISTRY.samplers] == sorted(s.rank for s in REGISTRY.samplers)


def test_the_registry_refuses_ambiguous_kinds() -> None:
    class Dup(Kind):
        key = "max"

    with pytest.raises(ValueError, match="'max' is registered twice"):
        Registry([*REGISTRY.kinds, Dup()])

    class Scalar(Kind):
        key = "also_equals"
        shorthand = "scalar"

    with pytest.raises(ValueError, match="bare scalar shorthand"):
        Registry([*REGISTRY.kinds, Scalar()])

    class BadKey(Kind):
        key = "max-len"

    with pytest.raises(ValueError, match="lower-case identifier"):
        Registry([BadKey()])

    class Clash(Kind):
        key = "spec"

        def annotation(self) -> Any:
            return int | None

    with pytest.raises(ValueError, match="clashes with the model's own names"):
        constraint_model(Registry([*REGISTRY.kinds, Clash()]))


def test_a_registry_without_shorthands_says_a_constraint_is_a_mapping() -> None:
    plain = Registry([k for k in REGISTRY.kinds if k.shorthand is None])
    model = constraint_model(plain)
    with pytest.raises(ValidationError, match="a constraint must be a mapping"):
        model.model_validate(5)
    with pytest.raises(ValidationError, match="write \\{\\} to allow any value"):
        model.model_validate(None)
    assert model.model_validate({"max": 3}).compile().test(2)


def test_a_null_value_sets_no_constraint() -> None:
    constraint = Constraint.model_validate({"min": None, "pattern": None, "equals": None})
    assert constraint.kind_values() == {"equals": None}
    rule = Constraint.model_validate({"min": None, "url": None}).compile()
    assert rule.unconstrained and rule.test("anything")
