"""JSON Schema, both ways: the manifest's own (`guardrail schema`), and the defaults declared in a
tool's schema (the values the tool runs with for arguments the model leaves out; adapters hand
them to `Guard.invoke(defaults=)`, which checks those the manifest constrains, at any depth)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from .._policy import Registry

__all__ = ["json_schema_defaults", "manifest_json_schema"]


def manifest_json_schema(model: type[BaseModel], registry: Registry) -> dict[str, Any]:
    """The JSON Schema of a manifest model whose constraints are `registry`'s kinds."""
    schema = model.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Delegation manifest"
    # The shorthands are part of the format: a bare scalar means equals, a bare list one_of.
    # Every reference to Constraint now reaches the wrapper, which allows those forms.
    defs = schema["$defs"]
    defs["ConstraintObject"] = defs.pop("Constraint")
    forms: list[dict[str, Any]] = [{"$ref": "#/$defs/ConstraintObject"}]
    said = []
    if registry.scalar is not None:
        forms.append({"type": ["string", "number", "boolean"]})
        said.append(f"a bare scalar ({registry.scalar.key})")
    if registry.list is not None:
        forms.append({"type": "array"})
        said.append(f"list ({registry.list.key})" if said else f"a bare list ({registry.list.key})")
    shorthand = f", or {' or '.join(said)}" if said else ""
    defs["Constraint"] = {"description": f"A constraint mapping{shorthand}.", "anyOf": forms}
    return schema

_MAX_DEPTH = 16


def json_schema_defaults(schema: Any) -> dict[str, Any]:
    """`{argument: default}` for every property with a `default`, and, for an object property
    without one, the defaults of its own properties (nested, following local `$ref`s)."""
    if not isinstance(schema, Mapping):
        return {}
    defs = schema.get("$defs") or schema.get("definitions") or {}
    return _defaults(schema, defs if isinstance(defs, Mapping) else {}, 0)


def _resolve(node: Any, defs: Mapping[str, Any]) -> Any:
    ref = node.get("$ref") if isinstance(node, Mapping) else None
    if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
        return defs.get(ref.rsplit("/", 1)[1], {})
    if isinstance(node, Mapping) and isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
        return _resolve(node["allOf"][0], defs)  # pydantic wraps a described $ref in allOf
    return node


def _defaults(schema: Any, defs: Mapping[str, Any], depth: int) -> dict[str, Any]:
    schema = _resolve(schema, defs)
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    if depth > _MAX_DEPTH or not isinstance(properties, Mapping):
        return {}
    out: dict[str, Any] = {}
    for name, spec in properties.items():
        if not isinstance(spec, Mapping):
            continue
        if "default" in spec:
            out[name] = spec["default"]
            continue
        nested = _defaults(spec, defs, depth + 1)
        if nested:
            out[name] = nested
    return out
