"""`Quota`: a provider's rate limits, enforced and reported the way OpenAI documents them.

OpenAI limits requests per minute (RPM) and tokens per minute (TPM). A request is
charged at admission: one request, and its prompt tokens plus its ``max_tokens``
(nothing is handed back when the answer is shorter). Both limits refill continuously;
over either one the request is refused with a 429 and a ``Retry-After``. Every answer,
success or 429, carries::

    x-ratelimit-limit-requests      the RPM quota
    x-ratelimit-limit-tokens        the TPM quota
    x-ratelimit-remaining-requests  requests left now
    x-ratelimit-remaining-tokens    tokens left now
    x-ratelimit-reset-requests      time until the request quota is full again ("1s")
    x-ratelimit-reset-tokens        time until the token quota is full again ("6m0s")

The quota has no clock of its own: every call takes ``now``, so tests drive it with
plain numbers. It is thread-safe (the server runs in its own thread; stats are read
from another).
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import dataclass

__all__ = ["Admission", "Quota", "format_duration"]


def format_duration(seconds: float) -> str:
    """A reset time as OpenAI writes it: ``"20ms"``, ``"1.5s"``, ``"6m0s"``, ``"1h2m3s"``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text


class _Bucket:
    """A continuously refilling bucket (capacity, rate per second), started full."""

    __slots__ = ("capacity", "level", "limit", "rate", "updated")

    def __init__(self, per_minute: int, capacity: int, now: float) -> None:
        self.limit = per_minute
        self.rate = per_minute / 60.0
        self.capacity = float(capacity)
        self.level = float(capacity)
        self.updated = now

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
            self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` is available (after `refill`)."""
        return 0.0 if self.level >= amount else (amount - self.level) / self.rate

    def reset_in(self) -> float:
        return (self.capacity - self.level) / self.rate


@dataclass(frozen=True, slots=True)
class Admission:
    """The quota's answer to one request."""

    admitted: bool
    headers: dict[str, str]
    """The ``x-ratelimit-*`` headers (and ``retry-after`` / ``retry-after-ms`` on a 429)."""
    retry_after: float | None = None
    """Seconds until the request would be admitted (None when admitted, or never)."""
    limit: str | None = None
    """On a 429: ``"requests"`` or ``"tokens"``, the limit that refused it."""
    message: str = ""
    """On a 429: OpenAI's wording of the refusal."""


class Quota:
    """Requests and tokens per minute, charged at admission, refilled continuously.

    Args:
        rpm: requests per minute (None: not limited).
        tpm: tokens per minute (None: not limited).
        burst_requests: the most requests the bucket holds (None: `rpm`, OpenAI's
            one-minute bucket). Smaller models a quota enforced over shorter periods.
        burst_tokens: the most tokens the bucket holds (None: `tpm`).
        model: named in the 429 messages.
        now: the time the quota starts, full.
    """

    def __init__(
        self,
        *,
        rpm: int | None,
        tpm: int | None,
        burst_requests: int | None = None,
        burst_tokens: int | None = None,
        model: str = "gpt-4o-mini",
        now: float = 0.0,
    ) -> None:
        self.model = model
        self._requests = None if rpm is None else _Bucket(rpm, burst_requests or rpm, now)
        self._tokens = None if tpm is None else _Bucket(tpm, burst_tokens or tpm, now)
        self._lock = threading.Lock()
        self.admitted = 0
        self.refused = 0
        self.refused_by: dict[str, int] = {"requests": 0, "tokens": 0, "too_large": 0}
        self.tokens_charged = 0
        self.per_second: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        """Second since `start` -> [requests admitted, tokens charged, 429s]."""
        self.start = now

    # -- admission --------------------------------------------------------------------

    def admit(self, tokens: int, now: float) -> Admission:
        """Charge one request of `tokens` (prompt + max_tokens) if both limits allow it."""
        with self._lock:
            req, tok = self._requests, self._tokens
            for bucket in (req, tok):
                if bucket is not None:
                    bucket.refill(now)
            second = self.per_second[int(now - self.start)]
            if tok is not None and tokens > tok.capacity:
                self.refused += 1
                self.refused_by["too_large"] += 1
                second[2] += 1
                return Admission(
                    False,
                    self._headers(),
                    None,
                    "tokens",
                    f"Request too large for {self.model} on tokens per min (TPM): Limit "
                    f"{tok.limit}, Requested {tokens}. The input or output tokens must be "
                    "reduced in order to run successfully.",
                )
            wait_req = req.wait_for(1) if req is not None else 0.0
            wait_tok = tok.wait_for(tokens) if tok is not None else 0.0
            if wait_req > 0 or wait_tok > 0:
                self.refused += 1
                second[2] += 1
                wait = max(wait_req, wait_tok)
                if wait_tok >= wait_req:
                    assert tok is not None
                    kind, message = "tokens", (
                        f"Rate limit reached for {self.model} on tokens per min (TPM): Limit "
                        f"{tok.limit}, Used {tok.capacity - tok.level:.0f}, Requested "
                        f"{tokens}. Please try again in {format_duration(wait)}."
                    )
                else:
                    assert req is not None
                    kind, message = "requests", (
                        f"Rate limit reached for {self.model} on requests per min (RPM): "
                        f"Limit {req.limit}, Used {req.capacity - req.level:.0f}, Requested "
                        f"1. Please try again in {format_duration(wait)}."
                    )
                self.refused_by[kind] += 1
                headers = self._headers()
                headers["retry-after"] = str(max(1, math.ceil(wait)))
                headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
                return Admission(False, headers, wait, kind, message)
            if req is not None:
                req.level -= 1
            if tok is not None:
                tok.level -= tokens
            self.admitted += 1
            self.tokens_charged += tokens
            second[0] += 1
            second[1] += tokens
            return Admission(True, self._headers())

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for kind, bucket in (("requests", self._requests), ("tokens", self._tokens)):
            if bucket is None:
                continue
            headers[f"x-ratelimit-limit-{kind}"] = str(bucket.limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, math.floor(bucket.level)))
            headers[f"x-ratelimit-reset-{kind}"] = format_duration(bucket.reset_in())
        return headers

    # -- reading ------------------------------------------------------------------------

    def remaining(self, now: float) -> dict[str, float | None]:
        """Requests and tokens left at `now` (None: that limit is not set)."""
        with self._lock:
            out: dict[str, float | None] = {}
            for kind, bucket in (("requests", self._requests), ("tokens", self._tokens)):
                if bucket is None:
                    out[kind] = None
                else:
                    bucket.refill(now)
                    out[kind] = bucket.level
            return out

    def timeline(self) -> list[tuple[int, int, int, int]]:
        """``(second, requests admitted, tokens charged, 429s)`` for every second so far."""
        with self._lock:
            if not self.per_second:
                return []
            last = max(self.per_second)
            return [(s, *self.per_second.get(s, (0, 0, 0))) for s in range(last + 1)]
