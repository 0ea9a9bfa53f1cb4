"""`Tool`, the `@tool` decorator and the registry that resolves tool names."""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, overload

import pydantic

from pitstop.errors import (
    ConfigError,
    ToolArgumentError,
    ToolError,
    ToolNotFoundError,
    ToolTimeoutError,
)
from pitstop.llm._base import ToolSpec

__all__ = ["THREADS_PER_TOOL", "Tool", "ToolRegistry", "default_registry", "resolve_tools", "tool"]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")

THREADS_PER_TOOL = 32
"""Worker threads one sync tool may use at once. Each sync tool has a pool of its own,
so calls of one tool that hang (timed out, still running) never starve another tool."""


class _ToolThreads:
    """The worker threads of one sync tool: its own pool, and its stuck calls.

    A call is *stuck* when its caller gave up on it (the timeout fired, or the task
    was cancelled) while its thread still runs: Python cannot stop a thread.
    """

    __slots__ = ("_pool", "lock", "name", "stuck")

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.stuck = 0
        self._pool: ThreadPoolExecutor | None = None

    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self.lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        max_workers=THREADS_PER_TOOL, thread_name_prefix=f"pitstop-tool-{self.name}"
                    )
        return self._pool

    def run(self, fn: Callable[..., Any], arguments: Mapping[str, Any], call: list[bool]) -> Any:
        """In the worker thread: call `fn`; an exit or interrupt raised by the tool itself
        becomes a `ToolError` (it must not end the process or the event loop)."""
        with self.lock:
            call[0] = True  # started
        try:
            return fn(**arguments)
        except (KeyboardInterrupt, SystemExit, GeneratorExit) as exc:
            raise ToolError(_exit_message(self.name, exc, "in its worker thread")) from None
        finally:
            with self.lock:
                call[1] = True  # finished
                if call[2]:
                    self.stuck -= 1

    def given_up(self, call: list[bool]) -> None:
        """On the event loop: the caller stopped waiting for `call`."""
        with self.lock:
            if call[0] and not call[1] and not call[2]:
                call[2] = True
                self.stuck += 1


def _exit_message(name: str, exc: BaseException, where: str) -> str:
    detail = f": {exc}" if str(exc) else ""
    return (
        f"Tool {name!r} raised {type(exc).__name__}{detail} {where}; it is reported as this "
        "call's error and the run goes on."
    )


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The summary and the per-argument descriptions of a Google-style docstring."""
    if not doc:
        return "", {}
    doc = inspect.cleandoc(doc)
    summary_lines: list[str] = []
    params: dict[str, str] = {}
    section = "summary"
    current: str | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        if re.fullmatch(r"(Args|Arguments|Parameters):", stripped):
            section = "args"
            continue
        if re.fullmatch(r"[A-Z][A-Za-z ]*:", stripped) and not line.startswith(" "):
            section = "other"
            continue
        if section == "summary":
            summary_lines.append(line)
        elif section == "args":
            m = re.match(r"^\s+(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$", line)
            if m and (len(line) - len(line.lstrip())) <= 4:
                current = m.group(1).lstrip("*")
                params[current] = m.group(3).strip()
            elif current and stripped:
                params[current] = f"{params[current]} {stripped}".strip()
    summary = "\n".join(summary_lines).strip()
    return summary, params


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's auto titles, which only add tokens to every prompt."""
    schema = dict(schema)
    schema.pop("title", None)
    props = {}
    for key, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        prop.pop("title", None)
        props[key] = prop
    schema["properties"] = props
    schema.setdefault("required", [])
    return schema


def _format_validation_error(tool_name: str, err: pydantic.ValidationError) -> str:
    parts = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(x) for x in e["loc"]) or "(arguments)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "is not a parameter of this tool"
        parts.append(f"{loc}: {msg} (got {e['input']!r})" if e["type"] != "missing" else
                     f"{loc}: required argument missing")
    return f"Invalid arguments for tool {tool_name!r}: " + "; ".join(parts) + "."


class Tool:
    """A function the model may call, with its schema, validation and call policy.

    Args:
        fn: a plain function or coroutine function. Its parameters, with their type
            hints and defaults, become the tool's JSON schema.
        name: defaults to the function's name.
        description: defaults to the docstring's summary.
        timeout: seconds a call may take before it fails with `ToolTimeoutError`
            (None: the agent's ``tool_timeout``, or no limit).
        cacheable: False for tools with side effects: their results are never cached.
        cost: the price of one call (any unit, e.g. dollars), for cost-saved figures.
        inline: run a sync function on the event loop instead of in a thread. Only for
            functions that take microseconds; anything slower blocks every other task.

    A sync tool runs in worker threads of its own (at most `THREADS_PER_TOOL` at once),
    so one that hangs never starves another; `stuck_threads` counts its calls that were
    given up (timed out) while their thread still runs.
    """

    __slots__ = (
        "_threads",
        "_validator",
        "_wants_dict",
        "cacheable",
        "cost",
        "description",
        "fn",
        "inline",
        "is_async",
        "name",
        "parameters",
        "timeout",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        cacheable: bool = True,
        cost: float | None = None,
        inline: bool = False,
    ) -> None:
        if not callable(fn):
            raise ConfigError(f"Tool needs a function, got {fn!r}.")
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", ""))
        if not _NAME_RE.match(self.name):
            raise ConfigError(
                f"Tool name {self.name!r} is not valid: use letters, digits, '_' or '-', "
                "at most 64 characters, starting with a letter or '_'."
            )
        if timeout is not None and not timeout > 0:
            raise ConfigError(f"Tool {self.name!r}: timeout must be > 0 seconds, got {timeout!r}.")
        if cost is not None and cost < 0:
            raise ConfigError(f"Tool {self.name!r}: cost must be >= 0, got {cost!r}.")
        self.timeout = timeout
        self.cacheable = cacheable
        self.cost = cost
        self.inline = inline
        self.is_async = inspect.iscoroutinefunction(fn)
        self._threads = _ToolThreads(self.name)
        summary, arg_docs = _parse_docstring(inspect.getdoc(fn))
        self.description: str = description if description is not None else (summary or self.name)
        model = self._arguments_model(fn, arg_docs)
        self._validator = model.__pydantic_validator__
        self.parameters: dict[str, Any] = _clean_schema(model.model_json_schema())

    def _arguments_model(
        self, fn: Callable[..., Any], arg_docs: Mapping[str, str]
    ) -> type[pydantic.BaseModel]:
        sig = inspect.signature(fn)
        try:
            hints = inspect.get_annotations(fn, eval_str=True)
        except Exception:  # unresolvable forward refs: treat those parameters as Any
            hints = {}
        fields: dict[str, Any] = {}
        for pname, param in sig.parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ConfigError(
                    f"Tool {self.name!r}: *args and **kwargs cannot be described to a model; "
                    "name every parameter."
                )
            annotation = hints.get(pname, Any)
            default = ... if param.default is param.empty else param.default
            fields[pname] = (
                annotation,
                pydantic.Field(default, description=arg_docs.get(pname) or None),
            )
        model_name = "".join(p.capitalize() for p in re.split(r"[_\-]", self.name)) + "Args"
        return pydantic.create_model(
            model_name,
            __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True),
            **fields,
        )

    # -- describing -------------------------------------------------------------

    @property
    def spec(self) -> ToolSpec:
        """The tool as a model sees it."""
        return ToolSpec(self.name, self.description, self.parameters)

    def with_options(self, **changes: Any) -> Tool:
        """A copy with some options changed (``name``, ``timeout``, ``cacheable``, ...)."""
        opts: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "timeout": self.timeout,
            "cacheable": self.cacheable,
            "cost": self.cost,
            "inline": self.inline,
        }
        unknown = set(changes) - set(opts)
        if unknown:
            raise ConfigError(f"Unknown tool option(s) {sorted(unknown)}; known: {sorted(opts)}.")
        opts.update(changes)
        return Tool(self.fn, **opts)

    def __repr__(self) -> str:
        return f"Tool({self.name!r}, cacheable={self.cacheable}, cost={self.cost})"

    # -- calling ------------------------------------------------------------------

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and coerce arguments; raise `ToolArgumentError` with a readable message."""
        if not isinstance(arguments, Mapping):
            raise ToolArgumentError(
                f"Invalid arguments for tool {self.name!r}: expected an object of named "
                f"arguments, got {type(arguments).__name__} {arguments!r}."
            )
        try:
            model: pydantic.BaseModel = self._validator.validate_python(arguments)
            return model.__dict__
        except pydantic.ValidationError as err:
            raise ToolArgumentError(_format_validation_error(self.name, err)) from None

    async def invoke(
        self, arguments: Mapping[str, Any], *, default_timeout: float | None = None
    ) -> Any:
        """Call the function with already validated arguments.

        Args:
            default_timeout: used when the tool has no timeout of its own.
        """
        limit = self.timeout if self.timeout is not None else default_timeout
        if limit is None:
            return await self._call(arguments)
        try:
            async with asyncio.timeout(limit):
                return await self._call(arguments)
        except TimeoutError:
            raise ToolTimeoutError(
                f"Tool {self.name!r} did not finish within its timeout of {limit:g} s; "
                "raise the tool's `timeout` or make it faster."
            ) from None

    def _call(self, arguments: Mapping[str, Any]) -> Awaitable[Any]:
        if self.is_async:
            return self.fn(**arguments)  # type: ignore[no-any-return]
        if self.inline:
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            try:
                fut.set_result(self.fn(**arguments))
            except Exception as exc:
                fut.set_exception(exc)
            return fut
        loop = asyncio.get_running_loop()
        threads = self._threads
        call = [False, False, False]  # started, finished, given up
        fut = loop.run_in_executor(threads.pool(), threads.run, self.fn, arguments, call)
        fut.add_done_callback(lambda f: threads.given_up(call) if f.cancelled() else None)
        return fut

    @property
    def stuck_threads(self) -> int:
        """Calls of this (sync) tool whose caller gave up while their thread still runs."""
        return self._threads.stuck

    async def __call__(self, **arguments: Any) -> Any:
        """Validate and call, as the agent does (without cache or limits)."""
        return await self.invoke(self.validate(arguments))


class ToolRegistry:
    """Tools by name, so that ``HybridAgent(tools=["search"])`` can find them.

    Agents resolve names when they are built, so replacing a registered tool changes
    only the agents built afterwards.
    """

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._warned: set[tuple[str, str, str]] = set()

    def register(self, t: Tool, *, replace: bool = True) -> Tool:
        """Add `t` under its name.

        A different function already registered under that name is replaced with a
        warning (once per pair of definitions) that names both; the same function
        defined again (a re-run notebook cell) replaces it silently.

        Raises:
            ConfigError: ``replace=False`` and the name is taken.
        """
        if self is default_registry:
            _load_demo_tools()  # so a user's tool named like a demo tool always wins
        old = self._tools.get(t.name)
        if old is not None and old is not t:
            if not replace:
                raise ConfigError(f"A tool named {t.name!r} is already registered.")
            old_where, new_where = _definition(old.fn), _definition(t.fn)
            pair = (t.name, old_where, new_where)
            if old_where != new_where and pair not in self._warned:
                self._warned.add(pair)
                warnings.warn(
                    f"Tool {t.name!r} defined at {new_where} replaces the tool of the same "
                    f"name defined at {old_where}; agents built before keep the one they "
                    "had, agents built from now on get the new one. Pass name=... to keep "
                    "both.",
                    UserWarning,
                    stacklevel=3,
                )
        self._tools[t.name] = t
        return t

    def unregister(self, name: str) -> None:
        self._tools.pop(name, None)

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            if self is default_registry and not _demo_loaded:
                _load_demo_tools()
                if name in self._tools:
                    return self._tools[name]
            raise ToolNotFoundError(name, self.names()) from None

    def names(self) -> list[str]:
        if self is default_registry:
            _load_demo_tools()
        return sorted(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)


default_registry = ToolRegistry()
"""The registry `@tool` adds to and the agent looks names up in."""

_demo_loaded = False


def _load_demo_tools() -> None:
    """Register the demo tools once, under names not taken yet."""
    global _demo_loaded
    if _demo_loaded:
        return
    _demo_loaded = True
    from pitstop._tools.demo import DEMO_TOOLS

    for t in DEMO_TOOLS:
        default_registry._tools.setdefault(t.name, t)


def _definition(fn: Callable[..., Any]) -> str:
    """Where a function is defined: ``module.qualname (file:line)``."""
    fn = inspect.unwrap(fn)
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    code = getattr(fn, "__code__", None)
    if code is None:
        return name
    return f"{name} ({code.co_filename}:{code.co_firstlineno})"


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    cacheable: bool = True,
    cost: float | None = None,
    inline: bool = False,
    register: bool = True,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    cacheable: bool = True,
    cost: float | None = None,
    inline: bool = False,
    register: bool = True,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a `Tool` of a function and register it by name.

    Use bare (``@tool``) or with options (``@tool(timeout=5, cost=0.002)``); the options
    are those of `Tool`. ``register=False`` keeps it out of the default registry.
    """

    def wrap(f: Callable[..., Any]) -> Tool:
        t = Tool(
            f,
            name=name,
            description=description,
            timeout=timeout,
            cacheable=cacheable,
            cost=cost,
            inline=inline,
        )
        if register:
            default_registry.register(t)
        return t

    return wrap(fn) if fn is not None else wrap


def resolve_tools(
    tools: Iterable[str | Tool | Callable[..., Any]] | None,
    registry: ToolRegistry | None = None,
) -> dict[str, Tool]:
    """Tools by name from names, `Tool` objects or plain functions."""
    registry = registry or default_registry
    resolved: dict[str, Tool] = {}
    if tools is None:
        return resolved
    if isinstance(tools, (str, Tool)) or callable(tools):
        raise ConfigError(
            f"tools must be a list, got {tools!r}; write tools=[{tools!r}] for a single tool."
        )
    if isinstance(tools, Mapping) or not isinstance(tools, Iterable):
        raise ConfigError(
            f"tools must be a list of tool names, Tool objects or functions, got "
            f"{type(tools).__name__} {tools!r:.60}."
        )
    for item in tools:
        if isinstance(item, str):
            t = registry.get(item)
        elif isinstance(item, Tool):
            t = item
        elif callable(item):
            t = Tool(item)
        else:
            raise ConfigError(
                f"tools accepts tool names, Tool objects or functions; got {item!r}."
            )
        if t.name in resolved and resolved[t.name] is not t:
            raise ConfigError(f"Two different tools are named {t.name!r}; rename one.")
        resolved[t.name] = t
    return resolved
