"""The one exception family of pitstop.

Every error pitstop raises on purpose derives from `PitstopError`, and also from the
builtin a user would naturally catch::

    PitstopError(Exception)
     ├── ConfigError(ValueError)            a bad or unknown setting
     │    └── MissingExtraError(ImportError) an optional package is not installed
     ├── ToolNotFoundError(LookupError)     a tool name that is not registered
     ├── ToolError                          a tool call that did not produce a result
     │    ├── ToolArgumentError(ValueError) arguments that fail the tool's schema
     │    └── ToolTimeoutError(TimeoutError) a tool that ran past its timeout
     ├── LLMError                           a model call that failed
     │    ├── LLMConnectionError(ConnectionError)
     │    └── LLMTimeoutError(TimeoutError) a model call ran past its total or idle deadline
     ├── RateLimitExceeded                  a resource limit refused or timed out a request
     │    └── BudgetExceeded                a spend budget (dollars) refused a model call
     ├── CompressionError                   a conversation could not be compressed
     ├── NoRunRecorded(LookupError)         no recorded run to draw (pitstop.notebook.timeline)
     └── WorkerLostError                    a batch task's worker process died too often

Messages say what happened, the value seen and what to do about it. Every error
survives pickling with its message and fields (results moved between processes).

Every exception a user can meet is one of these. A few private control-flow signals
never leave the module pair that uses them and are named with an underscore:
``_NotJSON`` and ``_Unkeyable`` (cache keys), ``_DamagedEntry`` (a stored entry pitstop
cannot read, counted as a miss), ``_Refusal`` (a limiter gate to the Governor, which
raises `RateLimitExceeded`), ``_BadChunk``, ``_StreamCutError`` and ``_StreamErrorEvent``
(a streamed answer's faults, which OpenAIClient retries or turns into an `LLMError`) and
``_Interrupted`` (a notebook run cancelled by Kernel > Interrupt, shown as a
``UsageError``). ``tests/test_exported_members.py`` checks both rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "BudgetExceeded",
    "CompressionError",
    "ConfigError",
    "LLMConnectionError",
    "LLMError",
    "LLMTimeoutError",
    "MissingExtraError",
    "NoRunRecorded",
    "PitstopError",
    "RateLimitExceeded",
    "ToolArgumentError",
    "ToolError",
    "ToolNotFoundError",
    "ToolTimeoutError",
    "WorkerLostError",
]


class PitstopError(Exception):
    """Base class of every error pitstop raises on purpose."""


class ConfigError(PitstopError, ValueError):
    """A configuration value is invalid, misspelled or inconsistent."""


class MissingExtraError(ConfigError, ImportError):
    """A feature needs an optional package; the message names the extra to install."""


class ToolNotFoundError(PitstopError, LookupError):
    """A tool name is not registered."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = sorted(known)
        listed = ", ".join(repr(k) for k in self.known) or "none"
        super().__init__(
            f"Tool {name!r} is not registered; registered tools: {listed}. "
            "Register it with @tool or pass the function itself."
        )

    def __str__(self) -> str:  # LookupError would otherwise repr() the message
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:  # pickle: rebuild from the fields, not args
        return (type(self), (self.name, self.known), self.__dict__)


class ToolError(PitstopError):
    """A tool call did not produce a result."""


class ToolArgumentError(ToolError, ValueError):
    """The arguments of a tool call do not match the tool's parameters."""


class ToolTimeoutError(ToolError, TimeoutError):
    """A tool ran longer than its timeout."""


class LLMError(PitstopError):
    """A model call failed."""


class LLMConnectionError(LLMError, ConnectionError):
    """The model endpoint could not be reached or dropped the connection."""


class LLMTimeoutError(LLMError, TimeoutError):
    """A model call ran past a deadline (`OpenAIClient` ``timeout``/``idle_timeout``, or
    ``AgentConfig.model_timeout``).

    Attributes:
        deadline: which one ran out: ``"total"`` (the whole call) or ``"idle"`` (silence
            between two chunks).
        seconds: the deadline's setting.
    """

    def __init__(self, message: str, *, deadline: str, seconds: float) -> None:
        super().__init__(message)
        self.deadline = deadline
        self.seconds = seconds

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), str(self), {"deadline": self.deadline,
                                                    "seconds": self.seconds}))


def _rebuild(cls: type[Exception], message: str, fields: dict[str, object]) -> Exception:
    return cls(message, **fields)


class RateLimitExceeded(PitstopError):
    """A resource limit refused a request, or the wait for it ran out.

    Attributes:
        limit: which limit, e.g. ``"max_tokens_per_minute"``.
        requested: the amount asked for (tokens, calls or slots).
        waited: seconds spent waiting before giving up (0 when rejected at once).
    """

    def __init__(self, message: str, *, limit: str, requested: float, waited: float) -> None:
        super().__init__(message)
        self.limit = limit
        self.requested = requested
        self.waited = waited

    def __reduce__(self) -> tuple[Any, ...]:  # pickle: the keyword fields travel too
        return (_rebuild_rate_limit, (type(self), self.args, self.__dict__))


class BudgetExceeded(RateLimitExceeded):
    """A spend budget (``max_cost_per_task``, ``max_cost_per_hour``, ``max_cost_total``)
    refused a model call, or the wait for it ran out.

    Attributes:
        limit: the budget's `ResourceLimits` field.
        budget: its setting, in dollars.
        spent: dollars spent (and held by calls in flight) under it so far.
        estimate: the refused call's estimated cost, in dollars (also ``requested``).
        waited: seconds spent waiting before giving up.
    """

    def __init__(
        self, message: str, *, limit: str, budget: float, spent: float, estimate: float,
        waited: float = 0.0,
    ) -> None:
        super().__init__(message, limit=limit, requested=estimate, waited=waited)
        self.budget = budget
        self.spent = spent
        self.estimate = estimate

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), str(self), {
            "limit": self.limit, "budget": self.budget, "spent": self.spent,
            "estimate": self.estimate, "waited": self.waited}))


class CompressionError(PitstopError):
    """A conversation could not be compressed."""


def _rebuild_rate_limit(
    cls: type[RateLimitExceeded], args: tuple[Any, ...], state: dict[str, Any]
) -> RateLimitExceeded:
    """Unpickle a `RateLimitExceeded` (or a subclass) from its message and fields."""
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc


class NoRunRecorded(PitstopError, LookupError):
    """There is no recorded run to draw (none yet, or not the task id asked for)."""

    def __str__(self) -> str:  # LookupError would otherwise repr() the message
        return str(self.args[0])


class WorkerLostError(PitstopError):
    """The worker process running a batch task died while running it, too many times.

    A `RayEngine` batch delivers such a task as a failed result whose ``error`` is this
    error's message; the other tasks of the batch are not affected.
    """
