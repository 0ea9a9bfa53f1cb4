"""What every contender of `bench_peers.py` offers: one `Side` per library.

A `Side` builds the *same* workload on its library and hands back a zero-argument
coroutine function that runs it once. The benchmark times those; it never reaches into
a library's internals. A workload a library has no feature for returns `None` from its
builder (rendered as ``—`` with the reason), never an imitation.

Every side counts its tool executions in ``tool_runs`` so the benchmark can check, before
timing anything, that a run really executed the tool calls it was scripted to make.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = [
    "AsyncFn",
    "CachedCall",
    "Limiter",
    "Side",
    "Unsupported",
    "zipf_arguments",
]

AsyncFn = Callable[[], Awaitable[object]]
"""One run of a workload: awaited by the timer, its return value used only by the checks."""

DONE = "done"
"""The final answer every scripted model gives after its tool turn."""


class Unsupported(Exception):
    """The library has no feature for this workload; the message says what it lacks."""


@dataclass
class CachedCall:
    """A tool call served through a library's own result cache.

    ``call(x)`` runs the tool ``lookup(x)`` through the cache; ``runs()`` says how many
    times the tool itself ran (the misses, i.e. the cost).
    """

    call: Callable[[int], Awaitable[object]]
    runs: Callable[[], int]
    how: str
    """One line: which cache and through which entry point."""


@dataclass
class Limiter:
    """A rate limiter: ``acquire()`` returns once one request may go."""

    acquire: Callable[[], Awaitable[object]]
    how: str


@dataclass
class Side:
    """One contender. Subclasses override the builders they support.

    Attributes:
        key: the column key (``pitstop``, ``langgraph``, ...).
        label: the column title.
        distributions: the PyPI distributions whose versions the report records.
        notes: how this side's adapters work (bounds, fake model), for the README and report.
    """

    key: str = ""
    label: str = ""
    distributions: tuple[str, ...] = ()
    notes: dict[str, str] = field(default_factory=dict)
    tool_runs: int = 0

    # -- agent loop ----------------------------------------------------------------------

    def agent_run(self, k: int) -> AsyncFn:
        """One agent run: one model turn with `k` calls of the tool ``noop(x)`` (none when
        ``k == 0``), then the final answer ``"done"``. Returns the answer text."""
        raise Unsupported("no agent loop")

    def fan_out(self, n: int, bound: int, delay: float) -> AsyncFn:
        """One agent run whose single tool turn makes `n` calls of a tool that sleeps
        `delay` seconds, at most `bound` running at once."""
        raise Unsupported("no agent loop")

    def four_tools(self, *, parallel: bool) -> AsyncFn:
        """The guide's example: one turn calling four different tools of 100 ms each."""
        raise Unsupported("no agent loop")

    def stream(self, pieces: list[str]) -> AsyncFn:
        """One run of a model that streams `pieces` with no tool call; returns how many
        text deltas reached the caller one by one."""
        raise Unsupported("no streaming")

    def batch(self, n: int, bound: int) -> AsyncFn:
        """`n` independent no-tool tasks on one agent, at most `bound` at once."""
        raise Unsupported("no agent loop")

    # -- features ------------------------------------------------------------------------

    def cached_tool(self, latency: float) -> CachedCall:
        """A tool ``lookup(x)`` (sleeping `latency` s, or returning at once when 0) behind
        the library's own tool/node cache (TTL 300 s, large enough never to evict)."""
        raise Unsupported("no tool cache")

    def uncached_tool(self, latency: float) -> CachedCall:
        """The same tool through the same entry point with no cache (for the replay)."""
        raise Unsupported("no tool cache")

    def limiter(self, per_second: float, burst: int) -> Limiter:
        """A rate limiter of `per_second` with a bucket of `burst`."""
        raise Unsupported("no rate limiter")

    # -- imports -------------------------------------------------------------------------

    imports: tuple[tuple[str, str], ...] = ()
    """``(row key, code)`` pairs timed in a fresh interpreter: ``"package"`` for the bare
    package import, ``"ready"`` for everything a first agent needs."""


def sleeper(delay: float, counter: Side) -> Callable[[int], Awaitable[int]]:
    """An async tool body that sleeps `delay` seconds and counts its runs on `counter`."""

    async def body(x: int) -> int:
        counter.tool_runs += 1
        await asyncio.sleep(delay)
        return x

    return body


def bounded(body: Callable[[int], Awaitable[int]], bound: int | None
            ) -> Callable[[int], Awaitable[int]]:
    """`body` behind an `asyncio.Semaphore(bound)`: how a user bounds a library that starts
    every tool call of a turn at once. ``None`` returns `body` unchanged."""
    if bound is None:
        return body
    sem = asyncio.Semaphore(bound)

    async def gated(x: int) -> int:
        async with sem:
            return await body(x)

    return gated


def zipf_arguments(n: int, distinct: int, s: float = 1.1, seed: int = 8) -> list[int]:
    """`n` tool arguments drawn from `distinct` values with Zipf(`s`) popularity (seeded),
    the shape of real repeated queries: a few very frequent, a long tail of rare ones."""
    rng = random.Random(seed)
    weights = [1.0 / (rank**s) for rank in range(1, distinct + 1)]
    return rng.choices(range(distinct), weights=weights, k=n)
