"""Spans made through the OTel API: where they nest, and whose provider records them."""

from __future__ import annotations

import time

import pytest

from otel_pytest.store.compression import read_decoded
from tests.spantree import Run

ASYNC_SUITE = """
import pytest
from opentelemetry import trace

tracer = trace.get_tracer("app")

@pytest.fixture
async def resource():
    with tracer.start_as_current_span("open resource"):
        pass
    yield "resource"
    with tracer.start_as_current_span("close resource"):
        pass

{marker}
async def test_async(resource):
    with tracer.start_as_current_span("query"):
        pass
"""

ASYNC_SHAPE = (
    ("setup", (("fixture resource", (("open resource", ()),)),)),
    ("call", (("query", ()),)),
    ("teardown", (("fixture resource teardown", (("close resource", ()),)),)),
)


def _test_root(run: Run) -> tuple[str, tuple[object, ...]]:
    (test,) = [root for root in run.roots if "::" in root.name]
    return test.shape()


@pytest.mark.parametrize(
    ("mode", "marker"),
    [("strict", "@pytest.mark.asyncio"), ("auto", "")],
)
def test_spans_inside_async_fixtures_and_tests_nest_under_them_with_pytest_asyncio(
    pytester: pytest.Pytester, mode: str, marker: str
) -> None:
    fixture_decorator = "@pytest_asyncio.fixture" if mode == "strict" else "@pytest.fixture"
    source = ASYNC_SUITE.format(marker=marker).replace("@pytest.fixture", fixture_decorator)
    pytester.makepyfile(test_async=source if mode == "auto" else "import pytest_asyncio\n" + source)
    result = pytester.runpytest_subprocess("--otel", "-p", "no:anyio", f"--asyncio-mode={mode}")
    result.assert_outcomes(passed=1)
    run = Run.from_store(pytester.path / ".otel-pytest")
    # pytest-asyncio requests its event-loop runner from inside the async fixture: a real
    # fixture, so it shows up, nested where it was set up; its session-scoped fixtures are
    # set up in the session trace, each wait a span where it was requested.
    assert _test_root(run)[1] == (
        (
            "setup",
            (
                ("session fixture event_loop_policy", ()),
                (
                    "fixture resource",
                    (
                        ("session fixture _asyncio_loop_factory", ()),
                        ("fixture _function_scoped_runner", ()),
                        ("open resource", ()),
                    ),
                ),
            ),
        ),
        ASYNC_SHAPE[1],
        (
            "teardown",
            (
                ("fixture resource teardown", (("close resource", ()),)),
                ("fixture _function_scoped_runner teardown", ()),
                ("session fixture _asyncio_loop_factory teardown", ()),
                ("session fixture event_loop_policy teardown", ()),
            ),
        ),
    )


def test_spans_inside_anyio_fixtures_and_tests_nest_under_them(pytester: pytest.Pytester) -> None:
    source = ASYNC_SUITE.format(marker="@pytest.mark.anyio")
    pytester.makepyfile(
        test_async=source.replace(
            "import pytest\n",
            "import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n",
        )
    )
    result = pytester.runpytest_subprocess("--otel", "-p", "no:asyncio")
    result.assert_outcomes(passed=1)
    run = Run.from_store(pytester.path / ".otel-pytest")
    setup, call, teardown = _test_root(run)[1]
    assert setup == ("setup", (("fixture anyio_backend", ()), ("fixture resource", (("open resource", ()),))))
    assert call == ASYNC_SHAPE[1]
    assert teardown == (
        "teardown",
        (
            ("fixture resource teardown", (("close resource", ()),)),
            ("fixture anyio_backend teardown", ()),
        ),
    )


APP_CONFTEST = """
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

APP_SPANS = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(APP_SPANS))
trace.set_tracer_provider(provider)

@pytest.fixture
def app_spans():
    return APP_SPANS
"""

APP_TEST = """
from opentelemetry import trace

def test_app(app_spans):
    with trace.get_tracer("app").start_as_current_span("handle request"):
        pass
    (span,) = app_spans.get_finished_spans()
    assert span.name == "handle request"
    with open("app_parent.txt", "w") as out:
        out.write(format(span.parent.span_id, "016x") if span.parent else "none")
"""


def test_an_app_with_its_own_provider_keeps_its_spans_and_its_own_traces(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP_CONFTEST)
    pytester.makepyfile(test_app=APP_TEST)
    result = pytester.runpytest_subprocess("--otel", "-p", "no:asyncio", "-p", "no:anyio")
    result.assert_outcomes(passed=1)
    run = Run.from_store(pytester.path / ".otel-pytest")
    assert run.named("handle request") == []
    assert (pytester.path / "app_parent.txt").read_text() == "none"


def test_capture_app_records_the_apps_spans_under_the_test_too(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP_CONFTEST)
    pytester.makepyfile(test_app=APP_TEST)
    result = pytester.runpytest_subprocess("--otel", "--otel-capture-app", "-p", "no:asyncio", "-p", "no:anyio")
    result.assert_outcomes(passed=1)
    run = Run.from_store(pytester.path / ".otel-pytest")
    call = run.root("test_app.py::test_app").child("call")
    assert call.shape() == ("call", (("handle request", ()),))
    assert (pytester.path / "app_parent.txt").read_text() == call.span_id


def test_an_app_that_installs_its_provider_during_the_run_still_succeeds(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_late="""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        def test_install():
            mine = TracerProvider()
            trace.set_tracer_provider(mine)
            assert trace.get_tracer_provider() is mine
        """
    )
    result = pytester.runpytest_subprocess("--otel", "-p", "no:asyncio", "-p", "no:anyio")
    result.assert_outcomes(passed=1)
    assert "Overriding of current TracerProvider is not allowed" not in result.stderr.str()


APP_FAILURE = """
import os

from opentelemetry import trace

def test_app_failure():
    with trace.get_tracer("app").start_as_current_span("handle request"):
        raise ValueError("bad token " + os.environ["CI_JOB_TOKEN"] + "\\nsecond line")
"""
APP_TOKEN = "ci-tok-9f8e7d6c5b4a3928"


@pytest.mark.parametrize(
    ("mode", "event"),
    [
        (
            "message",
            {"exception.type": "ValueError", "exception.message": "bad token <redacted>", "exception.escaped": "False"},
        ),
        ("none", {"exception.type": "ValueError", "exception.escaped": "False"}),
        (
            "traceback",
            {
                "exception.type": "ValueError",
                "exception.message": "bad token <redacted>",
                "exception.escaped": "False",
                "exception.stacktrace": "\n".join(
                    [
                        "Traceback (most recent call last):",
                        '  File "test_app.py", line 7, in test_app_failure',
                        "ValueError: bad token <redacted>",
                    ]
                ),
            },
        ),
    ],
)
def test_exceptions_the_sdk_records_on_app_spans_keep_only_what_the_failure_mode_keeps(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mode: str, event: dict[str, str]
) -> None:
    monkeypatch.setenv("CI_JOB_TOKEN", APP_TOKEN)
    pytester.makepyfile(test_app=APP_FAILURE)
    result = pytester.runpytest_subprocess(
        "--otel", f"--otel-record-failures={mode}", "-p", "no:asyncio", "-p", "no:anyio"
    )
    result.assert_outcomes(failed=1)
    written = [path for path in (pytester.path / ".otel-pytest").rglob("*") if path.is_file()]
    assert any(path.name.endswith(".otlp.jsonl.zst") for path in written)
    for path in written:
        assert APP_TOKEN.encode() not in read_decoded(path)
    (span,) = Run.from_store(pytester.path / ".otel-pytest").named("handle request")
    ((name, attributes),) = span.events()
    if "exception.stacktrace" in attributes:  # the SDK's own frames are the SDK's business
        lines = str(attributes["exception.stacktrace"]).splitlines()
        attributes["exception.stacktrace"] = "\n".join(line for line in lines if "/opentelemetry/" not in line)
    assert (name, attributes) == ("exception", event)
    assert span.status_message == ("" if mode == "none" else "ValueError: bad token <redacted>")


def test_sdk_span_times_are_moved_onto_the_plugins_clock_keeping_explicit_offsets() -> None:
    import freezegun
    from opentelemetry.sdk.trace import TracerProvider

    from otel_pytest.provider import RecordingProcessor
    from otel_pytest.recorder import Recorder
    from otel_pytest.records import SpanRecord

    kept: list[SpanRecord] = []

    class Sink:
        def add(self, records: list[SpanRecord]) -> None:
            kept.extend(records)

    recorder = Recorder(Sink(), trace_per_test=True, session_parent=None, session_attributes={})
    provider = TracerProvider()
    provider.add_span_processor(RecordingProcessor(recorder))  # type: ignore[arg-type]
    tracer = provider.get_tracer("app")
    before = time.time_ns()
    with freezegun.freeze_time("1990-01-01"):
        frozen_now = time.time_ns()
        with tracer.start_as_current_span("frozen"):
            pass
        explicit = tracer.start_span("explicit", start_time=frozen_now - 5_000_000)
        explicit.end(end_time=frozen_now - 1_000_000)
    after = time.time_ns()
    frozen, explicit_record = kept
    assert before <= frozen.start <= frozen.end <= after
    # Each explicit time keeps its distance from the moment the SDK took it.
    assert 4_000_000 <= explicit_record.end - explicit_record.start <= 4_000_000 + (after - before)
    assert before - 5_000_000 <= explicit_record.start <= explicit_record.end <= after
