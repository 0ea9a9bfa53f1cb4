"""``%%agent`` and ``%agent_profile``: thin adapters from a cell to the agent.

``%load_ext pitstop`` registers them (and `unload_ipython_extension` removes them).
Settings are traitlets, set with ``%config``::

    %config AgentMagics.default_agent = "my_agent"   # the agent used when none is named
    %config AgentMagics.update_rate = 10             # widget updates per second
    %config AgentMagics.display_mode = "text"        # auto, widget or text

How a cell runs inside a kernel whose loop is already running is explained in
`pitstop.notebook._runner`.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, cast

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Enum, Float, TraitError, Unicode, validate

from pitstop.events import ResultEvent, TaskResult
from pitstop.notebook._runner import _Interrupted, agent_cell_transformer, run_sync

if TYPE_CHECKING:
    from pitstop._agent import HybridAgent
    from pitstop.events import ToolResultEvent
    from pitstop.notebook._stream import StreamView, TextStreamView

__all__ = [
    "AgentMagics",
    "default_agent",
    "interpolate",
    "load_ipython_extension",
    "run_agent",
    "unload_ipython_extension",
]

_BRACES = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_default_agents: weakref.WeakKeyDictionary[Any, HybridAgent] = weakref.WeakKeyDictionary()


def interpolate(text: str, namespace: dict[str, Any]) -> str:
    """Replace ``{name}`` with the value of `name` in `namespace`; ``{{``/``}}`` are braces.

    Only plain names are replaced; other braces (JSON, code, ``{}``, ``{a.b}``) stay as
    written, and ``{{`` and ``}}`` give a literal ``{`` and ``}``, as in `str.format`.

    Raises:
        UsageError: a ``{name}`` is not defined; the message names it and the
            notebook variables that look close. Raised before any model is called.
    """
    def value(m: re.Match[str]) -> str:
        token, name = m.group(0), m.group(1)
        if name is None:
            return token[0]
        if name not in namespace:
            raise UsageError(_unknown_name(name, namespace))
        return str(namespace[name])

    return _BRACES.sub(value, text)


def _unknown_name(name: str, namespace: dict[str, Any]) -> str:
    import difflib

    names = [n for n in namespace if not n.startswith("_") and n not in _SHELL_NAMES]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = (f" Did you mean {', '.join('{' + c + '}' for c in close)}?" if close
            else " Define it in a cell above first.")
    return (f"{{{name}}} in the %%agent cell is not a notebook variable, so the task was not "
            f"sent.{hint} Write {{{{ and }}}} for literal braces.")


_SHELL_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open"})


def _agents_in(namespace: dict[str, Any]) -> dict[int, list[str]]:
    """The HybridAgents among the notebook's variables: id -> the names that hold it."""
    from pitstop._agent import HybridAgent

    found: dict[int, list[str]] = {}
    for name, value in namespace.items():
        if isinstance(value, HybridAgent) and not name.startswith("_"):
            found.setdefault(id(value), []).append(name)
    return found


def default_agent(shell: Any) -> HybridAgent:
    """The shell's demo agent: the `SimulatedLLM` with the four demo tools, a tool cache
    and conversation memory. Made once per shell and reused."""
    agent = _default_agents.get(shell)
    if agent is None:
        from pitstop import CacheConfig, ContextEngine, HybridAgent, SimulatedLLM

        agent = HybridAgent(
            "notebook", SimulatedLLM(), tools=["search", "weather", "calculator", "translate"],
            cache_config=CacheConfig(), context_engine=ContextEngine(),
            name="demo agent (SimulatedLLM)",
        )
        _default_agents[shell] = agent
    return agent


async def run_agent(
    agent: HybridAgent,
    task: str,
    context: dict[str, Any] | None,
    view: StreamView | TextStreamView | None,
    *,
    debug: bool = False,
) -> TaskResult:
    """Stream one task into `view` and return the same dict as `execute_task`.

    Cancelling it cancels the run and its tool calls, marks the view interrupted and
    raises `_Interrupted`. Any other exception closes the view as failed and goes on.
    Tracebacks of user code that failed (a tool, the model function) go to the view:
    folded in the widget, and printed by the text view when `debug` is set.
    """
    result: ResultEvent | None = None
    task_id = None
    try:
        async with aclosing(agent.execute_task_streaming(task, context)) as events:
            async for event in events:
                task_id = event["task_id"]
                if view is not None:
                    view.handle(event)
                if event["type"] == "result":
                    result = event
    except asyncio.CancelledError:
        spans = agent.monitor.spans(task_id=task_id, kind="tool") if task_id else []
        if view is not None:
            view.state.settle(spans)
            view.finish(cancelled=True)
        stopped = sum(1 for s in spans if s.status == "cancelled")
        calls = f" ({stopped} running tool call{'s' if stopped != 1 else ''} stopped)"
        raise _Interrupted(f"the run was cancelled{calls if stopped else ''}.") from None
    except BaseException as exc:  # misuse (ConfigError) or a bug: close the view, then raise
        if view is not None:
            interrupted = isinstance(exc, KeyboardInterrupt)
            if not interrupted:
                view.state.error = str(exc) or type(exc).__name__
            view.finish(cancelled=interrupted)
        raise
    if view is not None:
        if debug or view.folds_tracebacks:
            view.debug = user_tracebacks(agent, task_id)
        view.finish()
    assert result is not None  # the stream always ends with a result
    out = dict(result)
    del out["type"], out["timestamp"]
    return cast(TaskResult, out)


def user_tracebacks(agent: HybridAgent, task_id: str | None) -> str:
    """The tracebacks the Monitor kept for user code that failed in one task."""
    if task_id is None:
        return ""
    parts = [f"{'model call' if s.kind == 'task' else f'tool {s.name!r}'} raised:\n"
             f"{s.attrs['traceback']}"
             for s in agent.monitor.spans(task_id=task_id) if "traceback" in s.attrs]
    return "\n\n".join(parts)


@magics_class
class AgentMagics(Magics):
    """``%%agent`` runs a task and streams it; ``%agent_profile`` shows where time went."""

    default_agent = Unicode(
        "", help="Name of the notebook variable holding the HybridAgent used when a magic "
                 "names none. Empty: the one HybridAgent in the notebook (an error when "
                 "there are several), or a demo agent on the SimulatedLLM when there is none.",
    ).tag(config=True)
    update_rate = Float(
        30.0, help="The most widget updates per second while a run streams (1 to 120).",
    ).tag(config=True)
    display_mode = Enum(
        ("auto", "widget", "text"), "auto",
        help="How %%agent shows a run: a live widget, printed text, or auto (the widget "
             "in a Jupyter kernel, text elsewhere).",
    ).tag(config=True)

    @validate("update_rate")
    def _check_rate(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 1 <= value <= 120:
            raise TraitError(f"update_rate must be between 1 and 120 per second, got {value}.")
        return value

    # -- helpers -------------------------------------------------------------------------

    @property
    def user_ns(self) -> dict[str, Any]:
        """The notebook's variables."""
        assert self.shell is not None  # registered magics always have their shell
        return self.shell.user_ns  # type: ignore[no-any-return]

    def resolve_agent(self, name: str | None) -> HybridAgent:
        """The agent named by the magic or by ``default_agent``; else the one
        `HybridAgent` in the notebook; else (none defined) the demo agent.

        Raises:
            UsageError: no name was given and the notebook holds several agents.
        """
        return self._resolve(name)[0]

    def _resolve(self, name: str | None) -> tuple[HybridAgent, str]:
        """The agent and how the header names it."""
        from pitstop._agent import HybridAgent

        name = name or self.default_agent
        if not name:
            agents = _agents_in(self.user_ns)
            if not agents:
                demo = default_agent(self.shell)
                return demo, demo.name
            if len(agents) > 1:
                listed = ", ".join(sorted(names[0] for names in agents.values()))
                raise UsageError(
                    f"The notebook has several agents ({listed}); name the one to run, "
                    f"e.g. %%agent {sorted(n[0] for n in agents.values())[0]}, or set "
                    "%config AgentMagics.default_agent = \"...\"."
                )
            (names,) = agents.values()
            name = sorted(names)[0]
        if not name.isidentifier():
            raise UsageError(f"{name!r} is not a variable name; name the variable that holds "
                             "your HybridAgent, e.g. %%agent my_agent.")
        ns = self.user_ns
        if name not in ns:
            raise UsageError(
                f"There is no variable {name!r} in the notebook; create the agent first "
                f"({name} = HybridAgent(...)) or leave the name out to use the demo agent."
            )
        agent = ns[name]
        if not isinstance(agent, HybridAgent):
            raise UsageError(f"{name!r} is a {type(agent).__name__}, not a HybridAgent.")
        return agent, (name if agent.name == name else f"{name} ({agent.name})")

    # -- %%agent ----------------------------------------------------------------------

    @magic_arguments()
    @argument("agent", nargs="?", default=None,
              help="Variable holding the HybridAgent (default: AgentMagics.default_agent, "
                   "else the one HybridAgent in the notebook, else the demo agent).")
    @argument("--session", metavar="ID", help='Run with context {"session_id": ID}.')
    @argument("--no-stream", action="store_true",
              help="Show only the final answer, not the live stream.")
    @argument("--timeline", action="store_true", help="Draw the run's Gantt chart after it.")
    @argument("--out", metavar="VAR", help="Store the result dict in this variable.")
    @argument("--debug", action="store_true",
              help="Print the traceback of a tool or model function that raised (the "
                   "widget always keeps it, folded).")
    @cell_magic
    def agent(self, line: str, cell: str) -> None:
        """Run the cell as a task and stream tokens and tool calls live.

        ``{name}`` in the cell is replaced by the notebook variable `name` (an unknown
        name is an error); ``{{`` and ``}}`` are literal braces.
        """
        run_sync(self.agent_async(line, cell))

    async def agent_async(self, line: str, cell: str) -> None:
        """The coroutine behind ``%%agent`` (awaited directly in a running kernel)."""
        from pitstop.errors import PitstopError

        args = parse_argstring(self.agent, line)
        if args.out is not None and not args.out.isidentifier():
            raise UsageError(f"--out needs a variable name, got {args.out!r}.")
        agent, label = self._resolve(args.agent)
        task = interpolate(cell, self.user_ns).strip()
        if not task:
            raise UsageError("The %%agent cell is empty; write the task under the %%agent line.")
        context = {"session_id": args.session} if args.session else None
        from pitstop.notebook._stream import make_view, resolve_mode

        view = None
        if not args.no_stream:
            view = make_view(self.display_mode, rate=self.update_rate, agent=label)
            view.show(capture=False)
        live = None
        if args.timeline and resolve_mode(self.display_mode) == "widget":
            from pitstop.notebook._live import LiveTimeline

            live = LiveTimeline()
            live.show()  # below the stream, outside its captured answer area
            live.follow(agent)  # grows with this run, then becomes the static chart
        if view is not None:
            view.capture()
        try:
            result = await run_agent(agent, task, context, view, debug=args.debug)
        except _Interrupted:
            raise
        except PitstopError as exc:  # misuse: a bad session id, a missing context engine...
            raise UsageError(str(exc)) from None
        finally:
            if live is not None:
                live.unfollow()
                live.finish()
        if args.out:
            self.user_ns[args.out] = result
        if args.no_stream:
            _show_answer(result, label, user_tracebacks(agent, result["task_id"]))
        if args.timeline and live is None:
            from pitstop.notebook._gantt import show_timeline

            show_timeline(agent, result["task_id"])
        if not result["success"]:
            raise UsageError(f"The run failed: {result['error']}")

    # -- %agent_profile ---------------------------------------------------------------------

    @magic_arguments()
    @argument("agent", nargs="?", default=None,
              help="Variable holding the HybridAgent (default: as for %%agent).")
    @argument("--reset", action="store_true", help="Clear the agent's metrics instead.")
    @line_magic
    def agent_profile(self, line: str) -> None:
        """Latency and cache tables, limiter waits, the last run's timeline, and hints."""
        args = parse_argstring(self.agent_profile, line)
        agent = self.resolve_agent(args.agent)
        if args.reset:
            agent.reset_metrics()
            print(f"Metrics of {agent.name} cleared (the cache and its statistics are kept).")
            return
        from pitstop.notebook._profile import show_profile

        show_profile(agent)


def _show_answer(result: TaskResult, agent: str, debug: str) -> None:
    from IPython.display import display

    from pitstop.notebook._state import RunState
    from pitstop.notebook._stream import static_bundle

    state = RunState()
    stamp = {"timestamp": 0.0, "task_id": result["task_id"]}
    state.apply(cast("ResultEvent", {"type": "result", **stamp, **result}))
    state.turns = result["iterations"]
    for call in result["tool_calls"]:
        state.apply(cast("ToolResultEvent", {"type": "tool_result", **stamp, **call}))
    display(static_bundle(state, agent=agent, debug=debug), raw=True)


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics, their ``%config`` settings and the ``%%agent`` transformer."""
    if "AgentMagics" in ipython.magics_manager.registry:
        return
    ipython.register_magics(AgentMagics(shell=ipython))  # it joins shell.configurables itself
    if agent_cell_transformer not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(agent_cell_transformer)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove what `load_ipython_extension` added."""
    manager = ipython.magics_manager
    magics = manager.registry.pop("AgentMagics", None)
    if magics is None:
        return
    manager.magics["cell"].pop("agent", None)
    manager.magics["line"].pop("agent_profile", None)
    ipython.configurables[:] = [c for c in ipython.configurables if c is not magics]
    while agent_cell_transformer in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(agent_cell_transformer)
