"""`ProviderEmulator`: rehearse a batch against your quota before you pay for it.

An OpenAI-compatible chat-completions server on loopback that behaves like a provider:
it enforces requests and tokens per minute the way OpenAI documents them, answers with
a realistic latency, injects faults, and counts what it admitted and refused::

    import asyncio
    from pitstop import HybridAgent, OpenAIClient, ResourceLimits
    from pitstop.emulator import ProviderEmulator

    with ProviderEmulator(rpm=500, tpm=60_000, ttft=0.4, tokens_per_second=80, seed=0) as emu:
        llm = OpenAIClient("gpt-4o-mini", base_url=emu.base_url)
        agent = HybridAgent("rehearsal", llm, tools=["search", "weather"],
                            resource_limits=ResourceLimits(max_tokens_per_minute=60_000))
        result = asyncio.run(agent.execute_task("Search for news and the weather in Paris"))
        print(emu.stats())          # admitted, throttled (429s), tokens charged, faults

From a terminal: ``python -m pitstop emulate --tpm 60000 --rpm 500`` (then point any
OpenAI client at the printed base URL).

**Limits.** A request is charged at admission: one request against `rpm`, and its
prompt tokens (counted as OpenAI documents, `pitstop.llm._tokens.count_chat_tokens`)
plus its ``max_tokens`` (``default_max_tokens`` when it sends none) against `tpm`.
Nothing is handed back when the answer is shorter. Both limits refill continuously
into a bucket of one minute's worth (or `burst_requests` / `burst_tokens`). Over a
limit the answer is a 429 with ``Retry-After``, ``retry-after-ms`` and OpenAI's error
body; every answer carries ``x-ratelimit-limit/remaining/reset-requests/tokens``.

**Latency.** ``ttft`` seconds before the first delta, then ``tokens_per_second``; each
wait is scaled by a uniform factor in ``1 ± jitter``, drawn from ``seed``.

**Faults.** A share ``error_rate`` of admitted requests is answered with a 500, and a
share ``cut_rate`` of answers drops the connection mid-answer. Both are charged to the
quota, as a provider would.

**Brain.** By default the answers are `SimulatedLLM`'s (it picks the tools that fit the
task, then writes an answer from their results), so agent tasks run several turns with
tools. Pass ``brain=fn`` to script it: ``fn(messages, tools)`` returns an `LLMResponse`
or a string, as for `FunctionLLM`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pitstop.errors import ConfigError, MissingExtraError

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from pitstop._emulator.provider import Brain, Provider

__all__ = ["ProviderEmulator"]


def _require_server() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise MissingExtraError(
            f"ProviderEmulator needs starlette and uvicorn ({e.name} is missing): "
            "pip install 'pitstop[emulator]'"
        ) from e


def _positive_int(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a whole number >= 1 (or None: no limit), "
                          f"got {value!r}.")
    return value


class ProviderEmulator:
    """An OpenAI-compatible server on 127.0.0.1 with a provider's rate limits and faults.

    Args:
        rpm: requests per minute (None: no request limit).
        tpm: tokens per minute (None: no token limit).
        ttft: seconds to the first token of each answer.
        tokens_per_second: the pace of the answer's tokens (None: all at once).
        seed: seeds the latency jitter and the faults.
        jitter: each wait is scaled by a uniform factor in ``1 ± jitter``.
        error_rate: the share of admitted requests answered with a 500.
        cut_rate: the share of admitted answers whose connection drops mid-answer.
        brain: ``fn(messages, tools) -> LLMResponse | str`` (sync or async) writing the
            answers; None: `SimulatedLLM`'s rules.
        model: the model name reported, and whose tokenizer counts the tokens.
        burst_requests: the request bucket's size (None: `rpm`, one minute's worth).
        burst_tokens: the token bucket's size (None: `tpm`).
        default_max_tokens: what a request without ``max_tokens`` is charged for output.
        port: the port to listen on (0: a free one).
        clock: seconds on a monotonic clock, for the limits (inject a fake one in tests).
        sleep: the awaitable sleep of the latency model (inject a fake one in tests).

    Use it as a context manager (or `start` / `stop`): the server runs in a background
    thread on its own event loop and `base_url` points at it. For tests on fake time,
    skip the server and drive `app` in-process with ``httpx.ASGITransport``.
    """

    def __init__(
        self,
        *,
        rpm: int | None = 500,
        tpm: int | None = 60_000,
        ttft: float = 0.4,
        tokens_per_second: float | None = 80.0,
        seed: int = 0,
        jitter: float = 0.1,
        error_rate: float = 0.0,
        cut_rate: float = 0.0,
        brain: Brain | None = None,
        model: str = "gpt-4o-mini",
        burst_requests: int | None = None,
        burst_tokens: int | None = None,
        default_max_tokens: int = 4096,
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        from pitstop._emulator.provider import Provider, check_rate
        from pitstop.llm._base import is_number

        rpm = _positive_int("rpm", rpm)
        tpm = _positive_int("tpm", tpm)
        burst_requests = _positive_int("burst_requests", burst_requests)
        burst_tokens = _positive_int("burst_tokens", burst_tokens)
        _positive_int("default_max_tokens", default_max_tokens)
        if burst_requests is not None and rpm is None:
            raise ConfigError(f"burst_requests={burst_requests} needs rpm; set rpm too.")
        if burst_tokens is not None and tpm is None:
            raise ConfigError(f"burst_tokens={burst_tokens} needs tpm; set tpm too.")
        if not (isinstance(ttft, (int, float)) and math.isfinite(ttft) and ttft >= 0):
            raise ConfigError(f"ttft must be >= 0 seconds, got {ttft!r}.")
        if tokens_per_second is not None and not (
            is_number(tokens_per_second) and tokens_per_second > 0
        ):
            raise ConfigError(f"tokens_per_second must be > 0 (or None: no pacing), "
                              f"got {tokens_per_second!r:.60}.")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigError(f"ProviderEmulator(seed=...) takes an int, got {seed!r:.60}.")
        if not (is_number(jitter) and 0 <= jitter < 1):
            raise ConfigError(f"jitter must be in [0, 1), got {jitter!r:.60}.")
        check_rate("error_rate", error_rate)
        check_rate("cut_rate", cut_rate)
        if error_rate + cut_rate > 1:
            raise ConfigError(f"error_rate + cut_rate must be at most 1, got "
                              f"{error_rate} + {cut_rate}.")
        if brain is not None and not callable(brain):
            raise ConfigError(f"brain must be a function fn(messages, tools), got {brain!r}.")
        if not (isinstance(port, int) and 0 <= port < 65536):
            raise ConfigError(f"port must be 0 (a free one) or a TCP port, got {port!r}.")
        self.port = port
        self.provider: Provider = Provider(
            rpm=rpm, tpm=tpm, burst_requests=burst_requests, burst_tokens=burst_tokens,
            ttft=float(ttft), tokens_per_second=tokens_per_second, jitter=jitter, seed=seed,
            error_rate=error_rate, cut_rate=cut_rate, brain=brain, model=model,
            default_max_tokens=default_max_tokens, clock=clock, sleep=sleep,
        )
        self._app: Starlette | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def __repr__(self) -> str:
        p = self.provider
        where = self.base_url if self.running else "not running"
        return f"ProviderEmulator(rpm={p.rpm}, tpm={p.tpm}, model={p.model!r}, {where})"

    # -- the server ---------------------------------------------------------------------

    @property
    def app(self) -> Starlette:
        """The ASGI app (for in-process use, e.g. ``httpx.ASGITransport(app=emu.app)``)."""
        if self._app is None:
            _require_server()
            from pitstop._emulator.app import build_app

            self._app = build_app(self.provider)
        return self._app

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: pass it to `OpenAIClient` (or any OpenAI client)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ProviderEmulator:
        """Start the server in a background thread; returns once it accepts connections."""
        if self.running:
            return self
        _require_server()
        import uvicorn

        from pitstop._emulator.app import quiet_cuts

        quiet_cuts()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self.port))
        except OSError as e:
            sock.close()
            raise ConfigError(f"ProviderEmulator could not listen on 127.0.0.1:{self.port} "
                              f"({e.strerror}); pass port=0 for a free port.") from None
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off",
                                access_log=False, timeout_keep_alive=60,
                                timeout_graceful_shutdown=1)
        server = uvicorn.Server(config)
        self._server = server
        self._failure = None

        def serve() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as e:  # reported by start() or stop()
                self._failure = e
            finally:
                sock.close()

        self._thread = threading.Thread(target=serve, name="pitstop-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ProviderEmulator did not start: {self._failure!r}")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread (open streams are closed)."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> ProviderEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> ProviderEmulator:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    # -- what happened ------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """What the provider saw: ``requests``, ``admitted``, ``throttled`` (429s),
        ``errors_injected``, ``streams_cut``, ``completed``, ``bad_requests``,
        ``prompt_tokens``, ``completion_tokens``, ``cached_tokens``, ``tokens_charged``
        (prompt + max_tokens of every admitted request), ``refused_by`` (requests /
        tokens / too_large), ``remaining_requests``, ``remaining_tokens``, ``elapsed_s``,
        and the limits."""
        return self.provider.stats()

    def timeline(self) -> list[dict[str, int]]:
        """Per second since the start (or the last `reset`): ``requests`` admitted,
        ``tokens`` charged and ``throttled`` (429s)."""
        return self.provider.timeline()

    def reset(self) -> None:
        """Refill the quota and zero the counters (between two rehearsals)."""
        self.provider.reset()


# -- the command line ---------------------------------------------------------------------


def _main(argv: list[str] | None = None) -> int:
    """``python -m pitstop emulate``: serve until interrupted, then print the counters."""
    import argparse
    import json
    import signal

    parser = argparse.ArgumentParser(
        prog="python -m pitstop emulate",
        description="An OpenAI-compatible server on loopback with a provider's rate "
                    "limits, latency and faults.")
    parser.add_argument("--rpm", type=int, default=500, help="requests per minute (0: none)")
    parser.add_argument("--tpm", type=int, default=60_000, help="tokens per minute (0: none)")
    parser.add_argument("--burst-requests", type=int, default=None)
    parser.add_argument("--burst-tokens", type=int, default=None)
    parser.add_argument("--ttft", type=float, default=0.4, help="seconds to the first token")
    parser.add_argument("--tokens-per-second", type=float, default=80.0,
                        help="answer pace (0: all at once)")
    parser.add_argument("--jitter", type=float, default=0.1)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--cut-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--default-max-tokens", type=int, default=4096)
    parser.add_argument("--brain", default=None, metavar="MODULE:FUNCTION",
                        help="answer with FUNCTION(messages, tools) from MODULE "
                             "(default: SimulatedLLM's rules)")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--stats-on-exit", action="store_true",
                        help="print the counters as JSON when stopped")
    args = parser.parse_args(argv)
    brain = None
    if args.brain is not None:
        import importlib

        module, _, name = args.brain.partition(":")
        try:
            brain = getattr(importlib.import_module(module), name or "brain")
        except (ImportError, AttributeError) as e:
            parser.error(f"--brain {args.brain!r} could not be loaded ({e}); pass "
                         "MODULE:FUNCTION importable from the current directory or PYTHONPATH.")
    try:
        emu = ProviderEmulator(
            brain=brain,
            rpm=args.rpm or None, tpm=args.tpm or None, burst_requests=args.burst_requests,
            burst_tokens=args.burst_tokens, ttft=args.ttft,
            tokens_per_second=args.tokens_per_second or None, jitter=args.jitter,
            error_rate=args.error_rate, cut_rate=args.cut_rate, seed=args.seed,
            model=args.model, default_max_tokens=args.default_max_tokens, port=args.port)
        emu.start()
    except ConfigError as e:
        parser.error(str(e))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"pitstop provider emulator: {emu.base_url} (rpm={emu.provider.rpm}, "
          f"tpm={emu.provider.tpm}, model={emu.provider.model}); Ctrl-C to stop", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    emu.stop()
    if args.stats_on_exit:
        print(json.dumps(emu.stats()), flush=True)
    return 0
