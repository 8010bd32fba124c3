"""`guardrail init --langchain MODULE:ATTR`: the tool specs of LangChain tools, as the model sees
them (`convert_to_openai_tool`: name, description and the arguments' JSON Schema, without
injected arguments). Registered in the entry point group `guardrail.tool_sources`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

__all__ = ["tool_specs"]


def tool_specs(target: Any, where: str) -> list[dict[str, Any]]:
    """`{"name", "description", "parameters"}` for a LangChain tool, or a list, tuple or dict of
    them. Anything else is a TypeError naming `where`."""
    if isinstance(target, BaseTool):
        tools = [target]
    elif isinstance(target, Mapping):
        tools = list(target.values())
    elif isinstance(target, list | tuple):
        tools = list(target)
    else:
        raise TypeError(f"{where} is a {type(target).__name__}, not a LangChain tool or a list of them")
    specs = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, BaseTool):
            raise TypeError(f"{where}[{i}] is a {type(tool).__name__}, not a LangChain tool")
        function = convert_to_openai_tool(tool)["function"]
        specs.append({
            "name": function["name"],
            "description": function.get("description", ""),
            "parameters": function.get("parameters", {}),
        })
    return specs
