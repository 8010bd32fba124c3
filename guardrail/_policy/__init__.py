"""Compile-once checks, no I/O (layer 1).

Constraint kinds, one module per family (`_values`, `_numbers`, `_strings`, `_paths`, `_urls`,
`_structure`), each kind a `Kind` (`_kind`) listed in the `REGISTRY` (`_registry`); their
composition into rules (`_rules`); and the compiled form of a manifest (`_compiled`).
"""

from ._compiled import CompiledManifest, CompiledTool, budget_scopes, scope_location
from ._json import is_finite_number, is_integer, strict_equal, variants
from ._kind import Branch, Harvest, Kind, Nested, Predicate, Sampler, Slot, Structural, written
from ._numbers import bounds
from ._paths import normalize_path, within
from ._regex_samples import regex_samples
from ._registry import REGISTRY, Registry
from ._rules import ArgsRule, Rule, Violation
from ._strings import Pattern, compile_pattern
from ._structure import AnyOf, Each, Fields, Not
from ._urls import UrlSpec, parse_host_pattern

__all__ = [
    "REGISTRY",
    "AnyOf",
    "ArgsRule",
    "Branch",
    "CompiledManifest",
    "CompiledTool",
    "Each",
    "Fields",
    "Harvest",
    "Kind",
    "Nested",
    "Not",
    "Pattern",
    "Predicate",
    "Registry",
    "Rule",
    "Sampler",
    "Slot",
    "Structural",
    "UrlSpec",
    "Violation",
    "bounds",
    "budget_scopes",
    "compile_pattern",
    "is_finite_number",
    "is_integer",
    "normalize_path",
    "parse_host_pattern",
    "regex_samples",
    "scope_location",
    "strict_equal",
    "variants",
    "within",
    "written",
]
