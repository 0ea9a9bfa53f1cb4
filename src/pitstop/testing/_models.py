"""`ScriptedLLM`: a model that answers with a script, one turn per model call of a task."""

from __future__ import annotations

import asyncio

from pitstop.errors import ConfigError
from pitstop.llm._base import LLMResponse, Message, ToolSpec
from pitstop.llm._function import FunctionLLM, Sleep
from pitstop.llm._pricing import PriceLike, Pricing

__all__ = ["ScriptedLLM"]


class ScriptedLLM(FunctionLLM):
    """A `FunctionLLM` that answers each task with `turns`, in order, and records requests.

    The k-th model call of a task (k counts the assistant messages after the task's
    user message) gets ``turns[k]``; once the script runs out, the last turn repeats.
    So ``ScriptedLLM(LLMResponse(tool_calls=[...]), "done")`` asks for the tools, then
    answers ``"done"``, for every task it is given::

        llm = ScriptedLLM(LLMResponse(tool_calls=[ToolCall("search", {"query": "x"})]), "done")
        agent = HybridAgent("a", llm, tools=["search"])
        await agent.execute_task("look it up")
        assert [m.role for m in llm.requests[1]][-2:] == ["assistant", "tool"]

    Args:
        turns: each an `LLMResponse` or a plain text answer.
        time_to_first_token, tokens_per_second, sleep: the pacing, as for `FunctionLLM`.
        price_as, price: how its usage is priced, as for `FunctionLLM` (by default it is
            not: cost None).
    """

    def __init__(
        self,
        *turns: LLMResponse | str,
        time_to_first_token: float = 0.0,
        tokens_per_second: float | None = None,
        model: str = "scripted-llm",
        price_as: str | None = None,
        price: PriceLike | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not turns:
            raise ConfigError(
                "ScriptedLLM needs at least one turn, e.g. ScriptedLLM('the answer')."
            )
        self.turns = turns
        self.requests: list[list[Message]] = []
        """The messages of every call, oldest first."""
        super().__init__(
            self._answer,
            time_to_first_token=time_to_first_token,
            tokens_per_second=tokens_per_second,
            model=model,
            sleep=sleep,
        )
        self.pricing = Pricing(price_as, price)  # a made-up model name is not a price

    def __repr__(self) -> str:
        return f"ScriptedLLM({len(self.turns)} turns)"

    def _answer(self, messages: list[Message], tools: list[ToolSpec]) -> LLMResponse | str:
        self.requests.append(messages)
        last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
        turn = sum(1 for m in messages[last_user + 1 :] if m.role == "assistant")
        return self.turns[min(turn, len(self.turns) - 1)]
