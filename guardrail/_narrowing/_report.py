"""The narrowing report: one `Finding` per comparison, gathered in a `NarrowerReport` with a verdict.

The verdict is `narrower` (exit 0), `not narrower` (exit 1, when anything is wider) or `unprovable`
(exit 4): the numbers of the CLI's one `ExitCode` table. A `note` says something the verdict does
not depend on (a child that drops a parent's `ask` still asks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from .._exit import ExitCode
from .._text import short

__all__ = ["NO_VALUE", "Finding", "NarrowerReport", "NoValue", "Status", "json_text"]

Status = Literal["ok", "wider", "unprovable", "note"]
Verdict = Literal["narrower", "not_narrower", "unprovable"]


_EXIT: dict[Verdict, ExitCode] = {
    "narrower": ExitCode.OK, "not_narrower": ExitCode.FAILED, "unprovable": ExitCode.UNPROVABLE,
}


class NoValue:
    """The type of `NO_VALUE`: no counterexample, or not computed yet (None is a value)."""

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE: Any = NoValue()


@dataclass(frozen=True)
class Finding:
    """One comparison: where (e.g. `tools.send_refund.args.amount`), what was checked (the
    parent's constraint as written), the outcome, why, and a counterexample when wider."""

    status: Status
    where: str
    check: str
    detail: str
    counterexample: Any = NO_VALUE

    @property
    def has_counterexample(self) -> bool:
        return self.counterexample is not NO_VALUE

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status, "where": self.where, "check": self.check, "detail": self.detail,
        }
        if self.has_counterexample:
            out["counterexample"] = self.counterexample
        return out


@dataclass
class NarrowerReport:
    child_task: str
    parent_task: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        statuses = {f.status for f in self.findings}
        if "wider" in statuses:
            return "not_narrower"
        if "unprovable" in statuses:
            return "unprovable"
        return "narrower"

    @property
    def narrower(self) -> bool:
        return self.verdict == "narrower"

    @property
    def exit_code(self) -> ExitCode:
        return _EXIT[self.verdict]

    def problems(self) -> list[Finding]:
        """The wider findings first, then the unprovable ones."""
        return [f for f in self.findings if f.status == "wider"] + [
            f for f in self.findings if f.status == "unprovable"
        ]

    def by_status(self, status: Status) -> list[Finding]:
        return [f for f in self.findings if f.status == status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "child_task": self.child_task,
            "parent_task": self.parent_task,
            "findings": [
                f.to_dict() for f in self.problems() + self.by_status("note") + self.by_status("ok")
            ],
        }

    def format(self, *, child_name: str = "child", parent_name: str = "parent",
               show_ok: bool = True) -> str:
        head = {
            "narrower": f"NARROWER: every call {child_name} allows is allowed by {parent_name}",
            "not_narrower": f"NOT NARROWER: {child_name} allows calls {parent_name} denies",
            "unprovable": f"UNPROVABLE: {child_name} could not be proven narrower than "
                          f"{parent_name} (nothing wider was found)",
        }[self.verdict]
        lines = [head]
        shown = self.problems() + self.by_status("note") + (self.by_status("ok") if show_ok else [])
        for f in shown:
            lines.append(f"  {f.status:<11} {f.where}" + (f"  [{f.check}]" if f.check else ""))
            if f.detail:
                lines.append(f"              {f.detail}")
            if f.has_counterexample:
                lines.append(f"              counterexample: {json_text(f.counterexample)}")
        return "\n".join(lines)


def json_text(value: Any, limit: int = 300) -> str:
    """`value` as compact JSON, cut to `limit` characters."""
    return short(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str), limit)
