"""A scripted Agents SDK model (no network) and helpers to read what the model was shown."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from agents import (
    Agent,
    AgentOutputSchemaBase,
    Handoff,
    Model,
    ModelResponse,
    ModelSettings,
    ModelTracing,
    RunConfig,
    Runner,
    RunResult,
    Tool,
    TResponseInputItem,
    Usage,
)
from agents.items import TResponseOutputItem, TResponseStreamEvent
from agents.testing import assistant_message, function_call

__all__ = ["ScriptModel", "assistant_message", "call", "run", "tool_outputs"]

RUN_CONFIG = RunConfig(tracing_disabled=True)


def call(name: str, arguments: dict[str, Any] | str, call_id: str) -> TResponseOutputItem:
    return function_call(name, arguments, call_id=call_id)


class ScriptModel(Model):
    """Plays back one list of output items per model turn and keeps every input it was given."""

    def __init__(self, turns: Sequence[Sequence[TResponseOutputItem]]) -> None:
        self.turns = [list(turn) for turn in turns]
        self.inputs: list[list[Any]] = []
        self.tools: list[list[Tool]] = []

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: Any | None,
    ) -> ModelResponse:
        self.inputs.append([input] if isinstance(input, str) else list(input))
        self.tools.append(list(tools))
        if not self.turns:
            raise AssertionError("the model was called more often than scripted")
        return ModelResponse(output=self.turns.pop(0), usage=Usage(), response_id=None)

    def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: Any | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        raise NotImplementedError("streaming is not scripted")


def tool_outputs(model: ScriptModel) -> dict[str, Any]:
    """call_id -> the tool output the model was shown, across all turns."""
    outputs: dict[str, Any] = {}
    for turn in model.inputs:
        for item in turn:
            if isinstance(item, dict) and item.get("type") == "function_call_output":
                outputs[item["call_id"]] = item["output"]
    return outputs


async def run(agent: Agent[Any], prompt: str = "go") -> RunResult:
    return await Runner.run(agent, prompt, run_config=RUN_CONFIG)
