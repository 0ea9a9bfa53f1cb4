"""The notebook layer: see and tune an agent's performance without leaving Jupyter.

``%load_ext pitstop`` gives ``%%agent`` and ``%agent_profile`` (`AgentMagics`). The
pieces they use are public too, and load on first use (`pitstop._lazy`) so
``import pitstop`` and ``%load_ext pitstop`` stay cheap:

* `StreamView`, `TextStreamView`: live views of a streamed run;
* `timeline`: a matplotlib Gantt chart of one run (`NoRunRecorded` before any run;
  ``live=True``: a `LiveTimeline` that grows while the next run goes);
  `batch_timeline`: a batch on workers, a lane per worker;
* `metrics_frame`, `cache_frame`, `cost_frame`, `waits_frame`, `spans_frame`: pandas
  DataFrames;
* `hints`, `show_profile`: plain sentences about what slows an agent down, and the
  whole profile that ``%agent_profile`` shows;
* `TTLTuner`, `replay`: choose cache TTLs by replaying the recorded tool calls.
"""

from typing import TYPE_CHECKING

from pitstop import _lazy

__all__ = [
    "AgentMagics",
    "LiveTimeline",
    "NoRunRecorded",
    "StreamView",
    "TTLTuner",
    "TextStreamView",
    "batch_timeline",
    "cache_frame",
    "cost_frame",
    "hints",
    "metrics_frame",
    "replay",
    "show_profile",
    "spans_frame",
    "timeline",
    "waits_frame",
]

__getattr__, __dir__ = _lazy.attach(
    __name__,
    {
        "StreamView": "pitstop.notebook._stream",
        "TextStreamView": "pitstop.notebook._stream",
        "timeline": "pitstop.notebook._gantt",
        "batch_timeline": "pitstop.notebook._batch_timeline",
        "LiveTimeline": "pitstop.notebook._live",
        "NoRunRecorded": "pitstop.errors",
        "metrics_frame": "pitstop.notebook._frames",
        "cache_frame": "pitstop.notebook._frames",
        "cost_frame": "pitstop.notebook._frames",
        "waits_frame": "pitstop.notebook._frames",
        "spans_frame": "pitstop.notebook._frames",
        "hints": "pitstop.notebook._advice",
        "show_profile": "pitstop.notebook._profile",
        "TTLTuner": "pitstop.notebook._ttl_tuner",
        "replay": "pitstop._cache.replay",
        "AgentMagics": "pitstop.notebook._magics",
    },
)

if TYPE_CHECKING:  # pragma: no cover - the same table, for type checkers and IDEs
    from pitstop._cache.replay import replay
    from pitstop.errors import NoRunRecorded
    from pitstop.notebook._advice import hints
    from pitstop.notebook._batch_timeline import batch_timeline
    from pitstop.notebook._frames import (
        cache_frame,
        cost_frame,
        metrics_frame,
        spans_frame,
        waits_frame,
    )
    from pitstop.notebook._gantt import timeline
    from pitstop.notebook._live import LiveTimeline
    from pitstop.notebook._magics import AgentMagics
    from pitstop.notebook._profile import show_profile
    from pitstop.notebook._stream import StreamView, TextStreamView
    from pitstop.notebook._ttl_tuner import TTLTuner
