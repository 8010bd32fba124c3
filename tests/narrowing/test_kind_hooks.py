"""The narrowing analysis asks each constraint kind (through the registry) what it implies, proves
and excludes, and which candidate values to try: a kind defined in one module takes part."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardrail import Guard, MemoryStore, narrower
from guardrail._manifest import constraint_model
from guardrail._narrowing._algebra import Side, components, proves
from guardrail._narrowing._candidates import candidates, fails, first
from guardrail._narrowing._report import NO_VALUE
from guardrail._policy import REGISTRY, Branch, Kind, Registry, is_integer, written


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
        return int | None

    def compile(self, value: Any) -> MultipleOf:
        return MultipleOf(value)

    def proves(self, branch: Branch, value: Any) -> bool:
        return branch.types <= {"integer"} and any(own % value == 0 for own in branch.values(self.key))


MODEL = constraint_model(Registry([*REGISTRY.kinds, MultipleOfKind()], REGISTRY.samplers))


def _proven(child: Mapping[str, Any], parent: Mapping[str, Any]) -> bool:
    side = Side([MODEL.model_validate(child)], nullable=False)
    return all(all(proves(b, p) for b in side.branches)
               for p in components(MODEL.model_validate(parent)))


def test_the_kind_proves_what_it_knows() -> None:
    assert _proven({"multiple_of": 4}, {"multiple_of": 2})
    assert _proven({"multiple_of": 6, "min": 0, "max": 100}, {"multiple_of": 3})
    assert not _proven({"multiple_of": 4}, {"multiple_of": 3})
    assert not _proven({"min": 0}, {"multiple_of": 2})
    # The kind's atoms (integers) prove the parent's type; the shared numeric kinds still work.
    assert _proven({"multiple_of": 4}, {"type": "integer"})
    assert not _proven({"multiple_of": 4}, {"type": "string"})
    # A few known values are checked one by one with the kind's compiled predicate (4.0 equals 4
    # in JSON, and is no integer, so `one_of` alone does not prove it).
    assert _proven({"one_of": [4, 8, 12], "type": "integer"}, {"multiple_of": 4})
    assert not _proven({"one_of": [4, 8, 12]}, {"multiple_of": 4})
    assert not _proven({"one_of": [4, 6], "type": "integer"}, {"multiple_of": 4})


def test_the_kind_excludes_by_its_atoms() -> None:
    assert _proven({"multiple_of": 2}, {"not": {"type": "string"}})
    assert not _proven({"multiple_of": 2}, {"not": {"type": "integer"}})


def test_a_counterexample_is_found_among_the_kinds_candidates() -> None:
    child, parent = MODEL.model_validate({"multiple_of": 4}), MODEL.model_validate({"multiple_of": 3})
    side = Side([child], nullable=False)
    (comp,) = components(parent)
    witness = first(fails(side, comp.rule), candidates([child, parent]))
    assert witness is not NO_VALUE
    assert witness % 4 == 0 and witness % 3 != 0 and is_integer(witness)


def test_a_null_value_is_no_constraint_in_a_proof() -> None:
    # `min: null` sets nothing: the child allows a string, which the parent's `type` denies.
    child = {"task": "c", "ttl": "5m", "tools": {"f": {"args": {"a": {"min": None}}}}}
    parent = {"task": "p", "ttl": "5m", "tools": {"f": {"args": {"a": {"type": "number"}}}}}
    report = narrower(child, parent, budgets=False, expiry=False)
    assert report.verdict == "not_narrower", report.format()
    (finding,) = report.by_status("wider")
    call = finding.counterexample["args"]
    assert Guard(child, store=MemoryStore()).check("f", call).allowed
    assert not Guard(parent, store=MemoryStore()).check("f", call).allowed
    for key in ("pattern", "url", "each", "not", "path_within"):
        child = {"task": "c", "ttl": "5m", "tools": {"f": {"args": {"a": {key: None}}}}}
        report = narrower(child, parent, budgets=False, expiry=False)
        assert report.verdict == "not_narrower", (key, report.format())
