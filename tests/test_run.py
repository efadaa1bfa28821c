"""One traced process, without pytest around it: what it writes when, what it sums, what it
undoes, and what a failing step costs (a warning, never the other steps)."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry import trace

from otel_pytest import recorder as recording
from otel_pytest.binding import traceparent
from otel_pytest.db import DbInstrumentation
from otel_pytest.options import Options
from otel_pytest.run import RunTally, TracedRun
from otel_pytest.store.index import RunIndex
from otel_pytest.store.reader import read_spans
from tests.test_recorder import INFO, Report

pytestmark = pytest.mark.usefixtures("fresh_global_provider")

CRASHED = recording.TestInfo("test_m.py::test_b", "test_m.py", "test_m.py", "test_m.py", 9, "test_b")
ENV = {"HOME": "/home/me", "OTEL_SERVICE_NAME": "shop"}


def options(store: Path, *, db: bool = False) -> Options:
    return Options(
        trace_per="test",
        store=store,
        keep_runs=10,
        endpoint=None,
        export_timeout=1.0,
        traceparent=None,
        capture_app=False,
        db=db,
        gc=False,  # pauses come when they come: tests/test_gc_pauses.py times them
    )


def start(tmp_path: Path, env: dict[str, str], *, db: bool = False) -> TracedRun:
    return TracedRun(options(tmp_path / ".otel-pytest", db=db), tmp_path, env)


def run_test(run: TracedRun, *, flush: bool = True) -> None:
    """One passing test, driven as the plugin drives it."""
    run.before_test()
    recorder = run.recorder
    recorder.test_start(INFO)
    for when in ("setup", "call", "teardown"):
        recorder.phase_start(when)
        recorder.phase_end()
        recorder.phase_report(Report(when))
    recorder.test_end(None)
    if flush:
        run.after_test()


def stored_names(path: Path) -> list[str]:
    return [span.name for _resource, span in read_spans(path)]


def test_each_test_is_in_the_store_once_it_ended_and_the_session_once_the_run_finished(tmp_path: Path) -> None:
    run = start(tmp_path, dict(ENV))
    run_test(run)
    test_spans = ["setup", "call", "teardown", INFO.nodeid, "test_m.py"]
    assert stored_names(run.run_file) == test_spans
    summary = run.finish(0)
    assert summary == RunTally(run.run_id, run.run_file, tests=1, spans=6, outcomes={"passed": 1})
    assert stored_names(run.run_file) == [*test_spans, "pytest session"]
    ((resource, session),) = [read for read in read_spans(run.run_file) if read[1].name == "pytest session"]
    assert (resource["service.name"], session.attributes["test.suite.run.status"]) == ("shop", "success")
    entries, problems = RunIndex(tmp_path / ".otel-pytest").entries()
    assert problems == []
    assert [(e.run_id, e.file, e.tests, e.spans, e.exit_status, e.outcomes) for e in entries] == [
        (run.run_id, run.run_file.name, 1, 6, 0, {"passed": 1})
    ]


def test_records_not_flushed_after_their_test_are_written_by_finish(tmp_path: Path) -> None:
    run = start(tmp_path, {})
    run_test(run, flush=False)
    assert stored_names(run.run_file) == []
    assert run.finish(1).spans == 6
    assert stored_names(run.run_file) == ["setup", "call", "teardown", INFO.nodeid, "test_m.py", "pytest session"]


def test_the_run_binds_the_process_while_it_runs_and_leaves_it_as_it_found_it(tmp_path: Path) -> None:
    env = dict(ENV)
    run = start(tmp_path, env)
    assert trace._TRACER_PROVIDER is run.provider
    run.recorder.test_start(INFO)
    root = run.recorder.current
    assert env == {**ENV, "TRACEPARENT": traceparent(root.trace_id, root.span_id)}
    assert trace.get_current_span().get_span_context().span_id == root.span_id
    # Interrupted in the middle of the test: the run still ends and undoes everything.
    assert run.finish(2).problems == []
    assert env == ENV
    assert trace._TRACER_PROVIDER is None
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_a_failing_finishing_step_is_a_warning_and_the_steps_after_it_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = start(tmp_path, {})
    run_test(run)

    def stuck() -> None:
        raise RuntimeError("stuck")

    monkeypatch.setattr(run.provider, "shutdown", stuck)
    summary = run.finish(0)
    assert summary.problems == ["otel-pytest failed while shutting the tracer provider down (RuntimeError: stuck)"]
    assert (summary.tests, summary.spans, summary.store_file) == (1, 6, run.run_file)
    assert stored_names(run.run_file)[-1] == "pytest session"
    assert [entry.run_id for entry in RunIndex(tmp_path / ".otel-pytest").entries()[0]] == [run.run_id]


def test_an_effect_that_cannot_be_undone_is_a_warning_and_the_others_are_still_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    close = DbInstrumentation.close

    def close_then_fail(self: DbInstrumentation) -> None:
        close(self)  # the hooks go (other tests must not inherit them), then the failure
        raise RuntimeError("a listener stayed")

    monkeypatch.setattr(DbInstrumentation, "close", close_then_fail)
    env = {"TRACEPARENT": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    before = dict(env)
    run = start(tmp_path, env, db=True)
    run.recorder.test_start(INFO)
    summary = run.finish(2)
    assert summary.problems == [
        "otel-pytest failed while removing the database hooks (RuntimeError: a listener stayed)"
    ]
    assert env == before
    assert trace._TRACER_PROVIDER is None
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert summary.store_file == run.run_file


def test_a_run_whose_store_cannot_be_written_says_so_once_and_keeps_no_store_file(tmp_path: Path) -> None:
    (tmp_path / ".otel-pytest").write_text("a file where the store should be")
    run = start(tmp_path, {})
    run_test(run)
    summary = run.finish(0)
    assert summary.store_file is None
    assert (summary.tests, summary.spans) == (1, 6)
    (problem,) = summary.problems
    assert problem.startswith(f"cannot write the trace store at {tmp_path / '.otel-pytest' / 'runs'} (")


def test_a_worker_joins_the_controllers_run_and_the_controller_sums_what_it_sent(tmp_path: Path) -> None:
    controller = start(tmp_path, {})
    worker = TracedRun(
        options(tmp_path / ".otel-pytest"), tmp_path, {}, {**controller.worker_input(), "workerid": "gw0"}
    )
    session = controller.recorder.session
    assert (worker.run_id, worker.run_file) == (controller.run_id, controller.run_file)
    assert (worker.recorder.session.trace_id, worker.recorder.session.parent_id) == (session.trace_id, session.span_id)
    assert worker.recorder.session.attributes["pytest.xdist.worker"] == "gw0"
    run_test(worker)
    output = worker.worker_output(worker.finish(0))
    assert output == {
        "otel_tests": 1,
        "otel_spans": 6,
        "otel_outcomes": {"passed": 1},
        "otel_problems": [],
        "otel_delivery": None,
    }
    controller.add_worker_output(output)
    summary = controller.finish(0)
    assert (summary.tests, summary.spans, summary.outcomes, summary.problems) == (1, 7, {"passed": 1}, [])
    assert sorted(stored_names(controller.run_file)) == sorted(
        ["setup", "call", "teardown", INFO.nodeid, "test_m.py", "pytest session", "pytest session"]
    )
    assert list(tmp_path.joinpath(".otel-pytest", "runs").glob("*.part")) == []


def test_a_crashed_workers_finished_tests_are_counted_and_its_last_test_recorded_as_pytest_reported_it(
    tmp_path: Path,
) -> None:
    controller = start(tmp_path, {})
    worker = TracedRun(
        options(tmp_path / ".otel-pytest"), tmp_path, {}, {**controller.worker_input(), "workerid": "gw0"}
    )
    run_test(worker)
    # The worker dies in its next test: it never finishes, and its process goes with what it bound.
    worker.binding.uninstall()
    worker.sink.release()
    started = controller.recorder.session.start
    controller.worker_crashed("gw0", "Not properly terminated")
    controller.record_crash(CRASHED, "failed", "worker 'gw0' crashed while running 'test_m.py::test_b'", "gw0", started)
    summary = controller.finish(1)
    # The test the worker finished is counted from its part, the crashed one as pytest reported it.
    assert (summary.tests, summary.spans, summary.outcomes) == (2, 7, {"passed": 1, "failed": 1})
    assert summary.problems == [
        "xdist worker gw0 crashed (Not properly terminated) while running test_m.py::test_b (failed), "
        "recorded as pytest reported it; the tests it finished are in the store"
    ]
    (crashed,) = [span for _resource, span in read_spans(controller.run_file) if span.name == CRASHED.nodeid]
    assert {
        key: crashed.attributes[key] for key in ("pytest.outcome", "test.case.result.status", "pytest.xdist.worker")
    } == {
        "pytest.outcome": "failed",
        "test.case.result.status": "fail",
        "pytest.xdist.worker": "gw0",
    }
    assert crashed.detail is not None
    assert crashed.detail.status_message == "worker 'gw0' crashed while running 'test_m.py::test_b'"
    assert crashed.start == started
