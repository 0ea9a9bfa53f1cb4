"""`batch_timeline`: a whole batch at a glance, one lane per worker.

Each lane shows how many of the batch's tasks were running on that worker over time
(a filled step curve scaled to the lane's peak), with failed tasks marked. The data
are the task spans a `RayEngine` merges into the driver's Monitor (their ``worker`` and
``batch`` attributes), so the chart covers every worker of the last batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pitstop.errors import NoRunRecorded
from pitstop.notebook._sources import spans_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BatchLane", "BatchTimeline", "batch_timeline", "batch_timeline_data",
           "batch_timeline_text"]


@dataclass(frozen=True, slots=True)
class BatchLane:
    worker: str
    tasks: int
    failed: int
    peak: int
    """The most tasks running at once on this worker."""
    steps: tuple[tuple[float, int], ...]
    """(seconds since the batch started, tasks running from then on)."""
    failures: tuple[float, ...]
    """When failed tasks ended (seconds since the batch started)."""


@dataclass(frozen=True, slots=True)
class BatchTimeline:
    batch: str
    duration: float
    lanes: tuple[BatchLane, ...]


def batch_timeline_data(source: Any, batch: str | None = None) -> BatchTimeline:
    """The lanes of one batch run on workers (default: the last one).

    Args:
        source: a `HybridAgent`, a `Monitor` or an iterable of `Span`.
        batch: the ``batch`` attribute of the run to draw.

    Raises:
        NoRunRecorded: no batch ran on workers (or none has that id).
    """
    spans = [s for s in spans_of("batch_timeline", source, kind="task")
             if "worker" in s.attrs and "batch" in s.attrs]
    if not spans:
        raise NoRunRecorded("No batch on workers is recorded; run "
                            "agent.execute_batch(tasks, engine=RayEngine(...)) first.")
    wanted = batch if batch is not None else str(spans[-1].attrs["batch"])
    mine = [s for s in spans if s.attrs["batch"] == wanted]
    if not mine:
        raise NoRunRecorded(f"No batch {wanted!r} is recorded.")
    t0 = min(s.start for s in mine)
    lanes = []
    for worker in sorted({str(s.attrs["worker"]) for s in mine}):
        own = [s for s in mine if s.attrs["worker"] == worker]
        edges = sorted([(s.start - t0, 1) for s in own] + [(s.end - t0, -1) for s in own])
        running, steps = 0, []
        for t, step in edges:
            running += step
            steps.append((t, running))
        lanes.append(BatchLane(worker, len(own), sum(s.status != "ok" for s in own),
                               max(n for _, n in steps), tuple(steps),
                               tuple(s.end - t0 for s in own if s.status != "ok")))
    return BatchTimeline(wanted, max(s.end for s in mine) - t0, tuple(lanes))


def _title(data: BatchTimeline) -> str:
    total = sum(lane.tasks for lane in data.lanes)
    failed = sum(lane.failed for lane in data.lanes)
    return (f"batch {data.batch} · {total} tasks on {len(data.lanes)} workers in "
            f"{data.duration:.2f} s" + (f" · {failed} failed" if failed else ""))


_LEGEND = "height: tasks running at once on the worker (full lane = its peak); x: failed"


def batch_timeline(source: Any, batch: str | None = None) -> Figure:
    """Draw the last batch (or `batch`) with a lane per worker; return the `Figure`."""
    import matplotlib.pyplot as plt

    data = batch_timeline_data(source, batch)
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.7 * len(data.lanes)))
    plt.close(fig)
    for y, lane in enumerate(data.lanes):
        xs = [0.0, *(t for t, _ in lane.steps)]
        levels = [0, *(n for _, n in lane.steps)]
        tops = [y + 0.4 - 0.8 * n / max(lane.peak, 1) for n in levels]
        ax.fill_between(xs, [y + 0.4] * len(xs), tops, step="post", color="#4c72b0",
                        alpha=0.8, linewidth=0)
        if lane.failures:
            ax.plot(lane.failures, [y] * len(lane.failures), "x", color="#c44e52")
    ax.set_yticks(range(len(data.lanes)),
                  [f"{lane.worker} · {lane.tasks} tasks, peak {lane.peak}"
                   for lane in data.lanes], fontsize=9)
    ax.set_ylim(len(data.lanes) - 0.5, -0.5)
    ax.set_xlim(0, max(data.duration, 1e-9) * 1.02)
    ax.set_xlabel("time since the batch started (s)")
    ax.grid(axis="x", color="#e0e0e0")
    ax.set_title(f"{_title(data)}\n{_LEGEND}", fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def batch_timeline_text(data: BatchTimeline, width: int = 50) -> str:
    """The same chart in characters: each cell is the share of the lane's peak running."""
    blocks = " ▁▂▃▄▅▆▇█"
    rows = [_title(data)]
    label = max(len(lane.worker) for lane in data.lanes)
    total = max(data.duration, 1e-9)
    for lane in data.lanes:
        cells = []
        for k in range(width):
            t = (k + 0.5) * total / width
            level = 0
            for at, n in lane.steps:
                if at > t:
                    break
                level = n
            cells.append(blocks[round(level / max(lane.peak, 1) * (len(blocks) - 1))])
        rows.append(f"{lane.worker:<{label}} |{''.join(cells)}| {lane.tasks} tasks, "
                    f"peak {lane.peak}" + (f", {lane.failed} failed" if lane.failed else ""))
    return "\n".join(rows)


def show_batch_timeline(source: Any, batch: str | None = None) -> None:
    """Display the chart: a PNG in Jupyter, the text form where images cannot show."""
    import io

    from IPython.display import display

    data = batch_timeline_data(source, batch)
    buf = io.BytesIO()
    batch_timeline(source, data.batch).savefig(buf, format="png", dpi=96,
                                               bbox_inches="tight")
    display({"image/png": buf.getvalue(), "text/plain": batch_timeline_text(data)},
            raw=True)
