"""A guard's approval request as a `HumanInTheLoopMiddleware` interrupt, and the answer back.

`DelegationMiddleware` pauses a call that asks (outcome `ask`) with LangGraph's `interrupt()`.
The value it pauses with is a `HITLRequest` (one action, the call), and the run resumes with a
`HITLResponse` (one decision), exactly as LangChain's own `HumanInTheLoopMiddleware` in its
default (batched) mode, so a UI built for that middleware reviews these calls unchanged.

Nothing here decides anything: this module only translates. What a reviewer's answer means is
the guard's to decide (an approval is checked and used by the guard; an edited call is decided
from scratch).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from langchain.agents.middleware.human_in_the_loop import (
    ActionRequest,
    DecisionType,
    HITLRequest,
    ReviewConfig,
)

from guardrail import Approval, ApprovalRequest

__all__ = ["ALLOWED_DECISIONS", "Answer", "read_answer", "review_request"]

ALLOWED_DECISIONS: list[DecisionType] = ["approve", "edit", "reject"]
"""What a reviewer may answer. Not `respond` (an answer in place of the tool's result): the
guard approves or refuses calls, it does not make up results."""

# `HumanInTheLoopMiddleware`'s default `description_prefix`, so the text reads the same.
_PREFIX = "Tool execution requires approval"


def review_request(request: ApprovalRequest) -> HITLRequest:
    """The interrupt value for one call that asks: the call (with the arguments as the guard
    checked them, so the reviewer sees what they approve) and why it asks, in the description
    with the request's id."""
    description = (
        f"{_PREFIX}\n\nTool: {request.tool}\nArgs: {request.args}\n"
        f"Reason: ask: {request.reason}\n"
        f"Request: {request.id} (expires {request.expires_at.isoformat()})"
    )
    return HITLRequest(
        action_requests=[ActionRequest(name=request.tool, args=dict(request.args), description=description)],
        review_configs=[ReviewConfig(action_name=request.tool, allowed_decisions=list(ALLOWED_DECISIONS))],
    )


@dataclass(frozen=True)
class Answer:
    """A reviewer's answer to one request, read from the resume value.

    `kind` is `approve`, `reject` or `edit` (then `args` are the edited arguments); an answer
    that cannot be read is a `reject` whose `reason` says what was wrong with it, so a malformed
    answer never runs the call.
    """

    kind: Literal["approve", "reject", "edit"]
    by: str | None = None
    reason: str | None = None
    args: dict[str, Any] | None = None

    def approval(self, request: ApprovalRequest) -> Approval:
        """The answer as the guard takes it (`approval=`), for an approve or a reject."""
        return Approval(
            request_id=request.id, approved=self.kind == "approve", by=self.by, reason=self.reason
        )


def _malformed(problem: str) -> Answer:
    return Answer("reject", reason=f"the review's answer could not be read ({problem}); nothing ran")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def read_answer(resume: object, tool: str) -> Answer:
    """The one decision of a `HITLResponse` (`{"decisions": [decision]}`) for a call of `tool`.

    A decision may also say who decided (`by`, a string; the HITL decisions have no such field,
    so it is optional) and why (`message`, HITL's field on a reject, also read on an approve).
    Anything else than one well-formed approve, reject or edit of the same tool is malformed.
    """
    if not isinstance(resume, Mapping):
        return _malformed(f"expected an object with 'decisions', got {type(resume).__name__}")
    decisions = resume.get("decisions")
    if not isinstance(decisions, list):
        return _malformed("'decisions' must be a list with one decision")
    if len(decisions) != 1:
        return _malformed(f"expected 1 decision for the 1 call under review, got {len(decisions)}")
    decision = decisions[0]
    if not isinstance(decision, Mapping):
        return _malformed(f"a decision must be an object, got {type(decision).__name__}")
    kind = decision.get("type")
    by, message = decision.get("by"), decision.get("message")
    if by is not None and not isinstance(by, str):
        return _malformed("'by' must be a string")
    if message is not None and not isinstance(message, str):
        return _malformed("'message' must be a string")
    if kind == "approve":
        return Answer("approve", by=_text(by), reason=_text(message))
    if kind == "reject":
        return Answer("reject", by=_text(by), reason=_text(message))
    if kind == "edit":
        action = decision.get("edited_action")
        if not isinstance(action, Mapping) or not isinstance(action.get("args"), Mapping):
            return _malformed("an edit needs 'edited_action' with 'name' and 'args' (an object)")
        if action.get("name") != tool:
            # As in HITL's per-call mode, an edit changes the arguments, never the tool.
            return _malformed(f"an edit may change the arguments of {tool!r}, not the tool")
        return Answer("edit", by=_text(by), args=dict(action["args"]))
    allowed = ", ".join(ALLOWED_DECISIONS)
    return _malformed(f"unknown decision type {kind!r}; allowed: {allowed}")
