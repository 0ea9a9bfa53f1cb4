"""`CacheConfig`: which tool results are cached, for how long, how many, and where."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field

from pitstop._redact import redact_url
from pitstop._strict import StrictModel
from pitstop.errors import ConfigError

__all__ = ["BYTES_PER_MB", "CacheConfig", "default_disk_path"]

BYTES_PER_MB = 1024 * 1024
"""`max_memory_mb` and the ``memory_mb`` statistic count mebibytes."""

_REDIS_SCHEMES = ("redis", "rediss", "unix")


def default_disk_path() -> Path:
    """``$XDG_CACHE_HOME/pitstop/tool-cache.sqlite3`` (``~/.cache/...`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pitstop" / "tool-cache.sqlite3"


class CacheConfig(StrictModel):
    """How the agent caches tool results. Unknown fields are an error.

    The guide's aggressive caching::

        CacheConfig(
            default_ttl=3600,
            tool_specific_ttl={"search": 7200, "translation": 86400, "calculator": 0},
            max_cache_size=5000,
        )

    The agent reads TTLs, bounds, `enabled` and `trace_size` at every call, and judges
    an entry's freshness with the TTL in force when it is looked up: after
    ``cache_config.default_ttl = 600`` (or the TTL tuner's Apply) every stored result
    counts as fresh for 600 s from when it was written, so lowering a TTL expires
    results already stored and raising one keeps them longer. `backend`, `path`,
    `redis_url` and `namespace` are read once, when the cache is built.

    Only successful results of tools with ``cacheable=True`` are cached, and only when
    the arguments can be turned into a key and the result into JSON; every call that
    is not cached is counted, with its reason, in the cache's statistics.
    """

    enabled: bool = True
    """False: every call runs its tool (and nothing is counted as a hit)."""
    default_ttl: float = 300
    """Seconds a result stays fresh, for tools not in `tool_specific_ttl` (0: never cached)."""
    tool_specific_ttl: dict[str, float] = Field(default_factory=dict)
    """Seconds per tool name, overriding `default_ttl` (0: that tool is never cached)."""
    max_cache_size: int = Field(1000, ge=1, le=10**12)
    """The most entries the cache holds; the least recently used go first."""
    max_memory_mb: float = Field(100, gt=0, le=10**9, allow_inf_nan=False)
    """The most MiB the stored results may take, measured as their serialised size
    (UTF-8 JSON plus key and labels); the least recently used go first."""
    backend: Literal["memory", "disk", "redis"] = "memory"
    """``memory`` (this process), ``disk`` (a SQLite file that survives a kernel
    restart) or ``redis`` (shared by every process that uses the same URL and namespace)."""
    path: str | Path | None = None
    """The SQLite file of the ``disk`` backend (None: `default_disk_path()`)."""
    redis_url: str | None = None
    """``redis://host:port/db`` (or ``rediss://``, ``unix://``) of the ``redis`` backend
    (None: ``redis://localhost:6379/0``). Needs ``pip install pitstop[redis]``."""
    namespace: str | None = Field(None, min_length=1)
    """Keeps the entries of agents or users apart in a shared disk file or Redis; agents
    with the same namespace share results (None: the agent's id)."""
    trace_size: int = Field(10_000, ge=0, le=10**8)
    """How many recent tool calls the trace keeps for the TTL tuner (0: no trace)."""
    redis_timeout: float = Field(1.0, gt=0, le=3600, allow_inf_nan=False)
    """Seconds a Redis command may take before the cache treats Redis as unreachable. It
    is not retried: the cache skips Redis for a second from then, and then one call
    probes it, so a frozen Redis costs one timeout a second, not one per call."""

    def ttl_for(self, tool_name: str) -> float:
        """The TTL in force for a tool, in seconds (0: not cached).

        Raises:
            ConfigError: the TTL is negative (possible after editing `tool_specific_ttl`
                in place, which pydantic cannot see).
        """
        ttl = self.tool_specific_ttl.get(tool_name)
        if ttl is None:
            ttl = self.default_ttl
        if ttl >= 0:
            return ttl
        raise _ttl_error(tool_name if tool_name in self.tool_specific_ttl else None, ttl)

    def _check(self) -> None:
        if not (self.default_ttl >= 0):
            raise _ttl_error(None, self.default_ttl)
        for name, ttl in self.tool_specific_ttl.items():
            if not (ttl >= 0):
                raise _ttl_error(name, ttl)
        if self.path is not None and self.backend != "disk":
            raise ConfigError(
                f"CacheConfig.path is set ({str(self.path)!r}) but backend is "
                f"{self.backend!r}; set backend='disk' or remove path."
            )
        if self.redis_url is not None:
            if self.backend != "redis":
                raise ConfigError(
                    f"CacheConfig.redis_url is set ({redact_url(self.redis_url)!r}) but backend is "
                    f"{self.backend!r}; set backend='redis' or remove redis_url."
                )
            scheme = urlsplit(self.redis_url).scheme
            if scheme not in _REDIS_SCHEMES:
                raise ConfigError(
                    f"CacheConfig.redis_url must start with redis://, rediss:// or unix://, "
                    f"got {redact_url(self.redis_url)!r}."
                )


def _ttl_error(tool_name: str | None, ttl: float) -> ConfigError:
    where = "default_ttl" if tool_name is None else f"tool_specific_ttl[{tool_name!r}]"
    shown = repr(ttl) if not isinstance(ttl, float) or math.isnan(ttl) else f"{ttl:g}"
    return ConfigError(
        f"CacheConfig.{where} must be >= 0 seconds, got {shown}; "
        "use 0 to never cache a tool."
    )
