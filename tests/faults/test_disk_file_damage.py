"""Defect 12: a damaged disk cache file is moved aside and rebuilt; a bad path is named."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from pitstop import CacheConfig, HybridAgent, SimulatedLLM, tool
from pitstop.errors import ConfigError


@tool(register=False)
def square(x: int) -> int:
    """x squared."""
    return x * x


def _agent(path: Path) -> HybridAgent:
    return HybridAgent("a", SimulatedLLM(), tools=[square],
                       cache_config=CacheConfig(backend="disk", path=path))


async def _fill(path: Path) -> None:
    agent = _agent(path)
    await agent.execute_tools_parallel(
        [{"tool_name": "square", "parameters": {"x": i}} for i in range(300)]
    )
    await agent.aclose()


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database " * 200)


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage", [_garbage, _truncated], ids=["garbage", "truncated"])
async def test_a_damaged_file_is_moved_aside_and_rebuilt(tmp_path: Path, damage: object) -> None:
    """The agent builds, warns naming the file, keeps the damaged copy, and caches again."""
    path = tmp_path / "cache.sqlite3"
    await _fill(path)
    damage(path)  # type: ignore[operator]
    with pytest.warns(RuntimeWarning, match="damaged") as warned:
        agent = _agent(path)
    assert str(path) in str(warned[0].message)
    assert [n for n in os.listdir(tmp_path) if n.startswith("cache.sqlite3.damaged-")]
    call = [{"tool_name": "square", "parameters": {"x": 7}}]
    assert (await agent.execute_tools_parallel(call))[0]["cached"] is False
    out = await agent.execute_tools_parallel(call)
    assert out[0]["cached"] is True and out[0]["result"] == 49
    await agent.aclose()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_directory_at_the_path_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """A directory where the file should be: ConfigError with the path and the fix."""
    path = tmp_path / "cache.sqlite3"
    path.mkdir()
    with pytest.raises(ConfigError, match="is a directory") as info:
        _agent(path)
    assert str(path) in str(info.value)
