"""`Provider`: what the emulator does with one chat request, independent of the server.

It admits or refuses the request against the `Quota`, picks a fault, asks the brain
for the answer, and times the answer with the latency model. The Starlette app in
`pitstop._emulator.app` only moves bytes; everything here takes an injected clock and
sleep, so tests drive it on fake time.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pitstop._emulator.quota import Admission, Quota
from pitstop.errors import ConfigError
from pitstop.llm._base import LLMResponse, Message, ToolCall, ToolSpec
from pitstop.llm._tokens import (
    count_chat_message_tokens,
    count_chat_tools_tokens,
    count_tokens,
    split_tokens,
)

__all__ = ["Answer", "Brain", "Provider", "_RequestError"]

Brain = Callable[
    [list[Message], list[ToolSpec]], "LLMResponse | str | Awaitable[LLMResponse | str]"
]
"""A function answering a conversation, like `FunctionLLM`'s: returns text or tool calls."""

PROMPT_CACHE_MIN = 1024
"""OpenAI caches prompt prefixes of at least this many tokens..."""
PROMPT_CACHE_STEP = 128
"""...in steps of this many tokens."""


class _RequestError(Exception):
    """A request the provider answers with a 4xx (bad JSON, missing fields)."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param


@dataclass(slots=True)
class Answer:
    """One admitted request's answer, ready to be sent."""

    text: str
    calls: list[ToolCall]
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    finish_reason: str
    pieces: list[str]
    """The text split into stream deltas."""
    ttft: float
    """Seconds before the first delta."""
    per_piece: float
    """Seconds between deltas."""
    fault: Literal["none", "error", "cut"] = "none"
    cut_at: int = 0
    """For ``fault="cut"``: deltas sent before the connection drops."""
    headers: dict[str, str] = field(default_factory=dict)


def to_messages(raw: Sequence[Mapping[str, Any]]) -> list[Message]:
    """OpenAI-format messages as pitstop `Message` objects (for the brain)."""
    out: list[Message] = []
    for m in raw:
        role = m.get("role")
        if role == "developer":
            role = "system"
        if role not in ("system", "user", "assistant", "tool"):
            raise _RequestError(400, f"Invalid role {role!r} in messages.", "messages")
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(
                str(p.get("text", "")) for p in content if isinstance(p, dict)
            )
        calls = []
        for c in m.get("tool_calls") or ():
            fn = c.get("function", {})
            raw_args = fn.get("arguments") or "{}"
            try:
                args = json.loads(raw_args)
            except ValueError:
                args = raw_args
            calls.append(ToolCall(str(fn.get("name", "")), args, c.get("id")))
        out.append(Message(role, str(content or ""), tuple(calls), m.get("tool_call_id"),
                           m.get("name")))
    return out


def to_specs(raw: Sequence[Mapping[str, Any]]) -> list[ToolSpec]:
    """OpenAI-format tool definitions as pitstop `ToolSpec` objects."""
    specs = []
    for t in raw:
        fn = t.get("function", {})
        specs.append(ToolSpec(str(fn.get("name", "")), str(fn.get("description") or ""),
                              fn.get("parameters") or {"type": "object", "properties": {}}))
    return specs


class Provider:
    """The emulated provider: quota, latency model, faults, brain and counters.

    See `pitstop.emulator.ProviderEmulator` for the arguments.
    """

    def __init__(
        self,
        *,
        rpm: int | None,
        tpm: int | None,
        burst_requests: int | None,
        burst_tokens: int | None,
        ttft: float,
        tokens_per_second: float | None,
        jitter: float,
        seed: int,
        error_rate: float,
        cut_rate: float,
        brain: Brain | None,
        model: str,
        default_max_tokens: int,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[object]],
    ) -> None:
        self.rpm, self.tpm = rpm, tpm
        self.burst_requests, self.burst_tokens = burst_requests, burst_tokens
        self.ttft = ttft
        self.tokens_per_second = tokens_per_second
        self.jitter = jitter
        self.seed = seed
        self.error_rate = error_rate
        self.cut_rate = cut_rate
        self.model = model
        self.default_max_tokens = default_max_tokens
        self.clock = clock
        self.sleep = sleep
        if brain is None:
            from pitstop.llm._simulated import SimulatedLLM

            simulated = SimulatedLLM(seed=seed)
            brain = lambda messages, tools: LLMResponse(*_pair(simulated.respond(messages, tools)))
        self.brain: Brain = brain
        self.reset()

    def reset(self) -> None:
        """A full quota, zeroed counters, an empty prompt cache, the seed's first draw."""
        self.quota = Quota(rpm=self.rpm, tpm=self.tpm, burst_requests=self.burst_requests,
                           burst_tokens=self.burst_tokens, model=self.model, now=self.clock())
        self.rng = random.Random(self.seed)
        self.counters: dict[str, int] = dict.fromkeys(
            ("requests", "admitted", "throttled", "errors_injected", "streams_cut",
             "completed", "bad_requests", "prompt_tokens", "completion_tokens",
             "cached_tokens"), 0)
        self._prefixes: OrderedDict[bytes, int] = OrderedDict()
        self._calls = 0

    # -- one request --------------------------------------------------------------------

    def parse(self, body: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int, bool]:
        """The messages, tools, max_tokens and stream flag of a request body."""
        if not isinstance(body, dict):
            raise _RequestError(400, "The request body must be a JSON object.")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) for m in messages
        ):
            raise _RequestError(400, "'messages' must be a non-empty array of objects.",
                               "messages")
        tools = body.get("tools") or []
        if not isinstance(tools, list):
            raise _RequestError(400, "'tools' must be an array.", "tools")
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if max_tokens is None:
            max_tokens = self.default_max_tokens
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise _RequestError(400, f"max_tokens must be an integer >= 1, got {max_tokens!r}.",
                               "max_tokens")
        return messages, tools, max_tokens, bool(body.get("stream", False))

    def count_prompt(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]
    ) -> tuple[int, int]:
        """Prompt tokens as charged, and how many of them the prompt cache holds."""
        digest = hashlib.blake2b(json.dumps(tools, sort_keys=True).encode(), digest_size=16)
        total = 3 + count_chat_tools_tokens(tools, self.model)
        cached = 0
        seen: list[tuple[bytes, int]] = []
        for m in messages:
            total += count_chat_message_tokens(m, self.model)
            digest.update(json.dumps(m, sort_keys=True).encode())
            key = digest.digest()
            if key in self._prefixes:
                cached = self._prefixes[key]
                self._prefixes.move_to_end(key)
            seen.append((key, total))
        for key, tokens in seen:
            self._prefixes[key] = tokens
        while len(self._prefixes) > 50_000:
            self._prefixes.popitem(last=False)
        if cached < PROMPT_CACHE_MIN:
            return total, 0
        return total, cached - (cached - PROMPT_CACHE_MIN) % PROMPT_CACHE_STEP

    async def handle(self, body: Any) -> tuple[Admission, Answer | None, bool]:
        """Admit one request and prepare its answer; (admission, answer or None, stream)."""
        self.counters["requests"] += 1
        try:
            messages, tools, max_tokens, stream = self.parse(body)
            conversation, specs = to_messages(messages), to_specs(tools)
        except _RequestError:
            self.counters["bad_requests"] += 1
            raise
        prompt, cached = self.count_prompt(messages, tools)
        admission = self.quota.admit(prompt + max_tokens, self.clock())
        if not admission.admitted:
            self.counters["throttled"] += 1
            return admission, None, stream
        self.counters["admitted"] += 1
        rng = self.rng
        draw = rng.random()
        fault: Literal["none", "error", "cut"] = "none"
        if draw < self.error_rate:
            fault = "error"
            self.counters["errors_injected"] += 1
            return admission, Answer("", [], prompt, 0, cached, "", [], 0.0, 0.0, fault), stream
        if draw < self.error_rate + self.cut_rate:
            fault = "cut"
        answer = self.brain(conversation, specs)
        if inspect.isawaitable(answer):
            answer = await answer
        if isinstance(answer, str):
            answer = LLMResponse(text=answer)
        if not isinstance(answer, LLMResponse):
            raise TypeError(f"The emulator's brain must return an LLMResponse or a str, "
                            f"got {answer!r:.80}.")
        self._calls += 1
        calls = [ToolCall(c.name, c.arguments, c.id or f"call_{self._calls}_{k}")
                 for k, c in enumerate(answer.tool_calls)]
        pieces = split_tokens(answer.text) if answer.text else []
        text_tokens = count_tokens(answer.text, self.model) if answer.text else 0
        call_tokens = sum(count_tokens(c.name + _arguments(c), self.model) for c in calls)
        finish = "tool_calls" if calls else "stop"
        if text_tokens + call_tokens > max_tokens:
            # Cut the text to max_tokens (roughly: by the share of deltas) and drop calls.
            keep = max(0, len(pieces) * max_tokens // max(1, text_tokens))
            pieces, calls, call_tokens, finish = pieces[:keep], [], 0, "length"
            text_tokens = min(text_tokens, max_tokens)
        completion = text_tokens + call_tokens
        jitter = self.jitter
        ttft = self.ttft * (1 + rng.uniform(-jitter, jitter)) if self.ttft else 0.0
        per_piece = 0.0
        if self.tokens_per_second and pieces:
            per_piece = completion / len(pieces) / self.tokens_per_second
        elif self.tokens_per_second and calls:
            ttft += completion / self.tokens_per_second
        cut_at = max(1, len(pieces) // 2) if fault == "cut" else 0
        if fault == "cut":
            self.counters["streams_cut"] += 1
        return admission, Answer("".join(pieces), calls, prompt, completion, cached, finish,
                                 pieces, ttft, per_piece, fault, cut_at), stream

    def jittered(self, seconds: float) -> float:
        j = self.jitter
        return seconds * (1 + self.rng.uniform(-j, j)) if j else seconds

    def finished(self, answer: Answer) -> None:
        """Count an answer sent in full."""
        c = self.counters
        c["completed"] += 1
        c["prompt_tokens"] += answer.prompt_tokens
        c["completion_tokens"] += answer.completion_tokens
        c["cached_tokens"] += answer.cached_tokens

    # -- reading ------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters, the quota's state and the limits (a JSON-ready dict)."""
        now = self.clock()
        quota = self.quota
        remaining = quota.remaining(now)
        elapsed = now - quota.start
        return {
            **self.counters,
            "tokens_charged": quota.tokens_charged,
            "refused_by": dict(quota.refused_by),
            "remaining_requests": remaining["requests"],
            "remaining_tokens": remaining["tokens"],
            "elapsed_s": elapsed,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "burst_requests": self.burst_requests or self.rpm,
            "burst_tokens": self.burst_tokens or self.tpm,
            "model": self.model,
        }

    def timeline(self) -> list[dict[str, int]]:
        """Per second since the start: requests admitted, tokens charged, 429s."""
        return [{"second": s, "requests": r, "tokens": t, "throttled": n}
                for s, r, t, n in self.quota.timeline()]


def _pair(result: tuple[list[ToolCall], str]) -> tuple[str, list[ToolCall]]:
    calls, text = result
    return text, calls


def _arguments(call: ToolCall) -> str:
    args = call.arguments
    return args if isinstance(args, str) else json.dumps(dict(args))


def check_rate(name: str, value: float) -> float:
    if not (0.0 <= value <= 1.0):
        raise ConfigError(f"{name} must be a share between 0 and 1, got {value!r}.")
    return value


