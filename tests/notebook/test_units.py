"""One way to show numbers: durations, rates and money read the same in every view."""

from __future__ import annotations

import io

import pytest

from pitstop.notebook._state import format_money, format_rate, format_seconds
from pitstop.notebook._ttl_tuner import TTLTuner
from pitstop.testing import record_comms

from .test_replay_tuner import fake_agent


@pytest.mark.parametrize(("seconds", "shown"), [
    (0.0, "0 s"), (0.0002, "0.2 ms"), (0.0123, "12 ms"), (0.85, "850 ms"), (0.9999, "1.0 s"),
    (1.234, "1.2 s"), (12.34, "12.3 s"), (125.0, "2 min 05 s"), (None, "?"),
])
def test_durations_are_ms_below_a_second_and_s_above(seconds: float | None, shown: str) -> None:
    """Milliseconds below 1 s, seconds above, minutes past one; rounded for reading."""
    assert format_seconds(seconds) == shown


def test_rates_are_percentages_and_money_has_its_unit() -> None:
    """Rates as %, with a decimal only below 10%; dollars with the $ and sensible digits."""
    assert [format_rate(x) for x in (0.0, 0.045, 0.5, 1.0)] == ["0%", "4.5%", "50%", "100%"]
    assert [format_money(x) for x in (0.0, 0.0042, 0.123, 12.3)] == \
        ["$0", "$0.0042", "$0.12", "$12.30"]


def test_ttl_tuner_chart_is_readable_at_100_percent() -> None:
    """Both axes are labelled with their unit; ticks are 9 pt or more; the PNG is at least
    600 px wide; the table uses the shared formats."""
    from PIL import Image

    with record_comms():
        tuner = TTLTuner(fake_agent())
    ax = tuner.figure().axes[0]
    assert "TTL" in ax.get_xlabel() and ax.get_ylabel() == "hit rate (%)"
    sizes = [t.get_fontsize() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    assert min(sizes) >= 9
    width, _ = Image.open(io.BytesIO(bytes(tuner._plot.value))).size
    assert width >= 600
    table = tuner._summary.value
    assert "40%" in table and "$" in table and " s<" in table


async def test_profile_tables_read_in_ms_s_percent_and_dollars() -> None:
    """The tables %agent_profile shows use the same formats as every other view."""
    from pitstop import Monitor, ToolCall
    from pitstop.notebook._frames import cache_frame, metrics_frame, readable

    from .conftest import make_agent

    clock = [0.0]

    async def slow(query: str) -> str:
        """A 1.5 s tool on the monitor's clock."""
        clock[0] += 1.5
        return query

    agent = make_agent([ToolCall("slow", {"query": "x"})], tools=[slow],
                       monitor=Monitor(clock=lambda: clock[0]))
    await agent.execute_task("one")
    await agent.execute_task("two")
    latency = readable(metrics_frame(agent))
    assert latency.loc["tool:slow", "avg"] == "1.5 s" and "avg_ms" not in latency.columns
    assert latency.loc["cache_hit:slow", "max"].endswith(" ms") or \
        latency.loc["cache_hit:slow", "max"] == "0 s"
    cache = readable(cache_frame(agent))
    assert cache.loc["slow", "hit_rate"] == "50%" and cache.loc["slow", "cost_saved"] == "$0"
