"""`hints`: a few plain sentences about where an agent loses time, drawn from its numbers.

Each hint comes from a measured fact, never from a guess about the code:

* a tool whose cache hit rate is low, or that is not cached (no cache, or TTL 0)
  although it was called again with identical arguments;
* a resource limit that made calls wait (with its share of the run), or refused them;
* a model turn whose tool calls ran one after another although they could overlap;
* a turn that asked for more tool calls than may run at once;
* auto-compression that fires (nearly) every model turn;
* a model call whose prompt-cache share fell although its prompt is long: its prefix
  changed since the turn before (like pydantic-ai-harness's ``WarnOnCacheBusts``).

Each names the setting to change and what it would save, measured from the run.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from typing import Any

from pitstop._metrics.monitor import Span
from pitstop.notebook._gantt import peak_overlap
from pitstop.notebook._sources import agent_of
from pitstop.notebook._state import format_seconds

__all__ = ["hints"]


def _s(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _cache_hints(agent: Any, min_calls: int, low_hit_rate: float) -> list[str]:
    out = []
    stats = agent.get_cache_stats().get("tool_stats", {})
    for tool, s in stats.items():
        lookups = s["hits"] + s["misses"]
        if lookups >= min_calls and s["hit_rate"] < low_hit_rate:
            out.append(
                f"Tool {tool!r} hits the cache {s['hit_rate']:.0%} of the time "
                f"({s['hits']} of {lookups} lookups): its arguments rarely repeat within its "
                f"TTL ({s['ttl']:g} s). TTLTuner(agent) shows what other TTLs would save."
            )
    cache = getattr(agent, "cache", None)
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    repeated_time: dict[str, float] = defaultdict(float)
    if cache is not None:
        for r in cache.trace():
            if r.outcome == "bypass" and r.ttl == 0 and r.key is not None and r.storable:
                if seen[r.tool][r.key]:
                    repeated_time[r.tool] += r.latency
                seen[r.tool][r.key] += 1
    else:  # no cache: the tool spans carry each call's key
        for s in agent.monitor.spans(kind="tool"):
            key = s.attrs.get("key")
            if key is not None and s.status == "ok":
                if seen[s.name][key]:
                    repeated_time[s.name] += s.end - s.start
                seen[s.name][key] += 1
    for tool, keys in seen.items():
        repeats = sum(n - 1 for n in keys.values())
        if repeats >= 2:
            calls = sum(keys.values())
            saved = format_seconds(repeated_time[tool])
            if cache is not None:
                out.append(
                    f"Tool {tool!r} is not cached (TTL 0), yet {repeats} of its {calls} calls "
                    f"repeated earlier arguments; a TTL above 0 "
                    f"(CacheConfig.tool_specific_ttl[{tool!r}]) would serve those from the "
                    f"cache and save about {saved} of tool time."
                )
            else:
                out.append(
                    f"Tool {tool!r} was called {calls} times, {repeats} of them with arguments "
                    f"it had already been given, and the agent has no cache; "
                    f"HybridAgent(..., cache_config=CacheConfig()) would serve those and save "
                    f"about {saved} of tool time."
                )
    return out


def _limit_hints(agent: Any) -> list[str]:
    out = []
    limits = (agent.get_resource_usage() or {}).get("limits") or {}
    run_time = sum(s.end - s.start for s in agent.monitor.spans(kind="task"))
    for name, s in limits.items():
        waits, rejected = int(s.get("waits", 0)), int(s.get("rejections", 0))
        if waits:
            waited = float(s.get("wait_time_s", 0.0))
            share = (f", {waited / run_time:.0%} of the tasks' time" if run_time > 0
                     and waited / run_time >= 0.01 else "")
            out.append(
                f"The limit {name}={s.get('limit')} made calls wait {_s(waits, 'time')}, "
                f"{format_seconds(waited)} in all{share} (longest "
                f"{format_seconds(s.get('max_wait_s', 0.0))}); raising ResourceLimits.{name} "
                "(if your provider allows) would save up to that, as would fewer or smaller "
                "requests."
            )
        if rejected:
            out.append(f"The limit {name}={s.get('limit')} refused {_s(rejected, 'request')} "
                       "(reject_on_limit=True).")
    return out


def _parallel_hints(agent: Any) -> list[str]:
    turns: dict[tuple[str | None, int], list[Span]] = defaultdict(list)
    for s in agent.monitor.spans(kind="tool"):
        turn = s.attrs.get("turn")
        if turn:  # execute_tools_parallel calls have no model turn
            turns[(s.task_id, int(turn))].append(s)
    if not turns:
        return []
    out = []
    config = getattr(agent, "config", None)
    bound = getattr(config, "max_concurrency", None)
    limits = getattr(agent, "resource_limits", None)
    tool_slots = getattr(limits, "max_concurrent_tool_calls", None)
    serial = [(ran, peak_overlap(ran)) for spans in turns.values()
              if len(ran := [s for s in spans if not s.attrs.get("cached")]) >= 2]
    serial = [(ran, peak) for ran, peak in serial if peak == 1]
    if serial:
        spent = sum(s.end - s.start for ran, _ in serial for s in ran)
        ideal = sum(max(s.end - s.start for s in ran) for ran, _ in serial)
        if not getattr(agent, "enable_parallel_execution", True):
            cause = "enable_parallel_execution is False; set it to True"
        elif bound == 1:
            cause = "AgentConfig.max_concurrency is 1; raise it"
        elif tool_slots == 1:
            cause = "ResourceLimits.max_concurrent_tool_calls is 1; raise it"
        else:
            cause = ("the tools may block the event loop (a plain function doing I/O): make "
                     "them async, or let them run in a thread")
        out.append(
            f"{_s(len(serial), 'model turn')} ran {'its' if len(serial) == 1 else 'their'} "
            f"tool calls one after another ({spent:.2f} s of tool time); run together they "
            f"would take about {ideal:.2f} s: {cause}."
        )
    widest = max(len(spans) for spans in turns.values())
    caps = [(v, f"AgentConfig.max_concurrency is {v}") for v in [bound] if v] + \
        [(v, f"ResourceLimits.max_concurrent_tool_calls is {v}") for v in [tool_slots] if v]
    for cap, what in caps:
        if widest > cap and getattr(agent, "enable_parallel_execution", True):
            out.append(f"A model turn asked for {widest} tool calls but {what}, so they ran in "
                       f"{-(-widest // cap)} waves; raise it to run them all at once.")
    return out


CACHEABLE_PROMPT = 1024
"""Tokens below which providers do not cache a prompt at all (OpenAI's threshold)."""


def _cache_bust_hints(agent: Any) -> list[str]:
    """Model calls that lost the provider's prompt cache when the one before had it."""
    by_task: dict[str | None, list[Span]] = defaultdict(list)
    for s in agent.monitor.spans(kind="llm"):
        if "cached_share" in s.attrs:
            by_task[s.task_id].append(s)
    busts = 0
    lost = 0
    for spans in by_task.values():
        for before, after in itertools.pairwise(spans):
            was, now = before.attrs["cached_share"], after.attrs["cached_share"]
            if after.attrs["input_tokens"] >= CACHEABLE_PROMPT and was >= 0.3 and now < was / 2:
                busts += 1
                lost += int((was - now) * after.attrs["input_tokens"])
    if not busts:
        return []
    return [
        f"{_s(busts, 'model call')} lost the provider's prompt cache: the prompt's start "
        f"changed since the turn before (about {lost:,} tokens paid at the full input price). "
        "Keep the system prompt and the start of the history byte-identical between turns: "
        "don't put times or ids in the system prompt, and compress rarely and in big steps "
        "(auto_compress_threshold well above auto_compress_target) rather than every turn."
    ]


def hints(agent: Any, *, min_calls: int = 5, low_hit_rate: float = 0.2) -> list[str]:
    """Plain sentences about what slows `agent` down, from its recorded numbers.

    Args:
        agent: a `HybridAgent`.
        min_calls: cache lookups a tool needs before its hit rate is judged.
        low_hit_rate: below this a tool's hit rate is called low.

    Returns:
        One sentence per finding; empty when nothing stands out.
    """
    agent = agent_of("hints", agent)
    return [*_cache_hints(agent, min_calls, low_hit_rate), *_limit_hints(agent),
            *_parallel_hints(agent), *_cache_bust_hints(agent),
            *_compression_hints(agent)]


def _compression_hints(agent: Any, *, min_turns: int = 3, share: float = 0.8) -> list[str]:
    engine = getattr(agent, "context_engine", None)
    config = getattr(engine, "compression_config", None)
    squeezes = agent.monitor.spans(kind="compression")
    if config is None or not squeezes:
        return []
    first = min(s.start for s in squeezes)  # judge the turns once the history is full
    turns = sum(1 for s in agent.monitor.spans(kind="llm") if s.start >= first)
    if len(squeezes) < min_turns or len(squeezes) < share * turns:
        return []
    spent = sum(s.end - s.start for s in squeezes)
    threshold, target = config.auto_compress_threshold, config.auto_compress_target
    return [
        f"Auto-compression ran in {len(squeezes)} of the {_s(turns, 'model turn')} since it "
        "first fired "
        f"({format_seconds(spent)} in all): CompressionConfig.auto_compress_target={target} "
        f"is close to auto_compress_threshold={threshold}, so every turn crosses it again. "
        f"A lower target (e.g. {max(1, threshold // 2)}) compresses less often and would save "
        "most of that time."
    ]
