"""The emulator's quota on fake time: OpenAI's accounting, refills and headers."""

from __future__ import annotations

import random

import pytest

from pitstop._emulator.quota import Quota, format_duration
from pitstop.llm._openai import parse_duration


def drive(quota: Quota, *, minutes: float, step: float, sizes: list[int],
          seed: int = 0) -> list[tuple[float, int]]:
    """Saturating demand: at every `step` of fake time, ask until refused; (time, tokens)."""
    rng = random.Random(seed)
    admitted: list[tuple[float, int]] = []
    t = 0.0
    while t < minutes * 60:
        while True:
            size = rng.choice(sizes)
            if not quota.admit(size, t).admitted:
                break
            admitted.append((t, size))
        t += step
    return admitted


@pytest.mark.parametrize("tpm", [60_000, 2_000_000])
def test_tokens_admitted_per_minute_are_the_quota_within_2_percent(tpm: int) -> None:
    """After the first full bucket, each minute of saturating demand admits TPM ±2%."""
    quota = Quota(rpm=None, tpm=tpm)
    admitted = drive(quota, minutes=3, step=0.05, sizes=[300, 800, 1500, 4000])
    for minute in (1, 2):
        tokens = sum(n for t, n in admitted if minute * 60 <= t < (minute + 1) * 60)
        assert tokens == pytest.approx(tpm, rel=0.02)
    first = sum(n for t, n in admitted if t < 60)
    assert first == pytest.approx(2 * tpm, rel=0.02)  # the full bucket, then the refill


def test_requests_admitted_per_minute_are_the_quota_within_2_percent() -> None:
    """RPM alone: 500 requests a minute once the first bucket is spent."""
    quota = Quota(rpm=500, tpm=None)
    admitted = drive(quota, minutes=2, step=0.01, sizes=[1])
    assert sum(1 for t, _ in admitted if 60 <= t < 120) == pytest.approx(500, rel=0.02)
    assert quota.refused_by["requests"] > 0 and quota.refused_by["tokens"] == 0


def test_a_smaller_burst_spreads_the_same_rate() -> None:
    """burst_tokens caps the bucket: no 1 s window admits more than burst + 1 s of rate."""
    quota = Quota(rpm=None, tpm=60_000, burst_tokens=5_000)
    admitted = drive(quota, minutes=1, step=0.01, sizes=[100])
    assert sum(n for t, n in admitted if t < 1.0) <= 5_000 + 1_000
    assert sum(n for t, n in admitted if 30 <= t < 60) == pytest.approx(30_000, rel=0.02)


def test_a_request_is_charged_at_admission_and_never_refunded() -> None:
    """Admission takes prompt + max_tokens at once; remaining shows it in the headers."""
    quota = Quota(rpm=10, tpm=1_000)
    first = quota.admit(300, 0.0)
    assert first.admitted
    assert first.headers == {
        "x-ratelimit-limit-requests": "10", "x-ratelimit-remaining-requests": "9",
        "x-ratelimit-reset-requests": "6s",
        "x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "700",
        "x-ratelimit-reset-tokens": "18s",
    }
    assert quota.tokens_charged == 300


def test_a_refusal_names_the_limit_and_the_exact_wait() -> None:
    """Over TPM: 429 facts with Retry-After (s, rounded up) and retry-after-ms (exact)."""
    quota = Quota(rpm=100, tpm=600)  # 10 tokens/s
    assert quota.admit(550, 0.0).admitted
    refused = quota.admit(100, 1.0)  # 60 + 10 = 60 available after 1 s: 40 short -> 4 s
    assert not refused.admitted and refused.limit == "tokens"
    assert refused.retry_after == pytest.approx(4.0)
    assert refused.headers["retry-after"] == "4"
    assert refused.headers["retry-after-ms"] == "4000"
    assert refused.headers["x-ratelimit-remaining-tokens"] == "60"
    assert "Limit 600" in refused.message and "Requested 100" in refused.message
    assert quota.admit(100, 5.0).admitted  # exactly when it said


def test_out_of_requests_is_a_requests_refusal() -> None:
    """With tokens to spare but no request left, the 429 is about requests."""
    quota = Quota(rpm=2, tpm=10_000)
    assert quota.admit(1, 0.0).admitted and quota.admit(1, 0.0).admitted
    refused = quota.admit(1, 0.0)
    assert refused.limit == "requests" and refused.retry_after == pytest.approx(30.0)
    assert "requests per min (RPM)" in refused.message


def test_a_request_larger_than_the_bucket_is_refused_without_retry_after() -> None:
    """It could never fit: no Retry-After, and the message says to shrink it."""
    quota = Quota(rpm=None, tpm=1_000)
    refused = quota.admit(1_001, 0.0)
    assert not refused.admitted and refused.retry_after is None
    assert "retry-after" not in refused.headers and "Request too large" in refused.message
    assert quota.refused_by["too_large"] == 1


def test_timeline_counts_each_second() -> None:
    """Admissions, tokens and 429s land in the second they happened."""
    quota = Quota(rpm=None, tpm=600)
    quota.admit(500, 0.2)
    quota.admit(500, 0.4)
    quota.admit(50, 2.5)
    assert quota.timeline() == [(0, 1, 500, 1), (1, 0, 0, 0), (2, 1, 50, 0)]


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0, "0s"), (0.02, "20ms"), (0.0004, "1ms"), (1.5, "1.5s"), (6.0, "6s"),
    (360.0, "6m0s"), (75.25, "1m15.25s"), (3723.0, "1h2m3s"),
])
def test_durations_are_written_as_openai_does_and_read_back(seconds: float, text: str) -> None:
    """format_duration writes OpenAI's reset format, which the client parses back."""
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(max(seconds, 0.001) if seconds else 0.0)
