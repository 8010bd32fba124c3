"""The `guardrail` command line."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from .._errors import ManifestError
from .._manifest._models import Manifest
from .._runtime._guard import Guard
from .._stores._memory import MemoryStore

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_DENIED = 3


def _cmd_validate(ns: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in ns.files:
        try:
            m = Manifest.from_file(path)
        except ManifestError as exc:
            status = EXIT_INVALID
            print(f"{path}: INVALID", file=sys.stdout)
            for problem in exc.problems:
                print(f"  - {problem}", file=sys.stdout)
        else:
            print(f"{path}: ok (task {m.task}, {len(m.tools)} tools, expires "
                  f"{m.expires_at.isoformat() if m.expires_at else '?'}, {m.digest})")
    return status


def _cmd_check(ns: argparse.Namespace) -> int:
    try:
        manifest = Manifest.from_file(ns.file)
    except ManifestError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    try:
        args: Any = json.loads(ns.args) if ns.args is not None else {}
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, too many digits, too deep
        print(f"--args is not valid JSON: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(args, dict):
        print("--args must be a JSON object", file=sys.stderr)
        return EXIT_USAGE
    # Against a shared store, the check sees the task's real budget use and revocation; check()
    # never charges anything.
    try:
        guard = Guard(manifest, store=ns.store if ns.store else MemoryStore())
    except (ValueError, ImportError) as exc:  # a bad store URL, or its client not installed
        print(f"guardrail check: --store: {exc}", file=sys.stderr)
        return EXIT_USAGE
    decision = guard.check(ns.tool, args)
    if ns.json:
        body: dict[str, Any] = {"allowed": decision.allowed, "tool": ns.tool,
                                "task": manifest.task, "manifest_digest": manifest.digest}
        if decision.denial is not None:
            body["denial"] = decision.denial.model_dump(mode="json")
        print(json.dumps(body, indent=2))
    elif decision.denial is None:
        print(f"ALLOW {ns.tool}: granted by task {manifest.task!r} "
              f"(manifest {manifest.digest[:19]}...)")
    else:
        d = decision.denial
        print(f"DENY {ns.tool}: {d.code.value}")
        print(f"  {d.message}")
        if d.argument:
            print(f"  argument:   {d.argument}")
        if d.constraint:
            print(f"  constraint: {d.constraint}")
        if d.budget:
            print(f"  budget:     {d.budget.scope} ({d.budget.used:g} of {d.budget.limit:g} used)")
    return EXIT_OK if decision.allowed else EXIT_DENIED


def _cmd_schema(ns: argparse.Namespace) -> int:
    print(json.dumps(Manifest.json_schema(), indent=2))
    return EXIT_OK


def _cmd_demo(ns: argparse.Namespace) -> int:
    tracer_provider = _tracer_provider(ns)
    if not ns.plain:
        try:
            import langchain.agents  # noqa: F401
        except ImportError:
            print("(LangChain is not installed: running the plain-Python demo; "
                  "pip install 'task-guardrail[langchain]' for the agent demo)\n", file=sys.stderr)
        else:
            from ._demo_langchain import run_demo

            return _flushed(tracer_provider, run_demo(tracer_provider=tracer_provider))
    from ._demo import run_plain_demo

    return _flushed(tracer_provider, run_plain_demo(tracer_provider=tracer_provider))


def _tracer_provider(ns: argparse.Namespace) -> Any:
    spec = getattr(ns, "trace", None)
    if not spec:
        return None
    from .._telemetry._setup import configure_tracing

    try:
        return configure_tracing(spec)
    except (ValueError, ImportError) as exc:
        raise SystemExit(f"guardrail: --trace {spec}: {exc}") from None


def _flushed(provider: Any, code: int) -> int:
    if provider is not None:
        provider.force_flush()
        provider.shutdown()
    return code


def build_parser() -> argparse.ArgumentParser:
    from .._text import __version__

    parser = argparse.ArgumentParser(
        prog="guardrail",
        description="Per-task delegation manifests for AI agent tool calls.",
    )
    parser.add_argument("--version", action="version", version=f"guardrail {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="validate manifest files")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("check", help="explain the decision for one call (exit 0 allow, 3 deny)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("tool", metavar="TOOL")
    p.add_argument("--args", metavar="JSON", help="the call's arguments as a JSON object")
    p.add_argument("--json", action="store_true", help="print the decision as JSON")
    p.add_argument("--store", metavar="URL",
                   help="consult a shared store's budget use and revocations (never charged)")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("schema", help="print the manifest JSON Schema")
    p.set_defaults(func=_cmd_schema)

    p = sub.add_parser(
        "demo",
        help="a scripted scoped agent run: a LangChain helpdesk agent meets a prompt injection "
        "(no LLM, no key, no network)",
    )
    p.add_argument("--plain", action="store_true",
                   help="the plain-Python demo (every kind of denial; no LangChain needed)")
    p.add_argument("--trace", metavar="SPEC",
                   help="export the run's spans: console, jsonl:PATH or otlp (OTEL_EXPORTER_OTLP_*)")
    p.set_defaults(func=_cmd_demo)

    # Commands of other concerns live in their own modules, each with register(subparsers).
    for module in _COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


_COMMAND_MODULES: list[str] = [
    "guardrail._cli._integrity",
    "guardrail._cli._telemetry",
    "guardrail._cli._mcp",
    "guardrail._cli._stores",
    "guardrail._cli._authoring",
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    code: int = ns.func(ns)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
