"""Fixtures of the fault suite."""

from __future__ import annotations

import pytest

from pitstop.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A cache clock that moves only when the test says so."""
    return FakeClock(start=1_000.0)
