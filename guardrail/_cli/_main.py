"""The `guardrail` command line: the parser, adapters' commands, and the one way errors end a run.

Each module of this package adds its commands with `register(subparsers)`. Adapters add theirs the
same way through the entry point group `guardrail.cli` (each entry named after the command it adds
or extends), so the core never imports an adapter; an entry that cannot load because its extra is
not installed still shows up, as a command that says what to install.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

from .._errors import GuardrailError, ManifestError, StoreUnavailable
from .._exit import ExitCode, exit_code_table
from . import _approvals, _authoring, _demo, _integrity, _manifests, _stores, _telemetry
from ._common import CommandError, one_line, problems_text

__all__ = ["PLUGIN_GROUP", "build_parser", "main"]

PLUGIN_GROUP = "guardrail.cli"

_COMMANDS = (_manifests, _demo, _integrity, _telemetry, _stores, _approvals, _authoring)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command; with `command`, adapters' other commands are not loaded (an
    adapter's framework can take seconds to import), only listed."""
    from .._text import __version__

    parser = argparse.ArgumentParser(
        prog="guardrail",
        description="Per-task delegation manifests for AI agent tool calls.",
        epilog=exit_code_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"guardrail {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMANDS:
        module.register(sub)
    _add_plugins(sub, command)
    return parser


def _add_plugins(sub: Any, command: str | None) -> None:
    for ep in entry_points(group=PLUGIN_GROUP):
        if command is not None and ep.name != command:
            if ep.name not in sub.choices:
                _listed(sub, ep.name)
            continue
        try:
            register: Callable[[Any], None] = ep.load()
        except ImportError as exc:  # the adapter's extra is not installed
            _unavailable(sub, ep.name, one_line(exc))
            continue
        register(sub)


def _listed(sub: Any, name: str) -> None:
    # Not run in this invocation (another command was asked for): named, so that a typo's
    # "invalid choice" error lists it.
    sub.add_parser(name, help="an adapter's command", add_help=False)


def _unavailable(sub: Any, name: str, reason: str) -> None:
    """`name` says `reason` (what to install) instead of running; an existing command of that
    name (`demo`) is told instead, and decides what to do without it."""
    existing = sub.choices.get(name)
    if existing is not None:
        existing.set_defaults(unavailable=reason)
        return

    def cmd(ns: argparse.Namespace) -> int:
        raise CommandError(reason)

    # Takes any arguments (no option prefix), so the missing extra is the one error reported.
    p = sub.add_parser(name, help=f"(not installed: {reason})", add_help=False, prefix_chars="\0")
    p.add_argument("ignored", nargs="*")
    p.set_defaults(func=cmd)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (`ExitCode`). Problems end it with one line on
    stderr, never a traceback."""
    args = sys.argv[1:] if argv is None else list(argv)
    # The top-level options take no value, so the first other word names the command.
    command = next((a for a in args if not a.startswith("-")), None)
    if command is None and not {"-h", "--help"} & set(args):
        command = ""  # --version, or no command at all: nothing to load
    ns = build_parser(command).parse_args(args)
    prog = f"guardrail {ns.command}"
    try:
        code = int(ns.func(ns))
        sys.stdout.flush()
    except CommandError as exc:
        _error(prog, str(exc))
        return exc.code
    except BrokenPipeError:
        # The reader went away (`guardrail schema | head`): like any Unix filter, stop quietly.
        # Point stdout at /dev/null so that the interpreter's final flush does not fail too.
        with contextlib.suppress(OSError, ValueError):  # stdout is not a file (a test captures it)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.BROKEN_PIPE
    # What a command did not report itself still ends in one line (and the code of its kind).
    except StoreUnavailable as exc:
        _error(prog, f"store unavailable: {one_line(exc)}")
        return ExitCode.UNAVAILABLE
    except ManifestError as exc:
        _error(prog, (f"{exc.source}: " if exc.source else "") + problems_text(exc.problems))
        return ExitCode.USAGE
    except (GuardrailError, OSError) as exc:
        _error(prog, one_line(exc))
        return ExitCode.USAGE
    return code


def _error(prog: str, message: str) -> None:
    with contextlib.suppress(OSError):  # stderr is gone too: the exit code is all that is left
        print(f"{prog}: {message}", file=sys.stderr)
