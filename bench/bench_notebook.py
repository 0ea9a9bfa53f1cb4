"""Notebook-layer figures: StreamView's updates and bytes, and the cost of ``%%agent``.

Run: ``.venv/bin/python bench/bench_notebook.py [--quick] [--real-time]``.

1. **StreamView under a fast stream.** 20,000 tokens at 2,000 tokens/s are fed to a
   `StreamView` whose comm is replaced by a recorder (`pitstop.testing`),
   like ipywidgets' own tests do. By default the schedule runs on a *fake clock*:
   token i arrives at i / 2000 s and the coalescer's timers fire at their due times,
   in order, so the figures are exact and the run takes no 10 s. ``--real-time``
   also runs it on the real asyncio loop with real sleeps and timers. Bytes are the
   JSON content of every message that would reach the browser (widget state and
   updates over the comm, including the re-rendered last Markdown block, and each
   finished block as ``display_data`` HTML); the "wire" column adds
   the Jupyter envelope (header, parent header, signature) of each message, measured
   by serialising one with ``jupyter_client``.
2. **%%agent overhead.** The same task on a zero-latency model (one tool call, a
   60-word answer), in a real IPython ``InteractiveShell``: ``await
   agent.execute_task(...)`` against ``%%agent``, interleaved, median of the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("MPLBACKEND", "Agg")

from _harness import Row, machine, median, print_table

from pitstop import FunctionLLM, HybridAgent, LLMResponse, ToolCall
from pitstop.llm._tokens import split_tokens
from pitstop.notebook._stream import StreamView
from pitstop.testing import FakeClock, StreamRecorder, envelope_bytes, record_comms

WORDS = ("the agent calls tools in parallel and streams its answer while the cache saves "
         "time, naïve café “quoted” {json: 1} résumé\n").split(" ")


def token_stream(n: int) -> list[str]:
    """n word-sized deltas of varied text (accents, quotes, braces, newlines)."""
    rnd = random.Random(0)
    text = " ".join(rnd.choice(WORDS) for _ in range(n * 2))
    return split_tokens(text)[:n]


def _timed(view: StreamView, clock: Any) -> list[float]:
    """Record when each coalesced update goes out."""
    times: list[float] = []
    flush = view._coalescer._flush

    def timed() -> None:
        times.append(clock())
        flush()

    view._coalescer._flush = timed
    return times


def busiest_second(times: list[float]) -> int:
    """The most updates sent within any one-second window."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def stream_fake_clock(tokens: list[str], rate: float) -> dict[str, Any]:
    fake = FakeClock()
    sink = StreamRecorder()
    with record_comms() as comms:
        view = StreamView(clock=fake, call_later=fake.call_later, sink=sink)
        times = _timed(view, fake)
        opened = comms.nbytes
        for i, tok in enumerate(tokens):
            fake.advance_to(i / rate)
            view.handle({"type": "token", "content": tok, "timestamp": 0.0, "task_id": "b"})
        fake.advance_to(len(tokens) / rate)
        view.finish()
    return _figures(tokens, view, sink, comms, opened, len(tokens) / rate, times)


async def _stream_real(tokens: list[str], rate: float) -> dict[str, Any]:
    sink = StreamRecorder()
    with record_comms() as comms:
        view = StreamView(sink=sink)
        times = _timed(view, time.monotonic)
        opened = comms.nbytes
        start = time.monotonic()
        for i, tok in enumerate(tokens):
            wait = start + i / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            view.handle({"type": "token", "content": tok, "timestamp": 0.0, "task_id": "b"})
        view.finish()
        elapsed = time.monotonic() - start
    return _figures(tokens, view, sink, comms, opened, elapsed, times)


def _figures(tokens: list[str], view: StreamView, sink: StreamRecorder, comms: Any,
             opened: int, seconds: float, times: list[float]) -> dict[str, Any]:
    text = "".join(tokens)
    assert view.text == text, "the view must hold exactly the streamed text"
    text_bytes = len(text.encode("utf-8"))
    updates = [m for m in comms.messages if m.kind == "update"]
    payload = comms.nbytes + sink.nbytes
    envelope = envelope_bytes("display_data")
    messages = len(comms.messages) + len(sink.messages)
    return {
        "seconds": seconds,
        "updates_per_s": view.updates / seconds,
        "busiest": busiest_second(times),
        "stream_msgs": len(sink.messages),
        "comm_msgs": len(comms.messages),
        "comm_updates": len(updates),
        "text_bytes": text_bytes,
        "payload": payload,
        "opened": opened,
        "ratio": payload / text_bytes,
        "wire_ratio": (payload + messages * envelope) / text_bytes,
        "envelope": envelope,
    }


def stream_rows(label: str, f: dict[str, Any]) -> list[Row]:
    return [
        Row(f"{label}: widget updates per second (mean over {f['seconds']:.1f} s; "
            "busiest 1-s window)", f"{f['updates_per_s']:.1f}; {f['busiest']}", "<= 30",
            verdict="ok" if f["busiest"] <= 31 else "MISSED"),
        Row(f"{label}: messages (display + comm)",
            f"{f['stream_msgs']} + {f['comm_msgs']} ({f['comm_updates']} updates)"),
        Row(f"{label}: bytes to the browser / text bytes",
            f"{f['payload']:,} / {f['text_bytes']:,} = {f['ratio']:.2f}", "<= 3",
            verdict="ok" if f["ratio"] <= 3 else "MISSED"),
        Row(f"{label}: the same with the Jupyter envelope ({f['envelope']} B/message)",
            f"{f['wire_ratio']:.2f}"),
    ]


# -- %%agent overhead ----------------------------------------------------------------------


async def lookup(query: str) -> str:
    return query.upper()


def zero_latency_agent() -> HybridAgent:
    answer = " ".join(["word"] * 60)
    call = LLMResponse(tool_calls=[ToolCall("lookup", {"query": "x"})])

    def fn(messages: list[Any], tools: Any) -> LLMResponse:
        return LLMResponse(text=answer) if messages[-1].role == "tool" else call

    return HybridAgent("bench", FunctionLLM(fn), tools=[lookup])


def overhead_rows(repeat: int) -> list[Row]:
    from IPython.core.async_helpers import get_asyncio_loop
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "pitstop")
    agent = zero_latency_agent()
    ip.user_ns["bench_agent"] = agent
    task = "Look up x and answer"
    loop = get_asyncio_loop()  # the loop both %%agent and `await` cells use here
    magics = ip.magics_manager.registry["AgentMagics"]

    def direct() -> None:
        loop.run_until_complete(agent.execute_task(task))

    def magic(mode: str) -> Any:
        def run() -> None:
            magics.display_mode = mode
            ip.run_cell_magic("agent", "bench_agent", task)
        return run

    def cell_await() -> None:
        ip.run_cell(f"_ = await bench_agent.execute_task({task!r})", store_history=False)

    def cell_magic() -> None:
        magics.display_mode = "text"
        ip.run_cell(f"%%agent bench_agent\n{task}", store_history=False)

    arms = {"direct": direct, "text": magic("text"), "widget": magic("widget"),
            "cell_await": cell_await, "cell_magic": cell_magic}
    samples: dict[str, list[float]] = {k: [] for k in arms}
    sink = io.StringIO()
    with record_comms(), contextlib.redirect_stdout(sink):
        for fn in arms.values():  # warm up every path once
            fn()
        for _ in range(repeat):  # interleaved, so drift hits every arm alike
            for name, fn in arms.items():
                t = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - t)
    med = {k: median(v) for k, v in samples.items()}

    def over(arm: str, base: str) -> tuple[str, str]:
        extra = (med[arm] - med[base]) * 1000
        return f"{extra:+.2f} ms", "ok" if extra <= 5 else "MISSED"

    text_extra, text_ok = over("text", "direct")
    widget_extra, widget_ok = over("widget", "direct")
    cell_extra, cell_ok = over("cell_magic", "cell_await")
    base = f"{med['direct'] * 1000:.2f} ms"
    return [
        Row("agent.execute_task(...) on the shell's loop", base),
        Row("%%agent, text view (run_cell_magic)", f"{med['text'] * 1000:.2f} ms "
            f"({text_extra})", "<= +5 ms", base, verdict=text_ok),
        Row("%%agent, widget view (recorded comm)", f"{med['widget'] * 1000:.2f} ms "
            f"({widget_extra})", "<= +5 ms", base, verdict=widget_ok),
        Row("cell `%%agent ...` vs cell `await agent.execute_task(...)`",
            f"{med['cell_magic'] * 1000:.2f} ms ({cell_extra})", "<= +5 ms",
            f"{med['cell_await'] * 1000:.2f} ms", verdict=cell_ok),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tokens and repeats")
    parser.add_argument("--real-time", action="store_true",
                        help="also stream on the real loop with real sleeps")
    args = parser.parse_args()
    n, repeat = (2_000, 15) if args.quick else (20_000, 60)
    rate = 2_000.0
    tokens = token_stream(n)
    print(f"Machine: {machine()}\n")
    rows = stream_rows("fake clock", stream_fake_clock(tokens, rate))
    if args.real_time:
        rows += stream_rows("real time", asyncio.run(_stream_real(tokens, rate)))
    print_table(f"StreamView: {n:,} tokens at {rate:,.0f} tokens/s", rows)
    print_table(f"%%agent overhead (zero-latency model, InteractiveShell, median of {repeat} "
                "interleaved repeats)", overhead_rows(repeat))


if __name__ == "__main__":
    main()
