"""Reading manifests (layer 2): data loading (`_data`), the models (`_models`, `_grants`, with
constraint fields from the kind registry in `_constraint`), error messages (`_messages`),
templates (`_templates`), JSON Schema (`_schema`), signature verification (`_signature`) and the
compiled form (`_compile`)."""

from .._policy import UrlSpec
from ._compile import compile_manifest
from ._constraint import Constraint, ConstraintBase, constraint_model
from ._data import Path, canonical_json, digest_of, load_json, load_yaml, read_text
from ._grants import Budget, RetrySpec, ToolGrant, parse_duration
from ._models import Manifest, render_template
from ._schema import json_schema_defaults, manifest_json_schema
from ._signature import SIGNATURE_ALG, key_id, load_public_key, verify_manifest
from ._templates import ParamSpec, coerce_param, declared_params, load_template, render_data

__all__ = [
    "SIGNATURE_ALG",
    "Budget",
    "Constraint",
    "ConstraintBase",
    "Manifest",
    "ParamSpec",
    "Path",
    "RetrySpec",
    "ToolGrant",
    "UrlSpec",
    "canonical_json",
    "coerce_param",
    "compile_manifest",
    "constraint_model",
    "declared_params",
    "digest_of",
    "json_schema_defaults",
    "key_id",
    "load_json",
    "load_public_key",
    "load_template",
    "load_yaml",
    "manifest_json_schema",
    "parse_duration",
    "read_text",
    "render_data",
    "render_template",
    "verify_manifest",
]
