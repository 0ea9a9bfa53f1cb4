"""The notebook layer: see and tune an agent's performance without leaving Jupyter.

``%load_ext pitstop`` gives ``%%agent`` and ``%agent_profile`` (`pitstop.notebook.magics`).
The pieces they use are public too, and load on first use so ``import pitstop`` and
``%load_ext pitstop`` stay cheap:

* `StreamView`, `TextStreamView`: live views of a streamed run;
* `timeline`: a matplotlib Gantt chart of one run;
* `metrics_frame`, `cache_frame`, `waits_frame`, `spans_frame`: pandas DataFrames;
* `hints`: plain sentences about what slows an agent down;
* `TTLTuner`, `replay`: choose cache TTLs by replaying the recorded tool calls.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "StreamView": "pitstop.notebook.stream",
    "TextStreamView": "pitstop.notebook.stream",
    "timeline": "pitstop.notebook.gantt",
    "NoRunRecorded": "pitstop.notebook.gantt",
    "metrics_frame": "pitstop.notebook.frames",
    "cache_frame": "pitstop.notebook.frames",
    "waits_frame": "pitstop.notebook.frames",
    "spans_frame": "pitstop.notebook.frames",
    "hints": "pitstop.notebook.advice",
    "show_profile": "pitstop.notebook.profile",
    "TTLTuner": "pitstop.notebook.ttl_tuner",
    "replay": "pitstop.cache.replay",
    "AgentMagics": "pitstop.notebook.magics",
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
    from pitstop.cache.replay import replay  # noqa: F401
    from pitstop.notebook.advice import hints  # noqa: F401
    from pitstop.notebook.frames import (  # noqa: F401
        cache_frame,
        metrics_frame,
        spans_frame,
        waits_frame,
    )
    from pitstop.notebook.gantt import NoRunRecorded, timeline  # noqa: F401
    from pitstop.notebook.magics import AgentMagics  # noqa: F401
    from pitstop.notebook.profile import show_profile  # noqa: F401
    from pitstop.notebook.stream import StreamView, TextStreamView  # noqa: F401
    from pitstop.notebook.ttl_tuner import TTLTuner  # noqa: F401
