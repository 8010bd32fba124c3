"""Delegating to a sub-agent: a child guard that can only narrow its parent.

`parent.delegate(child)` returns a `Guard` whose decisions are the conjunction of the child's
manifest and every ancestor's (the chain is checked link by link on every call), whose budget
charges go to the child and to every ancestor in one atomic `consume`, and which is revoked when
any ancestor is. At delegation time the child is checked and completed:

- `task`: must differ from every task in the chain. When the child gives none (and no `task=`
  option), it is `<parent task>/sub-<8 random hex digits>`, so two sub-agents never share a budget
  by accident; pass `task=` for a stable id (e.g. to rebuild the same child guard elsewhere).
- expiry: a child without `ttl`/`expires_at` ends when its parent does; a child asking to outlive
  its parent is capped to the parent's expiry (`cap_expiry=False` rejects it instead).
- tools: the child may name only tools every link of the parent's chain grants.
- budgets: a child budget larger than what is left of an ancestor budget that counts the same
  calls (or sums the same argument over the same tools) is rejected.
- `issuer` defaults to the parent's principal.
- `require_narrower=True` also runs the static `narrower` check against the parent's manifest
  (arguments included) and rejects a child that is not provably narrower.

Everything rejected raises `ManifestError` naming each problem. The child shares the parent's
store, clock, mode, audit sink, value recording and telemetry providers. Its manifest is not
signed: it is bound to its (verified) parent by the chain.

This module works on the parent's `Chain` (and its store and clock) and returns the child's
manifest; `Guard.delegate` builds the child guard on `chain.extend(...)`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .._errors import ManifestError
from .._manifest._data import Path as DataPath
from .._manifest._models import Manifest
from .._manifest._templates import load_template
from .._policy._budgets import BudgetRule
from .._policy._compiled import CompiledManifest, budget_scopes, scope_location
from .._stores import BudgetStore, Charge
from .._text import iso as _iso
from .._text import num as _num
from ._chain import Chain

__all__ = ["child_manifest", "derive_task_id"]

_MAX_TASK = 256


def derive_task_id(parent_task: str) -> str:
    """`<parent task>/sub-<8 hex digits>`, shortened to fit the 256-character limit."""
    suffix = f"/sub-{secrets.token_hex(4)}"
    return parent_task[: _MAX_TASK - len(suffix)] + suffix



def _child_data(
    child: Manifest | Mapping[str, Any] | str | Path,
) -> tuple[Manifest | None, dict[str, Any], dict[DataPath, int], str | None]:
    """A ready manifest (or None), the child's data as written, its lines and its source."""
    if isinstance(child, Manifest):
        data = child.model_dump(by_alias=True, exclude_unset=True, mode="json")
        return child, data, {}, None
    if isinstance(child, Mapping):
        return None, dict(child), {}, None
    if isinstance(child, str | Path):
        data, lines, source = load_template(child, what="manifest")
        return None, data, lines, source
    raise TypeError(f"expected a Manifest, a mapping or a path, not {type(child).__name__}")


def child_manifest(
    parent: Chain,
    store: BudgetStore,
    clock: Callable[[], float],
    child: Manifest | Mapping[str, Any] | str | Path,
    *,
    task: str | None = None,
    cap_expiry: bool = True,
    require_narrower: bool = False,
) -> Manifest:
    """The manifest of a sub-agent of the guard whose chain is `parent`, checked and completed
    (see the module docstring)."""
    now = clock()
    own = parent.own
    if parent.revocation(store) is not None:
        raise ManifestError(f"cannot delegate: the delegation for task {own.task!r} was revoked")
    parent_expires = parent.expires_ts
    if now >= parent_expires:
        raise ManifestError(
            f"cannot delegate: the delegation for task {own.task!r} expired at "
            f"{_iso(parent_expires)}"
        )
    ready, data, lines, source = _child_data(child)
    if ready is not None and task is not None and ready.task != task:
        raise ManifestError(
            f"task: the child manifest names task {ready.task!r} but task={task!r} was given"
        )
    if ready is not None:
        manifest = ready  # used as given (its digest stays); only an expiry cap changes it
    else:
        if task is not None:
            if "task" in data and data["task"] != task:
                raise ManifestError(
                    f"task: the child manifest names task {data['task']!r} but task={task!r} "
                    "was given",
                    source=source,
                )
            data["task"] = task
        elif "task" not in data:
            data["task"] = derive_task_id(own.task)
        if "ttl" not in data and "expires_at" not in data:
            data["expires_at"] = _iso(parent_expires)
        elif "ttl" in data and "issued_at" not in data:
            data["issued_at"] = _iso(float(int(now)))  # a child's ttl counts from delegation
        if "issuer" not in data and own.principal is not None:
            data["issuer"] = own.principal
        data.pop("signature", None)  # a delegated manifest is bound by its chain, not signed
        manifest = Manifest.model_validate(data, _lines=lines, _source=source)

    chain_tasks = [link.task for link in parent.links]
    if manifest.task in chain_tasks:
        raise ManifestError(
            f"task: a child's task id must differ from every task in its chain "
            f"({', '.join(repr(t) for t in chain_tasks)}); leave it out to derive "
            f"'{own.task}/sub-...' or choose another",
            source=source,
        )

    if manifest.expires_ts > parent_expires:
        if not cap_expiry:
            raise ManifestError(
                f"expires_at: the child would end at {_iso(manifest.expires_ts)}, after its parent "
                f"(task {own.task!r}) at {_iso(parent_expires)}",
                source=source,
            )
        capped = manifest.model_dump(by_alias=True, exclude_unset=True, mode="json")
        capped.pop("ttl", None)
        capped.pop("signature", None)
        capped["expires_at"] = _iso(parent_expires)
        if manifest.issued_at is not None:
            capped["issued_at"] = manifest.issued_at.isoformat().replace("+00:00", "Z")
        manifest = Manifest.model_validate(capped, _source=source)

    problems = (_tool_problems(manifest, parent) + _budget_problems(manifest, parent, store)
                + _rule_problems(manifest, parent, store))
    if problems:
        raise ManifestError(problems, source=source)

    if require_narrower:
        from .._narrowing import narrower

        report = narrower(manifest, own.manifest, budgets=False, expiry=False)
        if report.verdict != "narrower":
            raise ManifestError(
                [f"{f.where}: {f.status}: {f.detail}" for f in report.problems()]
                or ["the child is not provably narrower than its parent"],
                source=source,
            )

    return manifest


def _tool_problems(manifest: Manifest, parent: Chain) -> list[str]:
    problems = []
    for tool in manifest.tools:
        for link in parent.links:
            if tool not in link.tools:
                granted = ", ".join(sorted(link.tools)) or "none"
                problems.append(
                    f"tools.{tool}: a child may name only tools its parent grants; the delegation "
                    f"for task {link.task!r} does not grant {tool!r} (it grants: {granted})"
                )
                break
    return problems


def _budget_problems(manifest: Manifest, parent: Chain, store: BudgetStore) -> list[str]:
    child_scopes = budget_scopes(manifest.compiled())
    if not child_scopes:
        return []
    ancestors = [(link, budget_scopes(link)) for link in parent.links]
    keys = [(link.task, scope) for link, scopes in ancestors for scope in scopes]
    used = dict(zip(keys, store.used(keys), strict=True)) if keys else {}
    problems = []
    for scope, (kind, limit, tools) in sorted(child_scopes.items()):
        for link, scopes in ancestors:
            for a_scope, (a_kind, a_limit, a_tools) in sorted(scopes.items()):
                if a_kind != kind or not tools <= a_tools:
                    continue
                spent = used.get((link.task, a_scope), 0.0)
                remaining = max(a_limit - spent, 0.0)
                if limit > remaining:
                    problems.append(
                        f"{scope_location(scope, kind, tools)}: the child asks for {_num(limit)} but task "
                        f"{link.task!r} has only {_num(remaining)} left of its {a_scope!r} budget "
                        f"({_num(spent)} of {_num(a_limit)} used)"
                    )
    return problems


def _rule_problems(manifest: Manifest, parent: Chain, store: BudgetStore) -> list[str]:
    """A child budget with `per`, `distinct` or `window` larger than the ancestor budget that
    counts the same calls: than what is left of it for a total (a distinct budget's values,
    a plain budget of the same tool), than its limit for a per-value or windowed one (their
    use depends on the value and the time)."""
    child = manifest.compiled()
    problems: list[str] = []
    for tool, ct in child.tools.items():
        for rule in ct.rules:
            if not rule.scope.startswith("tools."):
                continue  # a task budget's window: compared through each tool's plain budgets
            for link in parent.links:
                granted = link.tools.get(tool)
                if granted is None:
                    continue
                for _, left, what in _ancestor_limits(rule, link, granted.rules,
                                                          granted.call_scopes, granted.sum_scopes, store):
                    if rule.limit > left:
                        problems.append(
                            f"tools.{tool}.budget: the child asks for {rule.describe()} but task "
                            f"{link.task!r} allows {what}"
                        )
    return problems


def _ancestor_limits(
    rule: BudgetRule, link: CompiledManifest, rules: tuple[BudgetRule, ...],
    calls: tuple[tuple[str, float], ...], sums: tuple[tuple[str, str, float], ...],
    store: BudgetStore,
) -> list[tuple[float, float, str]]:
    """(limit, what is left, in words) of each ancestor budget of the tool counting what `rule`
    counts."""
    out: list[tuple[float, float, str]] = []
    for a in rules:
        if a.kind != rule.kind or a.arg != rule.arg or (a.per is not None and a.per != rule.per):
            continue
        if a.window and rule.window and rule.window > a.window:
            continue  # not comparable: a longer window may hold more than the ancestor's
        left, what = float(a.limit), a.describe()
        if a.kind == "distinct" and a.per is None and not a.window:
            measure = getattr(store, "measure", None)
            if callable(measure):
                used = measure([Charge(link.task, a.scope, 0, a.limit, 0.0, 0.0, "?")])[0]
                left = max(a.limit - used, 0.0)
                what += f", {_num(left)} of them left ({_num(used)} used)"
        out.append((float(a.limit), left, what))
    if rule.kind in ("calls", "sum") and rule.per is None:
        plain = calls if rule.kind == "calls" else [(s, lim) for arg, s, lim in sums if arg == rule.arg]
        for scope, limit in plain:
            if scope.startswith("tools."):
                used = store.used([(link.task, scope)])[0]
                left = max(limit - used, 0.0)
                out.append((float(limit), left, f"{scope} {_num(limit)} with {_num(left)} left "
                                                f"({_num(used)} used)"))
    return out
