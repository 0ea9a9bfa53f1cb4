"""Token counting: offline exact counters when available, the documented estimate else."""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Iterator

import pytest

from pitstop.llm import _tokens as tokens
from pitstop.llm._base import Message, ToolCall


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    tokens._counter.cache_clear()
    yield
    tokens._counter.cache_clear()


def _fake_bpe(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Install a stand-in bpe_openai whose 'tokens' are words; returns the names asked for."""
    asked: list[str] = []

    class Enc:
        def encode(self, text: str, disallowed_special: object = "all") -> list[int]:
            assert disallowed_special == ()  # special-token text is counted, not refused
            return [0] * len(text.split())

    def get_encoding(name: str) -> Enc:
        asked.append(name)
        return Enc()

    monkeypatch.setitem(sys.modules, "bpe_openai", types.SimpleNamespace(get_encoding=get_encoding))
    return asked


def _no_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bpe_openai", None)
    monkeypatch.setitem(sys.modules, "tiktoken", None)


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("openai/gpt-4.1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("llama-3.1-8b", None),
        ("simulated", None),
    ],
)
def test_model_names_map_to_their_encoding(model: str, encoding: str | None) -> None:
    """OpenAI model names (with or without a provider prefix) map to their encoding."""
    assert tokens.encoding_name(model) == encoding


def test_the_estimate_is_a_quarter_of_the_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no tokenizer available, a text of n characters counts ceil(n/4) tokens."""
    _no_backends(monkeypatch)
    assert tokens.count_tokens("abcdefghi", "gpt-4o") == 3
    assert tokens.count_tokens("") == 0
    assert tokens.tokenizer_for("gpt-4o") == "estimate:len/4"


def test_bpe_openai_is_preferred_for_openai_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed bpe_openai counts OpenAI models with their own encoding, offline."""
    asked = _fake_bpe(monkeypatch)
    assert tokens.count_tokens("one two three", "gpt-4o") == 3
    assert tokens.tokenizer_for("gpt-4o") == "bpe-openai:o200k_base"
    assert tokens.count_tokens("one two", "gpt-4") == 2
    assert asked == ["o200k_base", "cl100k_base"]


def test_other_models_get_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model that is not OpenAI's is not counted with an OpenAI table."""
    _fake_bpe(monkeypatch)
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    assert tokens.count_tokens("one two three", "llama-3.1-8b") == 4
    assert tokens.tokenizer_for("llama-3.1-8b") == "estimate:len/4"


def test_message_count_adds_framing_and_tool_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each message adds 4 tokens; tool calls count their name and arguments."""
    _no_backends(monkeypatch)
    call = ToolCall("search", {"q": "x"})
    messages = [Message("user", "12345678"), Message("assistant", "", tool_calls=(call,))]
    expected = 4 + 2 + 4 + 0 + tokens.count_tokens("search") + tokens.count_tokens("{'q': 'x'}")
    assert tokens.count_message_tokens(messages, "gpt-4o") == expected


@pytest.mark.skipif(
    importlib.util.find_spec("bpe_openai") is None, reason="bpe-openai is not installed"
)
def test_real_bpe_openai_counts_exactly() -> None:
    """bpe-openai's embedded tables give OpenAI's exact counts with no network."""
    assert tokens.count_tokens("Hello, world!", "gpt-4o") == 4
    assert tokens.count_tokens("<|endoftext|> hi", "gpt-4o") > 1
