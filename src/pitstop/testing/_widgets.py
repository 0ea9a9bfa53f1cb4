"""Doubles for the notebook layer: count what widgets would send to a browser.

`record_comms` swaps the comm factory ipywidgets uses for one that records every
message (the widget's opening state and each update) with its size, the way
ipywidgets' own tests stub the comm. `StreamRecorder` is a sink for
`StreamView` that records each HTML block as the ``display_data`` message a kernel
would send.

Sizes are the JSON a Jupyter kernel would put in the message content (UTF-8,
``ensure_ascii=False``, as ``jupyter_client`` packs it) plus binary buffers. The
message envelope (header, parent header, signature) is not included; see
`envelope_bytes`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CommRecorder", "SentMessage", "StreamRecorder", "envelope_bytes", "record_comms"]


def _size(content: Any, buffers: Any = None) -> int:
    packed = json.dumps(content, ensure_ascii=False, default=str).encode("utf-8")
    return len(packed) + sum(len(memoryview(b).cast("B")) for b in buffers or ())


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One message that would reach the browser."""

    kind: str
    """``open`` (a widget's first state), ``update`` (a comm message), ``stream`` or
    ``display`` (an HTML block a `StreamView` committed)."""
    nbytes: int
    data: Any


@dataclass
class CommRecorder:
    """The messages recorded by `record_comms`, oldest first."""

    messages: list[SentMessage] = field(default_factory=list)

    def record(self, kind: str, data: Any, buffers: Any = None) -> None:
        self.messages.append(SentMessage(kind, _size(data, buffers), data))

    @property
    def nbytes(self) -> int:
        return sum(m.nbytes for m in self.messages)

    def clear(self) -> None:
        self.messages.clear()


class _RecordingComm:
    kernel = "recording"  # ipywidgets only sends when ``comm.kernel`` is set

    def __init__(self, recorder: CommRecorder, **kwargs: Any) -> None:
        self.comm_id = kwargs.get("comm_id") or uuid.uuid4().hex
        self._recorder = recorder
        recorder.record("open", kwargs.get("data"), kwargs.get("buffers"))

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        self._recorder.record("update", data, buffers)

    def on_msg(self, callback: Any) -> None:
        pass

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass


@contextmanager
def record_comms() -> Iterator[CommRecorder]:
    """Record every widget message created or sent inside the block."""
    import comm

    recorder = CommRecorder()
    original = comm.create_comm
    comm.create_comm = lambda **kwargs: _RecordingComm(recorder, **kwargs)  # type: ignore[assignment]
    try:
        yield recorder
    finally:
        comm.create_comm = original


@dataclass
class StreamRecorder:
    """A `StreamView` sink that records each committed HTML block as the
    ``display_data`` message a kernel would send."""

    messages: list[SentMessage] = field(default_factory=list)

    def __call__(self, block: str) -> None:
        content = {"data": {"text/html": block, "text/plain": "<IPython.core.display.HTML "
                                                              "object>"}, "metadata": {}}
        self.messages.append(SentMessage("display", _size(content), content))

    @property
    def text(self) -> str:
        """The HTML blocks sent, joined."""
        return "".join(m.data["data"]["text/html"] for m in self.messages)

    @property
    def nbytes(self) -> int:
        return sum(m.nbytes for m in self.messages)


def envelope_bytes(msg_type: str = "comm_msg") -> int:
    """Bytes a real Jupyter message adds around its content (header, parent header,
    metadata, HMAC signature), measured by serialising one with ``jupyter_client``."""
    from jupyter_client.session import Session

    session = Session(key=b"0" * 32)
    parent = session.msg("execute_request", {"code": ""})
    msg = session.msg(msg_type, {}, parent=parent)
    frames = session.serialize(msg)
    return sum(len(f) for f in frames) - len(b"{}")
