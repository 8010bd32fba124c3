"""Static analysis: is one manifest narrower than another (`narrower`), with its report model.

Modules, lowest first (each imports only those before it): `_report` (Finding, NarrowerReport),
`_algebra` (components, branches, proofs), `_regex` (sample strings), `_candidates`
(counterexample values), `_args` (one tool's arguments), `_check` (`narrower()`: tools, budgets,
validity window).
"""

from ._check import narrower
from ._regex import regex_samples
from ._report import Finding, NarrowerReport

__all__ = ["Finding", "NarrowerReport", "narrower", "regex_samples"]
