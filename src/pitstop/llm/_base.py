"""Messages, responses and the `LLMClient` protocol every model speaks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeGuard, runtime_checkable

__all__ = [
    "LLMClient",
    "LLMResponse",
    "Message",
    "RateLimitInfo",
    "Role",
    "StreamItem",
    "ToolCall",
    "ToolSpec",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to call one tool."""

    name: str
    """The tool's registered name."""
    arguments: Mapping[str, Any]
    """The arguments, as the model wrote them (not yet validated)."""
    id: str | None = None
    """The provider's id for this call; pitstop fills one in when the model gives none."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts and cost of one model call (or a sum of several), as the provider
    reported them."""

    input_tokens: int = 0
    """Prompt tokens, cached ones included (OpenAI's ``prompt_tokens``)."""
    output_tokens: int = 0
    """Completion tokens, reasoning ones included (OpenAI's ``completion_tokens``)."""
    cached_input_tokens: int = 0
    """Prompt tokens the provider served from its prompt cache, billed at a discount
    (``prompt_tokens_details.cached_tokens``); part of `input_tokens`."""
    reasoning_tokens: int = 0
    """Output tokens spent on hidden reasoning
    (``completion_tokens_details.reasoning_tokens``); part of `output_tokens`."""
    cost: float | None = None
    """Dollars, priced by the client (`pitstop.llm.Price`); None when the price is unknown."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def cached_share(self) -> float:
        """The share of the prompt served from the provider's cache (0.0 to 1.0)."""
        return self.cached_input_tokens / self.input_tokens if self.input_tokens else 0.0

    def __add__(self, other: Usage) -> Usage:
        cost = (
            None if self.cost is None or other.cost is None else self.cost + other.cost
        )
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            cost,
        )


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation."""

    role: Role
    """``system``, ``user``, ``assistant`` or ``tool``."""
    content: str = ""
    """The text; for a ``tool`` message, the tool's result as text."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The tool calls an ``assistant`` message asks for."""
    tool_call_id: str | None = None
    """For a ``tool`` message: the id of the call it answers."""
    name: str | None = None
    """For a ``tool`` message: the tool's name."""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What a model is told about a tool."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    """A JSON schema of the arguments (``{"type": "object", "properties": ...}``)."""

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


@dataclass(slots=True)
class LLMResponse:
    """A complete model answer: what `FunctionLLM`'s function returns."""

    text: str = ""
    """The answer's text (empty when the model only calls tools)."""
    tool_calls: list[ToolCall] = field(default_factory=list)
    """The tools to call before the model speaks again."""
    usage: Usage | None = None
    """Token counts; estimated from the text when None."""


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """Rate-limit facts a provider reported, for the Governor to adapt to.

    Every field is None when the provider did not say.
    """

    remaining_tokens: int | None = None
    """``x-ratelimit-remaining-tokens``."""
    reset_tokens_s: float | None = None
    """``x-ratelimit-reset-tokens``, in seconds."""
    retry_after_s: float | None = None
    """``Retry-After`` of a 429 answer, in seconds."""
    limit_tokens: int | None = None
    """``x-ratelimit-limit-tokens``: the tokens-per-minute quota."""
    limit_requests: int | None = None
    """``x-ratelimit-limit-requests``: the requests-per-minute quota."""
    remaining_requests: int | None = None
    """``x-ratelimit-remaining-requests``."""
    reset_requests_s: float | None = None
    """``x-ratelimit-reset-requests``, in seconds."""


StreamItem = str | ToolCall | Usage
"""What `LLMClient.stream` yields: a text delta, a complete tool call, or the usage."""


@runtime_checkable
class LLMClient(Protocol):
    """The one interface pitstop needs from a model.

    `stream` yields text deltas (``str``) as they arrive, each complete `ToolCall`,
    and at most one `Usage` (normally last). It must be cancellable at any ``await``.
    """

    model: str
    """A model name, used for token counting and in spans."""

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        max_tokens: int | None = None,
    ) -> AsyncIterator[StreamItem]: ...


def is_number(value: object) -> TypeGuard[float]:
    """True for a real int or float: not a bool, not NaN."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def check_pacing(owner: str, time_to_first_token: object, tokens_per_second: object) -> None:
    """Refuse a simulated model's pace that would fail later, naming it and the fix.

    Raises:
        ConfigError: `time_to_first_token` is not finite seconds >= 0, or
            `tokens_per_second` is neither None (no pacing) nor a rate > 0.
    """
    from pitstop.errors import ConfigError

    if not is_number(time_to_first_token) or not 0 <= time_to_first_token < float("inf"):
        raise ConfigError(
            f"{owner}(time_to_first_token=...) takes seconds >= 0, got "
            f"{time_to_first_token!r:.60}; use 0 for no delay."
        )
    if tokens_per_second is not None and (
        not is_number(tokens_per_second) or not tokens_per_second > 0
    ):
        raise ConfigError(
            f"{owner}(tokens_per_second=...) takes a rate > 0, or None for no delay between "
            f"tokens; got {tokens_per_second!r:.60}."
        )
