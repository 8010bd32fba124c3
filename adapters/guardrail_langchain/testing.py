"""A scripted chat model, to run a LangChain agent against a manifest without an LLM.

```python
model = ScriptedChatModel(responses=[
    AIMessage("", tool_calls=[{"name": "read_ticket", "args": {"ticket_id": "T-1"}, "id": "c1"}]),
    AIMessage("Done."),
])
agent = create_agent(model, guard_tools(tools, guard))
```

Each model call returns the next scripted turn (an `AIMessage`, or a function of the messages
the model received that returns one). `received` keeps the messages of every call and
`bound_tools` the tool schemas the agent bound, so a test can assert what the model saw.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr, SkipValidation

__all__ = ["ScriptedChatModel", "Turn"]

Turn = AIMessage | Callable[[list[BaseMessage]], AIMessage]
"""One scripted model turn: a message, or a function of the conversation so far."""


class ScriptedChatModel(BaseChatModel):
    """A chat model that replays scripted turns and records what it was sent."""

    responses: Annotated[Sequence[Turn], SkipValidation()]
    """The turns, in order. Running past the last one is an error."""

    _next: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _received: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _bound_tools: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def received(self) -> list[list[BaseMessage]]:
        """The messages of every model call so far, in order."""
        return self._received

    @property
    def bound_tools(self) -> list[dict[str, Any]]:
        """The OpenAI-format schemas of the tools last bound with `bind_tools`."""
        return self._bound_tools

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        self._bound_tools = [convert_to_openai_tool(t) for t in tools]
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:
            turn_index = self._next
            if turn_index >= len(self.responses):
                msg = (
                    f"ScriptedChatModel ran out of turns: it was called {turn_index + 1} times "
                    f"and has {len(self.responses)} scripted responses"
                )
                raise RuntimeError(msg)
            self._next += 1
            self._received.append(list(messages))
        turn = self.responses[turn_index]
        message = turn if isinstance(turn, AIMessage) else turn(list(messages))
        if any(call.get("id") is None for call in message.tool_calls):
            calls = [
                {**call, "id": call.get("id") or f"call_{turn_index}_{i}"}
                for i, call in enumerate(message.tool_calls)
            ]
            message = message.model_copy(update={"tool_calls": calls})
        return ChatResult(generations=[ChatGeneration(message=message)])
