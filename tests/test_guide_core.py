"""The guide's Parallel Execution, Streaming and Monitoring blocks, run as written.

Each test body holds the guide's code block unchanged (only imports changed), after
the few lines that define what the block assumes (`agent`, `task`, `context`, ...).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from pitstop import HybridAgent, SimulatedLLM

logger = logging.getLogger("guide")


@pytest.fixture(autouse=True)
def _fast_demo_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PITSTOP_DEMO_LATENCY_SCALE", "0.02")


@pytest.fixture
def agent() -> HybridAgent:
    llm_client = SimulatedLLM(time_to_first_token=0.001, tokens_per_second=20_000)
    return HybridAgent("agent-1", llm_client,
                       tools=["search", "weather", "calculator", "translator"])


task = "Search for Python news and get the weather in Paris"
context = {"user": "guide"}


async def test_parallel_pattern_1_maximize_parallelism(agent: HybridAgent) -> None:
    """Pattern 1: four different tools run in parallel and come back in order."""
    # --- guide block ---
    # Execute many tools in parallel
    tool_calls = [
        {"tool_name": "search", "parameters": {"query": "Python"}},
        {"tool_name": "weather", "parameters": {"location": "NYC"}},
        {"tool_name": "calculator", "parameters": {"operation": "add", "a": 1, "b": 2}},
        {"tool_name": "translator", "parameters": {"text": "Hello", "target": "es"}}
    ]

    results = await agent.execute_tools_parallel(
        tool_calls,
        max_concurrency=10  # High concurrency
    )
    # --- end ---
    assert [r["tool_name"] for r in results] == ["search", "weather", "calculator", "translator"]
    assert all(r["success"] for r in results)
    assert results[2]["result"] == 3 and results[3]["result"]["translation"] == "hola"
    spans = [s for s in agent.monitor.spans(kind="tool") if s.name != "calculator"]
    assert max(s.start for s in spans) < min(s.end for s in spans)  # the three APIs overlapped


async def test_parallel_pattern_2_batch_processing(agent: HybridAgent) -> None:
    """Pattern 2: tasks in batches of 10 through asyncio.gather."""
    task1, task2, task3, task4 = (f"Search for topic {i}" for i in range(1, 5))
    # --- guide block (the guide's `...` placeholder filled with task4) ---
    # Process tasks in batches
    tasks = [task1, task2, task3, task4]

    batch_size = 10
    for i in range(0, len(tasks), batch_size):
        batch = tasks[i:i+batch_size]
        results = await asyncio.gather(*[
            agent.execute_task(task, context) for task in batch
        ])
    # --- end ---
    assert [r["success"] for r in results] == [True] * 4
    assert [r["tool_calls"][0]["parameters"]["query"] for r in results] == [
        f"topic {i}" for i in range(1, 5)]


async def test_streaming_pattern_1_progressive_display(agent: HybridAgent) -> None:
    """Pattern 1: tokens and tool results are displayed as they arrive."""
    shown: list[tuple[str, object]] = []

    def display_token(t: str) -> None:
        shown.append(("token", t))

    def display_result(r: object) -> None:
        shown.append(("result", r))

    # --- guide block ---
    # Stream results progressively
    async for event in agent.execute_task_streaming(task, context):
        if event['type'] == 'token':
            # Display tokens as they arrive
            display_token(event['content'])
        elif event['type'] == 'tool_result':
            # Display tool results immediately
            display_result(event['result'])
    # --- end ---
    kinds = [k for k, _ in shown]
    assert kinds[:2] == ["result", "result"]  # both tool results before the answer's tokens
    assert kinds.count("token") > 10


async def test_streaming_pattern_2_buffer_optimization(agent: HybridAgent) -> None:
    """Pattern 2: tokens buffered 20 at a time."""
    displayed: list[str] = []
    display = displayed.append
    # --- guide block ---
    # Buffer tokens for smooth display
    buffer = []
    buffer_size = 20

    async for event in agent.execute_task_streaming(task, context):
        if event['type'] == 'token':
            buffer.append(event['content'])
            if len(buffer) >= buffer_size:
                display(''.join(buffer))
                buffer.clear()
    # --- end ---
    result = agent.monitor.spans(kind="llm")[-1]
    assert len(displayed) == result.attrs["output_tokens"] // 20  # one display per 20 tokens


async def test_monitoring_pattern_1_performance_profiling(agent: HybridAgent, capsys) -> None:
    """Pattern 1: time a task by hand and with track_operation_time."""
    # --- guide block ---
    import time

    # Profile execution time
    start = time.time()
    result = await agent.execute_task(task, context)
    duration = time.time() - start

    print(f"Execution time: {duration:.2f}s")

    # Profile specific operations
    with agent.track_operation_time("data_processing"):
        result = await agent.execute_task(task, context)
    # --- end ---
    assert result["success"] and "Execution time:" in capsys.readouterr().out
    assert agent.get_operation_metrics("data_processing")["count"] == 1


async def test_monitoring_pattern_2_metrics_analysis(agent: HybridAgent, capsys) -> None:
    """Pattern 2: average, p95 and p99 response times are real numbers."""
    for _ in range(5):
        await agent.execute_task(task, context)
    # --- guide block ---
    # Get performance metrics
    metrics = agent.get_performance_metrics()

    print(f"Average response time: {metrics['avg_response_time']}s")
    print(f"P95 response time: {metrics['p95_response_time']}s")
    print(f"P99 response time: {metrics['p99_response_time']}s")

    # Identify bottlenecks
    if metrics['p95_response_time'] > 3.0:
        logger.warning("P95 response time exceeds threshold")
    # --- end ---
    assert 0 < metrics["min_response_time"] <= metrics["avg_response_time"]
    assert metrics["p50_response_time"] <= metrics["p95_response_time"] <= \
        metrics["p99_response_time"] <= metrics["max_response_time"]
    assert "P99 response time" in capsys.readouterr().out


async def test_best_practice_3_profile_before_optimizing(agent: HybridAgent, capsys) -> None:
    """Best practice 3: an operation timer around a task gives its metrics."""
    # --- guide block ---
    # Profile before optimizing
    with agent.track_operation_time("full_execution"):
        result = await agent.execute_task(task, context)

    # Get operation metrics
    operation_metrics = agent.get_operation_metrics("full_execution")
    print(f"Operation time: {operation_metrics['avg_time']}s")
    # --- end ---
    assert result["success"]
    task_time = agent.get_performance_metrics()["max_response_time"]
    assert operation_metrics["count"] == 1 and operation_metrics["avg_time"] >= task_time
