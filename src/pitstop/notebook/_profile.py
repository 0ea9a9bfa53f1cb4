"""`show_profile`: what ``%agent_profile`` displays.

Latency per operation, the cache per tool, limiter waits, the last run's timeline and
hints, each under a heading. Every part has a plain-text form, so the profile reads
the same in a terminal.
"""

from __future__ import annotations

from typing import Any

from pitstop.notebook._advice import hints
from pitstop.notebook._frames import cache_frame, cost_frame, metrics_frame, waits_frame

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
            f"{perf['total_tasks']} tasks, {perf['success_rate']:.0%} succeeded · response "
            f"time avg {perf['avg_response_time'] * 1000:.0f} ms, p50 "
            f"{perf['p50_response_time'] * 1000:.0f} ms, p95 "
            f"{perf['p95_response_time'] * 1000:.0f} ms · {perf['total_tokens']:,} tokens, "
            f"{perf['total_tool_calls']} tool calls ({perf['cached_tool_calls']} from the cache)"
        )
    else:
        _note("No task is recorded yet (or metrics were reset): run one with %%agent.")

    if perf.get("models") or perf.get("tools"):
        _heading("Cost")
        priced = "" if not perf["unpriced_model_calls"] else (
            f" · {perf['unpriced_model_calls']} model calls of unknown price not counted "
            "(set price= on the client)")
        _note(f"${perf['total_cost']:.4f} in all (models ${perf['model_cost']:.4f}, tools "
              f"${perf['tool_cost']:.4f}) · saved ${perf['prompt_cache_saved']:.4f} by the "
              f"provider's prompt cache and ${perf['tool_cache_saved']:.4f} by the tool cache"
              f"{priced}")
        display(cost_frame(agent).round(4))

    _heading("Latency per operation (ms)")
    display(metrics_frame(agent).round(1))

    _heading("Tool cache")
    if agent.cache is None:
        _note("This agent has no cache: pass cache_config=CacheConfig() to HybridAgent.")
    else:
        stats = agent.get_cache_stats()
        _note(f"{stats['hits']} hits, {stats['misses']} misses, hit rate "
              f"{stats['hit_rate']:.0%} · saved {stats['time_saved_s']:.2f} s and "
              f"${stats['cost_saved']:.4f} · {stats['size']} entries, "
              f"{stats['memory_mb']:.2f} MB")
        display(cache_frame(agent).round(4))

    _heading("Limiter waits")
    if agent.governor is None:
        _note("No resource limits are set (resource_limits=None).")
    else:
        display(waits_frame(agent).round(3))
        budgets = agent.get_resource_usage().get("budgets")
        if budgets:
            parts = [f"{k}=${budgets[k]:g}" for k in ("max_cost_per_task", "max_cost_per_hour",
                                                       "max_cost_total") if budgets.get(k)]
            spent = budgets.get("spent_total_usd")
            _note("Spend budgets: " + ", ".join(parts)
                  + (f" · ${spent:.4f} spent under them" if spent is not None else "")
                  + f" · {budgets['task_refusals']} task refusals")

    if agent.monitor.last_task_id() is not None:
        _heading("Last run")
        show_timeline(agent)

    _heading("Hints")
    found = hints(agent)
    _note("\n".join(f"- {h}" for h in found) if found
          else "Nothing stands out in these numbers.")
