"""``python -m pitstop demo``: the guide's combined configuration on the simulated model;
``python -m pitstop emulate``: a provider emulator with rate limits (`pitstop.emulator`)."""

from __future__ import annotations

import argparse
import asyncio
import sys

DEMO_TASKS = [
    "Search for Python asyncio news, get the weather in Paris and Tokyo and compute 19 * 23",
    "Search for Python asyncio news and translate 'thank you' to German",
    "Get the weather in Paris and search for pitstop agent benchmarks",
]


async def demo(*, fast: bool = False) -> None:
    from pitstop import (
        CacheConfig,
        CompressionConfig,
        ContextEngine,
        HybridAgent,
        ResourceLimits,
        SimulatedLLM,
    )

    llm = SimulatedLLM(time_to_first_token=0.02 if fast else 0.3,
                       tokens_per_second=2000 if fast else 80)
    agent = HybridAgent(
        "demo",
        llm,
        tools=["search", "weather", "calculator", "translate"],
        cache_config=CacheConfig(enabled=True, default_ttl=300,
                                 tool_specific_ttl={"search": 600}),
        resource_limits=ResourceLimits(max_concurrent_tasks=10, max_tokens_per_minute=50000),
        context_engine=ContextEngine(
            compression_config=CompressionConfig(auto_compress_enabled=True,
                                                 auto_compress_threshold=50)),
    )
    out = sys.stdout
    for n, task in enumerate(DEMO_TASKS, 1):
        out.write(f"\n\033[1mTask {n}:\033[0m {task}\n")
        async for e in agent.execute_task_streaming(task, {"session_id": "demo"}):
            match e["type"]:
                case "token":
                    out.write(e["content"])
                    out.flush()
                case "tool_call":
                    out.write(f"  -> {e['tool_name']}({e['parameters']})\n")
                case "tool_result":
                    state = "cached" if e["cached"] else ("ok" if e["success"] else "failed")
                    out.write(f"  <- {e['tool_name']} {state} in {e['duration'] * 1000:.1f} ms\n")
                case "rate_limit_wait" if e["phase"] == "start":
                    expected = e.get("expected")
                    about = f", about {expected:.2f} s" if expected is not None else ""
                    out.write(f"  .. waiting for {e['limit']}{about}\n")
                case "rate_limit_wait":
                    out.write(f"  .. waited {e.get('waited', 0.0):.2f} s for {e['limit']}\n")
                case "compression":
                    out.write(f"  .. compressed history {e['before']} -> {e['after']} messages\n")
                case "result":
                    calls, tokens = len(e["tool_calls"]), e["usage"]["total_tokens"]
                    out.write(f"\n  done in {e['execution_time']:.2f} s, {calls} tool calls, "
                              f"{tokens} tokens\n")
    metrics = agent.get_performance_metrics()
    cache = agent.get_cache_stats()
    out.write("\n\033[1mTool timings\033[0m\n")
    for name, op in metrics["operations"].items():
        out.write(f"  {name:<22} n={op['count']:<3} avg={op['avg_time'] * 1000:8.1f} ms  "
                  f"p95={op['p95_time'] * 1000:8.1f} ms\n")
    out.write("\n\033[1mMetrics\033[0m\n")
    out.write(f"  tasks={metrics['total_tasks']}  avg={metrics['avg_response_time']:.2f}s  "
              f"p95={metrics['p95_response_time']:.2f}s  p99={metrics['p99_response_time']:.2f}s\n")
    out.write(f"  cache: hits={cache['hits']} misses={cache['misses']} "
              f"hit_rate={cache['hit_rate']:.0%} time_saved={cache['time_saved_s']:.2f}s "
              f"cost_saved=${cache['cost_saved']:.3f}\n")
    await agent.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pitstop")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="run the guide's combined configuration on the "
                            "simulated model and print the stream, timings and metrics")
    p_demo.add_argument("--fast", action="store_true", help="a quicker simulated model")
    sub.add_parser("emulate", add_help=False,
                   help="serve an OpenAI-compatible provider emulator with rate limits "
                   "(python -m pitstop emulate --help)")
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "emulate":
        from pitstop.emulator import _main as emulate

        return emulate(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "demo":
        asyncio.run(demo(fast=args.fast))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
