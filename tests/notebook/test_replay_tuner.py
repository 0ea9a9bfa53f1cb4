"""replay() on a hand-made trace, exactly; and the TTLTuner panel, headless."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from traitlets import TraitError

from pitstop import CacheConfig, ConfigError, ToolCall
from pitstop._cache.replay import hit_rate_curve, replay
from pitstop._cache.trace import TraceRecord
from pitstop.notebook._ttl_tuner import TTLTuner, ttl_label
from pitstop.testing import FakeClock, record_comms

from .conftest import make_agent


def rec(t: float, tool: str, key: str | None, outcome: str = "miss", latency: float = 1.0,
        cost: float = 0.01, storable: bool = True, ttl: float = 10) -> TraceRecord:
    return TraceRecord(t, tool, key, outcome, latency, cost, storable, ttl)  # type: ignore[arg-type]


TRACE = [
    rec(0.0, "search", "A"),                          # runs; ready at 1.0
    rec(0.5, "search", "A", "shared"),                # joins the run in flight: age 0
    rec(5.0, "search", "A", "hit"),                   # served, 4 s old
    rec(12.0, "search", "A", "miss"),                 # expired at 11 under TTL 10
    rec(20.0, "search", "B", "error", storable=False),
    rec(1.0, "weather", "W", "bypass", latency=0.2, cost=0.001, ttl=0),
    rec(2.0, "weather", "W", "bypass", latency=0.2, cost=0.001, ttl=0),
]


def test_replay_under_the_recorded_ttls() -> None:
    """Tools left out keep their recorded TTL: search 10 s, weather 0."""
    r = replay(TRACE, {})
    s, w = r.tools["search"], r.tools["weather"]
    assert (s.calls, s.hits, s.time_saved_s, s.cost_saved) == (5, 2, 2.0, 0.02)
    assert (s.mean_age_s, s.max_age_s) == (2.0, 4.0)
    assert (w.calls, w.hits, w.hit_rate) == (2, 0, 0.0)
    assert (r.calls, r.hits, r.hit_rate) == (7, 2, 2 / 7)


def test_a_shorter_ttl_serves_less() -> None:
    """TTL 3: the call at 5 s finds the entry expired at 4 s."""
    s = replay(TRACE, {"search": 3}).tools["search"]
    assert (s.hits, s.mean_age_s, s.max_age_s) == (1, 0.0, 0.0)


def test_a_longer_ttl_serves_more_and_older_results() -> None:
    """TTL 20 keeps A until 21 s (hit at 12 s, 11 s old); weather TTL 5 serves the repeat."""
    r = replay(TRACE, {"search": 20, "weather": 5})
    s, w = r.tools["search"], r.tools["weather"]
    assert (s.hits, s.max_age_s) == (3, 11.0)
    assert s.mean_age_s == pytest.approx(5.0)
    assert (w.hits, w.time_saved_s, w.cost_saved) == (1, 0.2, 0.001)
    assert w.mean_age_s == pytest.approx(0.8)
    assert r.max_age_s == 11.0 and r.mean_age_s == pytest.approx((0 + 4 + 11 + 0.8) / 4)


def test_one_ttl_for_every_tool_and_zero_means_off() -> None:
    """A single number applies to all tools; 0 caches nothing."""
    assert replay(TRACE, 0).hits == 0
    assert replay(TRACE, 100).tools["weather"].hits == 1


def test_hit_rate_curve() -> None:
    """The curve is the hit rate replayed at each TTL."""
    assert hit_rate_curve(TRACE, "search", [0, 3, 10, 20]) == [0.0, 0.2, 0.4, 0.6]
    assert hit_rate_curve(TRACE, "nothing", [0, 10]) == [0.0, 0.0]


def fake_agent(cfg: CacheConfig | None = None) -> Any:
    cfg = cfg or CacheConfig(default_ttl=10, tool_specific_ttl={"weather": 0})
    return SimpleNamespace(cache=SimpleNamespace(trace=lambda: list(TRACE)), cache_config=cfg)


def test_ttl_labels() -> None:
    """TTLs read as people say them."""
    assert [ttl_label(v) for v in (0, 45, 60, 300, 3600, 86400, 172800, 90)] == \
        ["off", "45 s", "1 min", "5 min", "1 h", "1 day", "2 days", "90 s"]


def test_tuner_starts_at_the_current_ttls() -> None:
    """One slider per tool in the trace, at the TTL now in force; figures replayed."""
    with record_comms():
        tuner = TTLTuner(fake_agent())
    assert {t: s.value for t, s in tuner._sliders.items()} == {"search": 10.0, "weather": 0.0}
    assert tuner.ttls == {"search": 10.0, "weather": 0.0}
    assert tuner.result == replay(TRACE, {"search": 10, "weather": 0})
    frame = tuner.summary_frame()
    assert frame.loc["search", "hit_rate"] == 0.4 and frame.loc["total", "hits"] == 2
    assert bytes(tuner._plot.value).startswith(b"\x89PNG")


def test_moving_a_slider_replays_at_once() -> None:
    """A slider change updates ttls, the figures, the table and the plot."""
    with record_comms() as comms:
        tuner = TTLTuner(fake_agent())
        before = (tuner._summary.value, tuner._plot.value)
        comms.clear()
        tuner._sliders["search"].value = 3600.0
    assert tuner.ttls["search"] == 3600.0
    assert tuner.result is not None and tuner.result.tools["search"].hits == 3
    assert tuner.summary_frame().loc["search", "hit_rate_now"] == 0.4
    assert (tuner._summary.value, tuner._plot.value) != before
    assert len(comms.messages) <= 4  # the slider echo, the table and the plot


def test_setting_ttls_moves_the_sliders_and_adds_values() -> None:
    """ttls assigned in code moves the sliders, adding a TTL not on the grid."""
    with record_comms():
        tuner = TTLTuner(fake_agent())
        tuner.ttls = {"search": 7, "weather": 5}
    assert tuner._sliders["search"].value == 7.0
    assert ("7 s", 7.0) in tuner._sliders["weather"].options
    assert tuner.result == replay(TRACE, {"search": 7, "weather": 5})
    with pytest.raises(TraitError, match="No calls of tool 'serach' are recorded"):
        tuner.ttls = {"serach": 5}
    with pytest.raises(TraitError, match="must be a number >= 0 seconds, got -1"):
        tuner.ttls = {"search": -1}


def test_apply_writes_the_cache_config() -> None:
    """Apply sets tool_specific_ttl, keeping other tools' entries."""
    cfg = CacheConfig(default_ttl=10, tool_specific_ttl={"weather": 0})
    with record_comms():
        tuner = TTLTuner(fake_agent(cfg))
        tuner.ttls = {"search": 60, "weather": 300}
        tuner._apply_clicked()
    assert cfg.tool_specific_ttl == {"weather": 300.0, "search": 60.0}
    assert "Applied: search 1 min, weather 5 min" in tuner._status.value
    assert tuner.summary_frame().loc["search", "hit_rate_now"] == \
        tuner.summary_frame().loc["search", "hit_rate"]


def test_apply_without_a_cache_says_so() -> None:
    """No cache config: apply() raises, the button shows the sentence."""
    agent = SimpleNamespace(cache=None, cache_config=None)
    with record_comms():
        tuner = TTLTuner(agent)
        with pytest.raises(ConfigError, match="no cache to tune"):
            tuner.apply()
        tuner._apply_clicked()
    assert "no cache to tune" in tuner._status.value
    assert tuner.snapshot_bundle()["text/plain"] == "TTLTuner: no tool calls recorded yet"


async def test_tuner_on_a_real_agent_changes_what_is_cached() -> None:
    """Applying TTL 0 through the tuner makes the next identical call run the tool."""
    agent = make_agent([ToolCall("lookup", {"query": "x"})])
    await agent.execute_task("one")
    await agent.execute_task("two")
    with record_comms():
        tuner = TTLTuner(agent)
    assert tuner.result is not None and tuner.result.tools["lookup"].hits == 1
    assert "lookup" in tuner.snapshot_bundle()["text/plain"]
    tuner.ttls = {"lookup": 0}
    tuner.apply()
    before = agent.get_cache_stats()["tool_stats"]["lookup"]["bypassed"]
    await agent.execute_task("three")
    assert agent.get_cache_stats()["tool_stats"]["lookup"]["bypassed"] == before + 1


def test_the_snapshot_follows_every_change_at_most_four_times_a_second(ip: Any) -> None:
    """Shown, the tuner displays its widget, then a static snapshot under a display id; a
    burst of slider moves updates that snapshot at most 4 times a second, the last move
    always included, so the saved notebook holds the last choice."""
    from IPython.utils.capture import capture_output

    fake = FakeClock()
    with record_comms(), capture_output() as shown:
        tuner = TTLTuner(fake_agent(), clock=fake, call_later=fake.call_later)
        tuner._ipython_display_()
        for value in (30.0, 60.0, 300.0, 900.0, 3600.0):  # one drag, within 0.1 s
            tuner._sliders["search"].value = value
            fake.advance_to(fake.now + 0.02)
        fake.advance_to(1.0)
    widget, snapshot, *updates = shown.outputs
    assert "application/vnd.jupyter.widget-view+json" in widget.data
    assert "TTL tuner · search 10 s, weather off" in snapshot.data["text/html"]
    assert 1 <= len(updates) <= 2 and all(u.update for u in updates)
    assert {u.transient["display_id"] for u in updates} == {snapshot.transient["display_id"]}
    assert "TTL tuner · search 1 h, weather off" in updates[-1].data["text/html"]
    assert updates[-1].data["text/plain"] == tuner.snapshot_bundle()["text/plain"]


def test_a_change_made_in_code_updates_the_snapshot_at_once(ip: Any) -> None:
    """ttls set in a cell is published before the cell ends, however soon after another
    change (nbclient stops listening when a cell ends, before any timer would fire)."""
    from IPython.utils.capture import capture_output

    fake = FakeClock()
    with record_comms(), capture_output() as shown:
        tuner = TTLTuner(fake_agent(), clock=fake, call_later=fake.call_later)
        tuner._ipython_display_()
        tuner.ttls = {"search": 30}
        tuner.ttls = {"search": 60}  # the clock has not moved
    assert "TTL tuner · search 1 min<" in shown.outputs[-1].data["text/html"]
