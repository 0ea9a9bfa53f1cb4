"""`FunctionLLM`: a model whose answers come from a function you write (the test double)."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from pitstop.errors import ConfigError, LLMError
from pitstop.llm._base import LLMResponse, Message, StreamItem, ToolSpec, Usage, check_pacing
from pitstop.llm._pricing import PriceLike, Pricing
from pitstop.llm._tokens import count_message_tokens, count_tokens, split_tokens

__all__ = ["FunctionLLM", "Responder", "Sleep"]

Responder = Callable[
    [list[Message], list[ToolSpec]], "LLMResponse | str | Awaitable[LLMResponse | str]"
]
"""What `FunctionLLM` calls: ``fn(messages, tools)``, sync or async."""

Sleep = Callable[[float], Awaitable[None]]
"""How a simulated model waits: `asyncio.sleep`, or a fake clock's ``sleep`` in tests."""


class FunctionLLM:
    """A model that answers with ``fn(messages, tools)``, streamed like a real one.

    ``fn`` (sync or async) returns an `LLMResponse` or a plain string. Its text is
    streamed word by word, then its tool calls, then the usage (estimated when the
    response gives none). Like pydantic-ai's ``FunctionModel``: the way to script a
    model in tests.

    Args:
        fn: the function that answers.
        time_to_first_token: seconds before the first delta.
        tokens_per_second: pace of the text deltas (None: all at once).
        model: the name reported in spans and used for token counting.
        price_as: a model name whose price (from genai-prices or `set_price`) this
            model's usage is billed at, e.g. ``"gpt-4o-mini"`` (None: `model` when you
            set one, else unpriced: cost None).
        price: an explicit `Price` (or ``{"input": ..., "output": ...}`` per million
            tokens) instead of a looked-up one.
        sleep: how the pacing waits; `pitstop.testing.FakeClock.sleep` makes a paced
            model run on fake time in tests.
    """

    def __init__(
        self,
        fn: Responder,
        *,
        time_to_first_token: float = 0.0,
        tokens_per_second: float | None = None,
        model: str = "function-llm",
        price_as: str | None = None,
        price: PriceLike | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not callable(fn):
            raise ConfigError(f"FunctionLLM needs a function fn(messages, tools), got {fn!r}.")
        check_pacing("FunctionLLM", time_to_first_token, tokens_per_second)
        self.fn = fn
        self.time_to_first_token = time_to_first_token
        self.tokens_per_second = tokens_per_second
        self.model = model
        if price_as is None and model != "function-llm":
            price_as = model
        self.pricing = Pricing(price_as, price)
        """How this model's calls are priced."""
        self.sleep = sleep
        self.calls = 0
        """How many times the model was called."""

    def __repr__(self) -> str:
        return f"FunctionLLM({getattr(self.fn, '__name__', self.fn)!r})"

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        max_tokens: int | None = None,
    ) -> AsyncIterator[StreamItem]:
        self.calls += 1
        answer = self.fn(list(messages), list(tools))
        if inspect.isawaitable(answer):
            answer = await answer
        if isinstance(answer, str):
            answer = LLMResponse(text=answer)
        if not isinstance(answer, LLMResponse):
            raise LLMError(
                f"FunctionLLM's function must return an LLMResponse or a str, got {answer!r}."
            )
        if self.time_to_first_token:
            await self.sleep(self.time_to_first_token)
        pieces = split_tokens(answer.text) if answer.text else []
        if max_tokens is not None:
            pieces = pieces[:max_tokens]
        delay = 1.0 / self.tokens_per_second if self.tokens_per_second else 0.0
        for piece in pieces:
            if delay:
                await self.sleep(delay)
            yield piece
        for call in answer.tool_calls:
            yield call
        usage = answer.usage
        if usage is None:
            usage = Usage(
                count_message_tokens(messages, self.model),
                count_tokens(answer.text, self.model)
                + sum(count_tokens(str(dict(c.arguments))) for c in answer.tool_calls),
            )
        if usage.cost is None and self.pricing.enabled:
            cost = self.pricing.cost(
                usage.input_tokens, usage.output_tokens, usage.cached_input_tokens
            )
            usage = dataclasses.replace(usage, cost=cost)
        yield usage
