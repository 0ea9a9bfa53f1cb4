"""pitstop: a fast async LLM agent whose performance features are real and measured.

Everything public is importable from here. Names load from their private modules on
first use (`pitstop._lazy`), so ``import pitstop`` stays cheap (no pandas, matplotlib,
ipywidgets or SDKs). ``%load_ext pitstop`` finds `load_ipython_extension` here.
"""

from typing import TYPE_CHECKING

from pitstop import _lazy

__version__ = "0.1.0"

__all__ = [
    "AgentConfig",
    "BudgetExceeded",
    "CacheConfig",
    "CacheStats",
    "CompressionConfig",
    "CompressionError",
    "CompressionResult",
    "ConfigError",
    "ContextEngine",
    "Event",
    "FunctionLLM",
    "Governor",
    "HybridAgent",
    "LLMClient",
    "LLMConnectionError",
    "LLMError",
    "LLMResponse",
    "LLMTimeoutError",
    "LocalModel",
    "Message",
    "MissingExtraError",
    "Monitor",
    "NoRunRecorded",
    "OpenAIClient",
    "OperationMetrics",
    "PerformanceMetrics",
    "PitstopError",
    "Price",
    "RateLimitExceeded",
    "ResourceLimits",
    "ResourceUsage",
    "SimulatedLLM",
    "Span",
    "TaskResult",
    "Tool",
    "ToolArgumentError",
    "ToolCache",
    "ToolCall",
    "ToolError",
    "ToolNotFoundError",
    "ToolOutcome",
    "ToolRegistry",
    "ToolSpec",
    "ToolTimeoutError",
    "Usage",
    "WorkerLostError",
    "__version__",
    "default_registry",
    "load_ipython_extension",
    "set_price",
    "tool",
    "unload_ipython_extension",
]

__getattr__, __dir__ = _lazy.attach(
    __name__,
    {
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
        "NoRunRecorded": "pitstop.errors",
        "WorkerLostError": "pitstop.errors",
        # the IPython extension (%load_ext pitstop): loads IPython only when called
        "load_ipython_extension": "pitstop.notebook._magics",
        "unload_ipython_extension": "pitstop.notebook._magics",
    },
)

if TYPE_CHECKING:  # pragma: no cover - the same table, for type checkers and IDEs
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
        NoRunRecorded,
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
    from pitstop.notebook._magics import load_ipython_extension, unload_ipython_extension
