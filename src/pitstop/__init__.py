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
    "HybridAgent": "pitstop._agent",
    "AgentConfig": "pitstop._config",
    # tools
    "Tool": "pitstop._tools.base",
    "tool": "pitstop._tools.base",
    "ToolRegistry": "pitstop._tools.base",
    "default_registry": "pitstop._tools.base",
    # models
    "LLMClient": "pitstop.llm._base",
    "LLMResponse": "pitstop.llm._base",
    "Message": "pitstop.llm._base",
    "ToolCall": "pitstop.llm._base",
    "ToolSpec": "pitstop.llm._base",
    "Usage": "pitstop.llm._base",
    "FunctionLLM": "pitstop.llm._function",
    "SimulatedLLM": "pitstop.llm._simulated",
    "OpenAIClient": "pitstop.llm._openai",
    "LocalModel": "pitstop.llm._local",
    "Price": "pitstop.llm._pricing",
    "set_price": "pitstop.llm._pricing",
    # caching
    "CacheConfig": "pitstop._cache.config",
    "ToolCache": "pitstop._cache.cache",
    # limits
    "ResourceLimits": "pitstop._limits.config",
    "Governor": "pitstop._limits.governor",
    # memory
    "CompressionConfig": "pitstop._context.config",
    "ContextEngine": "pitstop._context.engine",
    "CompressionResult": "pitstop._context.engine",
    # monitoring
    "Monitor": "pitstop._metrics.monitor",
    "Span": "pitstop._metrics.monitor",
    # typed results and stats (plain dicts at run time)
    "Event": "pitstop.events",
    "TaskResult": "pitstop.events",
    "ToolOutcome": "pitstop.events",
    "CacheStats": "pitstop._cache.cache",
    "ResourceUsage": "pitstop._limits.governor",
    "OperationMetrics": "pitstop._metrics.monitor",
    "PerformanceMetrics": "pitstop._agent",
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
    "LLMTimeoutError": "pitstop.errors",
    "RateLimitExceeded": "pitstop.errors",
    "BudgetExceeded": "pitstop.errors",
    "CompressionError": "pitstop.errors",
    "WorkerLostError": "pitstop.errors",
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
    from pitstop.notebook._magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext pitstop``: remove the magics again."""
    from pitstop.notebook._magics import unload_ipython_extension as unload

    unload(ipython)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from pitstop._agent import HybridAgent, PerformanceMetrics
    from pitstop._cache.cache import CacheStats, ToolCache
    from pitstop._cache.config import CacheConfig
    from pitstop._config import AgentConfig
    from pitstop._context.config import CompressionConfig
    from pitstop._context.engine import CompressionResult, ContextEngine
    from pitstop._limits.config import ResourceLimits
    from pitstop._limits.governor import Governor, ResourceUsage
    from pitstop._metrics.monitor import Monitor, OperationMetrics, Span
    from pitstop._tools.base import Tool, ToolRegistry, default_registry, tool
    from pitstop.errors import (
        BudgetExceeded,
        CompressionError,
        ConfigError,
        LLMConnectionError,
        LLMError,
        LLMTimeoutError,
        MissingExtraError,
        PitstopError,
        RateLimitExceeded,
        ToolArgumentError,
        ToolError,
        ToolNotFoundError,
        ToolTimeoutError,
        WorkerLostError,
    )
    from pitstop.events import Event, TaskResult, ToolOutcome
    from pitstop.llm._base import LLMClient, LLMResponse, Message, ToolCall, ToolSpec, Usage
    from pitstop.llm._function import FunctionLLM
    from pitstop.llm._local import LocalModel
    from pitstop.llm._openai import OpenAIClient
    from pitstop.llm._pricing import Price, set_price
    from pitstop.llm._simulated import SimulatedLLM
