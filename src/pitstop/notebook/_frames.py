"""The agent's numbers as pandas DataFrames, ready to sort, plot or export.

* `metrics_frame`: latency per operation (task, model calls, each tool, waits...).
* `cache_frame`: the tool cache per tool (hits, misses, hit rate, time and cost saved).
* `waits_frame`: each resource limit (waits, time waited, rejections).
* `cost_frame`: dollars per model and per tool, with tokens and what caching saved.
* `spans_frame`: every recorded span, one row each.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pitstop.notebook._sources import agent_of, monitor_of, spans_of

__all__ = ["cache_frame", "cost_frame", "metrics_frame", "readable", "spans_frame",
           "waits_frame"]

_LATENCY = ["count", "errors", "avg_ms", "p50_ms", "p95_ms", "p99_ms", "min_ms", "max_ms"]
_CACHE = ["hits", "misses", "hit_rate", "shared_hits", "bypassed", "errors", "time_saved_s",
          "cost_saved", "avg_latency_s", "ttl_s"]
_WAITS = ["limit", "waits", "wait_time_s", "max_wait_s", "rejections", "timeouts",
          "utilisation"]


def _order(name: str) -> tuple[int, str, int]:
    rank = {"task": 0, "llm_call": 1}.get(name)
    if rank is not None:
        return rank, name, 0
    for prefix, (rank, sub) in {"tool:": (2, 0), "cache_hit:": (2, 1), "wait:": (3, 0)}.items():
        if name.startswith(prefix):  # a tool's cache hits right under its runs
            return rank, name[len(prefix):], sub
    return 4, name, 0


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a frame for reading, not computing: durations as ``850 ms`` / ``1.2 s``
    (columns ending in ``_ms`` or ``_s``, renamed without the unit), rates as ``%``
    (``hit_rate``, ``utilisation``...) and money with its unit (``cost...``)."""
    from pitstop.notebook._state import format_money, format_rate, format_seconds

    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        values = frame[col]
        name = str(col)
        if name.endswith("_ms"):
            out[name[:-3]] = [format_seconds(v / 1000) if pd.notna(v) else "" for v in values]
        elif name.endswith("_s") and name != "ttl_s":
            out[name[:-2]] = [format_seconds(v) if pd.notna(v) else "" for v in values]
        elif "rate" in name or "share" in name or name == "utilisation":
            out[name] = [format_rate(v) if pd.notna(v) else "" for v in values]
        elif name.endswith("_usd"):
            out[name[:-4]] = [format_money(v) if pd.notna(v) else "" for v in values]
        elif name.startswith("cost"):
            out[name] = [format_money(v) if pd.notna(v) else "" for v in values]
        else:
            out[name] = values
    return out


def metrics_frame(agent: Any) -> pd.DataFrame:
    """Latency per operation, in milliseconds.

    Rows: ``task``, ``llm_call``, ``tool:<name>`` (runs of the tool) with
    ``cache_hit:<name>`` (calls the cache served) under it, ``wait:<limit>``,
    ``compression:<strategy>`` and your own `track_operation_time` names. Columns:
    ``count``, ``errors``, ``avg_ms``, ``p50_ms``, ``p95_ms``, ``p99_ms``, ``min_ms``,
    ``max_ms``.

    Args:
        agent: a `HybridAgent` (or a `Monitor`).
    """
    monitor = monitor_of("metrics_frame", agent)
    rows = {}
    for name in sorted(monitor.operation_names(), key=_order):
        m = monitor.operation_metrics(name)
        rows[name] = [m["count"], m["error_count"]] + [
            m[k] * 1000.0 for k in ("avg_time", "p50_time", "p95_time", "p99_time",
                                    "min_time", "max_time")
        ]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=_LATENCY)
    frame.index.name = "operation"
    return frame.astype({"count": "int64", "errors": "int64"})


def cache_frame(agent: Any) -> pd.DataFrame:
    """The tool cache per tool: ``hits``, ``misses``, ``hit_rate`` (of hits and misses;
    calls that bypass the cache are counted in ``bypassed``), ``shared_hits``,
    ``errors``, ``time_saved_s``, ``cost_saved``, ``avg_latency_s`` and ``ttl_s``.

    Empty (with these columns) when the agent has no cache or no call went through it.
    """
    stats = agent_of("cache_frame", agent).get_cache_stats()
    rows = {
        tool: [s.get("hits", 0), s.get("misses", 0), s.get("hit_rate", 0.0),
               s.get("shared_hits", 0), s.get("bypassed", 0), s.get("errors", 0),
               s.get("time_saved_s", 0.0), s.get("cost_saved", 0.0),
               s.get("avg_latency_s", 0.0), s.get("ttl", float("nan"))]
        for tool, s in stats.get("tool_stats", {}).items()
    }
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=_CACHE)
    frame.index.name = "tool"
    ints = {c: "int64" for c in ("hits", "misses", "shared_hits", "bypassed", "errors")}
    return frame.astype(ints)


def waits_frame(agent: Any) -> pd.DataFrame:
    """Each configured resource limit: its ``limit``, ``waits``, ``wait_time_s``,
    ``max_wait_s``, ``rejections``, ``timeouts`` and current ``utilisation``.

    Empty when the agent has no limits.
    """
    usage = agent_of("waits_frame", agent).get_resource_usage()
    limits = usage.get("limits") or {}
    rows = {name: [s.get(k, 0) for k in _WAITS] for name, s in limits.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=_WAITS)
    frame.index.name = "limit_name"
    return frame


_COST = ["calls", "input_tokens", "cached_input_tokens", "cached_share", "output_tokens",
         "reasoning_tokens", "cost_usd", "saved_usd", "unpriced_calls"]


def cost_frame(agent: Any) -> pd.DataFrame:
    """Dollars per model (``model:<name>``) and per priced tool (``tool:<name>``).

    Columns: ``calls``, ``input_tokens``, ``cached_input_tokens``, ``cached_share`` (of
    the input, served from the provider's prompt cache), ``output_tokens``,
    ``reasoning_tokens``, ``cost_usd``, ``saved_usd`` (the prompt-cache discount for a
    model, cached results for a tool) and ``unpriced_calls`` (calls of a model whose
    price is unknown: they add nothing to ``cost_usd``).
    """
    perf = agent_of("cost_frame", agent).get_performance_metrics()
    rows: dict[str, list[Any]] = {}
    for name, m in perf.get("models", {}).items():
        share = m["cached_input_tokens"] / m["input_tokens"] if m["input_tokens"] else 0.0
        rows[f"model:{name}"] = [m["calls"], m["input_tokens"], m["cached_input_tokens"], share,
                                 m["output_tokens"], m["reasoning_tokens"], m["cost"],
                                 m["prompt_cache_saved"], m["unpriced_calls"]]
    for name, t in perf.get("tools", {}).items():
        rows[f"tool:{name}"] = [t["calls"], 0, 0, 0.0, 0, 0, t["cost"], t["saved"], 0]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=_COST)
    frame.index.name = "item"
    ints = {c: "int64" for c in ("calls", "input_tokens", "cached_input_tokens",
                                 "output_tokens", "reasoning_tokens", "unpriced_calls")}
    return frame.astype(ints)


def spans_frame(agent_or_spans: Any, task_id: str | None = None) -> pd.DataFrame:
    """Every recorded span (optionally of one task), one row each, oldest first.

    Columns: ``kind``, ``name``, ``task_id``, ``status``, ``start_s`` and ``end_s``
    (seconds since the first span shown), ``duration_ms``, then one column per
    attribute seen (``turn``, ``call_id``, ``cached``, ``input_tokens``...).

    Args:
        agent_or_spans: a `HybridAgent`, a `Monitor` or an iterable of `Span`.
        task_id: keep only this task's spans.
    """
    spans = spans_of("spans_frame", agent_or_spans, task_id=task_id)
    t0 = min((s.start for s in spans), default=0.0)
    records = []
    for s in spans:
        row: dict[str, Any] = {"kind": s.kind, "name": s.name, "task_id": s.task_id,
                               "status": s.status, "start_s": s.start - t0,
                               "end_s": s.end - t0, "duration_ms": (s.end - s.start) * 1000.0}
        for key, value in s.attrs.items():
            row.setdefault(key, value)
        records.append(row)
    base = ["kind", "name", "task_id", "status", "start_s", "end_s", "duration_ms"]
    return pd.DataFrame.from_records(records, columns=base if not records else None)
