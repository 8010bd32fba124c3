"""The command line: `guardrail COMMAND ...`."""

from ._main import main

__all__ = ["main"]
