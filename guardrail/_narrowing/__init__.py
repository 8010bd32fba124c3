"""Static analysis: is one manifest narrower than another (`narrower`), with its report model.

Modules, lowest first (each imports only those before it): `_report` (Finding, NarrowerReport),
`_algebra` (components, branches, proofs), `_candidates` (counterexample values), `_args` (one
tool's arguments), `_check` (`narrower()`: tools, budgets, validity window). What each constraint
kind contributes (types, proofs, candidate values) comes from the kind registry in `_policy`.
"""

from .._policy import regex_samples
from ._check import narrower
from ._report import Finding, NarrowerReport

__all__ = ["Finding", "NarrowerReport", "narrower", "regex_samples"]
