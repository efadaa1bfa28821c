"""A finding's words: here, its brief, the title without the place it names."""

from __future__ import annotations

import pytest

from otel_pytest.analyze.detectors import connections, fixtures, schema
from otel_pytest.analyze.findings import Finding, Flaky, Location, NPlusOne
from otel_pytest.analyze.model import History
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.report.words import brief, words
from tests.analyze.detectors.runs import slow_shop_run
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
