"""Hypothesis: the invariants of every strategy, on generated conversations.

For any conversation and settings, after a compression (by hand or automatic):

- every system prompt is kept, in order;
- the most recent messages are kept word for word, in order, at the end;
- no assistant tool call is separated from its tool results;
- nothing is lost silently: summarize accounts for every folded message in its count,
  truncate only removes messages;
- an auto-compression ends within its target (unless the recent messages it must keep
  are larger than the target by themselves).
"""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from pitstop import CompressionConfig, CompressionError, ContextEngine, Message
from pitstop._context.strategies import cut_points
from pitstop.llm._summary import is_summary, summary_count
from pitstop.llm._tokens import count_message_tokens

from .helpers import FakeLLM, conversations

STRATEGIES = st.sampled_from(["truncate", "summarize", "hybrid"])
FAST = settings(max_examples=60, deadline=None)


def _pairs_intact(messages: list[Message]) -> bool:
    """Every tool result follows its call in the list, and every call keeps all its results."""
    call_ids = {c.id for m in messages for c in m.tool_calls}
    answered = {m.tool_call_id for m in messages if m.role == "tool"}
    return answered <= call_ids and call_ids <= answered


def _check(original: list[Message], result: list[Message], strategy: str, keep: int) -> None:
    pinned = [m for m in original if m.role == "system" and not is_summary(m)]
    assert [m for m in result if m.role == "system" and not is_summary(m)] == pinned
    keep = min(keep, len(original))
    assert result[len(result) - keep :] == original[len(original) - keep :]
    assert _pairs_intact(result)
    kept = [m for m in result if not is_summary(m)]
    it = iter(original)
    assert all(any(m is o for o in it) for m in kept), "kept messages are not in order"
    summaries = [m for m in result if is_summary(m) and not any(m is o for o in original)]
    if strategy == "truncate" or (strategy == "hybrid" and not summaries):
        assert not summaries
    else:
        lost = len(original) - len(kept)
        if lost:
            assert len(summaries) == 1
            folded = [o for o in original if not any(o is m for m in kept)]
            assert summary_count(summaries[0]) == sum(summary_count(o) for o in folded)


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@FAST
@given(
    original=conversations(),
    strategy=STRATEGIES,
    keep_recent=st.integers(1, 12),
    failing=st.booleans(),
)
def test_compression_by_hand_keeps_the_invariants(
    original: list[Message], strategy: str, keep_recent: int, failing: bool
) -> None:
    """compress_conversation keeps system prompts, recent messages and tool pairs."""
    llm = FakeLLM("summary", fail=RuntimeError("down") if failing else None)
    engine = ContextEngine(CompressionConfig(strategy=strategy, keep_recent=keep_recent), llm)
    if not original:
        return
    engine.append("s", *original)
    try:
        result = _run(engine.compress_conversation("s"))
    except CompressionError:
        assert failing and strategy == "summarize"
        assert engine.messages("s") == original  # nothing dropped without its summary
        return
    after = engine.messages("s")
    _check(original, after, strategy, keep_recent)
    assert result.after == len(after) and result.before == len(original)
    assert result.tokens_before == count_message_tokens(original, FakeLLM.model)
    assert result.tokens_after == count_message_tokens(after, FakeLLM.model)
    assert result.summarized + result.dropped == len(original) - (
        len(after) - (result.summarized > 0)
    )


@FAST
@given(
    original=conversations(max_turns=60),
    strategy=STRATEGIES,
    threshold=st.integers(4, 40),
    data=st.data(),
)
def test_auto_compression_ends_within_the_target(
    original: list[Message], strategy: str, threshold: int, data: st.DataObject
) -> None:
    """prepare() compresses a session over the threshold to at most the target."""
    target = data.draw(st.integers(2, threshold - 1), label="target")
    keep_recent = data.draw(st.integers(1, target - 1), label="keep_recent")
    cfg = CompressionConfig(
        strategy=strategy,
        keep_recent=keep_recent,
        auto_compress_enabled=True,
        auto_compress_threshold=threshold,
        auto_compress_target=target,
    )
    engine = ContextEngine(cfg)
    if not original:
        return
    engine.append("s", *original)
    result = _run(engine.prepare("s", llm=FakeLLM("summary")))
    after = engine.messages("s")
    if len(original) <= threshold:
        assert result is None and after == original
        return
    _check(original, after, strategy, keep_recent)
    if result is None:  # nothing could go: everything is system prompt or recent groups
        assert after == original
    else:
        assert result.tokens_after == count_message_tokens(after, FakeLLM.model)
    # the floor: system prompts, a summary, and the recent messages rounded to whole groups
    floor_cut = max(c for c in cut_points(original) if c <= len(original) - keep_recent)
    pinned_before = sum(m.role == "system" for m in original[:floor_cut])
    assert len(after) <= max(target, pinned_before + 1 + len(original) - floor_cut)
