"""OpenTelemetry fixtures: SDK tracer and meter providers that keep everything in memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.otel.phoenix import PhoenixServer, phoenix_binary

from pitstop import otel


@dataclass
class Telemetry:
    """What the instrumented agents exported."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name.startswith(prefix)]

    def one(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def points(self, metric: str) -> list[Any]:
        """The data points of one metric (an empty list when it was never recorded)."""
        data = self.reader.get_metrics_data()
        out: list[Any] = []
        for rm in data.resource_metrics if data is not None else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == metric:
                        out.extend(m.data.data_points)
        return out


def make_telemetry() -> Telemetry:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return Telemetry(tracer_provider, MeterProvider(metric_readers=[reader]), exporter, reader)


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """pitstop instrumented into in-memory providers, without content; uninstrumented after."""
    t = make_telemetry()
    otel.instrument(t.tracer_provider, meter_provider=t.meter_provider)
    yield t
    otel.uninstrument()
    t.tracer_provider.shutdown()
    t.meter_provider.shutdown()


@pytest.fixture
def telemetry_with_content() -> Iterator[Telemetry]:
    """Like `telemetry`, with capture_content=True."""
    t = make_telemetry()
    otel.instrument(t.tracer_provider, capture_content=True, meter_provider=t.meter_provider)
    yield t
    otel.uninstrument()
    t.tracer_provider.shutdown()
    t.meter_provider.shutdown()


# -- Phoenix: started as soon as collection selects a test that needs it, so its boot
# (10-30 s of imports on a busy 2-core machine) overlaps the tests that run before it.

_phoenix: PhoenixServer | None = None


@pytest.hookimpl(trylast=True)  # after -m/-k have deselected what will not run
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    global _phoenix
    binary = phoenix_binary()
    if _phoenix is None and binary is not None and any(
        item.get_closest_marker("phoenix") for item in items
    ):
        _phoenix = PhoenixServer(binary)
        _phoenix.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _phoenix
    if _phoenix is not None:
        _phoenix.stop()
        _phoenix = None


@pytest.fixture(scope="session")
def phoenix() -> Iterator[PhoenixServer]:
    """A running Phoenix server on loopback (skips where `make phoenix` has not run)."""
    global _phoenix
    if _phoenix is None:
        binary = phoenix_binary()
        if binary is None:
            pytest.skip("Arize Phoenix is not installed: `make phoenix` creates .phoenix-venv.")
        _phoenix = PhoenixServer(binary)
        _phoenix.start()
    _phoenix.wait_ready()
    yield _phoenix
