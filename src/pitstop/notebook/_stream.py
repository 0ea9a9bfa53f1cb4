"""Live views of a streamed run: `StreamView` (a widget) and `TextStreamView` (plain text).

`StreamView` shows, top to bottom:

* a status line (``● running · my_agent`` … ``✓ done in 1.2 s · my_agent · 2 model
  turns · 4 tool calls``), with limiter waits and compressions under it;
* the tool calls as chips that turn from running to done, cached or failed;
* the streamed answer, rendered as Markdown while it streams (`pitstop.notebook._markdown`:
  safe, raw HTML from the model is shown as text).

**Bytes stay proportional to the text.** A widget trait is always sent whole, so a
``value`` that grows by one token at a time would send the text again and again
(quadratic). The answer therefore does not live in one trait: each finished Markdown
block is rendered once and written as ordinary display output captured by an
`ipywidgets.Output` (the frontend appends it, as it does for ``print``), and only the
last, still growing block (at most `TAIL_CHARS` characters) is a trait re-sent at each
update. The small status-and-chips HTML is a trait too, sent when it changes.

**Updates are coalesced**: tokens are gathered and released by a `Coalescer` at most
`rate` times a second (30 by default), so a fast model never floods the browser.

**The box follows the end.** The answer scrolls inside a box of at most 32 em that
keeps its end in view while text arrives (a ``column-reverse`` scroll container:
the browser pins it to the bottom), unless the reader has scrolled up.

**What stays in the notebook is static.** When the run ends, `finish` replaces the
widget, under the same display id, with static HTML (status, chips and the whole
answer, no height limit) and a ``text/plain`` fallback, then closes the widget. A
saved notebook therefore shows the answer when reopened, in nbconvert, nbviewer or on
GitHub, with no widget manager and no "model not found".

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
from pitstop.notebook._markdown import MarkdownStream, markdown_html
from pitstop.notebook._state import (
    RunState,
    chips_html,
    format_seconds,
    limit_label,
    summary_line,
)

__all__ = ["StreamView", "TextStreamView", "make_view", "resolve_mode", "static_bundle"]

TICK_SECONDS = 0.2
"""How often the countdown of a wait is re-drawn while it lasts."""

Sink = Callable[[str], None]
"""Receives each committed block of the answer as HTML, once."""


def _display_html(block: str) -> None:
    from IPython.display import HTML, display

    display(HTML(block))  # captured by the Output widget: the frontend appends it


_STREAM_CSS = (
    "<style>.pitstop-answer pre { white-space: pre-wrap; overflow-wrap: anywhere; "
    "margin: 0.3em 0; } .pitstop-answer table { border-collapse: collapse; } "
    ".pitstop-answer th, .pitstop-answer td { border: 1px solid #ccc; padding: 2px 6px; } "
    ".pitstop-stream .jp-OutputArea-output, .pitstop-stream .jp-RenderedHTMLCommon "
    "{ padding: 0 !important; margin: 0 !important; } "
    ".pitstop-stream .jp-OutputArea-prompt { display: none; } "
    ".pitstop-stream .widget-html, .pitstop-stream .widget-html-content "
    "{ font-size: 14px; line-height: 1.45; height: auto; } "
    ".pitstop-stream .widget-html-content > :first-child { margin-top: 0; }</style>"
)

_ANSWER_STYLE = "font-size:14px;line-height:1.45"


def _header_html(line: str, notes: list[str], chips: str) -> str:
    rows = [f"<div class='pitstop-status' style='font-weight:600'>{html.escape(line)}</div>"]
    rows += [f"<div class='pitstop-note' style='color:#6a4c93'>{html.escape(n)}</div>"
             for n in notes]
    if chips:
        rows.append(f"<div class='pitstop-chips'>{chips}</div>")
    return "<div style='font-size:13px;font-family:sans-serif'>" + "".join(rows) + "</div>"


def static_bundle(state: RunState, *, agent: str = "", cancelled: bool = False,
                  debug: str = "") -> dict[str, str]:
    """The final state of a run as ``text/html`` and ``text/plain`` (no widget needed).

    Args:
        state: the run's folded events.
        agent: the name of the agent that ran, shown in the header.
        cancelled: the run was interrupted.
        debug: a traceback to show folded (``<details>``) under the header.
    """
    line = summary_line(state, cancelled=cancelled, agent=agent)
    notes = state.notes()
    header = _header_html(line, notes, chips_html(list(state.chips.values())))
    body = state.answer if state.result is not None else state.streamed
    parts = [_STREAM_CSS, "<div class='pitstop-run'>", header]
    if debug:
        parts.append("<details class='pitstop-traceback'><summary>traceback</summary><pre>"
                     f"{html.escape(debug)}</pre></details>")
    if body:
        parts.append(f"<div class='pitstop-answer' style='{_ANSWER_STYLE}'>"
                     f"{markdown_html(body)}</div>")
    parts.append("</div>")
    plain = "\n".join([line, *notes]) + ("\n\n" + body if body else "")
    if debug:
        plain += "\n\n" + debug
    return {"text/html": "".join(parts), "text/plain": plain}


class StreamView(widgets.VBox):  # type: ignore[misc]  # ipywidgets ships no types
    """A live view of one run: status, tool-call chips and the streamed answer.

    Feed it the events of `HybridAgent.execute_task_streaming` with `handle`, then
    call `finish`. ``%%agent`` does this for you::

        view = StreamView(agent=agent.name)
        view.show()
        async for event in agent.execute_task_streaming("..."):
            view.handle(event)
        view.finish()

    Args:
        rate: the most updates per second sent to the browser.
        agent: the name of the agent, shown in the status line.
        clock: seconds, monotonic (injected in tests).
        call_later: arms the timer that sends the end of a burst (injected in tests).
        sink: where committed HTML blocks of the answer go; by default display output
            captured by the answer area while the view is shown. Tests pass a recorder.
    """

    folds_tracebacks = True
    """Tracebacks of user code are always kept, folded under the header."""

    rate = Float(30.0, help="The most updates per second sent to the browser (1 to 120).")
    text = Unicode("", help="The text streamed so far. Kept in the kernel and never "
                            "synced: the browser receives each block once.")
    status = Unicode("waiting", help="waiting, running, done, failed or interrupted.")
    updates = Int(0, help="Coalesced updates sent to the browser so far.")
    agent = Unicode("", help="The name of the agent that runs, shown in the status line.")

    def __init__(
        self,
        *,
        rate: float = 30.0,
        agent: str = "",
        clock: Callable[[], float] = time.monotonic,
        call_later: CallLater = loop_call_later,
        sink: Sink | None = None,
        **kwargs: Any,
    ) -> None:
        # one HTML for status and chips: fewer widgets make a cheaper start
        self._status = widgets.HTML(value=_header_html(f"● waiting · {agent}" if agent
                                                       else "● waiting", [], ""))
        # flex "0 0 auto": each part keeps its height, so the scroller (not they) scrolls
        self._body = widgets.Output(layout=widgets.Layout(flex="0 0 auto"))
        self._tail = widgets.HTML(value="", layout=widgets.Layout(flex="0 0 auto"))
        self._tail.add_class("pitstop-answer")
        self._body.add_class("pitstop-answer")
        # column-reverse pins the scroll position to the end while text arrives; it also
        # shows its children bottom-up, so the growing tail goes first
        self._scroller = widgets.Box(
            [self._tail, self._body],
            layout=widgets.Layout(max_height="32em", overflow="auto", display="flex",
                                  flex_flow="column-reverse"))
        self._scroller.add_class("pitstop-stream")
        style = widgets.HTML(value=_STREAM_CSS, layout=widgets.Layout(display="none"))
        self._parts: list[widgets.Widget] = [style, self._status, self._body, self._tail,
                                             self._scroller]
        super().__init__(children=[style, self._status, self._scroller], **kwargs)
        self.rate = rate
        self.agent = agent
        self.state = RunState(clock=clock)
        self.debug = ""
        """A traceback shown folded in the final output (set by ``%%agent``)."""
        self._call_later = call_later
        self._ticker: Any = None  # re-draws the countdown while a limit makes the run wait
        self._markdown = MarkdownStream()
        self._dirty = False
        self._sink = sink or _display_html
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

    def show(self, *, capture: bool = True) -> None:
        """Display the view and route the cell's display output into its answer area.

        Args:
            capture: start routing at once; False to display other outputs below the
                view first (they must be displayed before routing starts), then call
                `capture`.
        """
        from IPython.display import display

        self._handle = display(self, display_id=True)
        if capture:
            self.capture()

    def capture(self) -> None:
        """Route the cell's display output into the answer area until `finish`."""
        if self._sink is _display_html and not self._capturing:
            self._body.__enter__()
            self._capturing = True

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle: dict[str, Any] | None = super()._repr_mimebundle_(**kwargs)
        if bundle is not None:  # where no widget renders, show the run as text
            bundle["text/plain"] = self._plain()
        return bundle

    def _plain(self) -> str:
        return static_bundle(self.state, agent=self.agent,
                             cancelled=self.status == "interrupted")["text/plain"]

    # -- events ------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Fold one stream event into the view; the browser hears of it within 1/rate s."""
        if self.status == "waiting":
            self.status = "running"
        added = self.state.apply(event)
        if added:
            self.text += added
            self._dirty = True
        self._coalescer.poke()

    def _flush(self) -> None:
        if self._dirty:
            self._dirty = False
            done, tail = self._markdown.feed(self.text)
            if done:
                self._sink(done)
            if tail != self._tail.value:
                self._tail.value = tail
        state = self.state
        status = _header_html(
            summary_line(state, cancelled=self.status == "interrupted", agent=self.agent),
            state.notes(), chips_html(list(state.chips.values())))
        if status != self._status.value:  # sent only when it changed
            self._status.value = status
        self.updates += 1
        if state.waiting and self._ticker is None and self.status == "running":
            self._ticker = self._call_later(TICK_SECONDS, self._tick)

    def _tick(self) -> None:
        self._ticker = None
        if self.state.waiting and self.status == "running":
            self._coalescer.poke()

    def finish(self, *, cancelled: bool = False) -> None:
        """End the run: send what is pending, then leave static output in its place.

        When the view was shown, the widget is replaced under its display id by
        `static_bundle` (HTML with a ``text/plain`` fallback) and closed, so the saved
        notebook keeps the answer without a widget manager.
        """
        if cancelled:
            self.state.cancel_running()
            self.status = "interrupted"
        elif self.state.error is not None:
            self.status = "failed"
        else:
            self.status = "done"
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        self.state.waiting.clear()
        self._coalescer.poke()
        self._coalescer.close()
        rest = self._markdown.close(self.text)
        if rest:
            self._sink(rest)
        if self._tail.value:
            self._tail.value = ""
        if self._capturing:
            self._capturing = False
            self._body.__exit__(None, None, None)
        if self._handle is not None:
            bundle = static_bundle(self.state, agent=self.agent, cancelled=cancelled,
                                   debug=self.debug)
            self._handle.update(bundle, raw=True)
            for part in self._parts:
                part.close()
            self.close()


class TextStreamView:
    """The same run as plain text: tokens as they arrive, one line per tool event.

    For terminal IPython and shells with no frontend. Same interface as `StreamView`.

    Args:
        out: where to write (default: the current ``sys.stdout``).
    """

    folds_tracebacks = False
    """Tracebacks are printed only on request (``%%agent --debug``)."""

    def __init__(self, *, out: Any = None, agent: str = "") -> None:
        self.state = RunState()
        self.agent = agent
        self.debug = ""
        """A traceback printed after the closing line (set by ``%%agent --debug``)."""
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

    def show(self, *, capture: bool = True) -> None:
        """Nothing to display up front: text is printed as it arrives."""

    def capture(self) -> None:
        """Nothing to route: text is printed as it arrives."""

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
            case "rate_limit_wait" if event["phase"] == "start":
                expected = event.get("expected")
                about = f", about {format_seconds(expected)}" if expected is not None else ""
                self._line(f"  ◷ waiting for {limit_label(event['limit'])}{about}")
            case "rate_limit_wait":
                self._line(f"  ◔ waited {format_seconds(event.get('waited'))} for "
                           f"{limit_label(event['limit'])}")

    def finish(self, *, cancelled: bool = False) -> None:
        """Print the closing status line."""
        if cancelled:
            self.state.cancel_running()
        self._line("")
        self._line(summary_line(self.state, cancelled=cancelled, agent=self.agent))
        if self.debug:
            self._line(self.debug.rstrip("\n"))


def resolve_mode(mode: str = "auto") -> str:
    """``widget`` or ``text``: what ``auto`` means here (the widget in a Jupyter kernel)."""
    if mode == "auto":
        from IPython import get_ipython

        ip = get_ipython()
        return "widget" if getattr(ip, "kernel", None) is not None else "text"
    return mode


def make_view(
    mode: str = "auto", *, rate: float = 30.0, agent: str = ""
) -> StreamView | TextStreamView:
    """A `StreamView` in a Jupyter kernel, a `TextStreamView` elsewhere.

    Args:
        mode: ``auto``, ``widget`` or ``text``.
        rate: updates per second of the widget.
        agent: the name of the agent, shown in the status line.
    """
    if resolve_mode(mode) == "widget":
        return StreamView(rate=rate, agent=agent)
    return TextStreamView(agent=agent)
