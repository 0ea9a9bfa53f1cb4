"""CacheConfig: the guide's fields and defaults, and clear errors for bad settings."""

from __future__ import annotations

import pytest

from pitstop import CacheConfig as PublicCacheConfig
from pitstop import ToolCache as PublicToolCache
from pitstop._cache import CacheConfig, ToolCache
from pitstop.errors import ConfigError

from .conftest import make_tool


def test_public_names_are_the_cache_modules() -> None:
    """`from pitstop import CacheConfig, ToolCache` gives this package's classes."""
    assert PublicCacheConfig is CacheConfig
    assert PublicToolCache is ToolCache


def test_defaults_are_the_designs() -> None:
    """Defaults: enabled, 300 s, no per-tool TTLs, 1000 entries, 100 MB, memory."""
    c = CacheConfig()
    assert (c.enabled, c.default_ttl, c.tool_specific_ttl) == (True, 300, {})
    assert (c.max_cache_size, c.max_memory_mb, c.backend) == (1000, 100, "memory")


def test_the_guides_configurations_build() -> None:
    """Every CacheConfig of the guide is accepted as written."""
    CacheConfig(
        enabled=True,
        default_ttl=3600,
        tool_specific_ttl={"search": 7200, "translation": 86400, "calculator": 0},
        max_cache_size=5000,
    )
    CacheConfig(enabled=True, default_ttl=0,
                tool_specific_ttl={"expensive_api": 3600, "slow_operation": 1800})
    CacheConfig(enabled=True, max_cache_size=1000, max_memory_mb=100)


def test_a_misspelled_field_is_an_error_with_a_suggestion() -> None:
    """An unknown field names itself and the closest real field."""
    with pytest.raises(ConfigError, match="'max_size'.*did you mean 'max_cache_size'"):
        CacheConfig(max_size=10)
    c = CacheConfig()
    with pytest.raises(ConfigError, match="no field 'defualt_ttl'. Did you mean 'default_ttl'"):
        c.defualt_ttl = 5


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"default_ttl": -1}, "CacheConfig.default_ttl must be >= 0 seconds, got -1; "
                              "use 0 to never cache a tool."),
        ({"tool_specific_ttl": {"search": -5}},
         "CacheConfig.tool_specific_ttl['search'] must be >= 0 seconds, got -5; "
         "use 0 to never cache a tool."),
    ],
)
def test_negative_ttls_are_clear_errors(fields: dict[str, object], message: str) -> None:
    """A negative TTL names the field, the value and the fix."""
    with pytest.raises(ConfigError) as info:
        CacheConfig(**fields)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_assignment_is_validated_and_a_bad_value_does_not_stick() -> None:
    """validate_assignment: a bad assignment raises and leaves the old value."""
    c = CacheConfig(default_ttl=60)
    with pytest.raises(ConfigError, match="got -3"):
        c.default_ttl = -3
    with pytest.raises(ConfigError, match="max_cache_size"):
        c.max_cache_size = 0
    assert (c.default_ttl, c.max_cache_size) == (60, 1000)
    c.default_ttl = 600
    assert c.default_ttl == 600


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"max_memory_mb": 0}, "max_memory_mb"),
        ({"backend": "memcached"}, "backend"),
        ({"path": "/tmp/x.sqlite3"}, "path is set .* but backend is 'memory'; set backend='disk'"),
        ({"redis_url": "redis://localhost"}, "set backend='redis'"),
        ({"backend": "redis", "redis_url": "http://localhost"}, "must start with redis://"),
        ({"trace_size": -1}, "trace_size"),
    ],
)
def test_inconsistent_settings_are_errors(fields: dict[str, object], match: str) -> None:
    """Settings that would be silently ignored or cannot work are rejected."""
    with pytest.raises(ConfigError, match=match):
        CacheConfig(**fields)


def test_ttl_for_a_tool_the_agent_lacks_is_an_error() -> None:
    """tool_specific_ttl may only name the agent's tools; the error lists them."""
    config = CacheConfig(tool_specific_ttl={"serach": 60})
    tools = {"search": make_tool("search"), "weather": make_tool("weather")}
    with pytest.raises(ConfigError, match="names 'serach', which the agent does not have; "
                                          "its tools: 'search', 'weather'"):
        ToolCache(config, tools=tools)
    ToolCache(CacheConfig(tool_specific_ttl={"search": 60}), tools=tools)


def test_config_namespace_wins_over_the_agents() -> None:
    """An explicit CacheConfig.namespace lets agents share entries."""
    assert ToolCache(CacheConfig(), namespace="agent-1").namespace == "agent-1"
    assert ToolCache(CacheConfig(namespace="team"), namespace="agent-1").namespace == "team"


def test_ttl_for_reads_the_live_config() -> None:
    """ttl_for gives the per-tool TTL, else the default, as the config is now."""
    c = CacheConfig(default_ttl=10, tool_specific_ttl={"a": 0})
    assert (c.ttl_for("a"), c.ttl_for("b")) == (0, 10)
    c.default_ttl = 20
    assert c.ttl_for("b") == 20
