"""Tool-result caching: `CacheConfig`, `ToolCache`, the call trace and its replay.

Every tool call of the agent goes through `ToolCache.call`; see `pitstop.cache.cache`.
"""

from pitstop.cache.cache import ToolCache
from pitstop.cache.config import CacheConfig
from pitstop.cache.trace import ReplayResult, ToolReplay, TraceRecord, replay

__all__ = ["CacheConfig", "ReplayResult", "ToolCache", "ToolReplay", "TraceRecord", "replay"]
