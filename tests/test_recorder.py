"""The recorder alone, driven the way the plugin drives it, with a list for a sink."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from otel_pytest import recorder as recording
from otel_pytest.failures import FailureText
from otel_pytest.recorder import Recorder, merge_outcome
from otel_pytest.records import STATUS_ERROR, STATUS_UNSET, AttributeValue, SpanRecord

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
    assert seen == [["ROLLBACK", "app work", "teardown"]]


def _session_fixture() -> Any:
    from otel_pytest.recorder import FixtureInfo

    return FixtureInfo("engine", "session", {})
