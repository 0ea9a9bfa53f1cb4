"""The public surface: `pitstop.__all__` is exactly the public names, and import is cheap."""

from __future__ import annotations

import subprocess
import sys

import pitstop


def test_every_public_name_resolves() -> None:
    """Each name in __all__ is importable from pitstop."""
    for name in pitstop.__all__:
        assert getattr(pitstop, name) is not None, name


def test_all_lists_the_public_names_of_the_design() -> None:
    """The design's public names are all exported, and nothing private is."""
    expected = {
        "HybridAgent", "AgentConfig", "CacheConfig", "ResourceLimits", "CompressionConfig",
        "ContextEngine", "Tool", "tool", "Message", "ToolCall", "Usage", "LLMResponse",
        "LLMClient", "FunctionLLM", "SimulatedLLM", "OpenAIClient", "PitstopError",
        "ConfigError", "RateLimitExceeded", "Monitor",
    }
    assert expected <= set(pitstop.__all__)
    assert not [n for n in pitstop.__all__ if n.startswith("_") and n != "__version__"]


def test_import_pitstop_loads_no_heavy_library() -> None:
    """`import pitstop` and building an agent load no pandas, matplotlib, widgets or SDKs."""
    code = (
        "import sys, pitstop\n"
        "from pitstop import HybridAgent, SimulatedLLM\n"
        "HybridAgent('a', SimulatedLLM(), tools=['search'])\n"
        "heavy = [m for m in ('pandas', 'matplotlib', 'ipywidgets', 'openai', 'redis', "
        "'IPython', 'tiktoken') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
