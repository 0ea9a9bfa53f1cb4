"""The notebook layer: see and tune an agent's performance without leaving Jupyter.

``%load_ext pitstop`` gives ``%%agent`` and ``%agent_profile`` (`pitstop.notebook._magics`).
The pieces they use are public too, and load on first use so ``import pitstop`` and
``%load_ext pitstop`` stay cheap:

* `StreamView`, `TextStreamView`: live views of a streamed run;
* `timeline`: a matplotlib Gantt chart of one run (``live=True``: a `LiveTimeline` that
  grows while the next run goes); `batch_timeline`: a batch on workers, a lane per worker;
* `metrics_frame`, `cache_frame`, `cost_frame`, `waits_frame`, `spans_frame`: pandas DataFrames;
* `hints`: plain sentences about what slows an agent down;
* `TTLTuner`, `replay`: choose cache TTLs by replaying the recorded tool calls.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "StreamView": "pitstop.notebook._stream",
    "TextStreamView": "pitstop.notebook._stream",
    "timeline": "pitstop.notebook._gantt",
    "batch_timeline": "pitstop.notebook._batch_timeline",
    "LiveTimeline": "pitstop.notebook._live",
    "NoRunRecorded": "pitstop.notebook._gantt",
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
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pitstop.notebook' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from pitstop._cache.replay import replay  # noqa: F401
    from pitstop.notebook._advice import hints  # noqa: F401
    from pitstop.notebook._batch_timeline import batch_timeline  # noqa: F401
    from pitstop.notebook._frames import (  # noqa: F401
        cache_frame,
        cost_frame,
        metrics_frame,
        spans_frame,
        waits_frame,
    )
    from pitstop.notebook._gantt import NoRunRecorded, timeline  # noqa: F401
    from pitstop.notebook._live import LiveTimeline  # noqa: F401
    from pitstop.notebook._magics import AgentMagics  # noqa: F401
    from pitstop.notebook._profile import show_profile  # noqa: F401
    from pitstop.notebook._stream import StreamView, TextStreamView  # noqa: F401
    from pitstop.notebook._ttl_tuner import TTLTuner  # noqa: F401
