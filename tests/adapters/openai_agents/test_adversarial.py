"""Nested defaults declared in a JSON Schema ($ref included) are checked where `fields` constrains them:
through an Agents SDK function tool."""

from __future__ import annotations

import pytest
from agents import function_tool
from pydantic import BaseModel

from guardrail import Guard, MemoryStore
from guardrail.testing import task_id


class Options(BaseModel):
    limit: int = 1000
    verbose: bool = False


def _guard() -> Guard:
    manifest = {"task": task_id("nested"), "ttl": "5m", "tools": {"export": {"args": {
        "queue": {}, "options": {"fields": {"limit": {"type": "integer", "max": 50}, "verbose": {}}},
    }}}}
    return Guard(manifest, store=MemoryStore())


@pytest.mark.asyncio
async def test_agents_sdk_nested_model_default_is_checked() -> None:
    from guardrail_openai_agents import guard_function_tools

    ran: list[int] = []

    @function_tool(strict_mode=False)
    def export(queue: str, options: Options) -> str:
        """Export rows of a queue."""
        ran.append(options.limit)
        return "exported"

    [guarded] = guard_function_tools([export], _guard())
    from agents.tool_context import ToolContext

    ctx = ToolContext(context=None, tool_name="export", tool_call_id="c1", tool_arguments="{}")
    out = await guarded.on_invoke_tool(ctx, '{"queue": "q", "options": {}}')
    assert ran == [] and "options.limit" in str(out)
    ctx2 = ToolContext(context=None, tool_name="export", tool_call_id="c2", tool_arguments="{}")
    assert await guarded.on_invoke_tool(ctx2, '{"queue": "q", "options": {"limit": 5}}') == "exported"
    assert ran == [5]
