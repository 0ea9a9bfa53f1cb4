"""`bench/run.py`: which scripts it runs, and that a failing one is reported, not hidden."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import run  # noqa: E402


def test_peers_come_first_and_local_only_on_request() -> None:
    """bench_peers runs first; bench_local only with --local; bench_run is not a script."""
    names = [n for n, _ in run.scripts(local=False)]
    assert names[0] == "peers" and "core" in names
    assert "local" not in names and "run" not in names and "soak" not in names
    assert "distributed" not in names
    assert "distributed" in [n for n, _ in run.scripts(local=False, distributed=True)]
    assert ("local" in [n for n, _ in run.scripts(local=True)]) == (BENCH / "bench_local.py"
                                                                      ).exists()


def test_a_failing_script_is_reported_with_its_last_lines(tmp_path: Path) -> None:
    """A script that exits non-zero shows as FAILED with the end of its output."""
    script = tmp_path / "bench_boom.py"
    script.write_text("print('half a table')\nraise SystemExit('boom: no such thing')\n")
    outcome = run.run_script("boom", [sys.executable, str(script)], timeout=30)
    assert not outcome.ok and outcome.code == 1
    ok = run.Outcome("core", ["python", "bench/bench_core.py"], 0, 1.0, "| a | b |\n", "")
    text = run.report([ok, outcome], quick=True, command="python bench/run.py --quick",
                      started=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                      versions={"langgraph": "1.0"}, venv_problem=None, load="0.1 0.1 0.1")
    assert "| bench_boom.py | FAILED (exit 1) |" in text
    assert "boom: no such thing" in text and "half a table" in text
    assert "| bench_core.py | ok |" in text and "langgraph 1.0" in text


def test_a_hung_script_times_out(tmp_path: Path) -> None:
    """A script that never ends is killed at the timeout and reported as timed out."""
    script = tmp_path / "bench_hang.py"
    script.write_text("import time\ntime.sleep(60)\n")
    outcome = run.run_script("hang", [sys.executable, str(script)], timeout=0.5)
    assert outcome.code is None and not outcome.ok
