"""`ContextEngine`: conversation memory per session, compressed before it grows too big.

The agent keeps one conversation per ``context["session_id"]``. Before every model call
(also between the tool turns of one task) it appends what is new and calls `prepare`,
which compresses the session when a trigger of `CompressionConfig` fires::

    engine.append("s", Message("user", task))
    result = await engine.prepare("s", llm=agent_model)   # None, or what compression did
    prompt = [system_prompt, *engine.messages("s")]

Compression is serialised per session by an asyncio lock; messages appended while a
summary is being written are kept after it. With ``path=`` every change is mirrored to
a SQLite file, so a notebook keeps its conversations across a kernel restart.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from pitstop._context import strategies
from pitstop._context.config import CompressionConfig
from pitstop._context.store import SessionStore
from pitstop.errors import CompressionError, ConfigError
from pitstop.llm._base import LLMClient, Message, Usage
from pitstop.llm._summary import summary_count, summary_message, summary_request
from pitstop.llm._tokens import count_message_tokens

__all__ = ["CompressionResult", "ContextEngine"]

_STRATEGIES = ("truncate", "summarize", "hybrid")


@dataclass(frozen=True, slots=True)
class CompressionResult:
    """What one compression did: the agent's ``compression`` event and Monitor span."""

    session_id: str
    strategy: str
    """The strategy asked for: ``truncate``, ``summarize`` or ``hybrid``."""
    before: int
    """Messages in the session before."""
    after: int
    """Messages in the session after (the summary counts as one)."""
    tokens_before: int
    """Prompt tokens of the session's messages before."""
    tokens_after: int
    """Prompt tokens of the session's messages after."""
    duration: float
    """Seconds the compression took, the summary call included."""
    summarized: int
    """Messages folded into the new summary (an earlier summary counts as one)."""
    dropped: int
    """Messages removed without a summary (``truncate``, or ``hybrid`` falling back)."""
    trigger: str = "manual"
    """``messages``, ``tokens`` (auto-compression) or ``manual``."""
    fell_back_to_truncate: bool = False
    """True when ``hybrid`` truncated because the summary call failed."""
    error: str | None = None
    """Why the summary call failed, when it did."""
    summary_usage: Usage | None = None
    """Tokens the summary call spent, when the model reported them."""
    start: float = 0.0
    """When the compression started, on the engine's clock."""
    end: float = 0.0
    """When it ended, on the engine's clock."""

    @property
    def changed(self) -> bool:
        """Whether the session was changed at all."""
        return bool(self.summarized or self.dropped)

    def event_fields(self) -> dict[str, Any]:
        """The fields of the agent's ``compression`` event."""
        return {
            "strategy": self.strategy,
            "before": self.before,
            "after": self.after,
            "tokens_before": self.tokens_before,
            "tokens_after": self.tokens_after,
            "duration": self.duration,
        }


class _Session:
    __slots__ = ("lock", "messages", "next_seq", "tokens")

    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages
        self.next_seq = len(messages)  # the SQLite row number of the next append
        self.lock = asyncio.Lock()
        self.tokens: tuple[str | None, int] | None = None  # (model, prompt tokens), kept current

    def count_tokens(self, model: str | None) -> int:
        """Prompt tokens of the messages for `model`; O(1) once counted for that model."""
        if self.tokens is None or self.tokens[0] != model:
            self.tokens = (model, count_message_tokens(self.messages, model))
        return self.tokens[1]


class ContextEngine:
    """Conversation memory, one session per id, with compression.

    Args:
        compression_config: when and how to compress; the defaults when None
            (``truncate``, auto-compression off).
        llm_client: the model that writes summaries; None to use the agent's model
            (the ``llm`` given to `prepare`).
        path: a SQLite file that mirrors every change; existing sessions in it are
            loaded now. None keeps sessions in memory only.
        clock: the time source of durations, in seconds.
    """

    def __init__(
        self,
        compression_config: CompressionConfig | None = None,
        llm_client: LLMClient | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if compression_config is not None and not isinstance(compression_config, CompressionConfig):
            raise ConfigError(
                f"ContextEngine: compression_config must be a CompressionConfig, got "
                f"{type(compression_config).__name__}; build one: CompressionConfig(**settings)."
            )
        self.compression_config = compression_config or CompressionConfig()
        self.llm_client = llm_client
        self.clock = clock
        self._store = SessionStore(path) if path is not None else None
        self._sessions: dict[str, _Session] = {}
        if self._store is not None:
            for sid, msgs in self._store.load().items():
                self._sessions[sid] = _Session(msgs)
        self._last_llm: LLMClient | None = None
        self._counts = {"compressions": 0, "summarized": 0, "dropped": 0, "fallbacks": 0}
        self.last_result: CompressionResult | None = None
        """The last compression that changed a session."""

    # -- sessions -------------------------------------------------------------

    def append(self, session_id: str, *messages: Message) -> None:
        """Add `messages` to the end of a session (created on first use)."""
        _check_id(session_id)
        for m in messages:
            if not isinstance(m, Message):
                raise TypeError(
                    f"ContextEngine.append: expected Message objects, got "
                    f"{type(m).__name__} {m!r:.60}; wrap it: Message('user', text)."
                )
        if not messages:
            return
        session = self._sessions.get(session_id)
        if session is None:
            session = self._sessions[session_id] = _Session([])
        if self._store is not None:
            current = self._store.append(session_id, session.messages, messages)
            if current is not None:  # another engine wrote to this session meanwhile
                session.messages = current
                session.next_seq = len(current)
                session.tokens = None
                return
        session.messages.extend(messages)
        session.next_seq += len(messages)
        if session.tokens is not None:
            model, tokens = session.tokens
            session.tokens = (model, tokens + count_message_tokens(messages, model))

    def messages(self, session_id: str) -> list[Message]:
        """A copy of the session's messages, oldest first ([] for an unknown session)."""
        session = self._sessions.get(session_id)
        return list(session.messages) if session is not None else []

    def sessions(self) -> list[str]:
        """The ids of the sessions held, in creation order."""
        return list(self._sessions)

    def clear(self, session_id: str | None = None) -> None:
        """Forget one session, or every session when `session_id` is None."""
        if session_id is None:
            self._sessions.clear()
        else:
            self._sessions.pop(session_id, None)
        if self._store is not None:
            self._store.clear(session_id)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write every session to the SQLite file `path` (replacing sessions of the same id)."""
        store = SessionStore(path)
        try:
            for sid, session in self._sessions.items():
                store.replace(sid, session.messages)
        finally:
            store.close()

    def close(self) -> None:
        """Close the SQLite file, if any (the sessions stay readable in memory)."""
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- compression ----------------------------------------------------------

    def trigger(self, session_id: str, *, model: str | None = None) -> str | None:
        """Which auto-compression trigger fires now: ``messages``, ``tokens`` or None."""
        cfg = self.compression_config
        session = self._sessions.get(session_id)
        if not cfg.auto_compress_enabled or session is None:
            return None
        if len(session.messages) > cfg.auto_compress_threshold:
            return "messages"
        limit = cfg.auto_compress_max_tokens
        if limit is not None and session.count_tokens(model) > limit:
            return "tokens"
        return None

    async def prepare(self, session_id: str, *, llm: LLMClient) -> CompressionResult | None:
        """Auto-compress the session if a trigger fires; call it before every model call.

        Args:
            session_id: the conversation about to be sent to the model.
            llm: the agent's model: it counts tokens, and writes summaries when the
                engine has no `llm_client` of its own.

        Returns:
            What the compression did, or None when nothing fired or nothing could go.

        Raises:
            CompressionError: strategy ``summarize`` and the summary call failed (the
                session is left as it was).
        """
        self._last_llm = llm
        model = getattr(llm, "model", None)
        if self.trigger(session_id, model=model) is None:
            return None
        session = self._sessions[session_id]
        async with session.lock:
            fired = self.trigger(session_id, model=model)  # another task may have compressed
            if fired is None or self._sessions.get(session_id) is not session:
                return None
            summarizer = self.llm_client or llm
            result = await self._compress(
                session_id, session, self.compression_config.strategy, fired, summarizer, model
            )
        return result if result.changed else None

    async def compress_conversation(
        self, session_id: str, strategy: str | None = None, *, llm: LLMClient | None = None
    ) -> CompressionResult:
        """Compress a session now, keeping its `keep_recent` most recent messages.

        Args:
            session_id: the session.
            strategy: ``truncate``, ``summarize`` or ``hybrid``; None for the config's.
            llm: the model for summaries; None for the engine's `llm_client`, else the
                model last given to `prepare`.

        Raises:
            CompressionError: an unknown session, or ``summarize`` without a working model.
            ConfigError: an unknown strategy.
        """
        strategy = strategy or self.compression_config.strategy
        if strategy not in _STRATEGIES:
            raise ConfigError(
                f"ContextEngine: unknown strategy {strategy!r}; use one of "
                f"{', '.join(map(repr, _STRATEGIES))}."
            )
        session = self._sessions.get(session_id)
        if session is None:
            known = ", ".join(repr(s) for s in self._sessions) or "none"
            raise CompressionError(
                f"ContextEngine: no session {session_id!r} to compress; sessions: {known}."
            )
        summarizer = llm or self.llm_client or self._last_llm
        model = getattr(llm or self._last_llm or self.llm_client, "model", None)
        async with session.lock:
            return await self._compress(session_id, session, strategy, "manual", summarizer, model)

    async def _compress(
        self,
        session_id: str,
        session: _Session,
        strategy: str,
        trigger: str,
        llm: LLMClient | None,
        model: str | None,
        attempt: int = 0,
    ) -> CompressionResult:
        """Compress `session`; started again (at most twice) on the file's version when
        another engine wrote to the session meanwhile."""
        cfg = self.compression_config
        start = self.clock()
        if attempt == 0 and self._store is not None:
            current = self._store.load_session(session_id, session.messages)
            if current is not None:
                session.messages = current
                session.next_seq = len(current)
                session.tokens = None
        snapshot = list(session.messages)
        tokens_before = session.count_tokens(model)
        auto = trigger != "manual"
        tokens_fired = (
            auto
            and cfg.auto_compress_max_tokens is not None
            and (tokens_before > cfg.auto_compress_max_tokens)
        )

        def make_plan(summarizing: bool) -> strategies.Plan:
            return strategies.plan(
                snapshot,
                summarizing=summarizing,
                keep_recent=cfg.keep_recent,
                max_messages=cfg.auto_compress_target if auto else None,
                max_tail_tokens=cfg.token_target if tokens_fired else None,
                count=lambda m: count_message_tokens([m], model),
                max_summaries=cfg.max_summaries,
            )

        summarizing = strategy != "truncate"
        p = make_plan(summarizing)
        summary: Message | None = None
        usage: Usage | None = None
        error: str | None = None
        fell_back = False
        if summarizing and not p.noop:
            folded = [snapshot[i] for i in p.fold]
            try:
                text, usage = await self._summarize(session_id, folded, llm, model)
                count = sum(summary_count(m) for m in folded)
                summary = summary_message(text, count)
            except CompressionError as err:
                if strategy == "summarize":
                    raise
                error, fell_back = str(err), True
                p = make_plan(False)
        if self._sessions.get(session_id) is not session:
            p, summary = strategies.Plan(0, (), ()), None  # cleared while we awaited the model
        elif session.messages[: len(snapshot)] != snapshot:  # another engine rewrote it
            if attempt < 2:
                return await self._compress(session_id, session, strategy, trigger, llm, model,
                                            attempt + 1)
            p, summary = strategies.Plan(0, (), ()), None
        after, tokens_after = len(snapshot), tokens_before
        if not p.noop:
            new = strategies.apply(snapshot, p, summary)
            new += session.messages[len(snapshot) :]  # appended while we awaited the model
            if self._store is not None:
                current = self._store.replace(session_id, new, expected=session.messages)
                if current is not None:  # another engine wrote to the session: start again
                    session.messages = current
                    session.next_seq = len(current)
                    session.tokens = None
                    if attempt < 2:
                        return await self._compress(
                            session_id, session, strategy, trigger, llm, model, attempt + 1
                        )
                    new = current
            session.messages = new
            session.next_seq = len(new)
            session.tokens = None
            after, tokens_after = len(new), session.count_tokens(model)
        end = self.clock()
        result = CompressionResult(
            session_id=session_id,
            strategy=strategy,
            before=len(snapshot),
            after=after,
            tokens_before=tokens_before,
            tokens_after=tokens_after,
            duration=end - start,
            summarized=len(p.fold) if summary is not None else 0,
            dropped=len(p.fold) if summary is None else 0,
            trigger=trigger,
            fell_back_to_truncate=fell_back,
            error=error,
            summary_usage=usage,
            start=start,
            end=end,
        )
        if result.changed:
            self._counts["compressions"] += 1
            self._counts["summarized"] += result.summarized
            self._counts["dropped"] += result.dropped
            self._counts["fallbacks"] += fell_back
            self.last_result = result
        return result

    async def _summarize(
        self, session_id: str, folded: list[Message], llm: LLMClient | None, model: str | None
    ) -> tuple[str, Usage | None]:
        """The summary of `folded` written by `llm`, bounded by ``summary_max_tokens``."""
        cfg = self.compression_config
        where = f"ContextEngine: the summary of {len(folded)} messages of session {session_id!r}"
        if llm is None:
            raise CompressionError(
                f"{where} needs a model and none is known; pass llm_client= to ContextEngine "
                "or llm= to compress_conversation, or use strategy='truncate'."
            )
        request = summary_request(folded, cfg.summary_max_tokens)
        parts: list[str] = []
        usage: Usage | None = None
        try:
            async with asyncio.timeout(cfg.summary_timeout) as deadline:
                stream = llm.stream(request, (), max_tokens=cfg.summary_max_tokens)
                try:
                    async for item in stream:
                        if isinstance(item, str):
                            parts.append(item)
                        elif isinstance(item, Usage):
                            usage = item
                finally:
                    aclose = getattr(stream, "aclose", None)
                    if aclose is not None:
                        await aclose()
        except TimeoutError as err:
            if not deadline.expired():
                raise CompressionError(f"{where} failed: TimeoutError: {err}") from err
            raise CompressionError(
                f"{where} took longer than summary_timeout ({cfg.summary_timeout} s); raise "
                "summary_timeout, or use strategy='hybrid' to truncate instead."
            ) from err
        except Exception as err:
            raise CompressionError(
                f"{where} failed: {type(err).__name__}: {err}; the session is unchanged. "
                "Use strategy='hybrid' to truncate when the model fails."
            ) from err
        text = "".join(parts).strip()
        if not text:
            raise CompressionError(f"{where} came back empty from model {llm.model!r}.")
        return strategies.clip_to_tokens(text, cfg.summary_max_tokens, model), usage

    # -- reading --------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Sessions, messages, compressions and the approximate memory the messages take.

        ``memory_bytes`` sums ``sys.getsizeof`` of the messages, their texts and tool
        calls (shared interned strings are counted each time, so it is an upper bound).
        """
        sizes = [len(s.messages) for s in self._sessions.values()]
        return {
            "sessions": len(sizes),
            "messages": sum(sizes),
            "largest_session": max(sizes, default=0),
            "compressions": self._counts["compressions"],
            "messages_summarized": self._counts["summarized"],
            "messages_dropped": self._counts["dropped"],
            "summary_fallbacks": self._counts["fallbacks"],
            "memory_bytes": sum(_size(s.messages) for s in self._sessions.values()),
            "path": self._store.path if self._store is not None else None,
            "last_compression": asdict(self.last_result) if self.last_result else None,
        }


def _check_id(session_id: object) -> None:
    if not isinstance(session_id, str) or not session_id:
        raise ConfigError(
            f"ContextEngine: a session id must be a non-empty string, got {session_id!r}; "
            'pass context={"session_id": "..."}.'
        )


def _size(messages: list[Message]) -> int:
    total = sys.getsizeof(messages)
    for m in messages:
        total += sys.getsizeof(m) + sys.getsizeof(m.content)
        for call in m.tool_calls:
            total += sys.getsizeof(call) + sys.getsizeof(call.name)
            total += sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in call.arguments.items())
    return total
