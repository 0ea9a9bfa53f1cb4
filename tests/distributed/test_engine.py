"""RayEngine's checks and the agent recipe, without starting Ray."""

from __future__ import annotations

import contextlib
import pickle
import socket
import threading
from pathlib import Path

import pytest
from tests.distributed.helpers import make_agent, tasks

from pitstop import CacheConfig, ConfigError, ResourceLimits, SimulatedLLM
from pitstop._batch.recipe import AgentRecipe
from pitstop.distributed import RayEngine

pytest.importorskip("ray")


@pytest.mark.parametrize("quota", [{"max_tokens_per_minute": 1000},
                                   {"max_tool_calls_per_minute": 60},
                                   {"max_cost_per_hour": 2.0},
                                   {"max_cost_total": 20.0}])
async def test_per_minute_limits_on_several_workers_need_redis(
    quota: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-minute limits or spend budgets without redis_url on more than one worker are a
    ConfigError."""
    monkeypatch.setenv("PITSTOP_JOURNAL", str(tmp_path / "j.sqlite3"))
    agent = make_agent(resource_limits=ResourceLimits(**quota))
    name, value = next(iter(quota.items()))
    with pytest.raises(ConfigError, match=rf"workers=2.*{name}={value}.*redis_url"):
        await agent.execute_batch(tasks(2), engine=RayEngine(workers=2), batch_id="x",
                                  progress=False)
    assert not (tmp_path / "j.sqlite3").exists()  # nothing ran or was journalled
    RayEngine(workers=1).check(agent)  # one worker enforces the whole quota: fine
    shared = ResourceLimits(**quota, redis_url="redis://127.0.0.1:6379/0")
    RayEngine(workers=2).check(make_agent(resource_limits=shared))


async def test_an_unreachable_address_is_a_config_error_naming_it() -> None:
    """Ray not reachable at the address given: a ConfigError that names the address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: nothing answers there
        address = f"127.0.0.1:{port}"
        with pytest.raises(ConfigError, match=rf"not reachable at '{address}'"):
            await make_agent().execute_batch(tasks(1), engine=RayEngine(address=address),
                                             progress=False)


@pytest.mark.parametrize("reply", [b"-ERR unknown command\r\n", None])
async def test_an_address_where_something_else_listens_is_a_config_error_at_once(
    reply: bytes | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port that answers but is not Ray (or stays silent) is a ConfigError saying so,
    instead of Ray retrying it for minutes."""
    from pitstop._batch import ray_runtime

    monkeypatch.setattr(ray_runtime, "_PROBE_SECONDS", 0.5)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"127.0.0.1:{server.getsockname()[1]}"

        def answer() -> None:
            conn, _ = server.accept()
            with conn, contextlib.suppress(OSError):  # the client hangs up, or resets
                conn.recv(64)
                if reply is not None:
                    conn.sendall(reply)
                conn.recv(64)

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        with pytest.raises(ConfigError, match=rf"listens at '{address}' but it is not Ray"):
            await make_agent().execute_batch(tasks(1), engine=RayEngine(address=address),
                                             progress=False)
        thread.join(5)


@pytest.mark.parametrize("kwargs", [{"workers": 0}, {"concurrency_per_worker": "8"},
                                    {"address": ""}, {"address": "127.0.0.1:port"},
                                    {"address": "localhost"}, {"llm_factory": 3}])
def test_bad_engine_arguments_are_config_errors(kwargs: dict[str, object]) -> None:
    """Bad RayEngine arguments are a ConfigError naming the argument."""
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        RayEngine(**kwargs)  # type: ignore[arg-type]


class LockedLLM(SimulatedLLM):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()


def test_a_client_that_cannot_be_pickled_is_named_with_the_fix() -> None:
    """A model client that cannot travel is named, with llm_factory as the fix."""
    agent = make_agent()
    agent.llm = LockedLLM()
    with pytest.raises(ConfigError, match="the model client.*llm_factory"):
        AgentRecipe.of(agent).dumps()
    AgentRecipe.of(agent, llm_factory=LockedLLM).dumps()


async def test_the_recipe_rebuilds_an_equivalent_agent(tmp_path: Path) -> None:
    """A recipe, pickled and built in a fresh place, gives an agent with the same setup."""
    agent = make_agent("r", cache_config=CacheConfig(default_ttl=9),
                       resource_limits=ResourceLimits(max_concurrent_tasks=3))
    twin = pickle.loads(AgentRecipe.of(agent).dumps()).build()
    assert twin is not agent and twin.agent_id == "r" and list(twin.tools) == ["work"]
    assert twin.cache_config == agent.cache_config and twin.cache is not agent.cache
    assert twin.resource_limits == agent.resource_limits
    result = await twin.execute_task(tasks(1, tmp_path)[0])
    assert result["output"] == 'done {"n": 0, "square": 0}'


async def test_a_context_or_task_that_cannot_travel_is_named_before_ray_starts() -> None:
    """A context or task dict that cannot be pickled is a ConfigError naming it, before
    any worker starts."""
    engine = RayEngine(workers=1)
    with pytest.raises(ConfigError, match="The context cannot be sent to a Ray worker"):
        await make_agent().execute_batch(tasks(1), {"lock": threading.Lock()},
                                         engine=engine, progress=False)
    batch = ["fine", {"description": "not fine", "lock": threading.Lock()}]
    with pytest.raises(ConfigError, match="Task 1 cannot be sent"):
        await make_agent().execute_batch(batch, engine=engine, progress=False)
    assert engine.worker_handles() == []
