"""Cache backends: memory (default), disk (SQLite) and Redis, behind `Backend`."""

from pitstop._cache.backends.base import Backend, Entry, Hit, Matcher

__all__ = ["Backend", "Entry", "Hit", "Matcher"]
