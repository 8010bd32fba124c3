"""LangChain and LangGraph adapter for task-guardrail.

Two ways to put a delegation manifest in front of an agent's tools; use one per agent:

- `guard_tools(tools, guard)` returns guarded copies of LangChain tools, for any agent or graph
  that runs LangChain tools (`create_agent`, LangGraph's `ToolNode`, your own loop);
- `DelegationMiddleware(guard)` is LangChain v1 agent middleware for
  `langchain.agents.create_agent(..., middleware=[...])`.

Both only translate LangChain's calling convention into `guard.invoke` / `guard.ainvoke`:
every decision is the guard's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_EXTRA = "task-guardrail[langchain]"

try:
    import langchain_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    msg = f"guardrail_langchain needs LangChain, which is not installed: pip install '{_EXTRA}'"
    raise ImportError(msg, name=exc.name) from exc

from ._common import OnDenial, denial_content, denial_message  # noqa: E402
from ._tools import GuardedTool, guard_tools  # noqa: E402

if TYPE_CHECKING:
    from ._middleware import DelegationMiddleware

__all__ = [
    "DelegationMiddleware",
    "GuardedTool",
    "OnDenial",
    "denial_content",
    "denial_message",
    "guard_tools",
]


def __getattr__(name: str) -> Any:
    # The middleware needs the `langchain` package (v1 agents); the tool wrapper only needs
    # `langchain-core`. Import it on first use so `guard_tools` works without `langchain`.
    if name == "DelegationMiddleware":
        try:
            from ._middleware import DelegationMiddleware
        except ImportError as exc:
            if (exc.name or "").partition(".")[0] not in {"langchain", "langgraph"}:
                raise
            msg = (
                "DelegationMiddleware needs LangChain v1 agents (the `langchain` package), "
                f"which is not installed: pip install '{_EXTRA}'"
            )
            raise ImportError(msg, name=exc.name) from exc
        return DelegationMiddleware
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
