"""`ResourceLimits`: how much an agent may do at once and per minute."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field

from pitstop._redact import redact_url
from pitstop._strict import StrictModel
from pitstop.errors import ConfigError

__all__ = ["ResourceLimits"]

_REDIS_SCHEMES = ("redis", "rediss", "unix")


class ResourceLimits(StrictModel):
    """Limits the agent's `Governor` enforces. Unknown fields are an error.

    The guide's settings match an API quota of 60,000 tokens and 500 tool calls a
    minute, with a burst of up to two minutes' worth of tokens::

        ResourceLimits(
            max_tokens_per_minute=60000,
            max_tool_calls_per_minute=500,
            token_burst_size=120000,
        )

    Per-minute limits are token buckets that refill continuously (a limit of 60,000 a
    minute gives back 1,000 tokens every second, up to the burst size); they are not
    fixed windows, so no request can fit two windows' worth into one boundary.

    A model call reserves its estimated tokens (the prompt, counted with
    `pitstop.llm._tokens`, plus its maximum output) before it starts, and the real usage
    is settled afterwards. A tool call takes one tool-call token and one concurrent slot.

    When a limit is reached the request waits, first come first served, up to
    `resource_wait_timeout_seconds`, then raises `RateLimitExceeded`; with
    ``reject_on_limit=True`` it raises at once instead. A limit set to None is not
    enforced and costs nothing.

    Spend budgets (`max_cost_per_task`, `max_cost_per_hour`, `max_cost_total`, in
    dollars) reserve each model call's estimated cost and settle to the real one; they
    need the model's price (genai-prices, or ``price=`` on the client).

    With `redis_url`, the per-minute buckets and the budgets live in Redis, so every
    kernel, process or machine that uses the same URL and `namespace` shares one quota.
    Concurrency limits stay per agent. Every Redis command has a timeout
    (`redis_timeout`), so a wait is bounded by `resource_wait_timeout_seconds` plus at
    most one `redis_timeout`. While Redis is down, `on_redis_outage` decides: refuse every
    request needing a shared limit (the default), or enforce it per process.
    """

    max_concurrent_tasks: int | None = Field(10, ge=1)
    """Tasks one agent runs at once (None: no limit). Extra tasks wait for a slot."""
    max_tokens_per_minute: int | None = Field(None, ge=1)
    """Tokens (prompt plus maximum output) model calls may reserve per minute, refilled
    continuously (None: no limit). Match your provider's TPM quota."""
    token_burst_size: int | None = Field(None, ge=1)
    """Tokens: the most the token bucket holds, i.e. the largest burst and the largest
    single model call (None: the per-minute figure). Needs `max_tokens_per_minute`."""
    max_tool_calls_per_minute: int | None = Field(None, ge=1)
    """Tool calls per minute, refilled continuously (None: no limit)."""
    tool_call_burst_size: int | None = Field(None, ge=1)
    """Tool calls that may start back to back from a full bucket (None: the per-minute
    figure). Needs `max_tool_calls_per_minute`."""
    max_concurrent_tool_calls: int | None = Field(None, ge=1)
    """Tool calls running at once across all tasks of the agent (None: no limit)."""
    reject_on_limit: bool = False
    """True: raise `RateLimitExceeded` at once when a limit is reached. False (the
    default): wait for it, up to `resource_wait_timeout_seconds`."""
    resource_wait_timeout_seconds: float | None = Field(60.0, gt=0)
    """Seconds a request may wait for its limits before `RateLimitExceeded` is raised
    (None: wait as long as it takes)."""
    max_cost_per_task: float | None = Field(None, gt=0, allow_inf_nan=False)
    """Dollars one task may spend on model calls (None: no budget). A call whose estimate
    (prompt plus `AgentConfig.max_output_tokens` at the model's price) would pass it is
    refused with `BudgetExceeded`, so the task fails instead of overspending."""
    max_cost_per_hour: float | None = Field(None, gt=0, allow_inf_nan=False)
    """Dollars all tasks of the agent may spend per hour, refilled continuously (None: no
    budget). A call that does not fit waits (or is refused with ``reject_on_limit``)."""
    max_cost_total: float | None = Field(None, gt=0, allow_inf_nan=False)
    """Dollars all tasks may spend in the agent's lifetime, or across processes with
    `redis_url` until the Redis key is removed (None: no budget). Never refills."""
    redis_url: str | None = None
    """``redis://host:port/db`` (or ``rediss://``, ``unix://``): keep the per-minute
    buckets in Redis so several processes share them (None: in this process). Needs the
    ``redis`` package (``pip install pitstop[redis]``)."""
    namespace: str = Field("pitstop", min_length=1)
    """The prefix of the Redis keys; agents that should share a quota use the same one."""
    redis_timeout: float = Field(1.0, gt=0, le=3600, allow_inf_nan=False)
    """Seconds a Redis command of the shared buckets may take (connecting included)
    before Redis counts as down for that request. Set explicitly on the client, so no
    redis-py default (none before 8.0) can leave a task waiting forever."""
    on_redis_outage: Literal["refuse", "local"] = "refuse"
    """What the shared per-minute limits do while Redis is down or frozen. ``refuse``
    (fail closed): every request that needs them raises `RateLimitExceeded` at once,
    so no process can exceed the shared quota. ``local``: each process falls back to
    its own bucket of the same size (warned once per outage), so N processes together
    may use up to N times the quota; Redis is tried again every few seconds and the
    shared bucket is used again as soon as it answers."""

    @property
    def has_budget(self) -> bool:
        """True when any spend budget is set."""
        return (self.max_cost_per_task is not None or self.max_cost_per_hour is not None
                or self.max_cost_total is not None)

    @property
    def token_capacity(self) -> int | None:
        """The token bucket's size: `token_burst_size`, or the per-minute figure."""
        return self.token_burst_size or self.max_tokens_per_minute

    @property
    def tool_call_capacity(self) -> int | None:
        """The tool-call bucket's size: `tool_call_burst_size`, or the per-minute figure."""
        return self.tool_call_burst_size or self.max_tool_calls_per_minute

    def _check(self) -> None:
        """Rules between fields, stated with the values seen and the fix."""
        name = type(self).__name__
        for burst, rate in (
            ("token_burst_size", "max_tokens_per_minute"),
            ("tool_call_burst_size", "max_tool_calls_per_minute"),
        ):
            if getattr(self, burst) is not None and getattr(self, rate) is None:
                raise ConfigError(
                    f"{name}: {burst} ({getattr(self, burst)}) is set but {rate} is None, "
                    f"so it would never be used; set {rate} too (or leave {burst} None)."
                )
        if self.redis_url is not None:
            scheme = urlsplit(self.redis_url).scheme
            if scheme not in _REDIS_SCHEMES:
                raise ConfigError(
                    f"{name}: redis_url {redact_url(self.redis_url)!r} is not a Redis URL (scheme "
                    f"{scheme!r}); use redis://host:6379/0, rediss://... or unix:///path."
                )
