"""`show_profile`: what ``%agent_profile`` displays.

Latency per operation, the cache per tool, limiter waits, the last run's timeline and
hints, each under a heading. Every part has a plain-text form, so the profile reads
the same in a terminal.
"""

from __future__ import annotations

from typing import Any

from pitstop.notebook._advice import hints
from pitstop.notebook._frames import cache_frame, metrics_frame, readable, waits_frame
from pitstop.notebook._state import format_money, format_rate, format_seconds

__all__ = ["show_profile"]


def _heading(text: str) -> None:
    from IPython.display import display

    display({"text/markdown": f"#### {text}", "text/plain": f"\n{text}\n{'-' * len(text)}"},
            raw=True)


def _note(text: str) -> None:
    from IPython.display import display

    display({"text/markdown": text, "text/plain": text}, raw=True)


def show_profile(agent: Any) -> None:
    """Display the profile of `agent` (see the module docstring)."""
    from IPython.display import display

    from pitstop.notebook._gantt import show_timeline

    perf = agent.get_performance_metrics()
    _heading(f"pitstop profile · {agent.name}")
    if perf["total_tasks"]:
        _note(
            f"{perf['total_tasks']} tasks, {format_rate(perf['success_rate'])} succeeded · "
            f"response time avg {format_seconds(perf['avg_response_time'])}, p50 "
            f"{format_seconds(perf['p50_response_time'])}, p95 "
            f"{format_seconds(perf['p95_response_time'])} · {perf['total_tokens']:,} tokens, "
            f"{perf['total_tool_calls']} tool calls ({perf['cached_tool_calls']} from the cache)"
        )
    else:
        _note("No task is recorded yet (or metrics were reset): run one with %%agent.")

    _heading("Latency per operation")
    display(readable(metrics_frame(agent)))

    _heading("Tool cache")
    if agent.cache is None:
        _note("This agent has no cache: pass cache_config=CacheConfig() to HybridAgent.")
    else:
        stats = agent.get_cache_stats()
        _note(f"{stats['hits']} hits, {stats['misses']} misses, hit rate "
              f"{format_rate(stats['hit_rate'])} · saved {format_seconds(stats['time_saved_s'])}"
              f" and {format_money(stats['cost_saved'])} · {stats['size']} entries, "
              f"{stats['memory_mb']:.2f} MB")
        display(readable(cache_frame(agent)))

    _heading("Limiter waits")
    if agent.governor is None:
        _note("No resource limits are set (resource_limits=None).")
    else:
        display(readable(waits_frame(agent)))

    if agent.monitor.last_task_id() is not None:
        _heading("Last run")
        show_timeline(agent)

    _heading("Hints")
    found = hints(agent)
    _note("\n".join(f"- {h}" for h in found) if found
          else "Nothing stands out in these numbers.")
