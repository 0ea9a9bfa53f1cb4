"""Cache keys, labels and the JSON form of stored results.

A key is the tool's name and its arguments, written canonically so that key order
does not matter and equal arguments of different types (``1``, ``1.0``, ``True``,
``"1"``) never share a key. It reads like the call: ``search(limit=3, query='Python')``.
It is the same in every process, so the disk and Redis backends can share it.

Results are stored as JSON, never pickled: a result is cacheable only when it is made
of what JSON gives back unchanged (dicts with string keys, lists, strings, ints,
floats, booleans, None). A tuple, a set or an object would come back different, so it
is not cached, and the call is counted as uncacheable with the reason
``result_not_json``.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import pathlib
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = [
    "IMMUTABLE_TYPES",
    "Encoded",
    "decode",
    "encode",
    "make_key",
    "make_labels",
    "utf8_size",
]

_SCALARS = frozenset({str, int, float, bool, type(None)})
IMMUTABLE_TYPES = _SCALARS
"""Result types handed back as they are: nobody can mutate them."""

# Types whose repr() is deterministic across processes and identifies the value.
_REPR_TYPES = (
    bytes,
    decimal.Decimal,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    pathlib.PurePath,
    complex,
)
_MAX_DEPTH = 50

_loads = json.loads


def _no_default(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


def _make_dumps() -> Any:
    """Compact UTF-8 JSON. The C encoder is built once: `json.dumps` rebuilds it per call,
    which costs more than encoding a typical tool result. No circularity check: results
    pass `_json_native` first, whose depth limit stops a cycle."""
    import json.encoder

    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - Python without the C accelerator
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    encoder = make(
        None, _no_default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    return lambda value: "".join(encoder(value, 0))


_dumps = _make_dumps()


class _NotJSON(Exception):
    """A result that JSON cannot hand back unchanged (internal)."""


class _Unkeyable(Exception):
    """An argument with no deterministic canonical form (internal)."""


def make_key(tool_name: str, arguments: Mapping[str, Any]) -> str | None:
    """The canonical key of a call, or None when an argument cannot be written down.

    Flat arguments (strings, numbers, booleans, None) take a fast path; nested lists,
    dicts, tuples, sets, dataclasses, pydantic models, enums, dates, decimals and UUIDs
    the general one. Any other object (whose repr may hold a memory address) makes the
    call uncacheable instead of risking a wrong hit.
    """
    parts = []
    try:
        names = sorted(arguments)
    except TypeError:
        return None
    for name in names:
        if type(name) is not str:
            return None
        value = arguments[name]
        if type(value) in _SCALARS:
            parts.append(f"{name}={value!r}")
        else:
            try:
                parts.append(f"{name}={_canon(value, 0)}")
            except (_Unkeyable, RecursionError):
                return None
    return f"{tool_name}({', '.join(parts)})"


def make_labels(tool_name: str, arguments: Mapping[str, Any]) -> tuple[str, ...]:
    """The labels pattern invalidation matches: the tool name and ``param:value`` each.

    A string value is written as it is (``query:Python tutorial``), anything else in
    its canonical form (``limit:3``, ``tags:['a', 'b']``).
    """
    labels = [tool_name]
    for name, value in arguments.items():
        if type(value) is str:
            labels.append(f"{name}:{value}")
        elif type(value) in _SCALARS:
            labels.append(f"{name}:{value!r}")
        else:
            try:
                labels.append(f"{name}:{_canon(value, 0)}")
            except (_Unkeyable, RecursionError):
                labels.append(f"{name}:?")
    return tuple(labels)


def _canon(value: Any, depth: int) -> str:
    """A deterministic, type-preserving text for a nested argument value."""
    if depth > _MAX_DEPTH:
        raise _Unkeyable
    t = type(value)
    if t in _SCALARS:
        return repr(value)
    d = depth + 1
    if t is list:
        return "[" + ", ".join(_canon(v, d) for v in value) + "]"
    if t is tuple:
        return "(" + "".join(_canon(v, d) + ", " for v in value) + ")"
    if t is dict:
        items = sorted((_canon(k, d), _canon(v, d)) for k, v in value.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if t is set or t is frozenset:
        inner = ", ".join(sorted(_canon(v, d) for v in value))
        return f"{t.__name__}({{{inner}}})"
    if isinstance(value, enum.Enum):
        return f"{t.__qualname__}.{value.name}"
    if isinstance(value, _REPR_TYPES):
        return repr(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return f"{t.__qualname__}{_canon(fields, d)}"
    dump = getattr(value, "model_dump", None)  # a pydantic model
    if callable(dump) and hasattr(t, "model_fields"):
        return f"{t.__qualname__}{_canon(dict(value.__dict__), d)}"
    raise _Unkeyable


def utf8_size(text: str) -> int:
    """Bytes of `text` in UTF-8 (raises UnicodeEncodeError on a lone surrogate)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


class Encoded(NamedTuple):
    """The stored form of a result."""

    payload: Any
    """JSON text, or (``text=False``) an immutable scalar kept as it is."""
    is_text: bool
    """True when `payload` is JSON text."""
    size: int
    """Bytes the payload takes (UTF-8 for text)."""


def encode(result: Any, *, text: bool) -> Encoded:
    """The stored form of a result: its payload, whether that is JSON text, its size.

    Args:
        result: what the tool returned.
        text: True when the backend stores text (disk, Redis). False lets the memory
            backend keep an immutable scalar as it is, saving a copy.

    Raises:
        _NotJSON: JSON would not hand the result back unchanged.
    """
    t = type(result)
    try:
        if t in _SCALARS:
            if not text:
                return Encoded(result, False, utf8_size(result) if t is str else len(repr(result)))
        elif not _json_native(result, 0):
            raise _NotJSON
        payload = _dumps(result)
        return Encoded(payload, True, utf8_size(payload))
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError):
        raise _NotJSON from None


def _json_native(value: Any, depth: int) -> bool:
    """True when JSON hands `value` back unchanged (cheaper than a round trip)."""
    if depth > _MAX_DEPTH:
        return False
    t = type(value)
    if t is dict:
        for k, v in value.items():
            if type(k) is not str or (type(v) not in _SCALARS and not _json_native(v, depth + 1)):
                return False
        return True
    if t is list:
        for v in value:
            tv = type(v)
            if tv in _SCALARS:
                continue
            if tv is dict:  # the common list of records, checked without a call
                for k, x in v.items():
                    if type(k) is not str or (
                        type(x) not in _SCALARS and not _json_native(x, depth + 2)
                    ):
                        return False
            elif not _json_native(v, depth + 1):
                return False
        return True
    return t in _SCALARS


def decode(payload: str | bytes) -> Any:
    """A fresh copy of a stored result (the caller may mutate it freely)."""
    return _loads(payload)
