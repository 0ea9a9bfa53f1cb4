"""The batch journal, and execute_batch resuming from it on this process (no Ray)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from tests.distributed.helpers import make_agent, runs, tasks, wait_until

from pitstop import CacheConfig, ConfigError, ResourceLimits
from pitstop._batch.journal import Journal, default_journal_path, resolve_location, task_keys
from pitstop.distributed import journal


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def journal_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test journals into its own SQLite file."""
    path = tmp_path / "journal.sqlite3"
    monkeypatch.setenv("PITSTOP_JOURNAL", str(path))
    monkeypatch.delenv("PITSTOP_JOURNAL_TTL", raising=False)
    return path


def test_keys_follow_content_and_context_and_count_repeats() -> None:
    """A key is the task's content with the context; a repeated task gets its own key."""
    a, b, a2 = task_keys(["2+2", {"description": "x"}, "2+2"], None)
    assert a2 == f"{a}#2" and b != a
    assert task_keys(["2+2"], {"lang": "fr"})[0] != a
    assert task_keys([{"description": "x"}], None)[0] == b
    assert task_keys(["3+3", "2+2"], None)[1] == a  # position does not matter


def test_records_lists_and_clears_in_task_order(journal_file: Path) -> None:
    """Recorded results are listed in task order, counted, and cleared with their count."""
    j = journal("eval-1")
    j.record([("k2", 2, "two", {"output": "2"}), ("k0", 0, "zero", {"output": "0"})])
    assert [e.index for e in j.entries()] == [0, 2]
    assert j.entries()[1].result == {"output": "2"} and j.entries()[1].task == "two"
    assert len(j) == 2 and j.location == str(journal_file)
    assert journal("eval-2").batches() == ["eval-1"]
    assert j.clear() == 2
    assert len(j) == 0 and j.batches() == []


def test_entries_expire_ttl_after_the_last_write() -> None:
    """A batch's entries are gone ttl seconds after its last write, and a write renews them."""
    clock = FakeClock()
    j = Journal("b", ttl=100, clock=clock)
    j.record([("k0", 0, "t", {"output": "x"})])
    clock.now += 60
    j.record([("k1", 1, "t", {"output": "y"})])
    clock.now += 60
    assert len(j) == 2
    clock.now += 41
    assert len(j) == 0 and j.batches() == []


def test_location_env_agent_redis_then_default(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """PITSTOP_JOURNAL wins, then the agent's Redis, then the documented SQLite file."""
    with_limits = make_agent(resource_limits=ResourceLimits(redis_url="redis://127.0.0.1:1/2"))
    with_cache = make_agent(cache_config=CacheConfig(backend="redis"))
    assert resolve_location(with_limits) == str(tmp_path / "journal.sqlite3")
    monkeypatch.delenv("PITSTOP_JOURNAL")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_location(with_limits) == "redis://127.0.0.1:1/2"
    assert resolve_location(with_cache) == "redis://localhost:6379/0"
    assert resolve_location(make_agent()) == tmp_path / "xdg" / "pitstop" / "journal.sqlite3"
    assert default_journal_path() == tmp_path / "xdg" / "pitstop" / "journal.sqlite3"


def test_bad_ids_ttls_and_places_are_config_errors(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    """An empty batch id, a bad ttl or an unusable file is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="batch_id"):
        journal("")
    with pytest.raises(ConfigError, match="ttl"):
        journal("b", ttl=0)
    monkeypatch.setenv("PITSTOP_JOURNAL_TTL", "soon")
    with pytest.raises(ConfigError, match="PITSTOP_JOURNAL_TTL.*'soon'"):
        journal("b")
    monkeypatch.delenv("PITSTOP_JOURNAL_TTL")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot use"):
        journal("b", store=blocker / "journal.sqlite3")


@pytest.mark.redis
def test_redis_journal_keeps_a_real_ttl(redis_url: str) -> None:
    """In Redis a batch is one hash with a Redis TTL; listing and clearing work the same."""
    import redis

    j = journal("eval-r", store=redis_url, ttl=50)
    j.record([("k1", 1, "one", {"output": "1"}), ("k0", 0, "zero", {"output": "0"})])
    assert [e.result["output"] for e in j.entries()] == ["0", "1"]
    assert 0 < redis.Redis.from_url(redis_url).pttl("pitstop:journal:eval-r") <= 50_000
    assert j.batches() == ["eval-r"]
    assert j.clear() == 2 and len(j) == 0 and j.batches() == []


async def test_resume_after_a_cancelled_batch_runs_only_the_unfinished(tmp_path: Path) -> None:
    """A batch cancelled halfway, run again, runs only the unfinished half; all in order."""
    agent = make_agent()
    batch = [json.dumps({"n": i, "dir": str(tmp_path), "mode": "ok" if i % 2 else "gate"})
             for i in range(10)]
    run = asyncio.ensure_future(agent.execute_batch(batch, progress=False, batch_id="half"))
    await wait_until(lambda: len(runs(tmp_path)) == 10
                     and agent.get_performance_metrics()["total_tasks"] == 5)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert sorted(e.index for e in journal("half")) == [1, 3, 5, 7, 9]
    assert [r is not None for r in agent.last_batch] == [bool(i % 2) for i in range(10)]
    (tmp_path / "open").touch()
    results = await agent.execute_batch(batch, progress=False, batch_id="half")
    assert [json.loads(r["output"][5:])["n"] for r in results] == list(range(10))
    assert sorted(runs(tmp_path)[10:]) == [0, 2, 4, 6, 8]
    assert len(journal("half")) == 10


async def test_a_changed_task_runs_again_under_the_same_id(tmp_path: Path) -> None:
    """Under one batch id, an unchanged task is served from the journal, a changed one runs."""
    agent = make_agent()
    await agent.execute_batch(tasks(2, tmp_path), progress=False, batch_id="b")
    changed = [tasks(2, tmp_path)[0], json.dumps({"n": 7, "dir": str(tmp_path)})]
    results = await agent.execute_batch(changed, progress=False, batch_id="b")
    assert runs(tmp_path) == [0, 1, 7]
    assert results[1]["output"] == 'done {"n": 7, "square": 49}'


async def test_failed_results_are_not_journalled(tmp_path: Path) -> None:
    """A failed task is not journalled, so the next run of its batch tries it again."""
    agent = make_agent()
    batch = [tasks(1, tmp_path)[0], "not json: the scripted model fails on it"]
    first = await agent.execute_batch(batch, progress=False, batch_id="f")
    assert [r["success"] for r in first] == [True, False]
    assert [e.index for e in journal("f")] == [0]
    calls = agent.llm.calls
    second = await agent.execute_batch(batch, progress=False, batch_id="f")
    assert agent.llm.calls == calls + 1 and not second[1]["success"]
    assert runs(tmp_path) == [0]


async def test_a_batch_without_id_journals_nothing(journal_file: Path) -> None:
    """Without batch_id nothing is written (the local path is unchanged)."""
    await make_agent().execute_batch(tasks(3), progress=False)
    assert not journal_file.exists()  # noqa: ASYNC240
