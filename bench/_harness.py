"""Small helpers shared by the benchmark scripts: timing, medians, tables, machine info."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass
class Row:
    """One line of a results table."""

    workload: str
    measured: str
    target: str = ""
    baseline: str = ""
    ratio: str = ""
    verdict: str = ""


def median(values: list[float]) -> float:
    return statistics.median(values)


async def cpu_per_op(fn: Callable[[], Awaitable[None]], ops: int, repeat: int) -> float:
    """Median CPU seconds per operation of `fn` (which performs `ops` operations)."""
    samples = []
    await fn()  # warm up
    for _ in range(repeat):
        t = time.process_time()
        await fn()
        samples.append((time.process_time() - t) / ops)
    return median(samples)


async def wall(fn: Callable[[], Awaitable[None]], repeat: int) -> float:
    """Median wall seconds of `fn`."""
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - t)
    return median(samples)


def import_time(code: str, repeat: int) -> float:
    """Median wall seconds of `python -c code` minus an empty interpreter's start."""
    def run(c: str) -> float:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", c], check=True)
        return time.perf_counter() - t

    base, cost = [], []
    for _ in range(repeat):  # interleaved, so drift hits both alike
        base.append(run("pass"))
        cost.append(run(code))
    return max(0.0, median(cost) - median(base))


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def print_table(title: str, rows: list[Row]) -> str:
    """Print a Markdown table and return it."""
    header = "| workload | measured | target | baseline (same run) | ratio | verdict |"
    lines = [f"### {title}", "", header, "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.workload} | {r.measured} | {r.target} | {r.baseline} | {r.ratio} "
                     f"| {r.verdict} |")
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    return text
