"""Keys, labels and the JSON form of results."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import math
import random
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pitstop._cache.keys import _NotJSON, decode, encode, make_key, make_labels

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
flat_args = st.dictionaries(st.text(min_size=1, max_size=6), scalars, max_size=5)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=10,
)


def _typed(value: Any) -> Any:
    """A value with its types made part of equality (so 1, 1.0 and True differ)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value), value)


@given(flat_args, st.randoms())
def test_key_order_is_irrelevant(args: dict[str, Any], rnd: random.Random) -> None:
    """The same arguments in any order give the same key."""
    items = list(args.items())
    rnd.shuffle(items)
    assert make_key("t", dict(items)) == make_key("t", args)


@given(st.dictionaries(st.text(min_size=1, max_size=4), json_values, max_size=3),
       st.dictionaries(st.text(min_size=1, max_size=4), json_values, max_size=3))
def test_equal_keys_mean_equal_arguments(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Two calls share a key only when their arguments are equal, types included."""
    ka, kb = make_key("t", a), make_key("t", b)
    assert ka is not None and kb is not None
    if ka == kb:
        assert _typed(a) == _typed(b)


def test_values_of_different_types_never_share_a_key() -> None:
    """1, 1.0, True and '1' are four different keys."""
    keys = {make_key("t", {"x": v}) for v in (1, 1.0, True, "1")}
    assert len(keys) == 4


def test_keys_read_like_the_call_and_include_the_tool() -> None:
    """A key is the tool name and its sorted arguments, written like a call."""
    assert make_key("search", {"query": "Python", "limit": 3}) == "search(limit=3, query='Python')"
    assert make_key("search", {}) == "search()"
    assert make_key("a", {"x": 1}) != make_key("b", {"x": 1})


def test_nested_arguments_are_canonical_and_keep_their_types() -> None:
    """Nested dicts ignore key order; lists, tuples and sets stay distinct."""
    nested = make_key("t", {"f": {"b": 1, "a": [1, 2]}})
    assert nested == make_key("t", {"f": {"a": [1, 2], "b": 1}})
    assert make_key("t", {"x": [1, 2]}) != make_key("t", {"x": (1, 2)})
    assert make_key("t", {"x": {3, 1, 2}}) == make_key("t", {"x": {2, 3, 1}})
    assert make_key("t", {"x": {1, 2}}) != make_key("t", {"x": frozenset({1, 2})})


class Color(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Query(pydantic.BaseModel):
    text: str
    k: int = 3


@pytest.mark.parametrize(
    "value",
    [Color.RED, Point(1, 2), Query(text="q"), datetime.date(2024, 1, 2), b"raw", (1, "a")],
)
def test_common_argument_types_have_keys(value: Any) -> None:
    """Enums, dataclasses, pydantic models, dates and bytes have deterministic keys."""
    key = make_key("t", {"v": value})
    assert key is not None and "0x" not in key
    assert key == make_key("t", {"v": value})


def test_objects_without_a_canonical_form_are_unkeyable() -> None:
    """An arbitrary object or a too-deep structure gives no key (never a crash)."""
    assert make_key("t", {"v": object()}) is None
    assert make_key("t", {"v": [lambda: 1]}) is None
    deep: list[Any] = []
    node = deep
    for _ in range(100):
        node.append([])
        node = node[0]
    assert make_key("t", {"v": deep}) is None


def test_labels_are_the_tool_and_each_parameter() -> None:
    """Strings are labelled as they are, other values in their canonical form."""
    labels = make_labels("search", {"query": "Python tutorial", "limit": 3, "tags": ["a"]})
    assert labels == ("search", "query:Python tutorial", "limit:3", "tags:['a']")
    assert make_labels("t", {"v": object()}) == ("t", "v:?")


@given(json_values)
def test_json_results_round_trip_as_fresh_copies(value: Any) -> None:
    """A JSON-shaped result comes back equal, as an object the cache does not hold."""
    payload, is_text, size = encode(value, text=True)
    assert is_text and size == len(payload.encode())
    copy = decode(payload)
    assert copy == value
    if isinstance(value, (list, dict)):
        assert copy is not value


@pytest.mark.parametrize(
    "value",
    [(1, 2), {1: "a"}, {"a": (1,)}, {1, 2}, object(), [b"x"], "\ud800", [Color.RED]],
)
def test_results_json_would_change_are_rejected(value: Any) -> None:
    """Tuples, int keys, sets, objects, bytes, enums and lone surrogates: _NotJSON."""
    with pytest.raises(_NotJSON):
        encode(value, text=True)


def test_non_finite_floats_round_trip() -> None:
    """NaN and infinities come back as themselves (Python's JSON writes NaN, Infinity)."""
    payload, _, _ = encode({"a": [float("nan"), float("inf")]}, text=True)
    back = decode(payload)["a"]
    assert math.isnan(back[0]) and back[1] == float("inf")


def test_memory_payloads_keep_immutable_scalars_and_count_utf8_bytes() -> None:
    """Without text, scalars are kept as they are; sizes are UTF-8 bytes."""
    assert encode("héllo", text=False) == ("héllo", False, 6)
    assert encode(12345, text=False) == (12345, False, 5)
    assert encode({"a": "é"}, text=False) == ('{"a":"é"}', True, 10)
