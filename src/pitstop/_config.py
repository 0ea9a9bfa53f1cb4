"""`AgentConfig`: how the agent loop behaves."""

from __future__ import annotations

from pydantic import Field

from pitstop._strict import StrictModel

__all__ = ["DEFAULT_SYSTEM_PROMPT", "AgentConfig"]

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Call the tools you need; call independent tools in the "
    "same turn so they run in parallel. Answer concisely."
)


class AgentConfig(StrictModel):
    """Settings of the agent loop. Unknown fields are an error."""


    max_iterations: int = Field(10, ge=1)
    """Model turns per task before the agent stops with an error."""
    tool_timeout: float | None = Field(None, gt=0)
    """Seconds a tool call may take, for tools without a timeout of their own (None: no limit)."""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    """The first message of every prompt."""
    max_concurrency: int = Field(10, ge=1)
    """Tool calls of one model turn that run at once."""
    max_output_tokens: int = Field(1024, ge=1)
    """The most tokens one model call may write (also what a token limit reserves for it)."""
    model_timeout: float | None = Field(None, gt=0, allow_inf_nan=False)
    """Seconds one model call may take, from the request to its last chunk, for any
    `LLMClient` (None: only the client's own deadlines, e.g. `OpenAIClient`'s ``timeout``
    and ``idle_timeout``). Time the agent spends handing a delta on is not counted.
    Raises `LLMTimeoutError`, which fails the task."""
    eager_tools: bool = True
    """Start each tool call the moment the model's stream completes it, while the model
    still writes the next one. Only tools without side effects (``cacheable=True``, the
    default) start early; a ``cacheable=False`` tool waits for the turn's end, so it never
    runs for a model answer that fails part-way. False: every tool waits for the turn's end."""
