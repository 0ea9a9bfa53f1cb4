"""Tool-result caching: `CacheConfig`, `ToolCache`, the call trace and its replay.

Every tool call of the agent goes through `ToolCache.call`; see `pitstop.cache.cache`.
"""

from pitstop.cache.cache import ToolCache
from pitstop.cache.config import CacheConfig
from pitstop.cache.replay import ReplayFigures, ToolFigures, replay
from pitstop.cache.trace import TraceRecord

__all__ = ["CacheConfig", "ReplayFigures", "ToolCache", "ToolFigures", "TraceRecord", "replay"]
