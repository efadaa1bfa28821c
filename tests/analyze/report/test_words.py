"""A finding's words: its brief (the title without the place it names), and the runs a duration finding names."""

from __future__ import annotations

import json

import pytest

from otel_pytest.analyze.analysis import Analysis
from otel_pytest.analyze.detectors import connections, durations, fixtures, schema
from otel_pytest.analyze.findings import Finding, Flaky, Location, NPlusOne, RunRef
from otel_pytest.analyze.model import History
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.report import html, json_report, markdown, terminal
from otel_pytest.analyze.report.wording import state
from otel_pytest.analyze.report.words import brief, words
from tests.analyze.detectors.runs import slow_shop_run
from tests.analyze.detectors.series_runs import history as series_history
from tests.analyze.detectors.series_runs import name, timings
from tests.analyze.report.samples import written


def test_the_briefs_of_a_slow_suite_s_findings_leave_their_fixture_to_the_place_column() -> None:
    history = History(runs=(slow_shop_run(),))
    found = {
        finding.location.fixture: finding
        for detect in (schema.detect, connections.detect, fixtures.detect)
        for finding in detect(history, AnalysisOptions())
        if finding.location.fixture
    }
    assert words(found["schema"]).title.startswith(
        "Schema rebuilt on every setup of fixture `schema` (function scope): "
    )
    assert brief(found["schema"]).startswith("Schema rebuilt on every setup: 8 DDL statements per setup, ")
    assert brief(found["engine"]).startswith("A new engine on every setup: 28 engines in 28 setups cost ")
    assert brief(found["catalogue"]).startswith("runs 8 times, ")


def _finding(kind: str, location: Location, detail: Flaky | NPlusOne) -> Finding:
    return Finding(kind=kind, severity="low", location=location, measurements=(), detail=detail)


def test_a_leading_kind_label_and_a_trailing_test_are_left_out() -> None:
    flaky = _finding(
        "flaky",
        Location(test="t.py::test_a[x]"),
        Flaky(test="t.py::test_a[x]", nodeid="t.py::test_a[x]", failures=2, runs=6, revision="abc", commits=0),
    )
    assert brief(flaky) == "failed 2 of 6 runs of revision abc"
    repeated = _finding(
        "n+1",
        Location(test="t.py::test_b", fingerprint="SELECT * FROM items WHERE id = $1"),
        NPlusOne(
            statement="SELECT * FROM items WHERE id = $1",
            operation="SELECT",
            longest=24,
            parent="call",
            test="t.py::test_b",
            cases=1,
            tests=3,
            cost=0.03,
            minimum=5,
        ),
    )
    assert brief(repeated) == "`SELECT * FROM items WHERE id = $1` runs 24 times in a row under call"


@pytest.mark.parametrize(
    ("location", "title", "said"),
    [
        (Location(test="t.py::test_a"), "t.py::test_a got 34 % slower (1 s -> 2 s)", "got 34 % slower (1 s -> 2 s)"),
        (Location(test="t.py::test_a"), "t.py::test_a: 8 queries instead of 2", "8 queries instead of 2"),
        (Location(fixture="db"), "fixture db setup got 2 % slower", "setup got 2 % slower"),
        (Location(fixture="db"), "Fixture `db` (function scope, defined in 13 places) runs 8 times", "runs 8 times"),
        (Location(test="t.py::test_a"), "Test `t.py::test_a` spends 60% in GC", "spends 60% in GC"),
        (Location(fingerprint="SELECT 1"), "statement SELECT 1 got 50 % slower", "got 50 % slower"),
        (
            Location(fixture="db"),
            "23 tests commit, then fixture `db` drops the tables",
            "23 tests commit, then fixture `db` drops the tables",
        ),
        (Location(test="t.py::test_a"), "t.py::test_a", "t.py::test_a"),  # nothing left: kept whole
        (Location(), "The suite's setup fell", "The suite's setup fell"),
    ],
)
def test_a_title_keeps_what_it_says_and_loses_only_the_place(location: Location, title: str, said: str) -> None:
    assert brief(written(title, location, kind="regression")) == said


def test_a_duration_finding_names_the_run_it_began_in_and_its_first_slower_run_each_by_its_role() -> None:
    """The analysis of run 46 first reported a step that happened in run 44: "since" is the
    run it began in (run 46, what the gate counts from) in every view, and run 44 is said to
    be the first slower run wherever it is named."""
    matrix = timings(seed=1, cv=0.05)
    matrix[7, 44:] *= 1.2
    (finding,) = durations.detect(series_history(matrix), AnalysisOptions())
    assert (finding.began, finding.evidence["change_point_run"]) == (RunRef("run46", "rev46"), "run44")
    analysis = Analysis(findings=(finding,), runs_analyzed=50, current_run="run49", current_revision="rev49")
    status = "open since run run46 (revision rev46), 4 runs; first slower run run44 (revision rev44)"

    said = words(finding)
    assert said.title == f"{name(7)} got 17 % slower (101\u00a0ms -> 118\u00a0ms)"
    assert said.suggestion.startswith("Look at the change in rev44 (run run44, the first slower run): ")
    assert state(finding) == status
    shown = {
        "terminal": terminal.render(analysis, width=200, details=True),
        "markdown": markdown.render(analysis),
        "html": html.render(analysis),
        "json": json_report.render(analysis),
    }
    assert f"            status    {status}" in [line.rstrip() for line in shown["terminal"].splitlines()]
    assert f"   Status: {status}  \n" in shown["markdown"]
    assert f'<p class="state">O{status[1:]}.</p>' in shown["html"]
    assert ">first slower run run44 (rev44)</text>" in shown["html"]  # the chart's change point
    data = json.loads(shown["json"])["findings"][0]
    assert (data["title"], data["began"], data["evidence"]["change_point_run"]) == (
        said.title,
        {"run": "run46", "revision": "rev46"},
        "run44",
    )
    assert all("since run run44" not in text for text in shown.values())
