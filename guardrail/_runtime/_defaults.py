"""Defaults a tool runs with, checked like passed values.

A value a tool uses when an argument is left out (a Python default, a schema default a framework
fills in) is added to the checked arguments where some manifest of the chain constrains it, so
`amount=1000` cannot slip past `max: 50` (or a sum budget, or a parent's constraint) by being
left out. A tool with a `when` condition gets every default its rules let through (the
condition may read any argument). What was passed is never replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._policy import ArgsRule, Fields
from ._chain import Chain

__all__ = ["with_defaults"]


def with_defaults(
    chain: Chain, tool: str, args: Mapping[str, Any], defaults: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A copy of `args` completed by the `defaults` the chain constrains: optional arguments a
    link names, sums in a budget, and keys inside a `fields` constraint, at any depth."""
    out = dict(args)
    if not isinstance(tool, str) or not defaults:
        return out
    grants = [link.tools[tool] for link in chain.grants(tool)]
    sums = {arg for compiled in grants for arg in compiled.budget_args}
    rules = [compiled.args for compiled in grants]
    if any(compiled.condition is not None for compiled in grants):
        # A `when` may read any argument: it sees every default the rules let through, so
        # `!has(args.amount) || ...` cannot pass a call that runs with a default it never saw.
        sums |= {
            name for name in defaults if isinstance(name, str)
            and all(rule.allow_other or name in rule.names for rule in rules)
        }
    return _fill(out, defaults, rules, sums)


def _fill(
    args: dict[str, Any], defaults: Mapping[str, Any], rules: list[ArgsRule],
    extra: set[str] | frozenset[str] = frozenset(),
) -> dict[str, Any]:
    # A default is added where some rule names the key (or a sum budget counts it) and no rule
    # requires it (left out, a required argument is `argument_missing`, not its default). Inside
    # an object that a `fields` constraint checks, the same again, one level down.
    for name, value in defaults.items():
        if value is None or not isinstance(name, str):
            continue
        if name not in args:
            named = name in extra or any(name in rule.names for rule in rules)
            if named and not any(name in rule.required for rule in rules):
                args[name] = value
            continue
        current = args[name]
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            inner = [
                part.args
                for rule in rules for arg, sub in rule.rules if arg == name
                for part in sub.structural if isinstance(part, Fields)
            ]
            if inner:
                args[name] = _fill(dict(current), value, inner)
    return args
