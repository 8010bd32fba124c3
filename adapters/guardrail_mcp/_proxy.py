"""``guardrail mcp-proxy``: a guarding stdio MCP proxy in front of an upstream command."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import anyio
import anyio.abc
from mcp import StdioServerParameters

from guardrail import Guard, Manifest
from guardrail_mcp._server import GuardedServer

__all__ = ["build_parser", "command", "main", "run_proxy"]

PROG = "guardrail mcp-proxy"


def run_proxy(
    manifest: str | os.PathLike[str] | Manifest | Guard,
    upstream_argv: Sequence[str],
    *,
    mode: Literal["enforce", "shadow"] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    elicitation: bool = True,
) -> int:
    """Serve MCP on stdin/stdout, forwarding granted tool calls to ``upstream_argv``.

    ``manifest`` is a manifest file, a loaded :class:`~guardrail.Manifest` or a ready
    :class:`~guardrail.Guard` (whose store, mode and telemetry providers are then used).
    ``mode`` (``"enforce"``/``"shadow"``) applies when a guard is built here. The upstream
    command starts as a subprocess speaking MCP on its stdio, with this process's
    environment (or ``env``) and working directory (or ``cwd``). ``elicitation=False``: a call the
    guard asks about is never put to the client, only returned as ``approval_required`` for an
    operator (``guardrail approvals``).

    Returns the process exit status: 0 after the client disconnects, SIGTERM or SIGINT
    (the upstream is shut down cleanly first). Blocks; runs its own event loop (asyncio).
    """
    if not upstream_argv:
        raise ValueError("upstream_argv must name the upstream MCP server command")
    if isinstance(manifest, Guard):
        if mode is not None and mode != manifest.mode:
            raise ValueError(f"mode={mode!r} conflicts with the given guard's mode {manifest.mode!r}")
        guard = manifest
    else:
        loaded = manifest if isinstance(manifest, Manifest) else Manifest.from_file(Path(manifest))
        guard = Guard(loaded, mode=mode or "enforce")
    params = StdioServerParameters(
        command=upstream_argv[0],
        args=list(upstream_argv[1:]),
        env=dict(os.environ if env is None else env),
        cwd=None if cwd is None else os.fspath(cwd),
    )
    return anyio.run(_serve, guard, params, elicitation, backend="asyncio")


async def _serve(guard: Guard, params: StdioServerParameters, elicitation: bool) -> int:
    async with GuardedServer(params, guard, elicitation=elicitation) as proxy, \
            anyio.create_task_group() as task_group:

        async def stop_on_signal(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                task_status.started()
                async for _ in signals:
                    task_group.cancel_scope.cancel()
                    return

        await task_group.start(stop_on_signal)  # handlers in place before the client is served
        await proxy.serve_stdio()  # returns when the client closes our stdin
        task_group.cancel_scope.cancel()
    return 0


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The proxy's command line (the options of ``guardrail mcp-proxy``)."""
    from guardrail_mcp._cli import DESCRIPTION, EPILOG, add_arguments

    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG)
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Command-line entry: ``--manifest M.yaml [options] -- UPSTREAM_COMMAND [ARGS...]``.

    Returns an exit status of the ``guardrail`` CLI's table (``guardrail --help``): 0 on a clean
    stop, 2 for a usage error or a manifest that cannot be used (also one that constrains an
    argument an upstream tool does not take, or is not signed by a ``--trusted-key``), 5 when the
    upstream, the store or the trace endpoint cannot be reached or started. Each problem is one
    line on stderr.
    """
    return _run(build_parser(prog).parse_args(argv), prog)


def command(
    manifest: str | os.PathLike[str],
    upstream: Sequence[str],
    *,
    mode: Literal["enforce", "shadow"] = "enforce",
    prog: str = PROG,
) -> int:
    """The proxy command after argument parsing (for a CLI that parses its own arguments).

    ``upstream`` may start with the ``--`` separator. Errors are printed to stderr and
    turned into the exit status, as :func:`main` documents.
    """
    ns = build_parser(prog).parse_args(["--manifest", os.fspath(manifest), "--mode", mode])
    ns.upstream = list(upstream)
    return _run(ns, prog)


def _run(ns: argparse.Namespace, prog: str) -> int:
    from guardrail.cli import CommandError
    from guardrail_mcp._cli import run

    try:
        return run(ns, prog)
    except CommandError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return exc.code
