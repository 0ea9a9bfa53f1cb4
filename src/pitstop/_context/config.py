"""`CompressionConfig`: when and how a conversation's memory is compressed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from pitstop._strict import StrictModel
from pitstop.errors import ConfigError

__all__ = ["CompressionConfig", "Strategy"]

Strategy = Literal["truncate", "summarize", "hybrid"]


class CompressionConfig(StrictModel):
    """Settings of conversation compression. Unknown fields are an error.

    The guide's settings compress a session to 30 messages whenever it passes 50::

        CompressionConfig(
            strategy="summarize",
            auto_compress_enabled=True,
            auto_compress_threshold=50,
            auto_compress_target=30,
        )

    Strategies:

    - ``truncate``: keep the system messages and the most recent messages; drop the rest.
    - ``summarize``: replace the oldest messages by one summary message written by the
      model; if the model fails, raise `CompressionError` and leave the session as it was.
    - ``hybrid``: summarize, and truncate instead when the summary call fails or times out.

    No strategy ever separates an assistant message that calls tools from the ``tool``
    messages answering it.
    """

    strategy: Strategy = "truncate"
    """How old messages are removed: ``truncate``, ``summarize`` or ``hybrid``."""
    keep_recent: int = Field(10, ge=1)
    """Messages: the most recent messages every compression keeps word for word. A
    compression by hand keeps exactly these (rounded up to whole tool-call groups);
    auto-compression keeps as many more as `auto_compress_target` allows."""
    auto_compress_enabled: bool = False
    """Compress automatically before a model call when a trigger below fires."""
    auto_compress_threshold: int = Field(100, ge=2)
    """Messages: auto-compression fires when a session holds more than this many."""
    auto_compress_target: int = Field(50, ge=1)
    """Messages: the most a session holds after an auto-compression (summary included).
    When only `auto_compress_threshold` is given, the target is half of it (so the guide's
    ``CompressionConfig(auto_compress_enabled=True, auto_compress_threshold=50)`` means 50
    -> 25, the same ratio as the defaults 100 -> 50)."""
    auto_compress_max_tokens: int | None = Field(None, ge=1)
    """Tokens: auto-compression also fires when the session's messages count more than
    this many prompt tokens (None: no token trigger). Needs `auto_compress_enabled`."""
    auto_compress_target_tokens: int | None = Field(None, ge=1)
    """Tokens: after a token-triggered compression, the recent messages kept word for
    word count at most this many tokens (beyond the `keep_recent` floor). None: half of
    `auto_compress_max_tokens`."""
    max_summaries: int = Field(1, ge=1)
    """Summaries kept word for word at the start of the history. Above 1, a new summary
    is added after the earlier ones instead of rewriting them, so the start of the prompt
    stays byte-identical across a compression and stays in the provider's prompt cache;
    when this many exist, the next compression folds them all into one. 1 (the default):
    each compression folds the earlier summary into the new one. Measured on a long
    session (``bench/bench_provider.py``, row 3) appending did not pay: the kept
    summaries make every later prompt longer, which costs more than the one cache miss
    per compression it avoids. What keeps the cache warm is compressing rarely and in
    big steps (`auto_compress_threshold` well above `auto_compress_target`)."""
    summary_max_tokens: int = Field(500, ge=1)
    """Tokens: the longest summary the model may write (passed as ``max_tokens``)."""
    summary_timeout: float | None = Field(60.0, gt=0)
    """Seconds the summary call may take (None: no limit). ``summarize`` raises when it
    runs out; ``hybrid`` truncates instead."""

    def __init__(self, /, **data: Any) -> None:
        threshold = data.get("auto_compress_threshold")
        if "auto_compress_target" not in data and isinstance(threshold, int) and threshold >= 2:
            data["auto_compress_target"] = threshold // 2
        super().__init__(**data)

    @property
    def token_target(self) -> int | None:
        """Tokens the kept recent messages may count after a token-triggered compression."""
        if self.auto_compress_max_tokens is None:
            return None
        if self.auto_compress_target_tokens is not None:
            return self.auto_compress_target_tokens
        return max(1, self.auto_compress_max_tokens // 2)

    def _check(self) -> None:
        """Rules between fields, stated with the values seen and the fix."""
        name = type(self).__name__
        if self.auto_compress_target >= self.auto_compress_threshold:
            raise ConfigError(
                f"{name}: auto_compress_target ({self.auto_compress_target}) must be below "
                f"auto_compress_threshold ({self.auto_compress_threshold}); lower the target."
            )
        if self.auto_compress_enabled and self.keep_recent >= self.auto_compress_target:
            raise ConfigError(
                f"{name}: keep_recent ({self.keep_recent}) must be below auto_compress_target "
                f"({self.auto_compress_target}) to leave room for the summary; lower keep_recent "
                "or raise the target."
            )
        if not self.auto_compress_enabled:
            for field in ("auto_compress_max_tokens", "auto_compress_target_tokens"):
                if getattr(self, field) is not None:
                    raise ConfigError(
                        f"{name}: {field} ({getattr(self, field)}) is set but "
                        "auto_compress_enabled is False, so it would never be used; set "
                        "auto_compress_enabled=True (or leave the field None)."
                    )
        if self.auto_compress_target_tokens is not None:
            if self.auto_compress_max_tokens is None:
                raise ConfigError(
                    f"{name}: auto_compress_target_tokens ({self.auto_compress_target_tokens}) "
                    "needs auto_compress_max_tokens, the token trigger; set it too."
                )
            if self.auto_compress_target_tokens >= self.auto_compress_max_tokens:
                raise ConfigError(
                    f"{name}: auto_compress_target_tokens ({self.auto_compress_target_tokens}) "
                    f"must be below auto_compress_max_tokens ({self.auto_compress_max_tokens}); "
                    "lower the target."
                )
