"""Smoke tests of the end-to-end batch: the scripted tasks, and pitstop's two contenders
against a real emulator process (the peers are not installed in the library venv)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_e2e  # noqa: E402
from e2e_brain import answer, plan  # noqa: E402

from pitstop import Message, ToolCall  # noqa: E402


@pytest.mark.parametrize("i", range(12))
def test_every_task_has_two_or_three_turns_and_two_to_four_calls(i: int) -> None:
    """Task i: 1-2 tool turns then an answer; 2-4 calls in all; three turns when i is even."""
    turns = plan(i)
    calls = sum(len(t) for t in turns)
    assert 2 <= calls <= 4 and all(turns)
    assert len(turns) + 1 == (3 if i % 2 == 0 else 2)


def test_the_brain_follows_the_plan_turn_by_turn() -> None:
    """The brain answers each turn of task 4 as planned, then the checked answer text."""
    history = [Message("user", "Task 4: research topic 4")]
    for turn in plan(4):
        reply = answer(history, [])
        assert [(c.name, dict(c.arguments)) for c in reply.tool_calls] == turn
        history.append(Message("assistant", "", tuple(ToolCall(c.name, c.arguments, "x")
                                                     for c in reply.tool_calls)))
    assert answer(history, []).text.startswith("Answer for task 4:")


async def test_pitstop_runs_the_batch_against_the_emulator_process() -> None:
    """A 6-task batch: every task answered, every scripted tool call run, the peers
    reported as not installed, and the table rendered."""
    s = bench_e2e.Settings(tasks=6, ttft=0.01, tokens_per_second=2000.0)
    emu = bench_e2e.Emulator(s)
    try:
        rows = [await bench_e2e.measure(c, emu, s) for c in bench_e2e.CONTENDERS]
    finally:
        emu.close()
    by_key = {r.key: r for r in rows}
    for key in ("pitstop", "pitstop_learning"):
        row = by_key[key]
        assert row.status == "ok" and row.failed == 0, row.errors
        assert row.tool_runs == row.expected_tool_runs > 0
        assert row.tokens_charged > row.tokens_used > 0
    assert by_key["pitstop"].throttled == 0
    text = bench_e2e.render(rows, s, quick=True)
    assert "| pitstop (limits = quota)" in text and "not installed" in text
