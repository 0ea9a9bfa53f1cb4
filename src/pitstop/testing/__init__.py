"""Test doubles for code built on pitstop: fake time, scripted models, recorded widgets.

* `FakeClock`: time that moves only when the test says so; pass it as ``clock=``,
  ``clock.sleep`` as ``sleep=`` and ``clock.call_later`` as ``call_later=``.
* `FunctionLLM`: a model whose answers come from a function you write;
  `ScriptedLLM`: one that answers each task with a fixed script of turns.
* `record_comms`, `CommRecorder`, `StreamRecorder`, `SentMessage`, `envelope_bytes`:
  what widgets and streams would send to a browser, counted with no browser.

Names load on first use (`pitstop._lazy`); nothing here is imported by ``import pitstop``.
"""

from typing import TYPE_CHECKING

from pitstop import _lazy

__all__ = [
    "CommRecorder",
    "FakeClock",
    "FakeTimer",
    "FunctionLLM",
    "ScriptedLLM",
    "SentMessage",
    "StreamRecorder",
    "envelope_bytes",
    "record_comms",
]

__getattr__, __dir__ = _lazy.attach(
    __name__,
    {
        "FakeClock": "pitstop.testing._clock",
        "FakeTimer": "pitstop.testing._clock",
        "FunctionLLM": "pitstop.llm._function",
        "ScriptedLLM": "pitstop.testing._models",
        "CommRecorder": "pitstop.testing._widgets",
        "SentMessage": "pitstop.testing._widgets",
        "StreamRecorder": "pitstop.testing._widgets",
        "envelope_bytes": "pitstop.testing._widgets",
        "record_comms": "pitstop.testing._widgets",
    },
)

if TYPE_CHECKING:  # pragma: no cover - the same table, for type checkers and IDEs
    from pitstop.llm._function import FunctionLLM
    from pitstop.testing._clock import FakeClock, FakeTimer
    from pitstop.testing._models import ScriptedLLM
    from pitstop.testing._widgets import (
        CommRecorder,
        SentMessage,
        StreamRecorder,
        envelope_bytes,
        record_comms,
    )
