"""batch_timeline: a lane per worker from the task spans a RayEngine merges."""

from __future__ import annotations

import pytest

from pitstop._metrics.monitor import Monitor
from pitstop.notebook._batch_timeline import (
    batch_timeline,
    batch_timeline_data,
    batch_timeline_text,
)
from pitstop.notebook._gantt import NoRunRecorded


def _monitor() -> Monitor:
    m = Monitor()
    for tid, worker, start, end, status, batch in [
        ("a", "w1", 10.0, 12.0, "ok", "old"),
        ("b", "w1", 20.0, 22.0, "ok", "b1"),
        ("c", "w1", 21.0, 23.0, "error", "b1"),
        ("d", "w2", 20.5, 21.0, "ok", "b1"),
    ]:
        m.record("task", tid, start, end, status=status, task_id=tid,
                 attrs={"worker": worker, "batch": batch})
    m.record("task", "local-1", 30.0, 31.0, task_id="local-1")  # a local task: no lane
    return m


def test_lanes_count_tasks_peaks_and_failures_of_the_last_batch() -> None:
    """The last batch's tasks per worker, their peak overlap and failures, from its start."""
    data = batch_timeline_data(_monitor())
    assert data.batch == "b1" and data.duration == pytest.approx(3.0)
    w1, w2 = data.lanes
    assert (w1.worker, w1.tasks, w1.peak, w1.failed, w1.failures) == ("w1", 2, 2, 1, (3.0,))
    assert w1.steps == ((0.0, 1), (1.0, 2), (2.0, 1), (3.0, 0))
    assert (w2.tasks, w2.peak) == (1, 1)
    assert batch_timeline_data(_monitor(), "old").lanes[0].tasks == 1


def test_text_and_figure_draw_every_lane() -> None:
    """The text form has a row per worker; the figure a tick label per worker."""
    data = batch_timeline_data(_monitor())
    text = batch_timeline_text(data, width=12)
    assert text.splitlines()[0] == "batch b1 · 3 tasks on 2 workers in 3.00 s · 1 failed"
    assert text.splitlines()[1].startswith("w1 |") and "1 failed" in text.splitlines()[1]
    fig = batch_timeline(_monitor())
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["w1 · 2 tasks, peak 2", "w2 · 1 tasks, peak 1"]


def test_no_batch_on_workers_is_a_clear_error() -> None:
    """Without a batch on workers (or with an unknown id) the error says what to run."""
    with pytest.raises(NoRunRecorded, match="RayEngine"):
        batch_timeline_data(Monitor())
    with pytest.raises(NoRunRecorded, match="'nope'"):
        batch_timeline_data(_monitor(), "nope")
