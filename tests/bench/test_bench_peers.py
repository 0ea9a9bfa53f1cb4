"""Smoke tests of the peer benchmark: pitstop's side and the floor of every workload run
and give sane numbers, in the library venv, where the peers are not installed."""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_peers  # noqa: E402
from bench_peers import Bench, Cell, Config, Line, ratio_cells, render  # noqa: E402
from peers import Missing, Side, load_sides  # noqa: E402


def tiny() -> Config:
    return Config(quick=True, reps=2, cpu_target=0.002, stream_tokens=300, batch_tasks=20,
                  requesters=5, import_reps=1, replay_calls=60)


@pytest.fixture(scope="module")
def sides() -> list[Side]:
    found = load_sides(only=("floor", "pitstop"))
    assert all(isinstance(s, Side) for s in found), found
    return found  # type: ignore[return-value]


@pytest.mark.parametrize("k", [0, 1, 10])
async def test_agent_run_executes_every_scripted_tool_call(sides: list[Side], k: int) -> None:
    """A run makes the scripted k tool calls and answers "done", on pitstop and the floor."""
    for side in sides:
        before = side.tool_runs
        assert await side.agent_run(k)() == "done"
        assert side.tool_runs - before == k, side.key


async def test_fan_out_is_bounded_and_concurrent(sides: list[Side]) -> None:
    """20 calls of 20 ms at bound 10 take two rounds, not one and not twenty."""
    for side in sides:
        run = side.fan_out(20, 10, 0.02)
        t = asyncio.get_running_loop().time()
        assert await run() == "done"
        took = asyncio.get_running_loop().time() - t
        assert 0.038 <= took < 0.2, (side.key, took)


async def test_stream_delivers_every_delta(sides: list[Side]) -> None:
    """Every streamed piece reaches the caller as its own delta."""
    for side in sides:
        assert await side.stream([f" w{i}" for i in range(50)])() == 50


async def test_cache_hits_do_not_run_the_tool(sides: list[Side]) -> None:
    """Through pitstop's CacheConfig (and cachetools), a repeat is served without a run."""
    for side in sides:
        cc = side.cached_tool(0.0)
        assert await cc.call(3) == 6
        assert await cc.call(3) == 6
        assert await cc.call(4) == 8
        assert cc.runs() == 2, side.key


async def test_limiter_holds_its_rate(sides: list[Side]) -> None:
    """10 acquires at 100/s with a bucket of 1 take about 90 ms."""
    for side in sides:
        limiter = side.limiter(100, 1)
        t = asyncio.get_running_loop().time()
        await asyncio.gather(*(limiter.acquire() for _ in range(10)))
        took = asyncio.get_running_loop().time() - t
        assert 0.08 <= took < 0.3, (side.key, took)


async def test_bench_rows_have_sane_pitstop_numbers(sides: list[Side]) -> None:
    """The cheap rows, run end to end on pitstop and the floor, give finite positive cells;
    the agent-framework peers are reported as not installed, never as numbers."""
    missing = [Missing("langgraph", "LangGraph", "ModuleNotFoundError: langgraph")]
    bench = Bench([*sides, *missing], tiny())
    await bench.agent_loop()
    await bench.cache_cost()
    await bench.streaming()
    await bench.batch()
    assert not bench.failures, bench.failures
    for line in bench.lines:
        pitstop = line.cells["pitstop"].value
        assert pitstop is not None and 0 < pitstop < 0.05, (line.workload, pitstop)
        assert line.cells["langgraph"].text == "not installed"
    marginal = bench.lines[0].cells["pitstop"].value
    assert marginal is not None and marginal < 1e-3  # well under a millisecond a call


def test_ratio_column_says_ahead_behind_or_tie() -> None:
    """The best-peer ratio picks the right direction and flags where pitstop is behind."""
    line = Line("w", "CPU ↓", "lower", {
        "floor": Cell(1.0, ""), "pitstop": Cell(2.0, ""), "langgraph": Cell(4.0, ""),
        "pydantic_ai": Cell(3.0, ""), "aiolimiter": Cell(0.1, "")})
    to_floor, best = ratio_cells(line)
    assert to_floor == "2.00×"
    assert best.startswith("0.67× vs pydantic-ai") and best.endswith("ahead")  # not aiolimiter
    line.better = "higher"
    assert ratio_cells(line)[1].endswith("BEHIND")
    line.cells["langgraph"] = Cell(1.0, "")
    line.cells["pydantic_ai"] = Cell(2.02, "")
    assert ratio_cells(line)[1].endswith("≈ tie")
    assert "| w | CPU ↓ |" in render([line])


def test_unknown_workload_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--only`` with a misspelled workload stops with the list of valid ones."""
    monkeypatch.setattr(sys, "argv", ["bench_peers.py", "--only", "fanuot"])
    with pytest.raises(SystemExit):
        bench_peers.main()


def test_cells_are_finite_in_rendered_table() -> None:
    """No NaN or inf leaks into the table text."""
    line = Line("w", "m", None, {"pitstop": Cell(math.inf, "not done at 2.7 s")})
    assert "inf" not in render([line])
