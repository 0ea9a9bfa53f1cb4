"""ResourceLimits: DESIGN.md's fields and defaults, strict validation."""

from __future__ import annotations

import pytest

from pitstop import ConfigError, ResourceLimits


def test_defaults_are_the_documented_ones() -> None:
    """A bare ResourceLimits has DESIGN.md's defaults: 10 tasks, nothing else limited."""
    limits = ResourceLimits()
    assert limits.max_concurrent_tasks == 10
    assert limits.max_tokens_per_minute is None
    assert limits.token_burst_size is None
    assert limits.max_tool_calls_per_minute is None
    assert limits.max_concurrent_tool_calls is None
    assert limits.reject_on_limit is False
    assert limits.resource_wait_timeout_seconds == 60
    assert limits.redis_url is None
    assert limits.namespace == "pitstop"


def test_burst_defaults_to_the_per_minute_figure() -> None:
    """token_burst_size None means a bucket the size of one minute's tokens."""
    assert ResourceLimits(max_tokens_per_minute=50000).token_capacity == 50000
    guide = ResourceLimits(
        max_tokens_per_minute=60000, max_tool_calls_per_minute=500, token_burst_size=120000
    )
    assert guide.token_capacity == 120000
    assert guide.tool_call_capacity == 500


def test_misspelled_field_is_an_error_with_a_suggestion() -> None:
    """An unknown field is refused and the message names the field it resembles."""
    with pytest.raises(ConfigError, match="did you mean 'max_tokens_per_minute'"):
        ResourceLimits(max_token_per_minute=100)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_concurrent_tasks", 0),
        ("max_tokens_per_minute", -5),
        ("max_tool_calls_per_minute", 0),
        ("max_concurrent_tool_calls", 0),
        ("resource_wait_timeout_seconds", 0),
        ("namespace", ""),
    ],
)
def test_non_positive_values_are_refused(field: str, value: object) -> None:
    """Limits and timeouts must be positive; the error names the field and the value."""
    with pytest.raises(ConfigError, match=field):
        ResourceLimits(**{field: value})


def test_burst_needs_its_rate() -> None:
    """A burst size without its per-minute limit would be ignored, so it is an error."""
    with pytest.raises(ConfigError, match="token_burst_size .* max_tokens_per_minute is None"):
        ResourceLimits(token_burst_size=1000)
    with pytest.raises(ConfigError, match="tool_call_burst_size"):
        ResourceLimits(tool_call_burst_size=5)


def test_burst_must_be_at_least_one() -> None:
    """A burst of 0 could never admit anything."""
    with pytest.raises(ConfigError, match="token_burst_size=0"):
        ResourceLimits(max_tokens_per_minute=100, token_burst_size=0)


def test_redis_url_must_be_a_redis_url() -> None:
    """A URL of another scheme is refused with an example of a good one."""
    with pytest.raises(ConfigError, match="redis://host:6379/0"):
        ResourceLimits(max_tokens_per_minute=100, redis_url="http://localhost:6379")
    assert ResourceLimits(redis_url="redis://127.0.0.1:6379/0").redis_url


def test_assignment_is_validated_and_a_bad_one_does_not_stick() -> None:
    """Changing a field re-checks the rules; a refused change leaves the old value."""
    limits = ResourceLimits(max_tokens_per_minute=100, token_burst_size=200)
    with pytest.raises(ConfigError):
        limits.max_tokens_per_minute = None
    assert limits.max_tokens_per_minute == 100
    with pytest.raises(ConfigError, match="Did you mean"):
        limits.max_concurent_tasks = 3  # type: ignore[attr-defined]
