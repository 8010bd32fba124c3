"""Comparing the arguments of one tool: for each argument and parent component, proven (`ok`),
`wider` with the argument's value in a counterexample, or `unprovable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._algebra import ArgsSpec, Side, parent_components, proves
from ._candidates import candidates, fails, first
from ._report import NO_VALUE, Status, json_text


@dataclass
class Item:
    """A finding about one argument, before it becomes a whole-call counterexample."""

    status: Status
    arg: str | None
    check: str
    detail: str
    value: Any = NO_VALUE  # the argument's value in the counterexample
    absent: bool = False  # the counterexample leaves the argument out
    other: bool = False  # the counterexample adds an argument the parent does not name


def compare_args(child: ArgsSpec, parent: ArgsSpec) -> list[Item]:
    """Every finding about the arguments (the proof alone is `_algebra._args_proven`)."""
    items: list[Item] = []
    names = sorted(set(child.args) | set(parent.args) | set(child.implicit) | set(parent.implicit))
    for name in names:
        if parent.requires(name) and not child.requires(name):
            items.append(Item(
                "wider", name, "required: true",
                f"the parent requires argument {name!r}; the child lets a call leave it out",
                absent=True,
            ))
        if not child.grants(name):
            if name in parent.args:
                items.append(Item("ok", name, "", "the child does not grant this argument"))
            continue
        if not parent.grants(name):
            detail = f"the child grants argument {name!r}, which the parent does not"
            side = Side(child.constraints(name), nullable=False)
            value = first(side.accepts, candidates(side.constraints))
            if value is NO_VALUE:
                items.append(Item("unprovable", name, "",
                                  detail + "; no value the child accepts for it was found"))
            else:
                items.append(Item("wider", name, "", detail, value=value))
            continue
        parents = parent.constraints(name)
        side = Side(child.constraints(name), nullable=False)
        p_comps = parent_components(parents)
        if not p_comps:
            items.append(Item("ok", name, "", "the parent does not constrain it"))
            continue
        pool: list[Any] | None = None
        for p in p_comps:
            if all(proves(b, p) for b in side.branches):
                items.append(Item("ok", name, p.label, f"child: {side.text}"))
                continue
            if pool is None:
                pool = candidates([*side.constraints, *parents])
            witness = first(fails(side, p.rule), pool)
            if witness is not NO_VALUE:
                items.append(Item(
                    "wider", name, p.label,
                    f"the child accepts {json_text(witness, 120)}, which fails {p.label}",
                    value=witness,
                ))
            else:
                hint = p.kind.hint or next(
                    (c.kind.hint for b in side.branches for c in b.comps if c.kind.hint), ""
                )
                items.append(Item(
                    "unprovable", name, p.label,
                    f"cannot prove that every value the child allows ({side.text}) satisfies "
                    f"{p.label}, and no counterexample was found{hint}",
                ))
    if child.allow_other and not parent.allow_other:
        items.append(Item(
            "wider", None, "allow_other_args: false",
            "the child allows arguments it does not name (allow_other_args: true); the parent "
            "does not",
            other=True,
        ))
    return items
