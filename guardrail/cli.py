"""For adapters that add commands to the `guardrail` CLI.

An adapter declares ``[project.entry-points."guardrail.cli"]`` ``NAME = "package.module:register"``
(NAME: the command it adds or extends); `register(subparsers)` receives the argparse subparsers
and adds its command. The command returns an `ExitCode`, or raises `CommandError(message, code)`
to end with one line on stderr. `TraceOutput(spec)` gives ``--trace console|jsonl:PATH|otlp[:URL]``
the CLI's behaviour: a usage error for a bad spec, and a bounded flush that reports undelivered
spans. `trusted_keys(paths, flag)` loads PEM public keys, naming a bad key file; `problems_text`
joins a `ManifestError`'s problems on one line. Import a framework only inside the command, so
`guardrail --help` works without it.
"""

from __future__ import annotations

from ._cli._common import CommandError, TraceOutput, problems_text, trusted_keys
from ._cli._main import PLUGIN_GROUP, main
from ._exit import ExitCode

__all__ = ["PLUGIN_GROUP", "CommandError", "ExitCode", "TraceOutput", "main", "problems_text", "trusted_keys"]
