"""The contenders of `bench_peers.py`: one module per library, each a `Side`.

`load_sides()` imports each module; a library that is not installed becomes a
`Missing` entry carrying the import error, so the report says so instead of a number.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ._base import CachedCall, Limiter, Side, Unsupported, zipf_arguments

__all__ = ["SIDES", "CachedCall", "Limiter", "Missing", "Side", "Unsupported", "load_sides",
           "zipf_arguments"]

SIDES: tuple[tuple[str, str, str, str], ...] = (
    # (column key, column title, module, class)
    ("floor", "raw asyncio (floor)", "raw_asyncio", "RawAsyncio"),
    ("pitstop", "pitstop", "pitstop_side", "PitstopSide"),
    ("langgraph", "LangGraph (langchain-core)", "langgraph_side", "LangGraphSide"),
    ("pydantic_ai", "pydantic-ai", "pydantic_ai_side", "PydanticAISide"),
    ("openai_agents", "openai-agents", "openai_agents_side", "OpenAIAgentsSide"),
    ("aiolimiter", "aiolimiter", "aiolimiter_side", "AioLimiterSide"),
)
"""Column order of the report. ``floor`` and ``pitstop`` are not peers."""


@dataclass
class Missing:
    """A contender whose library could not be imported."""

    key: str
    label: str
    error: str


def load_sides(only: tuple[str, ...] | None = None) -> list[Side | Missing]:
    """Every contender in column order (or just those in `only`)."""
    out: list[Side | Missing] = []
    for key, label, module, cls in SIDES:
        if only is not None and key not in only:
            continue
        try:
            mod = importlib.import_module(f"{__name__}.{module}")
            out.append(getattr(mod, cls)())
        except ImportError as exc:
            out.append(Missing(key, label, f"{type(exc).__name__}: {exc}"))
    return out
