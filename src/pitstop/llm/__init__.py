"""Models: the LLMClient protocol, messages, SimulatedLLM, FunctionLLM, OpenAIClient.

`OpenAIClient` and `LocalModel` load the ``openai`` package on first use only.
"""

from __future__ import annotations

from typing import Any

from pitstop.llm._base import (
    LLMClient,
    LLMResponse,
    Message,
    RateLimitInfo,
    StreamItem,
    ToolCall,
    ToolSpec,
    Usage,
)
from pitstop.llm._function import FunctionLLM
from pitstop.llm._pricing import Price, set_price
from pitstop.llm._simulated import SimulatedLLM

__all__ = [
    "FunctionLLM",
    "LLMClient",
    "LLMResponse",
    "LocalModel",
    "Message",
    "OpenAIClient",
    "Price",
    "RateLimitInfo",
    "SimulatedLLM",
    "StreamItem",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "set_price",
]


def __getattr__(name: str) -> Any:
    if name == "OpenAIClient":
        from pitstop.llm._openai import OpenAIClient

        return OpenAIClient
    if name == "LocalModel":
        from pitstop.llm._local import LocalModel

        return LocalModel
    raise AttributeError(f"module 'pitstop.llm' has no attribute {name!r}")
