"""The probe tests run by ``tests/test_invisible.py`` (copied in as ``test_probes.py``).

Each test records, through the ``probe`` fixture of ``tests/invisible_probe.py``, what it
observes; the outer test compares the records of runs with and without ``--otel``.
The OpenTelemetry test comes last: it imports the API, which a bare run has not imported.
"""

from __future__ import annotations

import datetime
import inspect
import random
import sys
import time
from collections.abc import Callable

import pytest
from conftest import Probe, frames  # type: ignore[import-not-found]


def test_first(probe: Probe) -> None:
    probe()


def test_second(probe: Probe, record_property: Callable[[str, object], None]) -> None:
    record_property("ticket", "SHOP-1")  # what the test's teardown and the JUnit XML then hold
    probe()


def test_catches_an_exception(probe: Probe) -> None:
    empty: dict[str, int] = {}
    try:
        try:
            empty["missing"]
        except KeyError as inner:
            raise ValueError("outer") from inner
    except ValueError as caught:
        exception = {
            "traceback": frames(caught.__traceback__),
            "cause": repr(caught.__cause__),
            "context": repr(caught.__context__),
            "suppress_context": caught.__suppress_context__,
            "inner traceback": frames(caught.__cause__.__traceback__ if caught.__cause__ else None),
        }
    probe(exception=exception, exc_info_after=[repr(part) for part in sys.exc_info()])


def test_sees_its_call_stack(probe: Probe) -> None:
    stack = [f"{info.frame.f_globals.get('__name__')}.{info.function}" for info in inspect.stack(context=0)]
    probe(stack=stack)


def test_frozen_clocks_stay_frozen(probe: Probe) -> None:
    import freezegun
    import time_machine

    with freezegun.freeze_time("2021-03-04 05:06:07"):
        frozen = [time.time(), time.time_ns(), datetime.datetime.now().isoformat(), datetime.date.today().isoformat()]
        time.sleep(0)
        frozen.append(time.time())
    with time_machine.travel(datetime.datetime(2019, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc), tick=False):
        travelled = [time.time(), time.time_ns(), datetime.datetime.now(datetime.timezone.utc).isoformat()]
    probe(frozen=frozen, travelled=travelled, real_clock_is_back=abs(time.time() - 1.6e9) > 1e8)


@pytest.mark.xfail(raises=ZeroDivisionError, strict=True)
def test_fails_as_expected() -> None:
    print(1 / 0)


def test_after_a_failure_sees_the_last_exception(probe: Probe) -> None:
    last = getattr(sys, "last_value", None)
    probe(last=[repr(last), frames(last.__traceback__ if last else None)])


def test_uses_the_opentelemetry_api(probe: Probe, caplog: pytest.LogCaptureFixture) -> None:
    """An application using the OTel API. What may differ (``allowed``) is the global
    provider and the current span, the running test's (the README's promise); the
    propagator, the global random sequence, atexit, warning filters, and setting its own
    provider behave as without the plugin."""
    import os

    from opentelemetry import context, propagate, trace
    from opentelemetry.sdk.trace import TracerProvider

    current = trace.get_current_span().get_span_context()
    traceparent = os.environ.get("TRACEPARENT", "")
    allowed = {
        "provider": type(trace.get_tracer_provider()).__qualname__,
        "context entries": len(list(context.get_current())),
        "current span is the test's": current.is_valid and f"{current.trace_id:032x}" in traceparent,
    }
    seen: dict[str, object] = {
        "textmap": type(propagate.get_global_textmap()).__qualname__,
        "textmap fields": sorted(propagate.get_global_textmap().fields),
    }
    random.seed(7)
    with trace.get_tracer("app").start_as_current_span("app work"):
        seen["random after a span"] = random.random()
    mine = TracerProvider()
    trace.set_tracer_provider(mine)
    seen["set_tracer_provider took"] = trace.get_tracer_provider() is mine
    seen["log"] = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    probe(otel=seen, otel_allowed=allowed)
