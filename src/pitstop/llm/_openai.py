"""`OpenAIClient`: any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp).

The client streams chat completions through the `openai` package's ``AsyncOpenAI``
with the SDK's own retries switched off, because pitstop retries itself, visibly:

- **What is retried**: HTTP 408, 409, 429 and 5xx answers, and connection errors, but
  only while nothing has been yielded yet. Once text has reached the caller a retry
  would repeat it, so a dropped connection then raises `LLMConnectionError`.
- **How long it waits**: the server's ``retry-after-ms`` or ``Retry-After`` (seconds or
  an HTTP date) when it sends one, else exponential backoff with jitter
  (``initial_backoff * 2**attempt``, randomised between half and all of it). Waits are
  capped at ``max_backoff``. The sleep function is injectable, so tests never sleep.
- **429 answers** are waited out, each for its ``Retry-After``, for up to
  ``max_rate_limit_wait`` seconds in all; they do not use up ``max_retries``. With a
  Governor in `OpenAIClient.retry_waiters` the wait is its queue for the quota.
- **What is not retried**: other 4xx answers (400, 401, 404, ...) raise `LLMError` at
  once with the server's own message.

Rate-limit headers (``x-ratelimit-limit/remaining/reset-requests/tokens`` and, on a 429,
``Retry-After``) are turned into a `RateLimitInfo` and passed to every callable in
`OpenAIClient.rate_limit_observers`; the agent wires its Governor in there, and asks
`OpenAIClient.request_tokens` what the provider will charge a call.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ipaddress
import json
import os
import random
import re
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pitstop._redact import redact_url
from pitstop.errors import ConfigError, LLMConnectionError, LLMError, MissingExtraError
from pitstop.llm._base import Message, RateLimitInfo, StreamItem, ToolCall, ToolSpec, Usage
from pitstop.llm._deadline import Deadline
from pitstop.llm._pricing import Price, PriceLike, Pricing
from pitstop.llm._stream_errors import _BadChunk, _StreamCutError, _StreamErrorEvent
from pitstop.llm._tokens import count_chat_tokens, count_message_tokens, count_tokens

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["LOCAL_API_KEY", "OpenAIClient", "parse_duration", "parse_retry_after"]

LOCAL_API_KEY = "not-needed"
"""The API key sent to a loopback server when none is configured (local servers ignore it)."""

RETRYABLE_STATUS = frozenset({408, 409, 429})
"""HTTP statuses retried besides every 5xx."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(text: str) -> float | None:
    """Seconds in a rate-limit duration such as ``"6m0s"``, ``"1.5s"``, ``"20ms"`` or ``"2"``.

    Returns None for text that is not a duration.
    """
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * scale[u] for n, u in parts)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``Retry-After``, or None.

    ``Retry-After`` may be a number of seconds or an HTTP date (RFC 9110); a date in
    the past gives 0. `now` (a Unix time) is injectable for tests.
    """
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(float(raw))
    except ValueError:
        return None


def _header_duration(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    return parse_duration(raw) if raw is not None else None


def rate_limit_info(headers: Mapping[str, str], *, retry_after: bool) -> RateLimitInfo | None:
    """The rate-limit facts in a response's headers, or None when there are none."""
    info = RateLimitInfo(
        remaining_tokens=_header_int(headers, "x-ratelimit-remaining-tokens"),
        reset_tokens_s=_header_duration(headers, "x-ratelimit-reset-tokens"),
        retry_after_s=parse_retry_after(headers) if retry_after else None,
        limit_tokens=_header_int(headers, "x-ratelimit-limit-tokens"),
        limit_requests=_header_int(headers, "x-ratelimit-limit-requests"),
        remaining_requests=_header_int(headers, "x-ratelimit-remaining-requests"),
        reset_requests_s=_header_duration(headers, "x-ratelimit-reset-requests"),
    )
    return None if info == _NO_INFO else info


_NO_INFO = RateLimitInfo()


def _credentials_to_header(url: str | None) -> tuple[str | None, dict[str, str] | None]:
    """Move ``user:password@`` out of `url` into a Basic auth header.

    httpx would send the same header, but it also logs the URL with the credentials in
    it on every request; the URL pitstop hands on carries none.
    """
    if url is None or "@" not in url:
        return url, None
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    import base64
    from urllib.parse import unquote, urlunsplit

    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    clean = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return clean, {"Authorization": f"Basic {token}"}


def _is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def to_openai_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """pitstop messages as OpenAI chat messages (tool calls carry ids and JSON arguments)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        item: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.role == "assistant" and m.tool_calls:
            item["content"] = m.content or None
            item["tool_calls"] = [
                {
                    "id": call.id or f"call_{i}",
                    "type": "function",
                    "function": {
                        "name": call.name,
                        "arguments": call.arguments
                        if isinstance(call.arguments, str)
                        else json.dumps(dict(call.arguments)),
                    },
                }
                for i, call in enumerate(m.tool_calls)
            ]
        if m.role == "tool":
            if m.tool_call_id is not None:
                item["tool_call_id"] = m.tool_call_id
            if m.name is not None:
                item["name"] = m.name
        out.append(item)
    return out


MAX_DELTAS_MARGIN = 64
"""A stream is cut off after ``2 * max_tokens + MAX_DELTAS_MARGIN`` deltas: every server
sends at least one token per delta, so more means it ignores ``max_tokens``."""


@dataclass
class _PendingCall:
    """A tool call whose deltas are still arriving."""

    id: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    index: int = 0
    done: bool = False
    """Handed to the caller already (its arguments were complete)."""

    def finish(self) -> ToolCall:
        self.done = True
        raw = "".join(self.arguments)
        if not raw.strip():
            return ToolCall(self.name, {}, self.id)
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        # Not a JSON object: hand over the raw text, so the tool's validation tells the
        # model exactly what it wrote ("expected an object of named arguments, got str").
        return ToolCall(self.name, parsed if isinstance(parsed, dict) else raw, self.id)  # type: ignore[arg-type]


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The HTTP library's read errors (httpx2 in openai 3, httpx before)."""
    try:
        from openai._httpx2 import request_exceptions

        return tuple(request_exceptions())
    except ImportError:  # pragma: no cover - openai < 3
        import httpx

        return (httpx.RequestError,)


def _error_message(error: Any) -> str:
    if isinstance(error, Mapping):
        message = error.get("message")
        if isinstance(message, str) and message:
            return message
    if isinstance(error, str) and error:
        return error
    return f"an error occurred during streaming ({error!r:.200})"


class _Turn:
    """Assembles one streamed answer from its chunks: SDK models and msgspec structs
    have the same attribute names, so one loop serves both decoders."""

    __slots__ = ("deltas", "finished", "order", "pending", "text", "usage")

    def __init__(self) -> None:
        self.pending: dict[int, _PendingCall] = {}
        self.order: list[_PendingCall] = []
        self.text: list[str] = []
        self.usage: Any = None
        self.finished = False
        self.deltas = 0

    def usage_of(self, client: OpenAIClient, messages: Sequence[Message]) -> Usage:
        u = self.usage
        if u is None:  # e.g. llama.cpp: no usage in streams
            calls = self.order
            out = "".join(self.text) + "".join(c.name + "".join(c.arguments) for c in calls)
            deltas = len(self.text) + sum(len(c.arguments) for c in calls)
            estimate = deltas or count_tokens(out, client.model)
            return client.priced(count_message_tokens(messages, client.model), estimate)
        prompt = u.prompt_tokens_details
        done = u.completion_tokens_details
        return client.priced(
            u.prompt_tokens or 0,
            u.completion_tokens or 0,
            (prompt.cached_tokens or 0) if prompt is not None else 0,
            (done.reasoning_tokens or 0) if done is not None else 0,
        )


class OpenAIClient:
    """A streaming client for any OpenAI-compatible chat completions endpoint.

    Works with OpenAI, vLLM, Ollama and the llama.cpp server. Example::

        llm = OpenAIClient("gpt-4o-mini")                       # OPENAI_API_KEY from the env
        llm = OpenAIClient("qwen2.5", base_url="http://127.0.0.1:11434/v1")  # Ollama

    The ``openai`` SDK sends the request (auth, base URL, headers, error types); the
    streamed answer is read from its raw response and decoded with msgspec, which costs
    a few µs of CPU per chunk instead of the SDK's ~75 µs (``decoder="sdk"`` uses the
    SDK's own parsing, for comparison).

    Args:
        model: the model name sent with each request.
        base_url: the endpoint, e.g. ``"http://127.0.0.1:8000/v1"``; defaults to
            ``OPENAI_BASE_URL``, then to OpenAI's own API.
        api_key: defaults to ``OPENAI_API_KEY``. A loopback `base_url` needs none: local
            servers accept any key, so `LOCAL_API_KEY` (``"not-needed"``) is sent.
        max_retries: retries after the first attempt (0 = never retry).
        timeout: the total deadline of one model call in seconds, retries and their
            waits included (None: none). Raises `LLMTimeoutError` with ``deadline="total"``.
        idle_timeout: the longest silence, in seconds, between two chunks once the
            answer has begun, while the caller waits (keep-alive comments do not count;
            None: none). Raises `LLMTimeoutError` with ``deadline="idle"``. The wait for
            the first chunk (connecting, queueing, a reasoning model thinking) is bounded
            by `timeout` alone.
        price: what the model costs (a `Price` or ``{"input": ..., "output": ...,
            "cached_input": ...}`` in dollars per million tokens); None: looked up in
            `set_price`'s table, then in genai-prices by provider and model.
        tool_choice: sent as ``tool_choice`` when tools are offered, e.g. ``"required"``
            or ``{"type": "function", "function": {"name": "search"}}``.
        temperature: sent as ``temperature`` when given.
        extra_body: more JSON fields for each request (server-specific options).
        client: an ``AsyncOpenAI`` to use instead of building one (its retries are
            switched off with ``with_options(max_retries=0)``).
        sleep: the coroutine used to wait between retries (inject a recorder in tests).
        initial_backoff: seconds of the first backoff when the server names no wait.
        max_backoff: the cap on any single wait, ``Retry-After`` included.
        max_rate_limit_wait: seconds one call may spend waiting out 429 answers (each
            for its ``Retry-After``) before it fails; 429s do not count against
            `max_retries`, since they mean "not yet". 0 counts them as retries.
        decoder: ``"msgspec"`` (the lean stream) or ``"sdk"`` (the SDK's parsed chunks).

    Each `ToolCall` is yielded the moment its arguments are complete (the next call
    begins, or the stream ends), so an agent can start it while the model still writes
    the next one. Once anything was yielded, the call is never retried.

    Raises:
        ConfigError: the ``openai`` package is missing, an argument is out of range, or
            no API key is set for a non-local endpoint.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        max_retries: int = 3,
        timeout: float | None = 600.0,
        idle_timeout: float | None = 60.0,
        price: PriceLike | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        temperature: float | None = None,
        extra_body: Mapping[str, Any] | None = None,
        client: AsyncOpenAI | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        initial_backoff: float = 0.5,
        max_backoff: float = 60.0,
        max_rate_limit_wait: float = 600.0,
        decoder: Literal["msgspec", "sdk"] = "msgspec",
    ) -> None:
        try:
            import openai
        except ImportError as e:
            raise MissingExtraError(
                "OpenAIClient needs the 'openai' package: pip install 'pitstop[openai]'"
            ) from e
        if not model or not isinstance(model, str):
            raise ConfigError(
                f"OpenAIClient needs a model name, e.g. OpenAIClient('gpt-4o-mini'), got {model!r}."
            )
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"max_retries must be an integer >= 0, got {max_retries!r}.")
        for name, value in (("timeout", timeout), ("idle_timeout", idle_timeout)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
                or not value > 0 or value == float("inf")
            ):
                raise ConfigError(
                    f"{name} must be a positive number of seconds (or None for no deadline), "
                    f"got {value!r}."
                )
        if max_rate_limit_wait < 0:
            raise ConfigError(
                f"max_rate_limit_wait must be 0 or more seconds, got {max_rate_limit_wait}."
            )
        if initial_backoff < 0 or max_backoff < 0:
            raise ConfigError(
                f"initial_backoff and max_backoff must be 0 or more, got "
                f"{initial_backoff} and {max_backoff}."
            )
        if base_url is not None and not isinstance(base_url, str):
            raise ConfigError(
                f"OpenAIClient(base_url=...) takes the endpoint as a string, such as "
                f"'http://127.0.0.1:8000/v1', got {base_url!r:.60}."
            )
        if decoder not in ("msgspec", "sdk"):
            raise ConfigError(f"decoder must be 'msgspec' or 'sdk', got {decoder!r}.")
        if decoder == "msgspec":
            try:
                import msgspec  # noqa: F401
            except ImportError as e:
                raise MissingExtraError(
                    "OpenAIClient's lean stream needs the 'msgspec' package: pip install "
                    "'pitstop[openai]' (or pass decoder='sdk')."
                ) from e
        self.model = model
        self.max_retries = max_retries
        self.timeout = timeout
        self.idle_timeout = idle_timeout
        self.decoder = decoder
        self.tool_choice = tool_choice
        self.temperature = temperature
        self.extra_body = dict(extra_body) if extra_body else None
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_rate_limit_wait = max_rate_limit_wait
        self.rate_limit_observers: list[Callable[[RateLimitInfo], None]] = []
        """Called with a `RateLimitInfo` for every response that carries rate-limit headers."""
        self.retry_waiters: list[Callable[[float, int], Awaitable[object]]] = []
        """Awaited instead of sleeping before a retry after a 429, with the seconds the
        provider asked for and the tokens the retry will be charged: the agent puts its
        Governor here, so a retry queues behind the calls already waiting for the quota
        instead of returning with every other refused call at the same moment."""
        self._sleep = sleep
        self._openai = openai
        pricing = Pricing(model, price)
        if client is None:
            base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
            api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
            if api_key is None:
                if base_url is None or not _is_loopback_url(base_url):
                    raise ConfigError(
                        f"OpenAIClient has no API key for "
                        f"{redact_url(base_url) if base_url else 'the OpenAI API'}: pass "
                        "api_key=... or set OPENAI_API_KEY (a loopback base_url needs none)."
                    )
                api_key = LOCAL_API_KEY
            shown = base_url
            base_url, headers = _credentials_to_header(base_url)
            # pitstop keeps the deadlines itself (see `Deadline`), so the HTTP client
            # gets none that could fire first and be mistaken for a dropped connection.
            client = openai.AsyncOpenAI(
                base_url=base_url, api_key=api_key, max_retries=0, timeout=None,
                default_headers=headers,
            )
        else:
            client = client.with_options(max_retries=0)
            shown = None
        self._client = client
        self._home: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._away: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )
        self.base_url = redact_url((shown or str(client.base_url)).rstrip("/"))
        """The endpoint as pitstop shows it: credentials in the URL hidden."""
        pricing.base_url = self.base_url
        self.pricing = pricing
        """How this client's calls are priced (`Pricing.price` is the `Price` or None)."""
        self._transport_errors = _transport_errors()

    def _loop_client(self) -> AsyncOpenAI:
        """The SDK client for the running event loop.

        An HTTP connection pool belongs to the loop it was first used on: the same agent
        used from a notebook cell (the kernel's loop) and from ``agent.run_sync`` or a
        synchronous ``%%agent`` (a private loop) would otherwise fail with "bound to a
        different event loop". The first loop gets the client built in ``__init__``;
        another loop gets a copy with its own pool, dropped with that loop. A client
        passed as ``client=`` is copied keeping its own HTTP client only on its first
        loop; on another loop its copy gets the SDK's default HTTP client.
        """
        loop = asyncio.get_running_loop()
        if self._home is None:
            self._home = weakref.ref(loop)
            return self._client
        if self._home() is loop:
            return self._client
        client = self._away.get(loop)
        if client is None:
            client = self._away[loop] = self._client.copy(
                http_client=self._openai.DefaultAsyncHttpxClient()
            )
        return client

    def __repr__(self) -> str:
        return f"OpenAIClient(model={self.model!r}, base_url={self.base_url!r})"

    # -- pricing ---------------------------------------------------------------------------

    @property
    def price(self) -> Price | None:
        """What this model costs: ``price=``, `set_price`, or genai-prices (None: unknown)."""
        return self.pricing.price

    def priced(
        self, input_tokens: int, output_tokens: int, cached: int = 0, reasoning: int = 0
    ) -> Usage:
        """A `Usage` with its cost at this model's price."""
        price = self.price
        cost = None if price is None else price.cost(input_tokens, output_tokens, cached)
        return Usage(input_tokens, output_tokens, cached, reasoning, cost)

    # -- requests ----------------------------------------------------------------------------

    def _request(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], max_tokens: int | None
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            request["tools"] = [t.to_openai() for t in tools]
            if self.tool_choice is not None:
                request["tool_choice"] = self.tool_choice
        if max_tokens is not None:
            request["max_tokens"] = max_tokens
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if self.extra_body:
            request["extra_body"] = self.extra_body
        return request

    def request_tokens(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] = (), *,
        max_tokens: int | None = None,
    ) -> int:
        """Tokens the provider charges this call at admission: its prompt, counted as
        OpenAI documents (`count_chat_tokens` on the exact JSON sent), plus `max_tokens`."""
        prompt = count_chat_tokens(
            to_openai_messages(messages), [t.to_openai() for t in tools], self.model
        )
        return prompt + (max_tokens or 0)

    def _observe(self, headers: Mapping[str, str], *, retry_after: bool) -> None:
        if not self.rate_limit_observers:
            return
        info = rate_limit_info(headers, retry_after=retry_after)
        if info is not None:
            for observer in self.rate_limit_observers:
                observer(info)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        delay = min(self.initial_backoff * 2.0**attempt, self.max_backoff)
        return delay / 2 + random.uniform(0, delay / 2)  # jitter spreads synchronized clients

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        max_tokens: int | None = None,
    ) -> AsyncIterator[StreamItem]:
        """Stream one chat completion: text deltas and tool calls as they arrive, then usage.

        Each tool call is yielded, complete, as soon as the next one begins or the
        stream ends. Arguments that are not a JSON object are passed on as the raw
        string, so the tool's validation reports the model's mistake back to it.
        `Usage` comes last, priced: the server's figures (cached and reasoning tokens
        included) or, when it sent none (the llama.cpp server does not), an estimate:
        the prompt counted by `pitstop.llm._tokens`, and for the output the number of
        streamed deltas (llama.cpp, vLLM and Ollama send one token per delta), or the
        counted text when there were none.

        Raises:
            LLMError: a non-retryable answer (400, 401, 404, ...), retries ran out, an
                error or a malformed event inside the stream, or a server that went on
                far past ``max_tokens``.
            LLMConnectionError: the endpoint could not be reached, or the connection
                dropped after part of the answer had been yielded.
            LLMTimeoutError: the total or the idle deadline ran out.
        """
        openai = self._openai
        request = self._request(messages, tools, max_tokens)
        where = f"{self.base_url} (model {self.model!r})"
        deadline = Deadline(total=self.timeout, idle=self.idle_timeout, what=where)
        deadline.start()
        attempt = 0
        throttles, throttled_s = 0, 0.0  # 429s so far and the seconds waited for them
        try:
            while True:
                shown = 0  # characters of text already handed to the caller
                calls = 0  # tool calls already handed to the caller
                deadline.new_attempt()
                try:
                    async with contextlib.aclosing(
                        self._attempt(request, messages, deadline, max_tokens)
                    ) as items:
                        async for item in items:
                            if item.__class__ is str:
                                shown += len(item)
                            elif isinstance(item, ToolCall):
                                calls += 1
                            deadline.pause()
                            yield item
                            deadline.resume()
                    return
                except openai.APIStatusError as e:
                    self._observe(e.response.headers, retry_after=e.status_code == 429)
                    status = e.status_code
                    detail = _server_message(e)
                    if not (status in RETRYABLE_STATUS or status >= 500):
                        raise LLMError(
                            f"{self.base_url} answered {status} for model {self.model!r}: "
                            f"{detail}{_hint(status)}"
                        ) from e
                    if status == 429 and self.max_rate_limit_wait:
                        # A 429 says "not yet", not "broken": wait as told, within a budget
                        # (and the call's total deadline).
                        delay = self._backoff(throttles, parse_retry_after(e.response.headers))
                        if throttled_s + delay > self.max_rate_limit_wait:
                            raise LLMError(
                                f"{self.base_url} kept answering 429 for model "
                                f"{self.model!r}: {detail}. Waited {throttled_s:.1f} s over "
                                f"{throttles + 1} 429s and the next wait would pass "
                                f"max_rate_limit_wait={self.max_rate_limit_wait:g} s; raise "
                                "it, set ResourceLimits(max_tokens_per_minute=...) to your "
                                "quota, or lower the demand."
                            ) from e
                        throttles += 1
                        throttled_s += delay
                        if self.retry_waiters:  # queue the retry with the limiter's calls
                            charge = self.request_tokens(messages, tools, max_tokens=max_tokens)
                            for wait in self.retry_waiters:
                                await wait(delay, charge)
                        else:
                            await self._sleep(delay)
                        deadline.resume()
                        continue
                    if attempt >= self.max_retries:
                        raise LLMError(
                            f"{self.base_url} answered {status} for model {self.model!r} "
                            f"after {attempt + 1} attempt(s): {detail}. Raise max_retries "
                            f"(now {self.max_retries}) or lower the request rate."
                        ) from e
                    delay = self._backoff(attempt, parse_retry_after(e.response.headers))
                except (openai.APIConnectionError, _StreamCutError, _BadChunk) as e:
                    what = (
                        f"sent a malformed stream event, {e.reason}: {e.shown()}"
                        if isinstance(e, _BadChunk) else None
                    )
                    if shown or calls:
                        done = f"{shown} characters" + (f" and {calls} tool call(s)" if calls
                                                         else "")
                        if what is not None:
                            raise LLMError(
                                f"{self.base_url} {what} (model {self.model!r}), after {done} "
                                "of the answer; a half-streamed answer is not retried. Check "
                                "the server, or run the task again."
                            ) from None
                        raise LLMConnectionError(
                            f"The connection to {self.base_url} dropped after {done} of the "
                            f"answer from {self.model!r}; a half-streamed answer is not "
                            "retried (it would repeat what was already handed over). Run the "
                            "task again."
                        ) from e
                    if attempt >= self.max_retries:
                        if what is not None:
                            raise LLMError(
                                f"{self.base_url} {what} (model {self.model!r}), "
                                f"{attempt + 1} attempt(s). The server does not speak the "
                                "OpenAI streaming format: check base_url and the server."
                            ) from None
                        raise LLMConnectionError(
                            f"Could not get an answer from {self.base_url} (model "
                            f"{self.model!r}) after {attempt + 1} attempt(s): {e}. Check that "
                            "the server is running and base_url is right."
                        ) from e
                    delay = self._backoff(attempt, None)
                except (openai.APIError, _StreamErrorEvent) as e:  # an error event in the stream
                    message = e.message if isinstance(e, openai.APIError) else str(e)
                    raise LLMError(
                        f"{self.base_url} reported an error for model {self.model!r}: {message}"
                    ) from e
                attempt += 1
                await self._sleep(delay)
                deadline.resume()
        except asyncio.CancelledError:
            if deadline.expired():
                raise deadline.error() from None
            raise
        finally:
            deadline.stop()

    def _attempt(
        self,
        request: dict[str, Any],
        messages: Sequence[Message],
        deadline: Deadline,
        max_tokens: int | None,
    ) -> AsyncGenerator[StreamItem, None]:
        if self.decoder == "sdk":
            return self._sdk_attempt(request, messages, deadline, max_tokens)
        return self._lean_attempt(request, messages, deadline, max_tokens)

    async def _lean_attempt(
        self,
        request: dict[str, Any],
        messages: Sequence[Message],
        deadline: Deadline,
        max_tokens: int | None,
    ) -> AsyncGenerator[StreamItem, None]:
        from pitstop.llm._sse import sse_chunks  # msgspec: checked in __init__

        openai = self._openai
        create = self._loop_client().chat.completions.with_streaming_response.create
        async with create(**request) as response:
            self._observe(response.headers, retry_after=False)
            http = response.http_response
            body = http.aiter_bytes()
            try:
                async for item in self._turn(sse_chunks(body), messages, deadline, max_tokens):
                    yield item
                async for _ in body:  # after [DONE]: let the connection be reused
                    pass
            except self._transport_errors as e:
                raise openai.APIConnectionError(request=http.request) from e

    async def _sdk_attempt(
        self,
        request: dict[str, Any],
        messages: Sequence[Message],
        deadline: Deadline,
        max_tokens: int | None,
    ) -> AsyncGenerator[StreamItem, None]:
        raw = await self._loop_client().chat.completions.with_raw_response.create(**request)
        self._observe(raw.headers, retry_after=False)
        chunks = raw.parse()
        try:
            async for item in self._turn(
                _sdk_chunks(chunks), messages, deadline, max_tokens
            ):
                yield item
        finally:
            await chunks.close()

    async def _turn(
        self,
        chunks: AsyncIterator[Any],
        messages: Sequence[Message],
        deadline: Deadline,
        max_tokens: int | None,
    ) -> AsyncGenerator[StreamItem, None]:
        turn = _Turn()
        pending = turn.pending
        order = turn.order
        text = turn.text
        current: _PendingCall | None = None  # the call whose arguments are arriving
        limit = None if max_tokens is None else 2 * max_tokens + MAX_DELTAS_MARGIN
        deltas = 0
        async for chunk in chunks:
            deadline.touch()
            error = getattr(chunk, "error", None)
            if error is not None:
                raise _StreamErrorEvent(_error_message(error))
            if chunk.usage is not None:
                turn.usage = chunk.usage
            for choice in chunk.choices or ():
                delta = choice.delta
                if delta is not None:
                    content = delta.content
                    if content:
                        deltas += 1
                        text.append(content)
                        yield content
                    for tc in delta.tool_calls or ():
                        deltas += 1
                        index = tc.index if tc.index is not None else len(order)
                        call = pending.get(index)
                        # A new id at a used index is a new call (some servers send every
                        # complete call at index 0).
                        if call is None or (tc.id and call.id and tc.id != call.id and call.name):
                            call = pending[index] = _PendingCall(id=tc.id, index=index)
                            order.append(call)
                        if call is not current:
                            if current is not None and not current.done:
                                yield current.finish()  # the next call began: it is complete
                            current = call
                        if call.done:
                            raise LLMError(
                                f"{self.base_url} sent more of tool call #{index} "
                                f"({call.name!r}) after the next call had begun (model "
                                f"{self.model!r}); pitstop had already handed it over."
                            )
                        if tc.id and not call.id:
                            call.id = tc.id
                        fn = tc.function
                        if fn is not None:
                            # OpenAI sends the name once, llama.cpp repeats it in
                            # every delta; a different one is a fragment to append.
                            if fn.name and fn.name != call.name:
                                call.name += fn.name
                            if fn.arguments:
                                call.arguments.append(fn.arguments)
                if choice.finish_reason is not None:
                    turn.finished = True
            if limit is not None and deltas > limit:
                raise LLMError(
                    f"{self.base_url} sent {deltas} deltas for max_tokens={max_tokens} (model "
                    f"{self.model!r}) and was still going; pitstop stopped reading. The server "
                    "ignores max_tokens: check its settings."
                )
        if not turn.finished:
            raise _StreamCutError("the stream ended before the model finished its answer")
        for pending_call in order:
            if not pending_call.done:
                yield pending_call.finish()
        yield turn.usage_of(self, messages)


async def _sdk_chunks(chunks: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The SDK's parsed chunks; its decoding errors become `_BadChunk`."""
    it = chunks.__aiter__()
    while True:
        try:
            chunk = await it.__anext__()
        except StopAsyncIteration:
            return
        except (ValueError, TypeError) as e:  # json.JSONDecodeError is a ValueError
            raise _BadChunk(str(e).encode(), f"not a chat completion chunk ({type(e).__name__})") \
                from None
        yield chunk


def _server_message(e: Any) -> str:
    body = e.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return str(e.message)


def _hint(status: int) -> str:
    return {
        401: " (check api_key or OPENAI_API_KEY)",
        403: " (the key lacks access to this model or endpoint)",
        404: " (check the model name and base_url)",
    }.get(status, "")
