"""Token counting for budgets, rate limits and compression triggers.

Where `tiktoken` is installed and its encoding for the model is available locally,
counts are exact. Otherwise pitstop uses a documented estimate: one token per four
characters of text (rounded up), plus 4 tokens of framing per message, which is
within about 10-20% for English prose on GPT-style tokenizers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from pitstop.llm.base import Message

__all__ = ["count_message_tokens", "count_tokens", "encoder_for"]

MESSAGE_OVERHEAD_TOKENS = 4
"""Tokens of role and framing each chat message adds."""


@functools.lru_cache(maxsize=32)
def encoder_for(model: str) -> Callable[[str], int] | None:
    """An exact token counter for `model`, or None when none is available offline."""
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        try:
            enc = tiktoken.encoding_for_model(model)
        except KeyError:
            return None  # an unknown model: no exact tokenizer
    except Exception:  # the encoding file could not be loaded (e.g. no network, no cache)
        return None
    return lambda text: len(enc.encode(text, disallowed_special=()))


def count_tokens(text: str, model: str | None = None) -> int:
    """Tokens of `text`: exact with tiktoken when possible, else ``ceil(len/4)``."""
    if model:
        enc = encoder_for(model)
        if enc is not None:
            return enc(text)
    return (len(text) + 3) // 4


def count_message_tokens(messages: Sequence[Message], model: str | None = None) -> int:
    """Prompt tokens of a conversation, tool calls included."""
    total = 0
    for m in messages:
        total += MESSAGE_OVERHEAD_TOKENS + count_tokens(m.content, model)
        for call in m.tool_calls:
            total += count_tokens(call.name, model) + count_tokens(str(dict(call.arguments)), model)
    return total
