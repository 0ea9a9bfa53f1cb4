"""Defects 1 and 15: a tool's own CancelledError, GeneratorExit, SystemExit or (from a
worker thread) KeyboardInterrupt is that tool's error result; the rest goes on."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from pitstop import AgentConfig, HybridAgent, tool
from pitstop.llm import FunctionLLM, LLMResponse, ToolCall

pytestmark = pytest.mark.timeout(30)  # before the fix some of these hung forever


@tool(register=False)
async def cancels(x: int = 0) -> int:
    """Raises CancelledError, as a library inside a tool can."""
    raise asyncio.CancelledError


@tool(register=False)
async def exits_generator(x: int = 0) -> int:
    """Raises GeneratorExit."""
    raise GeneratorExit


@tool(register=False)
async def fine(x: int = 0) -> int:
    """Works."""
    await asyncio.sleep(0)
    return x + 1


def _model(names: list[str]) -> FunctionLLM:
    def answer(messages: Any, tools: Any) -> LLMResponse:
        if any(m.role == "tool" for m in messages):
            return LLMResponse(text="done")
        return LLMResponse(tool_calls=[ToolCall(n, {"x": i}) for i, n in enumerate(names)])

    return FunctionLLM(answer)


@pytest.mark.parametrize("bad", ["cancels", "exits_generator"])
@pytest.mark.parametrize(
    ("parallel", "bound"), [(True, 1), (False, 10), (True, 10)],
    ids=["bound-1", "sequential", "bound-10"],
)
async def test_a_tools_own_cancellation_is_its_error_and_the_task_goes_on(
    bad: str, parallel: bool, bound: int
) -> None:
    """The task finishes: the bad call is an error result, the calls after it run."""
    names = [bad, "fine", bad, "fine"]
    agent = HybridAgent("c", _model(names), tools=[cancels, exits_generator, fine],
                        config=AgentConfig(max_concurrency=bound),
                        enable_parallel_execution=parallel)
    result = await agent.execute_task("go")
    assert result["success"], result["error"]
    outcomes = {(c["tool_name"], c["success"]) for c in result["tool_calls"]}
    assert outcomes == {(bad, False), ("fine", True)}
    assert len(result["tool_calls"]) == 4
    error = next(c["error"] for c in result["tool_calls"] if not c["success"])
    assert bad in error and ("CancelledError" in error or "GeneratorExit" in error)


async def test_execute_tools_parallel_never_hands_a_tools_cancellation_to_the_caller() -> None:
    """The caller, never cancelled, gets one result per call, errors in place."""
    agent = HybridAgent("c", _model([]), tools=[cancels, fine])
    for bound in (1, 10):
        out = await agent.execute_tools_parallel(
            [{"tool_name": "cancels", "parameters": {}}, {"tool_name": "fine",
                                                         "parameters": {"x": 1}}] * 3,
            max_concurrency=bound,
        )
        assert [r["success"] for r in out] == [False, True] * 3
        assert all(r["result"] == 2 for r in out if r["success"])


async def test_a_real_cancellation_still_cancels() -> None:
    """Cancelling the caller cancels the calls and raises CancelledError, as before."""
    started = asyncio.Event()

    @tool(register=False)
    async def slow(x: int = 0) -> int:
        """Waits forever."""
        started.set()
        await asyncio.Event().wait()
        return x

    agent = HybridAgent("c", _model([]), tools=[slow])
    job = asyncio.ensure_future(agent.execute_tools_parallel(
        [{"tool_name": "slow", "parameters": {"x": i}} for i in range(3)], max_concurrency=1))
    await started.wait()
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job


_SCRIPT = """
import asyncio, sys
from pitstop import HybridAgent, tool
from pitstop.llm import FunctionLLM, LLMResponse

@tool(register=False)
def {name}(x: int = 0) -> int:
    \"\"\"A tool that raises {exc}.\"\"\"
    raise {exc}(3)

{name} = {wrap}

async def main():
    agent = HybridAgent("p", FunctionLLM(lambda m, t: LLMResponse(text="x")), tools=[{name}])
    out = await agent.execute_tools_parallel(
        [{{"tool_name": "{name}", "parameters": {{}}}}, {{"tool_name": "{name}",
          "parameters": {{"x": 1}}}}])
    print("RESULTS", [(r["success"], r.get("error")) for r in out], flush=True)

asyncio.run(main())
print("PROCESS GOES ON", flush=True)
"""


def _run(name: str, exc: str, wrap: str) -> subprocess.CompletedProcess[str]:
    script = _SCRIPT.format(name=name, exc=exc, wrap=wrap)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("exc", "wrap"),
    [
        ("SystemExit", "{name}"),  # a sync tool: a worker thread
        ("SystemExit", "{name}.with_options(inline=True)"),  # on the event loop
        ("KeyboardInterrupt", "{name}"),  # from a worker thread
    ],
    ids=["SystemExit-thread", "SystemExit-inline", "KeyboardInterrupt-thread"],
)
def test_system_exit_and_a_worker_threads_interrupt_are_error_results(
    exc: str, wrap: str
) -> None:
    """The process goes on; each call is an error result naming the exception."""
    done = _run("bad", exc, wrap.format(name="bad"))
    assert "PROCESS GOES ON" in done.stdout, done.stderr[-2000:]
    assert done.stdout.count(f"raised {exc}") == 2, done.stdout


def test_system_exit_from_an_async_tool_is_an_error_result() -> None:
    """An async tool raising SystemExit gives an error result; the process goes on."""
    script = _SCRIPT.replace("def {name}(", "async def {name}(")
    done = subprocess.run(
        [sys.executable, "-c", script.format(name="bad", exc="SystemExit", wrap="bad")],
        capture_output=True, text=True, timeout=60)
    assert "PROCESS GOES ON" in done.stdout, done.stderr[-2000:]
    assert done.stdout.count("raised SystemExit") == 2, done.stdout


def test_keyboard_interrupt_on_the_main_thread_still_interrupts() -> None:
    """An interrupt on the event loop's thread (Ctrl-C in a notebook) still stops the run."""
    done = _run("bad", "KeyboardInterrupt", "bad.with_options(inline=True)")
    assert "PROCESS GOES ON" not in done.stdout
    assert "KeyboardInterrupt" in done.stderr
