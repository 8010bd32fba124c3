"""`guardrail validate`, `check` and `schema`: one manifest, read and asked about."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from typing import Any

from .._errors import ManifestError, StoreUnavailable
from .._exit import ExitCode
from .._manifest._models import Manifest
from .._runtime._guard import Guard
from .._stores._memory import MemoryStore
from .._text import iso
from ._common import CommandError, one_line, problems_text

__all__ = ["plural", "register"]

# What a YAML 1.1 reader would take for a boolean; this reader (YAML 1.2) keeps them as strings.
_YAML11_BOOLS = frozenset({"yes", "no", "on", "off", "y", "n"})


def plural(count: int, noun: str) -> str:
    """`1 tool`, `2 tools`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# -- validate ------------------------------------------------------------------------------------


def _cmd_validate(ns: argparse.Namespace) -> int:
    status = ExitCode.OK
    for path in ns.files:
        try:
            m = Manifest.from_file(path)
        except ManifestError as exc:
            status = ExitCode.FAILED
            data = _data(path)
            if isinstance(data, Mapping) and "params" in data:  # pydantic's errors would not help
                names = data["params"] if isinstance(data["params"], Mapping) else {}
                render = f"guardrail render {path} --task TASK" + "".join(
                    f" --param {name}=VALUE" for name in names)
                print(f"{path}: INVALID: this is a template: use `{render}`")
                continue
            print(f"{path}: INVALID")
            for problem in exc.problems:
                print(f"  - {problem}{_bool_hint(problem, data)}")
            continue
        expires = m.expires_at.isoformat() if m.expires_at else "?"
        print(f"{path}: ok (task {m.task}, {plural(len(m.tools), 'tool')}, expires {expires}, "
              f"{m.digest})")
        now = time.time()
        if m.expires_ts <= now:
            print(f"  warning: expired at {iso(m.expires_ts)}: a guard denies every call "
                  "(`expired`) until it is renewed")
        elif m.not_before_ts is not None and m.not_before_ts > now:
            print(f"  note: not valid before {iso(m.not_before_ts)}")
    return status


def _data(path: str) -> Any:
    """The file's parsed data, for hints (None when it cannot be parsed)."""
    from .._manifest._templates import load_template

    try:
        return load_template(path)[0]
    except ManifestError:
        return None


def _bool_hint(problem: str, data: Any) -> str:
    """For `allow_other_args: yes`: say that `yes` is a string to this reader."""
    if "valid boolean" not in problem:
        return ""
    node = data
    for part in problem.split(" ", 1)[0].split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return ""
    if isinstance(node, str) and node.lower() in _YAML11_BOOLS:
        return (f" (got the string {node!r}: manifests are read as YAML 1.2, where only true and "
                "false are booleans)")
    return ""


# -- check ---------------------------------------------------------------------------------------


def _cmd_check(ns: argparse.Namespace) -> int:
    try:
        manifest = Manifest.from_file(ns.file)
    except ManifestError as exc:
        raise CommandError(_invalid(exc)) from None
    try:
        args: Any = json.loads(ns.args) if ns.args is not None else {}
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, too many digits, too deep
        raise CommandError(f"--args is not valid JSON: {one_line(exc)}") from None
    if not isinstance(args, dict):
        raise CommandError("--args must be a JSON object")
    # Against a shared store, the check sees the task's real budget use and revocation; check()
    # never charges anything.
    try:
        guard = Guard(manifest, store=ns.store if ns.store else MemoryStore())
        decision = guard.check(ns.tool, args)
    except (ValueError, ImportError) as exc:  # a bad store URL, or its client not installed
        raise CommandError(f"--store: {one_line(exc)}") from None
    except StoreUnavailable as exc:
        raise CommandError(f"--store: store unavailable: {one_line(exc)}",
                           ExitCode.UNAVAILABLE) from None
    if ns.json:
        body: dict[str, Any] = {"allowed": decision.allowed, "outcome": decision.outcome,
                                "tool": ns.tool, "task": manifest.task,
                                "manifest_digest": manifest.digest}
        if decision.denial is not None:
            body["denial"] = decision.denial.model_dump(mode="json")
        if decision.approval is not None:
            body["ask"] = decision.approval.reason
        print(json.dumps(body, indent=2))
    elif decision.denial is None:
        print(f"ALLOW {ns.tool}: granted by task {manifest.task!r} "
              f"(manifest {manifest.digest[:19]}...)")
        for line in _budget_lines(guard, manifest, ns.tool, args):
            print(line)
    elif decision.approval is not None and decision.outcome == "ask":
        d = decision.denial
        print(f"ASK {ns.tool}: {d.code.value} (a person approves the call)")
        print(f"  {d.message}")
        print(f"  reason:     ask: {decision.approval.reason}")
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
            rule = manifest.compiled().rules().get(d.budget.scope.partition("[")[0])
            if rule is not None and d.depth == 0:
                print(f"  rule:       {rule.describe()}")
    return ExitCode.OK if decision.allowed else ExitCode.DENIED


def _budget_lines(guard: Guard, manifest: Manifest, tool: str, args: dict[str, Any]) -> list[str]:
    """The budgets an allowed call draws on, with their use before it."""
    try:
        charges = guard._decider.plan(tool, args, None)
        if not isinstance(charges, list) or not charges:
            return []
        measure = getattr(guard.store, "measure", None)
        used = (measure(charges) if callable(measure)
                else guard.store.used([(c.task, c.scope) for c in charges]))
    except Exception:  # an explanation only: the decision above stands
        return []
    rules = manifest.compiled().rules()
    lines = []
    for charge, u in zip(charges, used, strict=True):
        rule = rules.get(charge.scope.partition("[")[0])
        words = f"; {rule.describe()}" if rule is not None else ""
        lines.append(f"  budget:     {charge.scope} ({float(u):g} of {float(charge.limit):g} "
                     f"used{words})")
    return lines


def _invalid(exc: ManifestError) -> str:
    return (f"{exc.source}: " if exc.source else "") + f"invalid manifest: {problems_text(exc.problems)}"


def _cmd_schema(ns: argparse.Namespace) -> int:
    print(json.dumps(Manifest.json_schema(), indent=2))
    return ExitCode.OK


def register(sub: Any) -> None:
    p = sub.add_parser("validate", help="validate manifest files (exit 0 all valid, 1 not)")
    p.add_argument("files", nargs="+", metavar="FILE", help="manifest files (YAML or JSON)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("check", help="explain the decision for one call (exit 0 allow, 3 deny or ask)")
    p.add_argument("file", metavar="FILE", help="the manifest (YAML or JSON)")
    p.add_argument("tool", metavar="TOOL", help="the tool the call is for")
    p.add_argument("--args", metavar="JSON", help="the call's arguments as a JSON object")
    p.add_argument("--json", action="store_true", help="print the decision as JSON")
    p.add_argument("--store", metavar="URL",
                   help="consult a shared store's budget use and revocations (never charged)")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("schema", help="print the manifest JSON Schema")
    p.set_defaults(func=_cmd_schema)
