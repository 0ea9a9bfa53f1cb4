"""Conversation memory: `ContextEngine` sessions and `CompressionConfig` strategies."""

from pitstop._context.config import CompressionConfig
from pitstop._context.engine import CompressionResult, ContextEngine

__all__ = ["CompressionConfig", "CompressionResult", "ContextEngine"]
