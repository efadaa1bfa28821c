"""Span times under frozen, travelling and patched clocks: real pytest runs with freezegun,
time-machine and monkeypatch, every stored span read back and checked against the real
wall clock around the run."""

from __future__ import annotations

import time

import pytest

from otel_pytest import clock
from tests.spantree import Node, Run

TIME_TRAVEL_SUITE = """
import datetime
import time

import freezegun
import pytest
import time_machine
from opentelemetry import trace

tracer = trace.get_tracer("app")
YEARS_25 = datetime.timedelta(days=365 * 25)


def app_work(name):
    with tracer.start_as_current_span(name) as span:
        span.add_event("checkpoint")


@pytest.fixture
def frozen_fixture():
    with freezegun.freeze_time("2001-02-03 04:05:06"):
        yield
        app_work("frozen teardown work")


@pytest.fixture
def ticking_future():
    with freezegun.freeze_time(datetime.datetime.now() + YEARS_25, tick=True):
        yield


@freezegun.freeze_time("2001-02-03 04:05:06")
def test_freezegun_decorator():
    app_work("decorated work")


def test_freezegun_fixture(frozen_fixture):
    app_work("fixture work")


def test_freezegun_ticking_25_years_ahead(ticking_future):
    app_work("future work")


def test_freezegun_25_years_back():
    with freezegun.freeze_time(datetime.datetime.now() - YEARS_25):
        app_work("past work")


def test_time_machine_travel_without_ticking():
    with time_machine.travel(datetime.datetime(1990, 1, 1, tzinfo=datetime.timezone.utc), tick=False):
        app_work("travelled work")


def test_monkeypatched_time_ns_and_time(monkeypatch):
    monkeypatch.setattr(time, "time_ns", lambda: 0)
    monkeypatch.setattr(time, "time", lambda: 0.0)
    app_work("patched work")
"""

APP_SPANS = {
    "test_freezegun_decorator": ("call", "decorated work"),
    "test_freezegun_fixture": ("call", "fixture work"),
    "test_freezegun_ticking_25_years_ahead": ("call", "future work"),
    "test_freezegun_25_years_back": ("call", "past work"),
    "test_time_machine_travel_without_ticking": ("call", "travelled work"),
    "test_monkeypatched_time_ns_and_time": ("call", "patched work"),
}


def assert_inside(inner: Node, outer: Node) -> None:
    inner_end, outer_end = inner.start_ns + inner.duration_ns, outer.start_ns + outer.duration_ns
    assert outer.start_ns <= inner.start_ns <= inner_end <= outer_end, f"{inner.name} is not inside {outer.name}"


def test_span_times_come_from_the_plugins_clock_whatever_the_tests_do_to_time(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_time_travel=TIME_TRAVEL_SUITE)
    before = time.time_ns()
    result = pytester.runpytest_subprocess("--otel", "-p", "no:asyncio", "-p", "no:anyio")
    after = time.time_ns()
    result.assert_outcomes(passed=6)
    run = Run.from_store(pytester.path / ".otel-pytest")
    # session, module, 6 tests with 3 phases, 3 fixtures set up and torn down, 7 app spans
    assert len(run.spans) == 1 + 1 + 6 * 4 + 3 * 2 + 7
    for span in run.spans:
        start, end = span.start_ns, span.end_ns
        assert before <= start <= end <= after, f"{span.name}: {start}..{end} outside {before}..{after}"
        for event in span.detail.events:
            assert start <= event.time <= end, f"an event of {span.name} outside it"
    for test, (phase, name) in APP_SPANS.items():
        root = run.root(f"test_time_travel.py::{test}")
        call = root.child(phase)
        assert call.shape() == (phase, ((name, ()),))
        assert_inside(call.child(name), call)
        for child in root.children:
            assert_inside(child, root)
    teardown = run.root("test_time_travel.py::test_freezegun_fixture").child("teardown")
    assert teardown.shape() == ("teardown", (("fixture frozen_fixture teardown", (("frozen teardown work", ()),)),))
    fixture = teardown.child("fixture frozen_fixture teardown")
    assert_inside(fixture.child("frozen teardown work"), fixture)


def test_the_clock_is_wall_time_and_monotonic() -> None:
    first, reference, second = clock.now_ns(), time.time_ns(), clock.now_ns()
    assert first <= second
    assert abs(reference - first) < 5_000_000_000  # the same wall clock, give or take an NTP step
    assert clock.monotonic() <= clock.monotonic()
