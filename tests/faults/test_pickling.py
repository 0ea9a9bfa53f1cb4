"""Defect 18: every public exception survives pickling (multiprocessing, Ray, Dask)."""

from __future__ import annotations

import pickle

import pytest

import pitstop
import pitstop.errors as errors
from pitstop.notebook import NoRunRecorded


def _examples() -> list[BaseException]:
    """One instance of every public exception, with its fields set."""
    return [
        errors.PitstopError("base"),
        errors.ConfigError("bad value"),
        errors.MissingExtraError("pip install pitstop[redis]"),
        errors.ToolNotFoundError("serach", ["search", "weather"]),
        errors.ToolError("no result"),
        errors.ToolArgumentError("bad arguments"),
        errors.ToolTimeoutError("too slow"),
        errors.LLMError("model failed"),
        errors.LLMConnectionError("connection dropped"),
        errors.LLMTimeoutError("too slow", deadline="idle", seconds=60.0),
        errors.RateLimitExceeded("over the limit", limit="max_tokens_per_minute",
                                 requested=1200, waited=2.5),
        errors.BudgetExceeded("over budget", limit="max_cost_total", budget=1.0, spent=0.95,
                              estimate=0.1, waited=0.0),
        errors.CompressionError("cannot compress"),
        errors.WorkerLostError("the worker died 3 times"),
        NoRunRecorded("no run yet"),
    ]


def test_every_public_exception_is_covered() -> None:
    """The examples cover every exception class exported by pitstop.errors."""
    exported = {getattr(errors, n) for n in errors.__all__}
    covered = {type(e) for e in _examples()}
    assert exported <= covered
    assert all(getattr(pitstop, n) is getattr(errors, n) for n in errors.__all__)


@pytest.mark.parametrize("exc", _examples(), ids=lambda e: type(e).__name__)
def test_exception_round_trips_through_pickle(exc: BaseException) -> None:
    """A pickled error comes back as the same class with the same message and fields."""
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc)
    assert str(back) == str(exc)
    assert back.args == exc.args
    assert vars(back) == vars(exc)
