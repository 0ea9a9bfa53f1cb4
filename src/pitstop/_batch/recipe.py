"""An agent's recipe: what a worker process needs to build the same agent again.

A live agent holds locks, connections, a cache and a Monitor: it is never pickled.
Its recipe is its constructor arguments: the model client, the configs, and each
tool as its function plus options (a function importable by name travels by name; one
defined in a notebook travels by value, as cloudpickle does for Ray).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pitstop.errors import ConfigError

if TYPE_CHECKING:
    from pitstop._agent import HybridAgent
    from pitstop._metrics.monitor import Monitor

__all__ = ["AgentRecipe", "ToolRecipe"]


@dataclass(frozen=True, slots=True)
class ToolRecipe:
    """A tool as its function and options (a `Tool` itself holds a compiled validator)."""

    fn: Callable[..., Any]
    options: dict[str, Any]

    def build(self) -> Any:
        from pitstop._tools.base import Tool

        return Tool(self.fn, **self.options)


@dataclass(frozen=True, slots=True)
class AgentRecipe:
    """The constructor arguments of a `HybridAgent`."""

    agent_id: str
    name: str
    llm: Any
    """The model client, or a factory when `llm_is_factory`."""
    llm_is_factory: bool
    tools: tuple[ToolRecipe, ...]
    config: Any
    cache_config: Any
    resource_limits: Any
    compression_config: Any
    """The `ContextEngine`'s settings (None: the agent had no context engine)."""
    context_path: str | None
    context_llm: Any
    enable_parallel_execution: bool
    enable_streaming: bool

    @classmethod
    def of(
        cls, agent: HybridAgent, *, llm_factory: Callable[[], Any] | None = None
    ) -> AgentRecipe:
        tools = tuple(
            ToolRecipe(t.fn, {"name": t.name, "description": t.description,
                              "timeout": t.timeout, "cacheable": t.cacheable,
                              "cost": t.cost, "inline": t.inline})
            for t in agent.tools.values()
        )
        engine = agent.context_engine
        store = getattr(engine, "_store", None)
        path = getattr(store, "path", None)
        return cls(
            agent_id=agent.agent_id,
            name=agent.name,
            llm=llm_factory if llm_factory is not None else agent.llm,
            llm_is_factory=llm_factory is not None,
            tools=tools,
            config=agent.config,
            cache_config=agent.cache_config,
            resource_limits=agent.resource_limits,
            compression_config=engine.compression_config if engine is not None else None,
            context_path=str(path) if path is not None else None,
            context_llm=engine.llm_client if engine is not None else None,
            enable_parallel_execution=agent.enable_parallel_execution,
            enable_streaming=agent.enable_streaming,
        )

    def build(self, *, monitor: Monitor | None = None) -> HybridAgent:
        """The agent, built afresh in this process."""
        from pitstop._agent import HybridAgent

        context_engine = None
        if self.compression_config is not None:
            from pitstop._context.engine import ContextEngine

            context_engine = ContextEngine(self.compression_config, self.context_llm,
                                           path=self.context_path)
        return HybridAgent(
            self.agent_id,
            self.llm() if self.llm_is_factory else self.llm,
            [t.build() for t in self.tools],
            self.config,
            cache_config=self.cache_config,
            resource_limits=self.resource_limits,
            context_engine=context_engine,
            enable_parallel_execution=self.enable_parallel_execution,
            enable_streaming=self.enable_streaming,
            name=self.name,
            monitor=monitor,
        )

    def dumps(self) -> bytes:
        """The recipe pickled with cloudpickle, or a `ConfigError` naming what cannot be."""
        from ray import cloudpickle

        dumps: Callable[[Any], bytes] = cloudpickle.dumps
        try:
            return bytes(dumps(self))
        except Exception as exc:
            culprit = self._culprit(dumps)
            raise ConfigError(
                f"RayEngine rebuilds the agent in each worker from its recipe, and {culprit} "
                f"cannot be sent to another process ({type(exc).__name__}: {exc}). "
                "Pass a function that builds the client in the worker, e.g. "
                "RayEngine(llm_factory=lambda: OpenAIClient('gpt-4o-mini')), and tools that "
                "are plain functions."
            ) from None

    def _culprit(self, dumps: Callable[[Any], Any]) -> str:
        parts: list[tuple[str, Any]] = [("the model client " + repr(self.llm)[:80], self.llm)]
        parts += [(f"the tool {t.options['name']!r}", t.fn) for t in self.tools]
        parts += [("the cache config", self.cache_config),
                  ("the resource limits", self.resource_limits),
                  ("the agent config", self.config)]
        for label, value in parts:
            try:
                dumps(value)
            except Exception:
                return label
        return "part of the agent"
