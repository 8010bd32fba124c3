"""What every command shares: the one-line error, and `--trace` with a bounded, checked flush.

A command reports a problem by raising `CommandError(message, code)`: `main` prints
``guardrail COMMAND: message`` as one line on stderr and exits with the code. Nothing reaches the
user as a traceback.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

from .._exit import ExitCode

__all__ = ["FLUSH_SECONDS", "CommandError", "TraceOutput", "one_line", "problems_text", "trusted_keys"]

# How long `--trace` may take to deliver the last spans when a command ends. A collector on the
# same network answers in milliseconds; an unreachable one should not hold the command for the
# exporter's ten-second retry schedule.
FLUSH_SECONDS = 5.0


class CommandError(Exception):
    """A problem a command reports in one line, with the exit code that says what kind it was."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(one_line(message))
        self.code = code


STORE_ENV = "GUARDRAIL_STORE"
"""The environment variable that names the shared store when `--store` is not given."""


def add_store_option(parser: Any) -> None:
    """`--store URL` of the commands that work on a shared store (default: `$GUARDRAIL_STORE`)."""
    parser.add_argument(
        "--store", metavar="URL", default=os.environ.get(STORE_ENV),
        help=f"the shared store: sqlite:///path or redis://host:port/db (default: ${STORE_ENV})",
    )


def one_line(text: object, limit: int = 400) -> str:
    """`text` on one line (whitespace runs become one space), cut to `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def problems_text(problems: Sequence[str]) -> str:
    """A `ManifestError`'s problems as one line (its own text starts with "invalid manifest",
    which is wrong when the problem was a key file or a template parameter)."""
    return "; ".join(problems)


def trusted_keys(paths: Sequence[str], flag: str) -> list[Any]:
    """The public keys in PEM files given with `flag` (`--pub`, `--trusted-key`), each checked,
    so that a missing or malformed key file is reported as such, not as a bad signature."""
    from .._errors import ManifestError
    from .._manifest import load_public_key

    keys = []
    for path in paths:
        try:
            keys.append(load_public_key(path))
        except ManifestError as exc:
            raise CommandError(f"{flag} {path}: {problems_text(exc.problems)}") from None
    return keys


class _Captured(logging.Handler):
    """Keeps the OpenTelemetry SDK's warnings (a failed or retried export) for one line at the
    end instead of letting them reach stderr as log records."""

    def __init__(self, wake: threading.Event) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.wake = wake

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:
            self.messages.append(record.msg if isinstance(record.msg, str) else repr(record.msg))
        self.wake.set()


class TraceOutput:
    """`--trace SPEC` for one command run: a TracerProvider, and `close()` that flushes it within
    `FLUSH_SECONDS` and says whether the spans were delivered.

    Raises `CommandError` (usage) when the spec is wrong or its file cannot be opened; a `jsonl:`
    file's directory must exist (the CLI creates no directories)."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        kind, sep, arg = spec.strip().partition(":")
        if kind.strip().lower() == "jsonl" and sep and arg.strip():
            folder = os.path.dirname(os.path.abspath(arg.strip()))
            if not os.path.isdir(folder):
                raise CommandError(f"--trace {spec}: no such directory: {folder}")
        self._wake = threading.Event()
        self._captured = _Captured(self._wake)
        self._logger = logging.getLogger("opentelemetry")
        self._propagate = self._logger.propagate
        self._logger.addHandler(self._captured)
        self._logger.propagate = False
        from .._telemetry._setup import configure_tracing

        try:
            self.provider: Any = configure_tracing(spec)
        except OSError as exc:
            self._release()
            raise CommandError(f"--trace {spec}: cannot open {exc.filename or arg}: "
                               f"{exc.strerror or exc}") from None
        except (ValueError, ImportError) as exc:
            self._release()
            raise CommandError(f"--trace {spec}: {exc}") from None

    def close(self) -> str | None:
        """Flush and shut the provider down; None when every span was delivered, else why not.

        The flush runs in a daemon thread: an exporter still retrying after `FLUSH_SECONDS`, or
        one that reported a problem, ends it (and the process does not wait for it)."""
        # The SDK shuts the provider down at exit too, waiting for an export still retrying: the
        # flush below is the only one, bounded.
        atexit.unregister(self.provider.shutdown)
        done = threading.Event()

        def shutdown() -> None:
            try:
                self.provider.force_flush()
                self.provider.shutdown()
            finally:
                done.set()
                self._wake.set()

        threading.Thread(target=shutdown, name="guardrail-trace-flush", daemon=True).start()
        # Woken early when the exporter complains: a refused connection is reported at once.
        self._wake.wait(FLUSH_SECONDS)
        messages = list(self._captured.messages)
        if done.is_set():
            self._release()
        # else the exporter is still retrying: its handler stays, so that its later warnings do
        # not reach stderr after our one line.
        if messages:
            return f"--trace {self.spec}: spans not exported: {one_line(messages[0], 200)}"
        if not done.is_set():
            return f"--trace {self.spec}: spans not exported within {FLUSH_SECONDS:g} s"
        return None

    def finish(self, code: int, prog: str) -> int:
        """`close()`, for a command that ends with `code`: a failed export is reported in one
        line on stderr and, when the command itself succeeded, exits `UNAVAILABLE`."""
        problem = self.close()
        if problem is None:
            return code
        print(f"{prog}: {problem}", file=sys.stderr)
        return ExitCode.UNAVAILABLE if code == ExitCode.OK else code

    def _release(self) -> None:
        self._logger.removeHandler(self._captured)
        self._logger.propagate = self._propagate
