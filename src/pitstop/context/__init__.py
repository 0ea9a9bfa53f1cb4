"""Conversation memory: `ContextEngine` sessions and `CompressionConfig` strategies."""

from pitstop.context.config import CompressionConfig
from pitstop.context.engine import CompressionResult, ContextEngine

__all__ = ["CompressionConfig", "CompressionResult", "ContextEngine"]
