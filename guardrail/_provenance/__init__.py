"""Provenance: what the tools of a task returned, and whether a value was copied from it.

Pure, no I/O (layer 0, below `_policy`, whose `provenance` / `from_results` kinds and CEL
functions read it). `Memory` keeps one guard's recorded results (normalised text, capped);
`Trusted` the texts the guard trusts (the manifest's values, the task's inputs); a `View` is what
one link of a delegation chain checks against (its memories and trusted texts, own first);
`probing(view)` makes a view the current one for the checks of one decision (a context
variable, so threads and asyncio tasks each see their own).
"""

from ._context import STATIC, Probe, current, probing, static
from ._memory import (
    DEFAULT_MAX_BYTES,
    FULL,
    MIN_LENGTH,
    Memory,
    Record,
    Trusted,
    View,
    manifest_strings,
    normalise,
    render,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FULL",
    "MIN_LENGTH",
    "STATIC",
    "Memory",
    "Probe",
    "Record",
    "Trusted",
    "View",
    "current",
    "manifest_strings",
    "normalise",
    "probing",
    "render",
    "static",
]
