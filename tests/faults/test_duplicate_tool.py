"""Defect 17: a second @tool with an existing name warns, and never changes built agents."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from pitstop import HybridAgent, SimulatedLLM, tool
from pitstop._tools import base
from pitstop._tools.base import default_registry


@pytest.fixture
def restore_registry() -> Iterator[None]:
    """Put the default registry back as it was after the test."""
    default_registry.names()  # the demo tools are loaded
    saved = dict(default_registry._tools)
    yield
    default_registry._tools.clear()
    default_registry._tools.update(saved)


async def test_second_tool_of_a_name_warns_once_and_keeps_built_agents(
    restore_registry: None,
) -> None:
    """A user's own `search` warns once, naming both definitions; older agents keep theirs."""
    before = HybridAgent("before", SimulatedLLM(), tools=["search"])
    demo_search = before.tools["search"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        @tool(name="search")
        def my_search(query: str) -> str:
            """My own search."""
            return f"mine: {query}"

        @tool(name="search")  # a third definition of the name warns again (a new pair)
        def my_other_search(query: str) -> str:
            """Another search."""
            return f"other: {query}"

    texts = [str(w.message) for w in caught if "search" in str(w.message)]
    assert len(texts) == 2, texts
    assert "pitstop._tools.demo" in texts[0] and "my_search" in texts[0]
    assert "my_search" in texts[1] and "my_other_search" in texts[1]
    assert before.tools["search"] is demo_search
    out = await before.execute_tools_parallel(
        [{"tool_name": "search", "parameters": {"query": "x", "max_results": 1}}]
    )
    assert isinstance(out[0]["result"], list)  # still the demo search
    after = HybridAgent("after", SimulatedLLM(), tools=["search"])
    assert after.tools["search"].fn is my_other_search.fn


def test_redefining_the_same_function_is_silent(restore_registry: None) -> None:
    """Re-running the cell that defines a tool replaces it without a warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            @tool
            def rerun_cell_tool(x: int) -> int:
                """Doubles."""
                return 2 * x
    assert not [w for w in caught if "rerun_cell_tool" in str(w.message)]


def test_demo_tools_loading_late_do_not_replace_a_users_tool(restore_registry: None) -> None:
    """The demo tools, loaded on first lookup, never replace a user's tool of the same name."""
    saved_loaded = base._demo_loaded
    default_registry._tools.clear()
    base._demo_loaded = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")

            @tool(name="search")
            def user_search(query: str) -> str:
                """The user's search, defined before any demo tool was looked up."""
                return query

            default_registry.get("weather")  # the first lookup of a demo tool
        assert default_registry.get("search").fn is user_search.fn
        assert any("user_search" in str(w.message) for w in caught)
    finally:
        base._demo_loaded = saved_loaded
