"""The OpenTelemetry names guardrail writes: span and event attributes, metric instruments.

The GenAI constants in opentelemetry-semantic-conventions are incubating (and marked deprecated),
so the names are defined here once.
"""

from __future__ import annotations

__all__ = [
    "APPROVAL_BY",
    "APPROVAL_ID",
    "APPROVAL_OUTCOME",
    "CHECK_DURATION",
    "DECISION",
    "DECISIONS_COUNTER",
    "DELEGATION_CHAIN",
    "DELEGATION_DEPTH",
    "DENIAL_ARGUMENT",
    "DENIAL_BUDGET_LIMIT",
    "DENIAL_BUDGET_SCOPE",
    "DENIAL_BUDGET_USED",
    "DENIAL_CODE",
    "DENIAL_CONSTRAINT",
    "DENIAL_DEPTH",
    "DENIAL_EVENT",
    "DENIAL_FOUND_IN_CALL_ID",
    "DENIAL_FOUND_IN_TOOL",
    "DENIAL_MESSAGE",
    "ERROR_TYPE",
    "EXECUTE_TOOL",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_TOOL_CALL_ARGUMENTS",
    "GEN_AI_TOOL_CALL_ID",
    "GEN_AI_TOOL_NAME",
    "INSTRUMENTATION_NAME",
    "MANIFEST_DIGEST",
    "MODE",
    "OTHER_TOOL",
    "PRINCIPAL",
    "TASK",
]

INSTRUMENTATION_NAME = "guardrail"

# GenAI semantic conventions
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
ERROR_TYPE = "error.type"
EXECUTE_TOOL = "execute_tool"

# guardrail's own
DECISION = "guardrail.decision"
TASK = "guardrail.task"
PRINCIPAL = "guardrail.principal"
MANIFEST_DIGEST = "guardrail.manifest.digest"
MODE = "guardrail.mode"
DENIAL_CODE = "guardrail.denial.code"
DENIAL_ARGUMENT = "guardrail.denial.argument"
DENIAL_CONSTRAINT = "guardrail.denial.constraint"
DENIAL_MESSAGE = "guardrail.denial.message"
DENIAL_BUDGET_SCOPE = "guardrail.denial.budget.scope"
DENIAL_BUDGET_LIMIT = "guardrail.denial.budget.limit"
DENIAL_BUDGET_USED = "guardrail.denial.budget.used"
DENIAL_DEPTH = "guardrail.denial.depth"
# argument_untrusted: the tool (and its call) whose recorded result held the value; never the value.
DENIAL_FOUND_IN_TOOL = "guardrail.denial.found_in.tool"
DENIAL_FOUND_IN_CALL_ID = "guardrail.denial.found_in.call_id"
DELEGATION_DEPTH = "guardrail.delegation.depth"
DELEGATION_CHAIN = "guardrail.delegation.chain"
DENIAL_EVENT = "guardrail.denial"
# approvals (outcome `ask`): the request, what became of it, who answered
APPROVAL_ID = "guardrail.approval.id"
APPROVAL_OUTCOME = "guardrail.approval.outcome"  # approved, rejected, pending, expired
APPROVAL_BY = "guardrail.approval.by"

# metrics
DECISIONS_COUNTER = "guardrail.decisions"
CHECK_DURATION = "guardrail.check.duration"
OTHER_TOOL = "_not_granted_"  # metric attribute for tools outside the manifest: bounded cardinality
