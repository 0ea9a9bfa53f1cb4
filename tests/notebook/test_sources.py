"""The notebook helpers refuse a wrong object with a sentence naming the helper."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pitstop import HybridAgent
from pitstop.errors import ConfigError
from pitstop.llm import FunctionLLM
from pitstop.notebook import (
    LiveTimeline,
    TTLTuner,
    batch_timeline,
    cache_frame,
    cost_frame,
    hints,
    metrics_frame,
    show_profile,
    spans_frame,
    timeline,
    waits_frame,
)

HELPERS: dict[str, Callable[[Any], object]] = {
    "cache_frame": cache_frame, "cost_frame": cost_frame, "waits_frame": waits_frame,
    "metrics_frame": metrics_frame, "spans_frame": spans_frame, "hints": hints,
    "timeline": timeline, "batch_timeline": batch_timeline, "show_profile": show_profile,
    "TTLTuner": TTLTuner, "LiveTimeline": LiveTimeline,
}
WRONG = {"a name": "my-agent", "a result dict": {"output": "hi", "success": True},
         "a number": 3}


@pytest.mark.parametrize("wrong", WRONG.values(), ids=WRONG.keys())
@pytest.mark.parametrize("name", HELPERS)
def test_a_wrong_object_is_a_config_error_naming_the_helper(name: str, wrong: object) -> None:
    """Each helper given something that is not an agent says so, naming itself."""
    with pytest.raises(ConfigError, match=rf"^{name}\("):
        HELPERS[name](wrong)


def test_spans_must_be_spans() -> None:
    """An iterable of other things is refused, naming what it held."""
    with pytest.raises(ConfigError, match="iterable holding 'x'"):
        spans_frame(["x"])


def test_an_agent_and_its_spans_are_accepted() -> None:
    """The agent, its Monitor and its spans all give the same (empty) frame."""
    agent = HybridAgent("a", FunctionLLM(lambda m, t: "ok"))
    for source in (agent, agent.monitor, agent.monitor.spans()):
        assert spans_frame(source).empty
    assert cache_frame(agent).empty and hints(agent) == []
    LiveTimeline().follow(agent).unfollow()
    with pytest.raises(ConfigError, match=r"^LiveTimeline.follow\("):
        LiveTimeline().follow("a")
