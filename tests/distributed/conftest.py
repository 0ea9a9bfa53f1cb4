"""One local Ray for the session (2 CPUs, every process on 127.0.0.1), and an engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pitstop.distributed import RayEngine


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """Ray started the way RayEngine(address=None) starts it, once per test session."""
    from pitstop._batch.ray_runtime import start_local

    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        start_local(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def engine(ray_cluster: Any) -> Iterator[RayEngine]:
    """Two workers, eight tasks at once each; kept for the session (workers restart)."""
    eng = RayEngine(workers=2, concurrency_per_worker=8)
    yield eng


@pytest.fixture
def journal_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "journal.sqlite3"
    monkeypatch.setenv("PITSTOP_JOURNAL", str(path))
    return path
