"""`show_profile`: what ``%agent_profile`` displays.

Latency per operation, the cache per tool, limiter waits, the last run's timeline and
hints, each under a heading. Every part has a plain-text form, so the profile reads
the same in a terminal.
"""

from __future__ import annotations

from typing import Any

from pitstop.notebook._advice import hints
from pitstop.notebook._frames import (
    cache_frame,
    cost_frame,
    metrics_frame,
    readable,
    waits_frame,
)
from pitstop.notebook._sources import agent_of
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

    agent = agent_of("show_profile", agent)
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

    if perf.get("models") or perf.get("tools"):
        _heading("Cost")
        priced = "" if not perf["unpriced_model_calls"] else (
            f" · {perf['unpriced_model_calls']} model calls of unknown price not counted "
            "(set price= on the client)")
        _note(f"{format_money(perf['total_cost'])} in all (models "
              f"{format_money(perf['model_cost'])}, tools {format_money(perf['tool_cost'])}) · "
              f"saved {format_money(perf['prompt_cache_saved'])} by the provider's prompt "
              f"cache and {format_money(perf['tool_cache_saved'])} by the tool cache{priced}")
        display(readable(cost_frame(agent)))

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
        budgets = agent.get_resource_usage().get("budgets")
        if budgets:
            parts = [f"{k}=${budgets[k]:g}" for k in ("max_cost_per_task", "max_cost_per_hour",
                                                       "max_cost_total") if budgets.get(k)]
            spent = budgets.get("spent_total_usd")
            _note("Spend budgets: " + ", ".join(parts)
                  + (f" · {format_money(spent)} spent under them" if spent is not None
                     else "")
                  + f" · {budgets['task_refusals']} task refusals")

    if agent.monitor.last_task_id() is not None:
        _heading("Last run")
        show_timeline(agent)
        last = agent.monitor.spans(kind="task")[-1]
        if "worker" in last.attrs and "batch" in last.attrs:
            from pitstop.notebook._batch_timeline import show_batch_timeline

            _heading("Last batch, a lane per worker")
            show_batch_timeline(agent)

    _heading("Hints")
    found = hints(agent)
    _note("\n".join(f"- {h}" for h in found) if found
          else "Nothing stands out in these numbers.")
