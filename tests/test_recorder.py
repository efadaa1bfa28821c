"""The recorder alone, driven the way the plugin drives it, with a list for a sink."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from otel_pytest import recorder as recording
from otel_pytest.failures import FailureText
from otel_pytest.recorder import Recorder, merge_outcome
from otel_pytest.records import KIND_CLIENT, STATUS_ERROR, STATUS_UNSET, AttributeValue, SpanRecord

INFO = recording.TestInfo("test_m.py::test_a", "test_m.py", "test_m.py", "test_m.py", 3, "test_a")


@dataclass
class Report:
    """The part of a ``pytest.TestReport`` the recorder reads."""

    when: str
    outcome: str = "passed"
    longrepr: Any = None
    wasxfail: str | None = None

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"

    @property
    def skipped(self) -> bool:
        return self.outcome == "skipped"


class Sink:
    def __init__(self) -> None:
        self.records: list[SpanRecord] = []

    def add(self, records: list[SpanRecord]) -> None:
        self.records.extend(records)

    def named(self, name: str) -> list[SpanRecord]:
        return [record for record in self.records if record.name == name]

    def shape(self, record: SpanRecord) -> tuple[str, tuple[object, ...]]:
        children = sorted((r for r in self.records if r.parent_id == record.span_id), key=lambda r: r.start)
        return (record.name, tuple(self.shape(child) for child in children))


def recorder(sink: Sink, mode: str = "message") -> Recorder:
    return Recorder(
        sink,
        trace_per_test=True,
        session_parent=None,
        session_attributes={},
        failures=FailureText(mode, {}),
    )


def run_phases(rec: Recorder, *reports: Report, log_after_teardown: bool = False) -> None:
    """One attempt: each phase runs, and its reports are logged after it (as pytest does)
    or after the teardown (as pytest-rerunfailures does)."""
    held: list[Report] = []
    for when in ("setup", "call", "teardown"):
        rec.phase_start(when)
        rec.phase_end()
        mine = [report for report in reports if report.when == when]
        if log_after_teardown:
            held.extend(mine)
        else:
            for report in mine:
                rec.phase_report(report)
    for report in held:
        rec.phase_report(report)


def ends(attributes: Mapping[str, AttributeValue] | None, *keys: str) -> dict[str, AttributeValue]:
    return {key: attributes[key] for key in keys if attributes and key in attributes}


@pytest.mark.parametrize(
    ("reports", "failed_subtests", "expected"),
    [
        ([Report("setup"), Report("call"), Report("teardown")], 0, ("passed", None)),
        ([Report("setup"), Report("call", "failed"), Report("teardown")], 0, ("failed", None)),
        ([Report("setup", "failed"), Report("teardown")], 0, ("error", None)),
        ([Report("setup"), Report("call", "failed"), Report("teardown", "failed")], 0, ("error", None)),
        ([Report("setup"), Report("call", "rerun"), Report("teardown")], 0, ("failed", None)),
        # several reports for one phase: the first that did not pass counts
        ([Report("call"), Report("call", "failed"), Report("call")], 0, ("failed", None)),
        ([Report("setup"), Report("call"), Report("teardown")], 1, ("failed", None)),
        ([Report("call", wasxfail="bug 12")], 1, ("failed", None)),
        ([Report("call", "skipped", wasxfail="bug 12")], 1, ("xfailed", "bug 12")),
        ([Report("setup", "skipped", longrepr=("f.py", 1, "Skipped: no db"))], 0, ("skipped", "no db")),
    ],
)
def test_the_outcome_is_the_worst_of_every_report(
    reports: list[Report], failed_subtests: int, expected: tuple[str, str | None]
) -> None:
    assert merge_outcome(reports, failed_subtests) == expected


def test_reports_logged_after_every_phase_ended_still_decide_the_outcome_and_mark_their_phase() -> None:
    sink = Sink()
    rec = recorder(sink)
    rec.test_start(INFO)
    run_phases(rec, Report("setup"), Report("call", "failed"), Report("teardown"), log_after_teardown=True)
    rec.test_end(None)
    (root,) = sink.named(INFO.nodeid)
    assert ends(root.extra, "pytest.outcome", "test.case.result.status") == {
        "pytest.outcome": "failed",
        "test.case.result.status": "fail",
    }
    assert [(r.name, r.status) for r in sink.records if r.parent_id == root.span_id] == [
        ("setup", STATUS_UNSET),
        ("call", STATUS_ERROR),
        ("teardown", STATUS_UNSET),
    ]


def test_a_rerun_test_is_one_test_span_with_a_span_per_attempt_and_the_final_outcome() -> None:
    sink = Sink()
    rec = recorder(sink)
    rec.test_start(INFO)
    run_phases(rec, Report("setup"), Report("call", "rerun"), Report("teardown"), log_after_teardown=True)
    rec.test_end("test_m.py")
    rec.test_start(INFO)
    run_phases(rec, Report("setup"), Report("call"), Report("teardown"), log_after_teardown=True)
    rec.test_end(None)
    (root,) = sink.named(INFO.nodeid)
    phases = (("setup", ()), ("call", ()), ("teardown", ()))
    assert sink.shape(root) == (INFO.nodeid, (("attempt 1", phases), ("attempt 2", phases)))
    assert ends(root.extra, "pytest.outcome", "pytest.reruns") == {"pytest.outcome": "passed", "pytest.reruns": 1}
    assert root.status == STATUS_UNSET
    first, second = sink.named("attempt 1")[0], sink.named("attempt 2")[0]
    assert (first.extra, first.status) == ({"pytest.rerun.attempt": 1, "pytest.outcome": "rerun"}, STATUS_ERROR)
    assert (second.extra, second.status) == ({"pytest.rerun.attempt": 2, "pytest.outcome": "passed"}, STATUS_UNSET)
    assert first.start == root.start <= first.end <= second.start <= second.end <= root.end
    assert rec.stats.tests == 1
    assert rec.stats.outcomes == {"passed": 1}
    assert len(sink.named("test_m.py")) == 1  # the module ended once, after the last attempt


def test_a_test_whose_announced_rerun_never_came_is_recorded_at_the_session_end() -> None:
    sink = Sink()
    rec = recorder(sink)
    rec.test_start(INFO)
    run_phases(rec, Report("setup"), Report("call", "rerun"), Report("teardown"))
    rec.test_end(None)
    assert sink.named(INFO.nodeid) == []
    rec.session_end(2)
    (root,) = sink.named(INFO.nodeid)
    assert ends(root.extra, "pytest.outcome", "pytest.reruns") == {"pytest.outcome": "failed", "pytest.reruns": 0}
    phases = (("setup", ()), ("call", ()), ("teardown", ()))
    assert sink.shape(root) == (INFO.nodeid, (("attempt 1", phases),))


def test_failing_subtests_fail_the_test_and_are_named_on_it() -> None:
    sink = Sink()
    rec = recorder(sink)
    rec.test_start(INFO)
    rec.phase_start("setup")
    rec.phase_end()
    rec.phase_report(Report("setup"))
    rec.phase_start("call")
    rec.phase_report(Report("call"), "[case] (i=0)")
    rec.phase_report(Report("call", "failed"), "[case] (i=1)")
    rec.phase_exception("call", AssertionError("assert 1 != 1"), "[case] (i=1)")
    rec.phase_end()
    rec.phase_report(Report("call"))
    run_phases(rec)  # no more reports
    rec.test_end(None)
    (root,) = sink.named(INFO.nodeid)
    assert ends(
        root.extra, "pytest.outcome", "pytest.subtests", "pytest.subtests.failed", "pytest.subtests.failed.names"
    ) == {
        "pytest.outcome": "failed",
        "pytest.subtests": 2,
        "pytest.subtests.failed": 1,
        "pytest.subtests.failed.names": ["[case] (i=1)"],
    }
    call = next(r for r in sink.named("call") if r.events)
    assert call.status == STATUS_ERROR
    assert call.status_message == "AssertionError: assert 1 != 1"
    assert [(event.name, event.attributes) for event in call.events or ()] == [
        (
            "exception",
            {
                "exception.type": "AssertionError",
                "exception.message": "assert 1 != 1",
                "pytest.subtest": "[case] (i=1)",
            },
        ),
    ]
    assert call.start <= call.events[0].time <= call.end  # type: ignore[index]


def test_an_exception_handed_over_after_its_phase_ended_is_dated_at_the_phase_end() -> None:
    sink = Sink()
    rec = recorder(sink, "none")
    rec.test_start(INFO)
    rec.phase_start("call")
    rec.phase_end()
    rec.phase_exception("call", ValueError("secret"))
    rec.phase_report(Report("call", "failed"))
    rec.test_end(None)
    (call,) = sink.named("call")
    assert [(event.time, event.attributes) for event in call.events or ()] == [
        (call.end, {"exception.type": "ValueError"}),
    ]
    assert call.status_message == "ValueError"


def test_the_database_summary_takes_a_tests_own_records_by_parent_ids_whatever_their_timestamps() -> None:
    sink = Sink()
    rec = recorder(sink)
    seen: list[list[str]] = []

    def summarize(records: list[SpanRecord]) -> dict[str, AttributeValue]:
        seen.append([record.name for record in records])
        return {}

    rec.summarizers.append(summarize)
    shared = rec.fixture_setup_start(_session_fixture(), None)  # another scope's: not the test's
    rec.test_start(INFO)
    rec.phase_start("teardown")
    rollback = rec.start_span("ROLLBACK", {})
    rec.end_span(rollback)
    # A span stamped by a clock the test moved: it seems to start before its parent did.
    parent = rec.current
    early = SpanRecord("app work", parent.trace_id, 0xABC, parent.span_id, 1, {})
    early.end = 2
    rec.add_finished(early)
    rec.fixture_setup_end(shared, None)
    rollback.start = rollback.end = 0  # and one stamped at the epoch
    rec.phase_end()
    rec.test_end(None)
    # The span for the wait is the phase's child, in the test's own trace: the test's.
    assert seen == [["ROLLBACK", "app work", "session fixture engine", "teardown"]]


def _own_records_seen(rec: Recorder) -> list[list[str]]:
    seen: list[list[str]] = []

    def summarize(records: list[SpanRecord]) -> dict[str, AttributeValue]:
        seen.append([record.name for record in records])
        return {}

    rec.summarizers.append(summarize)
    return seen


def test_the_database_summary_keeps_an_application_span_that_ended_after_its_parent() -> None:
    rec = recorder(Sink())
    seen = _own_records_seen(rec)
    rec.test_start(INFO)
    rec.phase_start("call")
    call = rec.current
    outer = SpanRecord("app outer", call.trace_id, 0x111, call.span_id, 1, {})
    inner = SpanRecord("app inner", call.trace_id, 0x222, outer.span_id, 2, {})
    grandchild = SpanRecord("app query", call.trace_id, 0x333, inner.span_id, 3, {})
    for record in (outer, grandchild, inner):  # the inner spans outlived the outer one
        rec.add_finished(record)
    stray = SpanRecord("elsewhere", call.trace_id, 0x444, 0x999, 4, {})  # its parent is no record of the test
    rec.add_finished(stray)
    rec.phase_end()
    rec.test_end(None)
    assert seen == [["app outer", "app query", "app inner", "call"]]


def test_with_one_trace_per_session_the_summary_leaves_out_another_scopes_fixture() -> None:
    rec = traced(Sink(), trace_per_test=False)
    seen = _own_records_seen(rec)
    rec.test_start(INFO)
    rec.phase_start("setup")
    shared = rec.fixture_setup_start(_session_fixture(), None)
    query = rec.start_span("SELECT t", {})
    rec.end_span(query)
    rec.fixture_setup_end(shared, None)
    rec.phase_end()
    rec.test_end(None)
    assert shared.trace_id == rec.session.trace_id == query.trace_id
    assert seen == [["session fixture engine", "setup"]]


def _session_fixture() -> Any:
    from otel_pytest.recorder import FixtureInfo

    return FixtureInfo("engine", "session", {})


OTHER = recording.TestInfo("test_n.py::test_c", "test_n.py", "test_n.py", "test_n.py", 7, "test_c")
SESSION_ATTRIBUTES = {"test.suite.name": "shop"}


def traced(sink: Sink, *, trace_per_test: bool = True) -> Recorder:
    return Recorder(
        sink,
        trace_per_test=trace_per_test,
        session_parent=None,
        session_attributes=SESSION_ATTRIBUTES,
        failures=FailureText("message", {}),
    )


def fixture(name: str, scope: str = "function") -> recording.FixtureInfo:
    return recording.FixtureInfo(name, scope, {"pytest.fixture.name": name, "pytest.fixture.scope": scope})


def links(record: SpanRecord) -> list[tuple[int, int]]:
    return [(link.trace_id, link.span_id) for link in record.links or ()]


def test_a_test_is_a_trace_of_its_own_holding_its_phases_fixtures_and_database_spans() -> None:
    sink = Sink()
    rec = traced(sink)
    db = fixture("db")
    rec.test_start(INFO)
    rec.phase_start("setup")
    setup = rec.fixture_setup_start(db, "sqlite")
    rec.fixture_setup_end(setup, None)
    rec.phase_end()
    rec.phase_start("call")
    query = rec.start_span("SELECT", {"db.query.text": "SELECT ?"})
    rec.end_span(query)
    rec.phase_end()
    rec.phase_start("teardown")
    rec.fixture_teardown_start(1, db)
    rec.fixture_teardown_end(1)
    rec.phase_end()
    rec.test_end(None)
    (root,) = sink.named(INFO.nodeid)
    assert sink.shape(root) == (
        INFO.nodeid,
        (
            ("setup", (("fixture db", ()),)),
            ("call", (("SELECT", ()),)),
            ("teardown", (("fixture db teardown", ()),)),
        ),
    )
    session = rec.session
    assert (root.parent_id, links(root)) == (0, [(session.trace_id, session.span_id)])
    assert root.trace_id != session.trace_id
    assert {record.trace_id for record in sink.records if record.name != "test_m.py"} == {root.trace_id}
    assert (root.attributes, root.extra) == (
        INFO.attributes(),
        {"pytest.outcome": "passed", "test.case.result.status": "pass"},
    )
    assert setup.attributes is db.attributes
    assert setup.extra == {"pytest.fixture.param": "sqlite"}
    assert query.kind == KIND_CLIENT
    (module,) = sink.named("test_m.py")
    assert (module.trace_id, module.parent_id, module.attributes) == (
        session.trace_id,
        session.span_id,
        {"code.file.path": "test_m.py"},
    )
    assert module.start <= root.start <= root.end <= module.end
    assert (rec.stats.tests, rec.stats.spans, rec.stats.outcomes) == (1, 8, {"passed": 1})


def test_with_one_trace_per_session_a_test_is_a_child_of_its_module() -> None:
    sink = Sink()
    rec = traced(sink, trace_per_test=False)
    rec.test_start(INFO)
    rec.test_end(None)
    (root,) = sink.named(INFO.nodeid)
    (module,) = sink.named("test_m.py")
    assert (root.trace_id, root.parent_id, root.links) == (rec.session.trace_id, module.span_id, None)


def test_a_test_holds_its_records_until_it_ends_and_session_records_go_out_at_once() -> None:
    sink = Sink()
    rec = traced(sink)
    engine = rec.fixture_setup_start(fixture("engine", "session"), None)
    rec.fixture_setup_end(engine, None)
    assert sink.records == [engine]
    rec.test_start(INFO)
    rec.phase_start("call")
    rec.phase_end()
    assert sink.records == [engine]
    rec.test_end("test_m.py")  # the next test is in the same module: it stays open
    assert [record.name for record in sink.records] == ["fixture engine", "call", INFO.nodeid]


def test_each_module_span_ends_when_its_last_test_did() -> None:
    sink = Sink()
    rec = traced(sink)
    rec.test_start(INFO)
    rec.test_end("test_n.py")
    assert [record.name for record in sink.records] == [INFO.nodeid, "test_m.py"]
    rec.test_start(OTHER)
    rec.test_end(None)
    assert [record.name for record in sink.records] == [INFO.nodeid, "test_m.py", OTHER.nodeid, "test_n.py"]
    first, second = sink.named("test_m.py")[0], sink.named("test_n.py")[0]
    assert first.end <= second.start
    assert (first.parent_id, second.parent_id) == (rec.session.span_id, rec.session.span_id)


@pytest.mark.parametrize(
    ("scope", "parent"),
    [("module", "test_m.py"), ("class", "test_m.py"), ("package", "pytest session"), ("session", "pytest session")],
)
def test_a_wider_fixture_a_test_sets_up_hangs_under_its_scope_and_a_child_of_the_phase_links_to_it(
    scope: str, parent: str
) -> None:
    sink = Sink()
    rec = traced(sink)
    rec.test_start(INFO)
    rec.phase_start("setup")
    shared = rec.fixture_setup_start(fixture("engine", scope), None)
    inner = rec.fixture_setup_start(fixture("schema", "module"), None)  # requested by the wider one
    rec.fixture_setup_end(inner, None)
    rec.fixture_setup_end(shared, None)
    own = rec.fixture_setup_start(fixture("db"), None)
    rec.fixture_setup_end(own, None)
    rec.phase_end()
    rec.test_end(None)
    (root,) = sink.named(INFO.nodeid)
    (expected_parent,) = sink.named(parent) if parent != "pytest session" else [rec.session]
    assert (shared.trace_id, shared.parent_id) == (rec.session.trace_id, expected_parent.span_id)
    assert inner.parent_id == shared.span_id
    assert (shared.extra, inner.extra) == ({"pytest.fixture.requested_by": INFO.nodeid},) * 2
    # The outermost wider fixture only: the one the phase waited for.
    waited = f"{scope} fixture engine"
    assert sink.shape(root) == (INFO.nodeid, (("setup", ((waited, ()), ("fixture db", ()))),))
    (setup,) = sink.named("setup")
    (wait,) = sink.named(waited)
    assert links(setup) == []
    assert links(wait) == [(shared.trace_id, shared.span_id)]
    assert (wait.trace_id, wait.parent_id, wait.start, wait.end) == (
        root.trace_id,
        setup.span_id,
        shared.start,
        shared.end,
    )
    assert wait.attributes == {"pytest.shared_fixture.name": "engine", "pytest.shared_fixture.scope": scope}
    assert root.extra is not None
    assert root.extra["pytest.shared_fixtures.duration"] == (shared.end - shared.start) / 1e9


def test_a_session_fixture_torn_down_after_the_last_test_is_under_the_session() -> None:
    sink = Sink()
    rec = traced(sink)
    engine = fixture("engine", "session")
    rec.fixture_setup_end(rec.fixture_setup_start(engine, None), None)
    rec.test_start(INFO)
    rec.test_end(None)
    rec.fixture_teardown_start(7, engine)
    rec.fixture_teardown_end(7)
    (teardown,) = sink.named("fixture engine teardown")
    assert (teardown.parent_id, teardown.attributes) == (rec.session.span_id, engine.attributes)
    rec.fixture_teardown_end(7)  # a finalizer pytest runs twice: nothing more
    assert len(sink.named("fixture engine teardown")) == 1


@pytest.mark.parametrize(
    ("exit_status", "run_status", "status"),
    [
        (0, "success", STATUS_UNSET),
        (5, "success", STATUS_UNSET),
        (1, "failure", STATUS_ERROR),
        (2, "aborted", STATUS_ERROR),
        (3, "failure", STATUS_ERROR),
    ],
)
def test_the_session_span_says_how_the_run_ended_and_closes_what_was_left_open(
    exit_status: int, run_status: str, status: int
) -> None:
    sink = Sink()
    rec = traced(sink)
    rec.test_start(INFO)
    rec.test_end("test_m.py")
    rec.fixture_teardown_start(3, fixture("engine", "session"))  # interrupted in its teardown
    rec.session_end(exit_status)
    assert [record.name for record in sink.records] == [
        INFO.nodeid,
        "test_m.py",
        "fixture engine teardown",
        "pytest session",
    ]
    session = rec.session
    assert (session.attributes, session.extra, session.status) == (
        SESSION_ATTRIBUTES,
        {"test.suite.run.status": run_status, "pytest.exit_status": exit_status, "pytest.tests": 1},
        status,
    )


@pytest.mark.parametrize(
    ("reports", "extra", "status"),
    [
        (
            [Report("setup", "skipped", longrepr=("f.py", 1, "Skipped: no db"))],
            {"pytest.outcome": "skipped", "test.case.result.status": "pass", "pytest.skip.reason": "no db"},
            STATUS_UNSET,
        ),
        (
            [Report("setup"), Report("call", "skipped", wasxfail="bug 12"), Report("teardown")],
            {"pytest.outcome": "xfailed", "test.case.result.status": "pass", "pytest.xfail.reason": "bug 12"},
            STATUS_UNSET,
        ),
        (
            [Report("setup"), Report("call", "failed"), Report("teardown")],
            {"pytest.outcome": "failed", "test.case.result.status": "fail"},
            STATUS_ERROR,
        ),
        (
            [Report("setup", "failed"), Report("teardown")],
            {"pytest.outcome": "error", "test.case.result.status": "fail"},
            STATUS_ERROR,
        ),
    ],
)
def test_the_test_span_carries_its_outcome_and_reason(
    reports: list[Report], extra: dict[str, AttributeValue], status: int
) -> None:
    sink = Sink()
    rec = traced(sink)
    rec.test_start(INFO)
    run_phases(rec, *reports)
    rec.test_end(None)
    (root,) = sink.named(INFO.nodeid)
    assert (root.extra, root.status) == (extra, status)
    assert rec.stats.outcomes == {extra["pytest.outcome"]: 1}


def test_a_crashed_test_is_a_finished_failing_test_span_of_its_own_trace() -> None:
    sink = Sink()
    rec = traced(sink)
    attributes = {"pytest.outcome": "failed", "pytest.xdist.worker": "gw1"}
    started = rec.session.start
    rec.crashed_test(INFO, started, "failed", attributes, "worker 'gw1' crashed\nFatal Python error")
    (root,) = sink.records
    assert (root.name, root.attributes, root.extra) == (INFO.nodeid, INFO.attributes(), attributes)
    assert (root.status, root.status_message) == (STATUS_ERROR, "worker 'gw1' crashed")
    assert (root.parent_id, links(root)) == (0, [(rec.session.trace_id, rec.session.span_id)])
    assert started == root.start <= root.end
    assert (rec.stats.tests, rec.stats.spans, rec.stats.outcomes) == (1, 1, {"failed": 1})


def test_a_failed_database_span_carries_the_callers_message_instead_of_the_errors() -> None:
    sink = Sink()
    rec = traced(sink)
    query = rec.start_span("INSERT", {})
    assert rec.current is query
    rec.end_span(query, ValueError("duplicate key: password=hunter22"), "duplicate key: <value>")
    assert rec.current is rec.session
    assert (query.status, query.status_message) == (STATUS_ERROR, "ValueError: duplicate key: <value>")
    assert [(event.name, event.time, event.attributes) for event in query.events or ()] == [
        ("exception", query.end, {"exception.type": "ValueError", "exception.message": "duplicate key: <value>"})
    ]


def test_only_the_first_internal_failure_is_kept() -> None:
    rec = traced(Sink())
    rec.failed(KeyError("first"))
    rec.failed(ValueError("second"))
    assert rec.stats.internal_error == "KeyError: 'first'"


class Listener:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def test_entered(self, trace_id: int, span_id: int) -> None:
        self.calls.append(("entered", trace_id, span_id))

    def test_left(self) -> None:
        self.calls.append(("left",))


def test_the_trace_listener_hears_each_test_begin_and_end_once_whatever_its_attempts() -> None:
    sink = Sink()
    rec = traced(sink)
    listener = rec.trace_listener = Listener()
    rec.test_start(INFO)
    root = rec.current
    run_phases(rec, Report("setup"), Report("call", "rerun"), Report("teardown"))
    rec.test_end("test_m.py")
    rec.test_start(INFO)  # its second attempt
    run_phases(rec, Report("setup"), Report("call"), Report("teardown"))
    rec.test_end(None)
    assert listener.calls == [("entered", root.trace_id, root.span_id), ("left",)]
