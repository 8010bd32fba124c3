"""`guardrail mcp-proxy`: this adapter's command, added to the `guardrail` CLI through the entry
point group `guardrail.cli` (name `mcp-proxy`); `python -m guardrail_mcp` parses the same options.

Everything the library's guard offers reaches the proxy: a shared store (budgets and revocation
across processes, so `guardrail revoke --store` stops a running proxy), traces, a decision log,
signed manifests and recorded argument values. Each problem before serving ends the command with
one line and an exit code of the CLI's table: a bad option or manifest is a usage error; a store,
trace endpoint or upstream that cannot be reached or started is `unavailable`.

The MCP SDK is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from guardrail import AuditLog, Guard, Manifest, ManifestError, StoreUnavailable
from guardrail.cli import CommandError, ExitCode, TraceOutput, problems_text, trusted_keys

__all__ = ["STORE_ENV", "add_arguments", "register", "run"]

PROG = "guardrail mcp-proxy"
STORE_ENV = "GUARDRAIL_STORE"
_EXTRA = "pip install 'task-guardrail[mcp]'"


def register(subparsers: Any) -> None:
    """Add `mcp-proxy` to the `guardrail` command's subparsers."""
    p = subparsers.add_parser(
        "mcp-proxy",
        help="serve MCP on stdio in front of an upstream MCP server, exposing only what the "
        "manifest grants",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_arguments(p)
    p.set_defaults(func=lambda ns: run(ns))


DESCRIPTION = (
    "Start UPSTREAM_COMMAND as an MCP server over stdio and serve MCP on this process's stdio: "
    "tools/list shows only the granted tools, every tools/call is authorized against the "
    "manifest before it is forwarded, and a denied call returns an error result with the "
    f"structured denial. Needs: {_EXTRA}."
)
EPILOG = ("example: guardrail mcp-proxy --manifest task.yaml -- "
          "npx -y @modelcontextprotocol/server-filesystem /srv")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The proxy's options (shared by `guardrail mcp-proxy` and `python -m guardrail_mcp`)."""
    p.add_argument("--manifest", "-m", required=True, metavar="FILE",
                   help="the delegation manifest (YAML or JSON)")
    p.add_argument("--mode", choices=("enforce", "shadow"), default="enforce",
                   help="shadow: list every tool, trace denials, block nothing (default: enforce)")
    p.add_argument("--store", metavar="URL", default=os.environ.get(STORE_ENV),
                   help="the budget store shared with other processes: sqlite:///path or "
                   f"redis://host:port/db, also for revocation (default: ${STORE_ENV}, else this "
                   "process's memory)")
    p.add_argument("--trace", metavar="SPEC",
                   help="export spans: console, jsonl:PATH (its directory must exist) or "
                   "otlp[:URL] (OTLP/HTTP; default endpoint and headers from OTEL_EXPORTER_OTLP_*)")
    p.add_argument("--audit", metavar="PATH",
                   help="append every decision to this hash-chained decision log (AuditLog)")
    p.add_argument("--trusted-key", action="append", default=[], metavar="PEM",
                   help="a public key the manifest must be signed with (repeat for several); with "
                   "it, an unsigned or badly signed manifest refuses to start")
    p.add_argument("--record-values", action="store_true",
                   help="record argument values on spans and in the decision log (default: names only)")
    p.add_argument("--no-elicitation", dest="elicitation", action="store_false",
                   help="never ask the client's user to approve a call the manifest asks about "
                   "(MCP elicitation); return approval_required with the request id instead, for "
                   "`guardrail approvals approve ID --store URL`")
    p.add_argument("upstream", nargs=argparse.REMAINDER, metavar="-- UPSTREAM_COMMAND [ARGS...]",
                   help="the upstream MCP server command and its arguments, after --")


def run(ns: argparse.Namespace, prog: str = PROG) -> int:
    """Run the proxy for parsed options until the client disconnects (or SIGTERM/SIGINT).

    Returns `ExitCode.OK` after a clean stop; raises `CommandError` for a problem before serving
    (one line, with its exit code)."""
    argv = list(ns.upstream)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise CommandError("missing the upstream command: add -- UPSTREAM_COMMAND [ARGS...]")
    try:
        from guardrail_mcp._proxy import run_proxy
    except ImportError as exc:
        raise CommandError(f"needs the MCP Python SDK: {_EXTRA} ({exc})") from None

    keys = trusted_keys(ns.trusted_key, "--trusted-key")
    try:
        manifest = Manifest.from_file(ns.manifest, trusted_keys=keys or None)
    except ManifestError as exc:
        raise CommandError(f"--manifest {ns.manifest}: {problems_text(exc.problems)}") from None
    audit = _audit_log(ns.audit) if ns.audit else None
    tracing = TraceOutput(ns.trace) if ns.trace else None
    try:
        guard = _guard(manifest, ns, audit, tracing)
        code = _serve(run_proxy, guard, argv, ns.manifest, ns.elicitation)
    except BaseException:
        if tracing is not None:
            tracing.close()
        raise
    finally:
        if audit is not None:
            audit.close()
    return tracing.finish(code, prog) if tracing is not None else code


def _audit_log(path: str) -> AuditLog:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CommandError(f"--audit {path}: no such directory: {folder}")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise CommandError(f"--audit {path}: not writable")
    return AuditLog(path)


def _guard(manifest: Manifest, ns: argparse.Namespace, audit: AuditLog | None,
           tracing: TraceOutput | None) -> Guard:
    try:
        guard = Guard(manifest, mode=ns.mode, store=ns.store or None, audit=audit,
                      tracer_provider=tracing.provider if tracing is not None else None,
                      record_values=ns.record_values)
        # Reach the store now: a proxy that cannot would deny every call (fail closed), so say so
        # before serving rather than after the first call.
        guard.store.revoked([guard.task])
    except (ValueError, ImportError) as exc:  # a bad store URL, or its client not installed
        raise CommandError(f"--store: {exc}") from None
    except StoreUnavailable as exc:
        raise CommandError(f"--store: store unavailable: {exc}", ExitCode.UNAVAILABLE) from None
    return guard


def _serve(run_proxy: Any, guard: Guard, argv: Sequence[str], manifest_path: str, elicitation: bool) -> int:
    from mcp.shared.exceptions import MCPError

    try:
        return int(run_proxy(guard, argv, elicitation=elicitation))
    except ManifestError as exc:  # checked against the upstream's tools/list at start
        raise CommandError(f"--manifest {manifest_path} does not fit the upstream's tools: "
                           f"{problems_text(exc.problems)}") from None
    except (OSError, MCPError, BaseExceptionGroup) as exc:
        leaves = _leaves(exc)
        if not all(isinstance(e, OSError | MCPError) for e in leaves):
            raise
        first = leaves[0]
        if isinstance(first, OSError):
            why = f"cannot start the upstream {argv[0]!r}: {first.strerror or first}"
        else:
            why = (f"the upstream {argv[0]!r} ended before it answered ({first}): is it an MCP "
                   "server on stdio?")
        raise CommandError(why, ExitCode.UNAVAILABLE) from None


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, in order."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]
