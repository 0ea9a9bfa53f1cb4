"""%%agent and %agent_profile, driven in a real IPython InteractiveShell."""

from __future__ import annotations

import asyncio
import html
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from pitstop import ToolCall
from pitstop.notebook._magics import AgentMagics, default_agent, interpolate
from pitstop.notebook._runner import agent_cell_transformer
from pitstop.testing import record_comms

from .conftest import make_agent


def test_load_and_unload_register_and_remove_everything(ip: Any) -> None:
    """%load_ext adds the magics, the %config class and the transformer; unload removes them."""
    manager = ip.magics_manager
    assert "agent" in manager.magics["cell"] and "agent_profile" in manager.magics["line"]
    assert any(isinstance(c, AgentMagics) for c in ip.configurables)
    assert agent_cell_transformer in ip.input_transformers_cleanup
    ip.run_line_magic("unload_ext", "pitstop")
    assert "agent" not in manager.magics["cell"]
    assert "agent_profile" not in manager.magics["line"]
    assert not any(isinstance(c, AgentMagics) for c in ip.configurables)
    assert agent_cell_transformer not in ip.input_transformers_cleanup
    ip.run_line_magic("load_ext", "pitstop")
    assert "agent" in manager.magics["cell"]


def test_interpolation_fills_names_and_doubled_braces_are_literal() -> None:
    """{name} is filled from the namespace; {{ and }} are braces; {}, JSON and {a.b} stay."""
    ns = {"city": "Paris", "n": 3}
    text = 'Weather in {city} x{n} {} {"a": 1} {city.upper()} {{city}} {{{city}}}'
    assert interpolate(text, ns) == 'Weather in Paris x3 {} {"a": 1} {city.upper()} ' \
                                    "{city} {Paris}"


def test_an_unknown_name_is_an_error_naming_close_variables() -> None:
    """A misspelt {name} raises UsageError with the names that look close."""
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match=r"\{cty\} in the %%agent cell is not a notebook "
                                         r"variable.*Did you mean \{city\}"):
        interpolate("Weather in {cty}", {"city": "Paris", "country": "FR"})
    with pytest.raises(UsageError, match="Define it in a cell above first"):
        interpolate("{zzz}", {"city": "Paris"})


def test_a_misspelt_name_never_reaches_the_model(ip: Any, capsys: Any) -> None:
    """The cell fails with one line before the model is called."""
    seen: list[Any] = []
    from pitstop import FunctionLLM, HybridAgent

    ip.user_ns["bot"] = HybridAgent("s", FunctionLLM(lambda m, t: seen.append(m) or "ok"))
    ip.user_ns["city"] = "Paris"
    result = ip.run_cell("%%agent bot\nWeather in {cty}\n")
    assert not result.success and seen == []
    err = capsys.readouterr().err
    assert "Did you mean {city}?" in err and len(err.strip().splitlines()) == 1


def test_agent_cell_streams_and_stores_the_result(ip: Any, capsys: Any) -> None:
    """The cell body (interpolated) is the task; --out keeps the result dict."""
    ip.user_ns["bot"] = make_agent([ToolCall("lookup", {"query": "x"})], answer="Done: X.")
    ip.user_ns["what"] = "the x"
    ip.run_cell_magic("agent", "bot --out res", "Find {what}")
    res = ip.user_ns["res"]
    assert res["success"] and res["output"] == "Done: X."
    assert [c["tool_name"] for c in res["tool_calls"]] == ["lookup"]
    started = [s for s in ip.user_ns["bot"].monitor.spans(kind="task")]
    assert len(started) == 1
    out = capsys.readouterr().out
    assert "  → lookup(query='x')" in out and "Done: X." in out
    assert "✓ done in" in out


def test_task_text_reaches_the_model(ip: Any) -> None:
    """What the model reads is the interpolated cell body."""
    seen: list[str] = []
    from pitstop import FunctionLLM, HybridAgent

    def respond(messages: list[Any], tools: list[Any]) -> str:
        seen.append(messages[-1].content)
        return "ok"

    ip.user_ns["bot"] = HybridAgent("s", FunctionLLM(respond))
    ip.user_ns["who"] = "Ada"
    ip.run_cell("%%agent bot\nHello {who} {{nobody}}\n")
    assert seen == ["Hello Ada {nobody}"]


def test_default_agent_is_made_once_per_shell(ip: Any) -> None:
    """Without an agent name the demo agent runs, and the same one is reused."""
    ip.run_cell_magic("agent", "--out a", "What is 6 * 7?")
    ip.run_cell_magic("agent", "--out b", "What is 6 * 7?")
    agent = default_agent(ip)
    assert agent is default_agent(ip)
    assert [s.task_id for s in agent.monitor.spans(kind="task")][-2:] == \
        [ip.user_ns["a"]["task_id"], ip.user_ns["b"]["task_id"]]
    assert "42" in ip.user_ns["a"]["output"]


def test_without_a_name_the_one_agent_of_the_notebook_runs(ip: Any, capsys: Any) -> None:
    """The user's only HybridAgent runs, not the demo agent, and the header names it."""
    ip.user_ns["assistant"] = make_agent(answer="from the user's agent")
    demo_runs = len(default_agent(ip).monitor.spans(kind="task"))
    ip.run_cell_magic("agent", "--out r", "hi")
    assert ip.user_ns["r"]["output"] == "from the user's agent"
    assert len(default_agent(ip).monitor.spans(kind="task")) == demo_runs
    assert "✓ done in" in (out := capsys.readouterr().out) and "· assistant (t) ·" in out


def test_without_a_name_several_agents_are_an_error_naming_them(ip: Any, capsys: Any) -> None:
    """With two agents and no name, one UsageError line lists both; nothing runs."""
    one, two = make_agent(), make_agent()
    ip.user_ns.update(one=one, two=two, also_one=one)
    result = ip.run_cell("%%agent\nhi\n")
    err = capsys.readouterr().err
    assert not result.success
    assert "several agents (also_one, two)" in err or "several agents (one, two)" in err
    assert one.monitor.spans() == [] and two.monitor.spans() == []


def test_the_header_says_the_demo_agent_ran(ip: Any, capsys: Any) -> None:
    """With no agent in the notebook, the demo agent runs and the header says so."""
    ip.run_cell_magic("agent", "", "What is 6 * 7?")
    assert "· demo agent (SimulatedLLM) ·" in capsys.readouterr().out


def test_config_default_agent_and_display_mode(ip: Any) -> None:
    """%config sets the default agent by variable name and forces the widget view."""
    ip.user_ns["mine"] = make_agent(answer="from mine")
    ip.run_line_magic("config", 'AgentMagics.default_agent = "mine"')
    ip.run_line_magic("config", 'AgentMagics.display_mode = "widget"')
    try:
        with record_comms() as comms:
            ip.run_cell_magic("agent", "--out r", "hi")
        assert ip.user_ns["r"]["output"] == "from mine"
        assert any(m.kind == "open" for m in comms.messages)  # the StreamView was built
    finally:
        ip.run_line_magic("config", 'AgentMagics.default_agent = ""')
        ip.run_line_magic("config", 'AgentMagics.display_mode = "auto"')


def test_session_option_passes_the_session_id(ip: Any) -> None:
    """--session ID runs with context {"session_id": ID}: the demo agent remembers it."""
    ip.run_cell_magic("agent", "--session s1 --out r", "What is 2 + 3?")
    agent = default_agent(ip)
    assert agent.context_engine is not None
    assert [m.role for m in agent.context_engine.messages("s1")][:1] == ["user"]


def test_no_stream_shows_only_the_answer(ip: Any, capsys: Any) -> None:
    """--no-stream prints the final answer, no tool lines."""
    ip.user_ns["bot"] = make_agent([ToolCall("lookup", {"query": "x"})], answer="Only this.")
    ip.run_cell_magic("agent", "bot --no-stream", "Find x")
    out = capsys.readouterr().out
    assert "Only this." in out and "→ lookup" not in out


def test_timeline_option_draws_the_run(ip: Any, capsys: Any) -> None:
    """--timeline displays the chart (as text where images cannot show)."""
    ip.user_ns["bot"] = make_agent([ToolCall("lookup", {"query": "a"}),
                                    ToolCall("lookup", {"query": "b"})])
    ip.run_cell_magic("agent", "bot --timeline", "Find a and b")
    out = capsys.readouterr().out
    assert "turn 1 · lookup #1" in out and "turn 1 · lookup #2" in out
    assert "turn 1: up to 2 at once" in out


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("%%agent nope\nhi", "There is no variable 'nope' in the notebook"),
        ("%%agent number\nhi", "'number' is a int, not a HybridAgent."),
        ("%%agent\n   \n", "The %%agent cell is empty"),
        ("%%agent --out 1x\nhi", "--out needs a variable name, got '1x'."),
        ("%%agent --bogus\nhi", "unrecognized arguments: --bogus"),
        ("%%agent bot --session s\nhi", "has no context_engine"),
    ],
)
def test_misuse_shows_one_readable_line(ip: Any, capsys: Any, cell: str, message: str) -> None:
    """Errors are one UsageError line on stderr, no traceback; the cell fails."""
    ip.user_ns["number"] = 3
    ip.user_ns["bot"] = make_agent()
    result = ip.run_cell(cell)
    err = capsys.readouterr().err
    assert not result.success
    assert err.startswith("UsageError: ") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_failed_run_is_one_line_and_still_stored(ip: Any, capsys: Any) -> None:
    """A run that fails inside (a model error) reports it in one line; --out keeps it."""
    from pitstop import FunctionLLM, HybridAgent

    def broken(messages: list[Any], tools: list[Any]) -> str:
        raise RuntimeError("model exploded")

    ip.user_ns["bot"] = HybridAgent("b", FunctionLLM(broken))
    result = ip.run_cell("%%agent bot --out r\nhi")
    err = capsys.readouterr().err
    assert not result.success
    assert err.strip() == "UsageError: The run failed: model exploded"
    assert ip.user_ns["r"]["success"] is False


async def blocking(query: str) -> str:
    """A tool that never finishes on its own; it interrupts the kernel once started."""
    asyncio.get_running_loop().call_soon(_interrupt)
    await asyncio.Event().wait()
    return "never"


def _interrupt() -> None:
    raise KeyboardInterrupt  # what SIGINT does while the loop waits


def test_keyboard_interrupt_cancels_the_run_cleanly(ip: Any, capsys: Any) -> None:
    """Kernel > Interrupt (KeyboardInterrupt) cancels the run and its tool calls."""
    from IPython.core.async_helpers import get_asyncio_loop

    bot = make_agent([ToolCall("blocking", {"query": "x"}), ToolCall("lookup", {"query": "y"})],
                     tools=[blocking, __import__("tests.notebook.conftest",
                                                 fromlist=["lookup"]).lookup])
    ip.user_ns["bot"] = bot
    result = ip.run_cell("%%agent bot --out r\nhang")
    err = capsys.readouterr().err
    assert not result.success
    assert err.strip() == "UsageError: Interrupted: the run was cancelled " \
                          "(1 running tool call stopped)."
    assert "r" not in ip.user_ns
    task = bot.monitor.spans(kind="task")[-1]
    assert task.status == "cancelled"
    tools = {s.name: s.status for s in bot.monitor.spans(kind="tool")}
    assert tools == {"blocking": "cancelled", "lookup": "ok"}
    loop = get_asyncio_loop()
    assert not [t for t in asyncio.all_tasks(loop) if not t.done()]


async def test_in_a_running_loop_the_cell_is_awaited(ip: Any) -> None:
    """With the kernel's loop running, the cell becomes an await, run as ipykernel does."""
    ip.user_ns["bot"] = make_agent([ToolCall("lookup", {"query": "x"})], answer="Awaited.")
    raw = "%%agent bot --out r\nFind x\n"
    transformed = ip.transform_cell(raw)
    assert transformed.startswith("await ")
    assert ip.should_run_async(raw, transformed_cell=transformed)
    result = await ip.run_cell_async(raw, transformed_cell=transformed)
    assert result.success
    assert ip.user_ns["r"]["output"] == "Awaited."
    spans = ip.user_ns["bot"].monitor.spans()
    assert {s.kind for s in spans} == {"task", "llm", "tool"}


async def test_cancelling_the_awaited_cell_stops_the_run(ip: Any, capsys: Any) -> None:
    """ipykernel's interrupt cancels the awaited cell: one line, no task left running."""
    started = asyncio.Event()

    async def stuck(query: str) -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    bot = make_agent([ToolCall("stuck", {"query": "x"})], tools=[stuck])
    ip.user_ns["bot"] = bot
    raw = "%%agent bot\nhang\n"
    cell = asyncio.ensure_future(ip.run_cell_async(raw, transformed_cell=ip.transform_cell(raw)))
    await asyncio.wait_for(started.wait(), 5)
    cell.cancel()  # what ipykernel does on SIGINT
    result = await asyncio.wait_for(cell, 5)
    assert not result.success
    assert capsys.readouterr().err.strip() == \
        "UsageError: Interrupted: the run was cancelled (1 running tool call stopped)."
    assert bot.monitor.spans(kind="tool")[-1].status == "cancelled"
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not others


def test_cells_stay_sync_without_a_running_loop(ip: Any) -> None:
    """Outside a kernel the transformer leaves the cell alone (a sync magic call)."""
    raw = "%%agent\nhello\n"
    assert "run_cell_magic" in ip.transform_cell(raw)
    assert agent_cell_transformer(["%%agentx\n"]) == ["%%agentx\n"]


def test_sync_magic_call_inside_a_running_loop() -> None:
    """run_cell_magic called synchronously while a loop runs finishes the run on a helper
    thread, and patches nothing: the loop's class keeps asyncio's own `_run_once` (a
    nest-asyncio patch of the class hung ipykernel 7's own threads). In a subprocess,
    so that a regression cannot patch this test process."""
    script = textwrap.dedent("""
        import asyncio, os
        os.environ["PITSTOP_DEMO_LATENCY_SCALE"] = "0"
        from IPython.core.interactiveshell import InteractiveShell
        from pitstop.notebook._magics import default_agent
        ip = InteractiveShell.instance()
        ip.run_line_magic("load_ext", "pitstop")
        default_agent(ip).llm.time_to_first_token = 0
        ip.run_line_magic("config", 'AgentMagics.display_mode = "text"')

        async def main():
            ip.run_cell_magic("agent", "--out r", "What is 6 * 7?")
            await asyncio.sleep(0)
            return ip.user_ns["r"]

        r = asyncio.run(main())
        loop_class = type(asyncio.new_event_loop())
        print("RESULT", r["success"], "42" in r["output"],
              loop_class._run_once.__module__, hasattr(loop_class, "_nest_patched"))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "RESULT True True asyncio.base_events False" in done.stdout


def test_profile_shows_tables_timeline_and_hints(ip: Any, capsys: Any) -> None:
    """%agent_profile prints latency and cache tables, the last run and hints."""
    ip.user_ns["bot"] = make_agent([ToolCall("lookup", {"query": "x"})])
    ip.run_cell_magic("agent", "bot", "Find x")
    ip.run_cell_magic("agent", "bot", "Find x")
    capsys.readouterr()
    ip.run_line_magic("agent_profile", "bot")
    out = capsys.readouterr().out
    for heading in ("Latency per operation", "Tool cache", "Limiter waits", "Last run",
                    "Hints"):
        assert f"\n{heading}\n" in out
    assert "tool:lookup" in out and "1 hits, 1 misses, hit rate 50%" in out
    assert "2 tasks, 100% succeeded" in out


def test_profile_reset_clears_metrics(ip: Any, capsys: Any) -> None:
    """--reset forgets spans and totals, and says so."""
    bot = make_agent()
    ip.user_ns["bot"] = bot
    ip.run_cell_magic("agent", "bot", "hi")
    ip.run_line_magic("agent_profile", "bot --reset")
    assert "cleared" in capsys.readouterr().out
    assert bot.monitor.spans() == [] and bot.get_performance_metrics()["total_tasks"] == 0
    ip.run_line_magic("agent_profile", "bot")
    assert "No task is recorded yet" in capsys.readouterr().out


def test_update_rate_setting_is_validated_and_used(ip: Any, monkeypatch: Any) -> None:
    """%config AgentMagics.update_rate reaches the view; nonsense values are refused."""
    from traitlets import TraitError

    import pitstop.notebook._stream as stream

    magics = ip.magics_manager.registry["AgentMagics"]
    with pytest.raises(TraitError, match="between 1 and 120"):
        magics.update_rate = 0
    made: list[Any] = []
    real = stream.make_view
    monkeypatch.setattr(stream, "make_view",
                        lambda mode, **kw: made.append(real(mode, **kw)) or made[-1])
    ip.run_line_magic("config", "AgentMagics.update_rate = 12")
    ip.run_line_magic("config", 'AgentMagics.display_mode = "widget"')
    try:
        with record_comms():
            ip.run_cell_magic("agent", "", "hi")
    finally:
        ip.run_line_magic("config", "AgentMagics.update_rate = 30")
        ip.run_line_magic("config", 'AgentMagics.display_mode = "auto"')
    assert [type(v).__name__ for v in made] == ["StreamView"]
    assert made[0].rate == 12


async def test_interrupt_while_the_model_streams(ip: Any, capsys: Any) -> None:
    """Cancelled before any tool ran: the sentence mentions no tool calls."""
    started = asyncio.Event()
    from pitstop import FunctionLLM, HybridAgent

    async def respond(messages: list[Any], tools: list[Any]) -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    bot = HybridAgent("m", FunctionLLM(respond))
    ip.user_ns["bot"] = bot
    raw = "%%agent bot\nhang\n"
    cell = asyncio.ensure_future(ip.run_cell_async(raw, transformed_cell=ip.transform_cell(raw)))
    await asyncio.wait_for(started.wait(), 5)
    cell.cancel()
    assert not (await asyncio.wait_for(cell, 5)).success
    assert capsys.readouterr().err.strip() == "UsageError: Interrupted: the run was cancelled."
    assert bot.monitor.spans(kind="task")[-1].status == "cancelled"


def _boom_tool(query: str) -> str:
    """A user tool with a bug."""
    return {"a": 1}[query]


def test_a_failing_tool_keeps_its_traceback_folded_in_the_widget(ip: Any) -> None:
    """The chip keeps its one line; the static output adds the traceback, folded."""
    from IPython.utils.capture import capture_output

    ip.user_ns["bot"] = make_agent([ToolCall("_boom_tool", {"query": "zz"})],
                                   tools=[_boom_tool])
    ip.run_line_magic("config", 'AgentMagics.display_mode = "widget"')
    try:
        with record_comms(), capture_output() as shown:
            ip.run_cell_magic("agent", "bot", "go")
    finally:
        ip.run_line_magic("config", 'AgentMagics.display_mode = "auto"')
    final = shown.outputs[-1].data
    page = html.unescape(final["text/html"])
    assert "KeyError: 'zz'" in page  # the chip's line
    assert "<details class='pitstop-traceback'>" in page
    assert "in _boom_tool" in page and 'return {"a": 1}[query]' in page
    assert "⚠ done with 1 failed tool call" in final["text/plain"]


def test_debug_prints_the_traceback_of_a_failing_model_function(ip: Any, capsys: Any) -> None:
    """Without --debug one line; with --debug the model function's traceback too."""
    from pitstop import FunctionLLM, HybridAgent

    def broken(messages: list[Any], tools: list[Any]) -> str:
        raise RuntimeError("model exploded")

    ip.user_ns["bot"] = HybridAgent("b", FunctionLLM(broken))
    ip.run_cell("%%agent bot\nhi")
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    ip.run_cell("%%agent bot --debug\nhi")
    captured = capsys.readouterr()
    assert "model call raised:" in captured.out and "in broken" in captured.out
    assert captured.err.strip() == "UsageError: The run failed: model exploded"
