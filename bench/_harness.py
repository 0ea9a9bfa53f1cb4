"""Small helpers shared by the benchmark scripts: timing, medians, tables, machine info."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
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


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]] | None]:
    """A throwaway redis-server on a free loopback port: ``(url, process)``, or None when
    redis-server is not installed or did not start (the caller prints "skipped")."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="pitstop-bench-redis-")
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    yield None
                    return
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", server
    finally:
        server.send_signal(18)  # SIGCONT, in case a benchmark left it stopped
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
