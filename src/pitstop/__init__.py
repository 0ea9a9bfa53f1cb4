"""pitstop: a fast async LLM agent whose performance features are real and measured.

Everything public is importable from here. Submodules load on first use, so
``import pitstop`` stays cheap (no pandas, matplotlib, ipywidgets or SDKs).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # agent
    "HybridAgent": "pitstop.agent",
    "AgentConfig": "pitstop.config",
    # tools
    "Tool": "pitstop.tools.base",
    "tool": "pitstop.tools.base",
    "ToolRegistry": "pitstop.tools.base",
    "default_registry": "pitstop.tools.base",
    # models
    "LLMClient": "pitstop.llm.base",
    "LLMResponse": "pitstop.llm.base",
    "Message": "pitstop.llm.base",
    "ToolCall": "pitstop.llm.base",
    "ToolSpec": "pitstop.llm.base",
    "Usage": "pitstop.llm.base",
    "FunctionLLM": "pitstop.llm.function",
    "SimulatedLLM": "pitstop.llm.simulated",
    "OpenAIClient": "pitstop.llm.openai",
    "LocalModel": "pitstop.llm.local",
    # caching
    "CacheConfig": "pitstop.cache.config",
    "ToolCache": "pitstop.cache.cache",
    # limits
    "ResourceLimits": "pitstop.limits.config",
    "Governor": "pitstop.limits.governor",
    # memory
    "CompressionConfig": "pitstop.context.config",
    "ContextEngine": "pitstop.context.engine",
    "CompressionResult": "pitstop.context.engine",
    # monitoring
    "Monitor": "pitstop.metrics.monitor",
    "Span": "pitstop.metrics.monitor",
    # errors
    "PitstopError": "pitstop.errors",
    "ConfigError": "pitstop.errors",
    "MissingExtraError": "pitstop.errors",
    "ToolNotFoundError": "pitstop.errors",
    "ToolError": "pitstop.errors",
    "ToolArgumentError": "pitstop.errors",
    "ToolTimeoutError": "pitstop.errors",
    "LLMError": "pitstop.errors",
    "LLMConnectionError": "pitstop.errors",
    "RateLimitExceeded": "pitstop.errors",
    "CompressionError": "pitstop.errors",
}

__all__ = sorted([*_EXPORTS, "__version__", "load_ipython_extension", "unload_ipython_extension"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pitstop' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return __all__


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext pitstop``: register the ``%%agent`` and ``%agent_profile`` magics."""
    from pitstop.notebook.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext pitstop``: remove the magics again."""
    from pitstop.notebook.magics import unload_ipython_extension as unload

    unload(ipython)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from pitstop.agent import HybridAgent
    from pitstop.cache.cache import ToolCache
    from pitstop.cache.config import CacheConfig
    from pitstop.config import AgentConfig
    from pitstop.context.config import CompressionConfig
    from pitstop.context.engine import CompressionResult, ContextEngine
    from pitstop.errors import (
        CompressionError,
        ConfigError,
        LLMConnectionError,
        LLMError,
        MissingExtraError,
        PitstopError,
        RateLimitExceeded,
        ToolArgumentError,
        ToolError,
        ToolNotFoundError,
        ToolTimeoutError,
    )
    from pitstop.limits.config import ResourceLimits
    from pitstop.limits.governor import Governor
    from pitstop.llm.base import LLMClient, LLMResponse, Message, ToolCall, ToolSpec, Usage
    from pitstop.llm.function import FunctionLLM
    from pitstop.llm.local import LocalModel
    from pitstop.llm.openai import OpenAIClient
    from pitstop.llm.simulated import SimulatedLLM
    from pitstop.metrics.monitor import Monitor, Span
    from pitstop.tools.base import Tool, ToolRegistry, default_registry, tool
