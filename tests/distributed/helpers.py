"""An agent for batch tests whose tool can sleep, burn CPU, or kill its own process.

A task is JSON: ``{"n": 3, "mode": "ok", "dir": "/tmp/x"}``. The scripted model calls
the ``work`` tool with those arguments, then answers with the tool's result. Every run
of the tool appends a line to ``<dir>/runs`` (O_APPEND writes from any process), so a
test counts how often each task really ran, across processes.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from pitstop import FunctionLLM, HybridAgent, LLMResponse, ToolCall
from pitstop.llm import Message


async def work(n: int, mode: str = "ok", dir: str = "", seconds: float = 0.0) -> dict[str, Any]:
    """Do task n.

    Args:
        n: the task number.
        mode: ok, kill_once (the first run of any such task kills its process), poison
            (always kills its process), gate (waits for the file ``<dir>/open``),
            cpu (burns `seconds` of CPU), or raise (raises ValueError).
        dir: where runs are counted.
        seconds: how long to sleep (or burn CPU, in cpu mode).
    """
    import asyncio

    if dir:
        fd = os.open(os.path.join(dir, "runs"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, f"{n} {os.getpid()}\n".encode())
        finally:
            os.close(fd)
    if mode == "poison":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "raise":
        raise ValueError(f"task {n} raises, as asked")
    if mode == "kill_once":
        try:
            os.close(os.open(os.path.join(dir, "killed"), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            pass
        else:
            await asyncio.sleep(seconds)  # let the tasks beside it start
            os.kill(os.getpid(), signal.SIGKILL)
    if mode == "gate":  # wait until the test opens the gate (a file)
        # another process opens it: a file is what both sides can see
        while not os.path.exists(os.path.join(dir, "open")):  # noqa: ASYNC110, ASYNC240
            await asyncio.sleep(0.01)
    if mode == "cpu":
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass
    elif seconds:
        await asyncio.sleep(seconds)
    return {"n": n, "square": n * n}


def script(messages: list[Message], tools: Any) -> LLMResponse | str:
    """Call ``work`` with the task's JSON, then answer with its result."""
    last = messages[-1]
    if last.role == "tool":
        return f"done {last.content}"
    args = json.loads(last.content)
    args.pop("tag", None)  # tells tasks apart without changing the tool call
    return LLMResponse(tool_calls=[ToolCall("work", args)])


def make_agent(agent_id: str = "batch", **kwargs: Any) -> HybridAgent:
    return HybridAgent(agent_id, FunctionLLM(script), tools=[work], **kwargs)


def tasks(count: int, dir: Path | str = "", **args: Any) -> list[str]:
    return [json.dumps({"n": i, "dir": str(dir), **args}) for i in range(count)]


def runs(dir: Path) -> list[int]:
    """The task numbers of every run recorded in `dir`, in the order they started."""
    path = dir / "runs"
    if not path.exists():
        return []
    return [int(line.split()[0]) for line in path.read_text().splitlines()]


async def wait_until(condition: Any, *, seconds: float = 60.0) -> None:
    """Poll `condition()` until it is true (state in files and other processes)."""
    import asyncio

    for _ in range(int(seconds / 0.01)):
        if await condition() if asyncio.iscoroutinefunction(condition) else condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{condition} stayed false for {seconds} s")
