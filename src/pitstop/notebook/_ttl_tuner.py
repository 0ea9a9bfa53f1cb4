"""`TTLTuner`: choose each tool's cache TTL by replaying the calls the agent made.

One slider per tool. Moving one replays the recorded trace (`pitstop._cache.replay`; no
tool is called) and shows at once the hit rate, the time and cost saved and how
old the served results would be, next to what the current TTLs give; a plot shows
each tool's hit rate against its TTL. *Apply* writes the chosen TTLs into the agent's
`CacheConfig.tool_specific_ttl`, which the cache reads at every call.

**What a saved notebook keeps.** The panel is a widget and stays live as long as the
kernel does, so its output cannot be swapped for static HTML the way a finished
``%%agent`` run is. Instead the tuner is displayed as two outputs: the widget, then a
static snapshot (`snapshot_bundle`: the chosen TTLs, the table and the chart as HTML
with a ``text/plain`` table) that is re-published under its display id at every change.
A saved notebook therefore always holds the last state as static output. JupyterLab 4
with ipywidgets 8 renders a widget output whose model is gone (the notebook reopened
with a new kernel) as "Error displaying widget: model not found" and never falls back
to the bundle's other types, so the snapshot carries a small stylesheet: while the live
panel is on the page the snapshot is hidden (no duplicate), and when it is not, the
dead widget output next to the snapshot is hidden instead. nbconvert (so nbviewer)
skips a widget with no saved state for its ``text/plain`` line, which the same
stylesheet hides; a renderer that drops stylesheets shows that one line, then the
snapshot.
"""

from __future__ import annotations

import base64
import html
import io
import time
import uuid
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd
from traitlets import Dict, TraitError, observe, validate

from pitstop._cache.replay import ReplayFigures, hit_rate_curve, replay
from pitstop.errors import ConfigError
from pitstop.notebook._coalesce import CallLater, Coalescer, loop_call_later
from pitstop.notebook._state import format_money, format_rate, format_seconds

__all__ = ["DEFAULT_CHOICES", "TTLTuner", "ttl_label"]

DEFAULT_CHOICES = (0, 10, 30, 60, 300, 900, 1800, 3600, 6 * 3600, 24 * 3600)
"""TTLs offered by the sliders, in seconds (the current TTLs are added)."""

SNAPSHOT_RATE = 4.0
"""The most snapshot updates a second while a slider is dragged (each holds the chart)."""


_PAD = " style='padding:2px 8px;text-align:right'"


def ttl_label(seconds: float) -> str:
    """``off``, ``45 s``, ``5 min``, ``6 h``, ``1 day``."""
    if seconds <= 0:
        return "off"
    for size, unit in ((86400, "day"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if unit == 'day' and n > 1 else ''}"
    return f"{seconds:g} s"


class TTLTuner(widgets.VBox):  # type: ignore[misc]  # ipywidgets ships no types
    """Sliders per tool that replay the recorded tool calls under candidate TTLs.

    Args:
        agent: a `HybridAgent` with a cache (``cache_config=CacheConfig(...)``).
        choices: the TTLs offered, in seconds.
        clock: seconds, monotonic (injected in tests).
        call_later: arms the timer that publishes the snapshot's last change of a burst
            (injected in tests); with no event loop each change is published at once.
    """

    ttls = Dict(help="The candidate TTL per tool, in seconds; the sliders show it, and "
                     "setting it moves them.")

    def __init__(
        self,
        agent: Any,
        *,
        choices: tuple[float, ...] = DEFAULT_CHOICES,
        clock: Callable[[], float] = time.monotonic,
        call_later: CallLater = loop_call_later,
    ) -> None:
        if not (hasattr(agent, "cache") and hasattr(agent, "cache_config")):
            raise ConfigError(
                f"TTLTuner(agent) takes a HybridAgent, got {agent!r:.60} "
                f"({type(agent).__name__}); pass the agent object itself."
            )
        self.agent = agent
        self._choices = tuple(choices)
        self._summary = widgets.HTML()
        self._plot = widgets.Image(format="png")
        self._status = widgets.HTML()
        self._sliders_box = widgets.VBox()
        apply = widgets.Button(description="Apply to agent", button_style="primary",
                               icon="check", tooltip="Write these TTLs into the agent's "
                                                     "CacheConfig.tool_specific_ttl")
        reload_ = widgets.Button(description="Reload trace", icon="refresh",
                                 tooltip="Replay the calls made since this panel opened too")
        apply.on_click(lambda _: self._apply_clicked())
        reload_.on_click(lambda _: self.refresh())
        self._sliders: dict[str, widgets.SelectionSlider] = {}
        self.trace: list[Any] = []
        self.result: ReplayFigures | None = None
        self.baseline: ReplayFigures | None = None
        self._grid: list[float] = []
        self._curves: dict[str, list[float]] = {}
        self._current: dict[str, float] = {}
        self._snapshots: list[Any] = []  # display handles of the static snapshots shown
        self._dragging = False

        def arm(delay: float, callback: Callable[[], None]) -> Any:
            timer = call_later(delay, callback)
            if timer is None:  # no loop to wait on: publish now rather than never
                callback()
            return timer

        self._snapshot_coalescer = Coalescer(self._send_snapshot, rate=SNAPSHOT_RATE,
                                             clock=clock, call_later=arm)
        self._id = uuid.uuid4().hex[:12]
        self._plot.layout = widgets.Layout(max_width="100%")
        super().__init__(children=[
            self._sliders_box, widgets.HBox([apply, reload_, self._status]),
            widgets.HBox([self._summary, self._plot],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start")),
        ])
        self.add_class(f"pitstop-ttl-live-{self._id}")
        self.refresh()

    # -- state -------------------------------------------------------------------------

    def _current_ttl(self, tool: str, recorded: float) -> float:
        cfg = getattr(self.agent, "cache_config", None)
        if cfg is None:
            return recorded
        return float(cfg.tool_specific_ttl.get(tool, cfg.default_ttl))

    def refresh(self) -> None:
        """Read the agent's trace again and rebuild the sliders."""
        cache = getattr(self.agent, "cache", None)
        self.trace = cache.trace() if cache is not None else []
        recorded = {r.tool: r.ttl for r in self.trace}
        self._current = {t: self._current_ttl(t, ttl) for t, ttl in sorted(recorded.items())}
        self._grid = sorted({float(c) for c in self._choices} | set(self._current.values()))
        self._curves = {t: hit_rate_curve(self.trace, t, self._grid) for t in self._current}
        self.baseline = replay(self.trace, self._current)
        sliders = {}
        for tool, ttl in self._current.items():
            slider = widgets.SelectionSlider(
                options=[(ttl_label(v), v) for v in self._grid], value=ttl, description=tool,
                continuous_update=True, style={"description_width": "8em"},
                layout=widgets.Layout(width="28em"),
            )
            slider.observe(lambda change, tool=tool: self._slid(tool, change["new"]), "value")
            sliders[tool] = slider
        self._sliders = sliders
        self._sliders_box.children = list(sliders.values())
        self._status.value = "" if self.trace else (
            "<i>No tool calls recorded yet: run some tasks, then press Reload trace.</i>"
            if cache is not None else
            "<i>This agent has no cache: build it with cache_config=CacheConfig().</i>")
        if self.ttls == self._current:
            self._update()
        else:
            self.ttls = dict(self._current)

    def _slid(self, tool: str, value: float) -> None:
        if self.ttls.get(tool) != value:
            self._dragging = True  # a slider moved: a burst of changes, coalesced
            try:
                self.ttls = {**self.ttls, tool: float(value)}
            finally:
                self._dragging = False

    @validate("ttls")
    def _check_ttls(self, proposal: Any) -> dict[str, float]:
        checked = {}
        for tool, value in proposal["value"].items():
            if tool not in self._current:
                known = ", ".join(map(repr, self._current)) or "none"
                raise TraitError(f"No calls of tool {tool!r} are recorded to replay; tools in "
                                 f"the trace: {known}.")
            if not isinstance(value, (int, float)) or not value >= 0:
                raise TraitError(f"The TTL of {tool!r} must be a number >= 0 seconds, "
                                 f"got {value!r}.")
            checked[tool] = float(value)
        return checked

    @observe("ttls")
    def _ttls_changed(self, change: Any) -> None:
        for tool, value in change["new"].items():
            slider = self._sliders[tool]
            if value not in self._grid:
                self._grid = sorted({*self._grid, float(value)})
                self._curves = {t: hit_rate_curve(self.trace, t, self._grid)
                                for t in self._current}
                for s in self._sliders.values():
                    keep = s.value
                    s.options = [(ttl_label(v), v) for v in self._grid]
                    s.value = keep
            if slider.value != value:
                slider.value = float(value)
        self._update()

    def _update(self) -> None:
        self.result = replay(self.trace, self.ttls)
        self._summary.value = self._summary_html()
        self._plot.value = self._render_plot() if self.trace else b""
        self._publish_snapshot()

    def _publish_snapshot(self) -> None:
        """Update the snapshots: at once after a change made in code (a cell may end, and
        nbclient stop listening, before a timer fires), coalesced while a slider moves."""
        if self._snapshots:
            self._snapshot_coalescer.poke()
            if not self._dragging:
                self._snapshot_coalescer.close()  # sends what is pending now

    def _send_snapshot(self) -> None:
        bundle = self.snapshot_bundle()
        for handle in self._snapshots:
            handle.update(bundle, raw=True)

    # -- output ------------------------------------------------------------------------

    def summary_frame(self) -> pd.DataFrame:
        """Per tool and in total: the chosen TTL, hits, hit rate (now and candidate), time
        and cost saved, and the mean and oldest age of the results served."""
        cols = ["ttl_s", "calls", "hits", "hit_rate", "hit_rate_now", "time_saved_s",
                "cost_saved", "mean_age_s", "max_age_s"]
        rows = {}
        result, base = self.result, self.baseline
        if result is None or base is None or not result.calls:
            return pd.DataFrame(columns=cols)
        for tool, f in result.tools.items():
            rows[tool] = [f.ttl, f.calls, f.hits, f.hit_rate, base.tools[tool].hit_rate,
                          f.time_saved_s, f.cost_saved, f.mean_age_s, f.max_age_s]
        rows["total"] = [float("nan"), result.calls, result.hits, result.hit_rate,
                         base.hit_rate, result.time_saved_s, result.cost_saved,
                         result.mean_age_s, result.max_age_s]
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=cols)
        frame.index.name = "tool"
        return frame

    def _summary_html(self) -> str:
        frame = self.summary_frame()
        if frame.empty:
            return ""
        cells = ["tool", "TTL", "hit rate", "now", "time saved", "cost saved",
                 "age of hits (mean / max)"]
        rows = ["".join(f"<th{_PAD}>{c}</th>" for c in cells)]
        for tool, r in frame.iterrows():
            ttl = "" if tool == "total" else ttl_label(r["ttl_s"])
            rows.append("".join(f"<td{_PAD}>{c}</td>" for c in (
                html.escape(str(tool)), ttl,
                f"<b>{format_rate(r['hit_rate'])}</b> ({int(r['hits'])}/{int(r['calls'])})",
                format_rate(r["hit_rate_now"]), format_seconds(r["time_saved_s"]),
                format_money(r["cost_saved"]),
                f"{format_seconds(r['mean_age_s'])} / {format_seconds(r['max_age_s'])}")))
        return ("<table style='font-size:12px;border-collapse:collapse'>"
                + "".join(f"<tr>{row}</tr>" for row in rows) + "</table>")

    def figure(self) -> Any:
        """The hit-rate-against-TTL chart as a matplotlib `Figure` (readable at 100% zoom:
        labelled axes with units, 9 pt ticks or more)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.4, 3.8))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        xs = range(len(self._grid))
        for tool, curve in self._curves.items():
            (line,) = ax.plot(xs, [100 * v for v in curve], marker=".", label=tool)
            chosen = self._grid.index(float(self.ttls.get(tool, self._current[tool])))
            ax.plot([chosen], [100 * curve[chosen]], marker="o", markersize=9,
                    color=line.get_color(), markeredgecolor="black")
        ax.set_xticks(list(xs), [ttl_label(v) for v in self._grid], rotation=35, fontsize=9,
                      ha="right")
        ax.tick_params(axis="y", labelsize=9)
        ax.set_xlabel("TTL (how long a result is served from the cache)", fontsize=10)
        ax.set_ylabel("hit rate (%)", fontsize=10)
        ax.set_ylim(-2, 102)
        ax.set_title("Hit rate against TTL, replayed on the recorded calls "
                     "(circle: the chosen TTL)", fontsize=10)
        ax.grid(color="#e6e6e6")
        ax.legend(fontsize=9, title="tool", title_fontsize=9)
        fig.tight_layout()
        return fig

    def _render_plot(self) -> bytes:
        buf = io.BytesIO()
        self.figure().savefig(buf, format="png", dpi=100)
        return buf.getvalue()

    def _plain(self) -> str:
        frame = self.summary_frame()
        return ("TTLTuner: no tool calls recorded yet" if frame.empty
                else f"TTLTuner (replayed)\n{frame.round(3).to_string()}")

    def snapshot_bundle(self) -> dict[str, str]:
        """The panel as it stands, as static ``text/html`` and ``text/plain``: the chosen
        TTLs, the table and the chart. No widget is needed to show it."""
        tid = self._id
        snap = f".pitstop-ttl-snapshot[data-tuner='{tid}']"
        live = f".pitstop-ttl-live-{tid}"
        # live panel on the page: hide this copy; no live panel (its model is gone after
        # a reopen): hide the widget output before this one, which only holds an error
        style = (f"<style>:root:has({live}) {snap} {{ display: none; }} "
                 f".jp-OutputArea-child:has(+ .jp-OutputArea-child {snap}):not(:has({live})) "
                 "{ display: none; }</style>")
        chosen = ", ".join(f"{html.escape(t)} {ttl_label(v)}" for t, v in self.ttls.items())
        head = ("<div style='font-weight:600;font-size:13px'>TTL tuner"
                + (f" · {chosen}" if chosen else "") + "</div>")
        status = self._status.value
        note = ("<div style='font-size:12px;color:#555'>A saved view of the tuner: run the "
                f"cell again to tune.{' ' + status if status else ''}</div>")
        png = bytes(self._plot.value or b"")
        img = (f"<img alt='hit rate against TTL' style='max-width:100%' "
               f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>" if png else "")
        body = (f"<div style='display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start'>"
                f"<div>{self._summary_html()}</div>{img}</div>")
        page = (f"{style}<div class='pitstop-ttl-snapshot' data-tuner='{tid}' "
                f"style='font-family:sans-serif'>{head}{note}{body}</div>")
        return {"text/html": page, "text/plain": self._plain()}

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle: dict[str, Any] | None = super()._repr_mimebundle_(**kwargs)
        if bundle is not None:  # where no widget renders, the snapshot shown next to it does
            bundle["text/plain"] = "TTLTuner: an interactive panel (its last state is saved " \
                                   "as the output after this one)"
        return bundle

    def _ipython_display_(self) -> None:
        """Show the widget, then its static snapshot, kept current under a display id."""
        from IPython.display import display

        bundle = self._repr_mimebundle_()
        if bundle is not None:
            display(bundle, raw=True)
        self._snapshots.append(display(self.snapshot_bundle(), raw=True, display_id=True))

    # -- applying --------------------------------------------------------------------------

    def apply(self) -> dict[str, float]:
        """Write the chosen TTLs into ``agent.cache_config.tool_specific_ttl``; return them.

        Raises:
            ConfigError: the agent has no cache config, or the config refuses a value.
        """
        cfg = getattr(self.agent, "cache_config", None)
        if cfg is None:
            raise ConfigError("This agent has no cache to tune; build it with "
                              "cache_config=CacheConfig().")
        chosen = {tool: float(v) for tool, v in self.ttls.items()}
        cfg.tool_specific_ttl = {**cfg.tool_specific_ttl, **chosen}
        self._current = dict(chosen)
        self.baseline = replay(self.trace, self._current)
        self._update()
        return chosen

    def _apply_clicked(self) -> None:
        try:
            chosen = self.apply()
        except ConfigError as exc:
            self._status.value = f"<span style='color:#b3261e'>{html.escape(str(exc))}</span>"
            self._publish_snapshot()
            return
        listed = ", ".join(f"{t} {ttl_label(v)}" for t, v in chosen.items())
        self._status.value = f"<span style='color:#1b7a33'>Applied: {html.escape(listed)}</span>"
        self._publish_snapshot()
