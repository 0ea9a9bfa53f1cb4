"""Models: the LLMClient protocol, messages, SimulatedLLM, FunctionLLM, OpenAIClient.

Names load on first use (`pitstop._lazy`); `OpenAIClient` and `LocalModel` load the
``openai`` package only then.
"""

from typing import TYPE_CHECKING

from pitstop import _lazy

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

__getattr__, __dir__ = _lazy.attach(
    __name__,
    {
        "LLMClient": "pitstop.llm._base",
        "LLMResponse": "pitstop.llm._base",
        "Message": "pitstop.llm._base",
        "RateLimitInfo": "pitstop.llm._base",
        "StreamItem": "pitstop.llm._base",
        "ToolCall": "pitstop.llm._base",
        "ToolSpec": "pitstop.llm._base",
        "Usage": "pitstop.llm._base",
        "FunctionLLM": "pitstop.llm._function",
        "SimulatedLLM": "pitstop.llm._simulated",
        "OpenAIClient": "pitstop.llm._openai",
        "LocalModel": "pitstop.llm._local",
        "Price": "pitstop.llm._pricing",
        "set_price": "pitstop.llm._pricing",
    },
)

if TYPE_CHECKING:  # pragma: no cover - the same table, for type checkers and IDEs
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
    from pitstop.llm._local import LocalModel
    from pitstop.llm._openai import OpenAIClient
    from pitstop.llm._pricing import Price, set_price
    from pitstop.llm._simulated import SimulatedLLM
