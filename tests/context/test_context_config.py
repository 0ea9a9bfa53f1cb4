"""CompressionConfig: the guide's names and defaults, and errors that say the fix."""

from __future__ import annotations

import pytest

from pitstop import CompressionConfig, ConfigError


def test_defaults_are_the_designed_ones() -> None:
    """The defaults are DESIGN.md's: truncate, keep 10, auto off, 100 -> 50, 500-token summary."""
    cfg = CompressionConfig()
    assert cfg.strategy == "truncate"
    assert cfg.keep_recent == 10
    assert cfg.auto_compress_enabled is False
    assert (cfg.auto_compress_threshold, cfg.auto_compress_target) == (100, 50)
    assert cfg.summary_max_tokens == 500
    assert cfg.auto_compress_max_tokens is None
    assert cfg.token_target is None


def test_guide_settings_are_accepted() -> None:
    """The guide's Conversation Compression settings build as written."""
    cfg = CompressionConfig(
        strategy="summarize",
        auto_compress_enabled=True,
        auto_compress_threshold=50,
        auto_compress_target=30,
    )
    assert (cfg.strategy, cfg.auto_compress_threshold, cfg.auto_compress_target) == (
        "summarize",
        50,
        30,
    )


def test_misspelled_field_is_an_error_with_a_suggestion() -> None:
    """A typo is never silently dropped: the error names the field and the likely one."""
    with pytest.raises(
        ConfigError, match=r"auto_compress_treshold.*did you mean 'auto_compress_threshold'"
    ):
        CompressionConfig(auto_compress_treshold=50)


def test_unknown_strategy_is_an_error() -> None:
    """Only truncate, summarize and hybrid exist."""
    with pytest.raises(ConfigError, match="strategy='squash'"):
        CompressionConfig(strategy="squash")


def test_target_must_be_below_threshold() -> None:
    """A target at or above the threshold would compress nothing; the error says so."""
    with pytest.raises(ConfigError) as info:
        CompressionConfig(auto_compress_threshold=50, auto_compress_target=60)
    assert str(info.value) == (
        "CompressionConfig: auto_compress_target (60) must be below "
        "auto_compress_threshold (50); lower the target."
    )


def test_breaking_assignment_raises_and_does_not_stick() -> None:
    """An assignment that breaks a rule between fields leaves the old value in place."""
    cfg = CompressionConfig(auto_compress_threshold=50, auto_compress_target=30)
    with pytest.raises(ConfigError, match=r"auto_compress_target \(70\)"):
        cfg.auto_compress_target = 70
    assert cfg.auto_compress_target == 30
    cfg.auto_compress_target = 40
    assert cfg.auto_compress_target == 40


def test_keep_recent_must_leave_room_for_the_summary() -> None:
    """With auto-compression on, keep_recent must be below the target."""
    with pytest.raises(
        ConfigError, match=r"keep_recent \(30\) must be below auto_compress_target \(30\)"
    ):
        CompressionConfig(
            auto_compress_enabled=True,
            auto_compress_threshold=50,
            auto_compress_target=30,
            keep_recent=30,
        )
    CompressionConfig(auto_compress_threshold=50, auto_compress_target=30, keep_recent=30)


def test_token_trigger_needs_auto_compression() -> None:
    """A token trigger that could never fire is an error, not a silent no-op."""
    with pytest.raises(
        ConfigError, match=r"auto_compress_max_tokens \(4000\).*auto_compress_enabled=True"
    ):
        CompressionConfig(auto_compress_max_tokens=4000)


def test_token_target_defaults_to_half_and_must_be_below_the_trigger() -> None:
    """The token target is half the trigger unless set, and must be below it."""
    cfg = CompressionConfig(auto_compress_enabled=True, auto_compress_max_tokens=4000)
    assert cfg.token_target == 2000
    cfg.auto_compress_target_tokens = 1000
    assert cfg.token_target == 1000
    with pytest.raises(ConfigError, match=r"auto_compress_target_tokens \(5000\) must be below"):
        cfg.auto_compress_target_tokens = 5000
    with pytest.raises(ConfigError, match="needs auto_compress_max_tokens"):
        CompressionConfig(auto_compress_enabled=True, auto_compress_target_tokens=10)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("keep_recent", 0),
        ("summary_max_tokens", 0),
        ("summary_timeout", 0),
        ("auto_compress_threshold", 1),
    ],
)
def test_out_of_range_values_are_errors(field: str, value: int) -> None:
    """Counts and timeouts below their minimum are rejected with the value seen."""
    with pytest.raises(ConfigError, match=f"{field}={value}"):
        CompressionConfig(**{field: value})
def test_a_threshold_alone_sets_the_target_to_half_of_it() -> None:
    """The guide's Best Practices config (threshold 50, no target) is valid: target 25."""
    from pitstop import CompressionConfig

    cfg = CompressionConfig(auto_compress_enabled=True, auto_compress_threshold=50)
    assert cfg.auto_compress_target == 25
    assert CompressionConfig().auto_compress_target == 50
    assert CompressionConfig(auto_compress_threshold=50, auto_compress_target=30) \
        .auto_compress_target == 30
