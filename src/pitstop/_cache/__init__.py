"""Tool-result caching: `CacheConfig`, `ToolCache`, the call trace and its replay.

Every tool call of the agent goes through `ToolCache.call`; see `pitstop._cache.cache`.
"""

from pitstop._cache.cache import ToolCache
from pitstop._cache.config import CacheConfig
from pitstop._cache.replay import ReplayFigures, ToolFigures, replay
from pitstop._cache.trace import TraceRecord

__all__ = ["CacheConfig", "ReplayFigures", "ToolCache", "ToolFigures", "TraceRecord", "replay"]
