"""Guard OpenAI Agents SDK function tools with a delegation manifest.

* :func:`guard_function_tools` returns copies of your ``FunctionTool``s (same name,
  description and JSON schema) whose invocation is authorized by a
  :class:`guardrail.Guard` first, inside the guard's ``execute_tool`` span. Tools with a
  manifest ``ask`` rule get a ``needs_approval`` the guard decides, so a call a person must
  approve interrupts the run and resumes through ``RunState.approve`` / ``reject``.
* :func:`delegation_input_guardrail` builds a ``ToolInputGuardrail`` from a guard, for
  those who prefer the SDK's own tool-guardrail mechanism, and
  :func:`delegation_output_guardrail` a ``ToolOutputGuardrail`` that records tool outputs for
  provenance checks alongside it.

The adapter holds no policy: every decision is the guard's.
"""

from __future__ import annotations

try:
    import agents as _agents  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "guardrail_openai_agents needs the OpenAI Agents SDK (openai-agents). "
        "Install it with: pip install 'task-guardrail[openai-agents]'"
    ) from exc

from guardrail_openai_agents._tools import (
    OnDenial,
    OnGuardrailDenial,
    delegation_input_guardrail,
    delegation_output_guardrail,
    denial_output,
    guard_function_tool,
    guard_function_tools,
)

__all__ = [
    "OnDenial",
    "OnGuardrailDenial",
    "delegation_input_guardrail",
    "delegation_output_guardrail",
    "denial_output",
    "guard_function_tool",
    "guard_function_tools",
]
