"""The run's process-wide effects: made by one object, undone in reverse, each undo whatever
the others did, leaving the process exactly as it was."""

from __future__ import annotations

import contextvars
import gc
import types

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_pytest.binding import ProcessBinding, UndoFailure, traceparent
from otel_pytest.gc_pauses import GcPauses
from otel_pytest.provider import RunTracerProvider
from otel_pytest.recorder import Recorder
from tests.test_recorder import INFO, Sink

PREVIOUS = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


pytestmark = pytest.mark.usefixtures("fresh_global_provider")


class FakeDb:
    """The database layer's two entry points, noting what the rest of the binding looked
    like when it was closed."""

    def __init__(self, environ: dict[str, str], *, fail_refresh: bool = False, fail_close: bool = False) -> None:
        self.environ = environ
        self.fail_refresh = fail_refresh
        self.fail_close = fail_close
        self.refreshed = 0
        self.closed_with: list[tuple[str | None, object]] = []

    def refresh(self) -> None:
        self.refreshed += 1
        if self.fail_refresh:
            raise RuntimeError("cannot instrument")

    def close(self) -> None:
        self.closed_with.append((self.environ.get("TRACEPARENT"), trace._TRACER_PROVIDER))
        if self.fail_close:
            raise RuntimeError("a listener stayed")


def bound(
    environ: dict[str, str], db: FakeDb | None = None, capture_app: bool = False
) -> tuple[ProcessBinding, Recorder, Sink, RunTracerProvider]:
    sink = Sink()
    recorder = Recorder(sink, trace_per_test=True, session_parent=None, session_attributes={})
    provider = RunTracerProvider(recorder, {"service.name": "binding"})
    binding = ProcessBinding(recorder, provider, capture_app=capture_app, environ=environ, db=db)
    return binding, recorder, sink, provider


def current_span_id() -> int:
    return trace.get_current_span().get_span_context().span_id


def test_traceparent_is_the_w3c_form_of_a_sampled_span() -> None:
    assert traceparent(0xABC, 0x12) == "00-00000000000000000000000000000abc-0000000000000012-01"


def test_api_spans_nest_under_the_recorders_current_span_only_while_installed() -> None:
    binding, recorder, sink, provider = bound({})
    binding.install()
    assert trace._TRACER_PROVIDER is provider
    recorder.test_start(INFO)
    recorder.phase_start("call")
    assert current_span_id() == recorder.current.span_id
    with trace.get_tracer("app").start_as_current_span("query"):
        pass
    recorder.phase_end()
    recorder.test_end(None)
    assert binding.uninstall() == []
    (root,) = sink.named(INFO.nodeid)
    assert sink.shape(root) == (INFO.nodeid, (("call", (("query", ()),)),))
    assert trace._TRACER_PROVIDER is None
    assert trace.get_current_span() is trace.INVALID_SPAN
    provider.shutdown()


def test_a_provider_installed_before_the_run_stays_and_its_spans_keep_their_own_traces() -> None:
    theirs = trace.NoOpTracerProvider()
    trace._TRACER_PROVIDER = theirs
    binding, recorder, _, _ = bound({})
    binding.install()
    recorder.test_start(INFO)
    assert trace._TRACER_PROVIDER is theirs
    assert not trace.get_current_span().get_span_context().is_valid
    recorder.test_end(None)
    binding.uninstall()
    assert trace._TRACER_PROVIDER is theirs


def test_an_app_may_still_install_its_provider_during_the_run_and_it_stays_after() -> None:
    binding, _, _, _ = bound({})
    binding.install()
    theirs = TracerProvider()
    trace.set_tracer_provider(theirs)
    assert trace.get_tracer_provider() is theirs
    binding.uninstall()
    assert trace.get_tracer_provider() is theirs


@pytest.mark.parametrize("before", [{}, {"TRACEPARENT": PREVIOUS, "HOME": "/home/me"}])
def test_traceparent_names_the_running_test_and_comes_back_as_it_was(before: dict[str, str]) -> None:
    environ = dict(before)
    binding, recorder, _, _ = bound(environ)
    binding.install()
    assert environ == before
    recorder.test_start(INFO)
    root = recorder.current
    assert environ == {**before, "TRACEPARENT": traceparent(root.trace_id, root.span_id)}
    recorder.phase_start("call")
    recorder.phase_end()
    assert environ["TRACEPARENT"] == traceparent(root.trace_id, root.span_id)  # per test, not per phase
    recorder.test_end(None)
    assert environ == before
    binding.uninstall()
    assert environ == before


def test_uninstalling_in_the_middle_of_a_test_puts_traceparent_back_and_stops_setting_it() -> None:
    environ = {"TRACEPARENT": PREVIOUS}
    binding, recorder, _, _ = bound(environ)
    binding.install()
    recorder.test_start(INFO)
    assert environ["TRACEPARENT"] != PREVIOUS
    assert binding.uninstall() == []
    assert environ == {"TRACEPARENT": PREVIOUS}
    assert recorder.trace_listener is None
    recorder.test_end(None)
    recorder.test_start(INFO)
    assert environ == {"TRACEPARENT": PREVIOUS}


def test_effects_are_undone_in_reverse_and_every_undo_runs_when_one_fails() -> None:
    environ: dict[str, str] = {}
    db = FakeDb(environ, fail_close=True)
    binding, recorder, _, provider = bound(environ, db)
    binding.install()
    recorder.test_start(INFO)
    root = recorder.current
    failures = binding.uninstall()
    assert [(failure.what, str(failure.error)) for failure in failures] == [
        ("removing the database hooks", "a listener stayed")
    ]
    # The database hooks, made last, were removed first: the other effects were still there.
    assert db.closed_with == [(traceparent(root.trace_id, root.span_id), provider)]
    assert environ == {}
    assert trace._TRACER_PROVIDER is None
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_an_install_that_fails_part_way_undoes_what_it_made_and_raises() -> None:
    environ = {"TRACEPARENT": PREVIOUS}
    db = FakeDb(environ, fail_refresh=True)
    binding, recorder, _, provider = bound(environ, db)
    with pytest.raises(RuntimeError, match="cannot instrument"):
        binding.install()
    assert db.closed_with == [(PREVIOUS, provider)]  # a half-made hook is removed too, first
    assert trace._TRACER_PROVIDER is None
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert recorder.trace_listener is None
    assert environ == {"TRACEPARENT": PREVIOUS}


def test_installing_twice_and_uninstalling_twice_are_harmless() -> None:
    environ: dict[str, str] = {}
    db = FakeDb(environ)
    binding, _, _, _ = bound(environ, db)
    binding.install()
    binding.install()
    assert db.refreshed == 1
    assert binding.uninstall() == []
    assert trace.get_current_span() is trace.INVALID_SPAN  # attached once, detached once
    assert binding.uninstall() == []
    assert len(db.closed_with) == 1
    assert trace._TRACER_PROVIDER is None


def test_a_context_that_cannot_be_restored_is_reported_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    binding, _, _, _ = bound({})

    def run_then_uninstall_elsewhere() -> list[UndoFailure]:
        binding.install()
        # pytest ending the run in another context than the one it started in
        return contextvars.copy_context().run(binding.uninstall)

    # In a copy of this context: the view it leaves attached goes with the copy.
    failures = contextvars.copy_context().run(run_then_uninstall_elsewhere)
    assert [(failure.what, type(failure.error)) for failure in failures] == [
        ("restoring the OpenTelemetry context", ValueError)
    ]
    assert caplog.records == []
    assert trace._TRACER_PROVIDER is None  # the undos before it ran


def test_database_libraries_are_looked_for_at_install_and_before_each_test() -> None:
    environ: dict[str, str] = {}
    db = FakeDb(environ)
    binding, _, _, _ = bound(environ, db)
    binding.install()
    assert db.refreshed == 1
    binding.before_test()
    binding.before_test()
    assert db.refreshed == 3
    binding.uninstall()


def test_capture_app_records_an_app_providers_spans_once_and_only_while_installed() -> None:
    app_spans = InMemorySpanExporter()
    theirs = TracerProvider()
    theirs.add_span_processor(SimpleSpanProcessor(app_spans))
    trace._TRACER_PROVIDER = theirs
    binding, recorder, sink, _ = bound({}, capture_app=True)
    binding.install()
    binding.before_test()
    recorder.test_start(INFO)
    binding.before_test()  # joined once: each span recorded once
    recorder.phase_start("call")
    call_id = recorder.current.span_id
    with trace.get_tracer("app").start_as_current_span("handle request"):
        pass
    recorder.phase_end()
    recorder.test_end(None)
    binding.uninstall()
    with trace.get_tracer("app").start_as_current_span("after the run"):
        pass
    assert [span.name for span in app_spans.get_finished_spans()] == ["handle request", "after the run"]
    assert [
        (record.name, record.parent_id) for record in sink.records if record.name in ("handle request", "after the run")
    ] == [("handle request", call_id)]
    theirs.shutdown()


def test_the_gc_callback_is_appended_at_install_and_only_it_is_removed_at_uninstall() -> None:
    sink = Sink()
    recorder = Recorder(sink, trace_per_test=True, session_parent=None, session_attributes={})
    pauses = GcPauses(recorder)
    binding = ProcessBinding(recorder, RunTracerProvider(recorder, {}), capture_app=False, environ={}, gc_pauses=pauses)
    before = list(gc.callbacks)
    binding.install()
    binding.install()
    assert gc.callbacks == [*before, pauses.callback]
    users = types.MethodType(GcPauses.callback, pauses)  # an equal bound method, the test's own
    gc.callbacks.append(users)
    assert binding.uninstall() == []
    assert binding.uninstall() == []
    try:
        assert gc.callbacks == [*before, users]
        assert gc.callbacks[-1] is users
    finally:
        gc.callbacks.remove(users)
