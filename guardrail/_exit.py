"""The exit codes of the `guardrail` command: one table for every command, adapters' included.

As with `grep` and `diff`: 1 is the command's negative answer, 2 means it could not get to an
answer. Scripts can rely on each number meaning the same thing whichever command returned it.
"""

from __future__ import annotations

import textwrap
from enum import IntEnum

__all__ = ["ExitCode", "exit_code_table"]


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    DENIED = 3
    UNPROVABLE = 4
    UNAVAILABLE = 5
    BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer killed by a closed pipe

    @property
    def meaning(self) -> str:
        return _MEANING[self]


_MEANING: dict[ExitCode, str] = {
    ExitCode.OK: "success: valid, allowed, verified, narrower, intact, done",
    ExitCode.FAILED: "the answer is no: an invalid manifest (validate), not verified (verify), not "
    "narrower (narrower), a broken chain (audit verify), a demo that did not hold, an approval "
    "request that cannot be answered (approvals: unknown, answered or used before, expired)",
    ExitCode.USAGE: "no answer: a bad command line, an input that cannot be read or used (a "
    "manifest, key file, template parameter, trace), or a missing extra",
    ExitCode.DENIED: "check: the call would be denied, or would ask a person (ask)",
    ExitCode.UNPROVABLE: "narrower: some parts could not be proven either way",
    ExitCode.UNAVAILABLE: "a store, trace endpoint or MCP upstream could not be reached or started",
    ExitCode.BROKEN_PIPE: "the reader of the output went away (`guardrail schema | head`); "
    "nothing is printed",
}


def exit_code_table(width: int = 96) -> str:
    """The table for `guardrail --help`: each code, its name and meaning (wrapped at `width`)."""
    rows = [
        textwrap.fill(code.meaning, width, initial_indent=f"  {code.value:>3}  {code.name.lower():<12} ",
                      subsequent_indent=" " * 20)
        for code in ExitCode
    ]
    return "exit codes (the same for every command):\n" + "\n".join(rows)
