"""Live views of a streamed run: `StreamView` (a widget) and `TextStreamView` (plain text).

`StreamView` shows, top to bottom:

* a status line (``● running`` … ``✓ done in 1.2 s · 2 model turns · 4 tool calls``),
  with limiter waits and compressions under it;
* the tool calls as chips that turn from running to done, cached or failed;
* the streamed text.

**Bytes stay proportional to the text.** A widget trait is always sent whole, so a
``value`` that grows by one token at a time would send the text again and again
(quadratic). The text therefore does not live in a trait: it is written as ordinary
``stream`` output captured by an `ipywidgets.Output` (the frontend appends each chunk
to the output, as it does for ``print``), so each character crosses the wire once.
Only the small status-and-chips HTML is a trait, sent when it changes.

**Updates are coalesced**: tokens are gathered and released by a `Coalescer` at most
`rate` times a second (30 by default), so a fast model never floods the browser.

`TextStreamView` prints the same run as plain text, for terminals and shells with no
frontend; `make_view` picks one.
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from traitlets import Float, Int, TraitError, Unicode, observe, validate

from pitstop.events import Event
from pitstop.notebook._coalesce import CallLater, Coalescer, loop_call_later
from pitstop.notebook._state import RunState, chips_html, format_seconds, summary_line

__all__ = ["StreamView", "TextStreamView", "make_view"]

Sink = Callable[[str], None]


def _write_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()  # ipykernel would otherwise hold it for up to 0.2 s


_STREAM_CSS = (
    "<style>.pitstop-stream pre { word-break: normal !important; "
    "overflow-wrap: anywhere; }</style>"
)


class StreamView(widgets.VBox):
    """A live view of one run: status, tool-call chips and the streamed text.

    Feed it the events of `HybridAgent.execute_task_streaming` with `handle`, then
    call `finish`. ``%%agent`` does this for you::

        view = StreamView()
        view.show()
        async for event in agent.execute_task_streaming("..."):
            view.handle(event)
        view.finish()

    Args:
        rate: the most updates per second sent to the browser.
        clock: seconds, monotonic (injected in tests).
        call_later: arms the timer that sends the end of a burst (injected in tests).
        sink: where new text goes; by default stdout, captured by the text area while
            the view is shown. Tests pass a recorder.
    """

    rate = Float(30.0, help="The most updates per second sent to the browser (1 to 120).")
    text = Unicode("", help="The text streamed so far. Kept in the kernel and never "
                            "synced: the browser receives each new chunk once.")
    status = Unicode("waiting", help="waiting, running, done, failed or interrupted.")
    updates = Int(0, help="Coalesced updates sent to the browser so far.")

    def __init__(
        self,
        *,
        rate: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        call_later: CallLater = loop_call_later,
        sink: Sink | None = None,
        **kwargs: Any,
    ) -> None:
        # one HTML for status and chips: fewer widgets make a cheaper start
        self._status = widgets.HTML(value=self._status_html("● waiting", [], ""))
        self._body = widgets.Output(layout=widgets.Layout(max_height="32em", overflow="auto"))
        self._body.add_class("pitstop-stream")
        # JupyterLab breaks stdout mid-word (word-break: break-all); wrap at spaces instead.
        style = widgets.HTML(value=_STREAM_CSS, layout=widgets.Layout(display="none"))
        super().__init__(children=[style, self._status, self._body], **kwargs)
        self.rate = rate
        self.state = RunState()
        self._pending: list[str] = []
        self._sink = sink or _write_stdout
        self._capturing = False
        self._handle: Any = None
        self._coalescer = Coalescer(self._flush, rate=self.rate, clock=clock,
                                    call_later=call_later)

    @validate("rate")
    def _check_rate(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 1 <= value <= 120:
            raise TraitError(f"rate must be between 1 and 120 updates per second, got {value}.")
        return value

    @observe("rate")
    def _rate_changed(self, change: Any) -> None:
        coalescer = getattr(self, "_coalescer", None)
        if coalescer is not None:
            coalescer.interval = 1.0 / change["new"]

    # -- showing -----------------------------------------------------------------------

    def show(self) -> None:
        """Display the view and route the cell's stdout into its text area."""
        from IPython.display import display

        self._handle = display(self, display_id=True)
        if self._sink is _write_stdout:
            sys.stdout.flush()
            self._body.__enter__()
            self._capturing = True

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None:  # where no widget renders, show the run as text
            bundle["text/plain"] = self._plain()
        return bundle

    def _plain(self) -> str:
        state = self.state
        lines = [summary_line(state, cancelled=self.status == "interrupted"), *state.notes()]
        body = state.answer if self.status in ("done", "failed") else state.streamed
        return "\n".join(lines) + ("\n\n" + body if body else "")

    # -- events ------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Fold one stream event into the view; the browser hears of it within 1/rate s."""
        if self.status == "waiting":
            self.status = "running"
        added = self.state.apply(event)
        if added:
            self._pending.append(added)
        self._coalescer.poke()

    def _flush(self) -> None:
        if self._pending:
            chunk = "".join(self._pending)
            self._pending.clear()
            self.text += chunk
            self._sink(chunk)
        state = self.state
        status = self._status_html(summary_line(state, cancelled=self.status == "interrupted"),
                                   state.notes(), chips_html(list(state.chips.values())))
        if status != self._status.value:  # sent only when it changed
            self._status.value = status
        self.updates += 1

    @staticmethod
    def _status_html(line: str, notes: list[str], chips: str) -> str:
        rows = [f"<div class='pitstop-status' style='font-weight:600'>{html.escape(line)}</div>"]
        rows += [f"<div style='color:#6a4c93'>{html.escape(n)}</div>" for n in notes]
        if chips:
            rows.append(f"<div class='pitstop-chips'>{chips}</div>")
        return "<div style='font-size:13px;font-family:sans-serif'>" + "".join(rows) + "</div>"

    def finish(self, *, cancelled: bool = False) -> None:
        """Send what is pending, show the final status and stop capturing stdout."""
        if cancelled:
            self.state.cancel_running()
            self.status = "interrupted"
        elif self.state.error is not None:
            self.status = "failed"
        else:
            self.status = "done"
        self._coalescer.poke()
        self._coalescer.close()
        if self._capturing:
            self._capturing = False
            self._body.__exit__(None, None, None)
        if self._handle is not None:
            self._handle.update(self)  # refresh the text/plain kept in the saved notebook


class TextStreamView:
    """The same run as plain text: tokens as they arrive, one line per tool event.

    For terminal IPython and shells with no frontend. Same interface as `StreamView`.

    Args:
        out: where to write (default: the current ``sys.stdout``).
    """

    def __init__(self, *, out: Any = None) -> None:
        self.state = RunState()
        self._out = out
        self._at_line_start = True

    def _write(self, text: str) -> None:
        if not text:
            return
        stream = self._out or sys.stdout
        stream.write(text)
        stream.flush()
        self._at_line_start = text.endswith("\n")

    def _line(self, text: str) -> None:
        self._write(("" if self._at_line_start else "\n") + text + "\n")

    def show(self) -> None:
        """Nothing to display up front: text is printed as it arrives."""

    def handle(self, event: Event) -> None:
        """Print what the event adds."""
        state = self.state
        added = state.apply(event)
        if added:
            self._write(added.lstrip("\n") if self._at_line_start else added)
            return
        match event["type"]:
            case "tool_call":
                chip = state.chips[event["call_id"]]
                self._line(f"  → {chip.label(72)}")
            case "tool_result":
                chip = state.chips[event["call_id"]]
                detail = {"done": format_seconds(chip.duration),
                          "cached": f"cached ({format_seconds(chip.duration)})",
                          "failed": f"failed: {chip.error}"}.get(chip.status, chip.status)
                mark = {"done": "✓", "cached": "⚡", "failed": "✗"}.get(chip.status, "·")
                self._line(f"  {mark} {chip.tool} {detail}")
            case "compression":
                self._line(f"  {state.notes()[-1]}")
            case "rate_limit_wait":
                self._line(f"  ◔ waited {format_seconds(event['waited'])} for {event['limit']}")

    def finish(self, *, cancelled: bool = False) -> None:
        """Print the closing status line."""
        if cancelled:
            self.state.cancel_running()
        self._line("")
        self._line(summary_line(self.state, cancelled=cancelled))


def make_view(mode: str = "auto", *, rate: float = 30.0) -> StreamView | TextStreamView:
    """A `StreamView` in a Jupyter kernel, a `TextStreamView` elsewhere.

    Args:
        mode: ``auto``, ``widget`` or ``text``.
        rate: updates per second of the widget.
    """
    if mode == "auto":
        from IPython import get_ipython

        ip = get_ipython()
        mode = "widget" if getattr(ip, "kernel", None) is not None else "text"
    if mode == "widget":
        return StreamView(rate=rate)
    return TextStreamView()
