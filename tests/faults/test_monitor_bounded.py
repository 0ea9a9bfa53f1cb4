"""Defect 9: every Monitor structure stays bounded, whatever the number of tasks or names."""

from __future__ import annotations

import warnings

from pitstop import HybridAgent, SimulatedLLM
from pitstop._metrics.monitor import Monitor


def test_task_spans_do_not_grow_any_index() -> None:
    """100,000 task spans (one id each) leave every structure at its bound."""
    monitor = Monitor(max_spans=1000, max_samples=500)
    for i in range(100_000):
        monitor.record("task", f"agent-{i}", 0.0, 1.0, task_id=f"agent-{i}")
    sizes = monitor.sizes()
    assert sizes["spans"] == 1000
    assert sizes["operations"] == 1
    assert sizes["index"] <= 2
    assert sizes["samples"] == 500
    assert monitor.operation_metrics("task")["count"] == 100_000


def test_distinct_names_are_capped_and_folded_into_other() -> None:
    """Unbounded distinct names (tool names a model made up, f-string operations) fold into
    '(other)' past max_operations, with one warning, and are still counted."""
    monitor = Monitor(max_operations=50)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(5_000):
            monitor.record("tool", f"made-up-{i}", 0.0, 1.0)
            monitor.record("operation", f"step {i}", 0.0, 1.0)
    sizes = monitor.sizes()
    assert sizes["operations"] <= 51 and sizes["index"] <= 102
    assert len([w for w in caught if "(other)" in str(w.message)]) == 1
    total = sum(monitor.operation_metrics(n)["count"] for n in monitor.operation_names())
    assert total == 10_000


async def test_an_agents_monitor_stays_bounded_over_many_tasks() -> None:
    """Thousands of tasks through an agent leave the Monitor's sizes flat."""
    agent = HybridAgent("m", SimulatedLLM(time_to_first_token=0, tokens_per_second=100_000),
                        monitor=Monitor(max_spans=500, max_samples=200))
    await agent.execute_batch([f"say hi {i}" for i in range(300)], progress=False)
    first = agent.monitor.sizes()
    await agent.execute_batch([f"say hi {i}" for i in range(2_000)], progress=False)
    assert agent.monitor.sizes() == first
