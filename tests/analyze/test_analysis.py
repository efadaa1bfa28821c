"""Running the detectors over a history: order of findings, notes, the CI gate."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from otel_pytest.analyze.analysis import (
    Analysis,
    Waterfall,
    analyze,
    default_detectors,
    gate,
    gating_findings,
    held_back,
    sort_key,
)
from otel_pytest.analyze.detectors import Detector
from otel_pytest.analyze.detectors.evidence import dated
from otel_pytest.analyze.findings import KINDS, Finding, Location, Written
from otel_pytest.analyze.model import History, RunSummary
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import fixture, sample, slow_shop_run, statement
from tests.analyze.detectors.runs import run as shop_run


def finding(
    kind: str = "regression",
    severity: str = "medium",
    saving: float = 0.0,
    title: str = "t",
    *,
    provisional: bool = False,
    test: str = "tests/test_a.py::test_a",
    age: int | None = 1,
    status: str = "open",
) -> Finding:
    return Finding(
        kind=kind,
        severity=severity,
        location=Location(test=test),
        measurements=(),
        detail=Written(title=title, confidence="exact", suggestion="fix it"),
        saving=saving,
        provisional=provisional,
        age=age,
        status=status,
    )


def run(run_id: str, revision: str | None = None, problems: tuple[str, ...] = ()) -> RunSummary:
    return RunSummary(
        run_id=run_id,
        start_time=0.0,
        source=f"{run_id}.otlp.jsonl",
        environment="env",
        revision=revision,
        problems=problems,
    )


HISTORY = History(runs=(run("a"), run("b"), run("c", revision="abc123")), notes=("skipped x", "skipped x", "left y"))


def returning(*findings: Finding) -> Detector:
    def detect(history: History, options: AnalysisOptions) -> list[Finding]:
        return list(findings)

    return detect


def test_findings_are_sorted_by_severity_then_by_saving_then_by_kind_and_place() -> None:
    low = finding("fixture", severity="low", saving=100.0)
    high_small = finding("fixture", severity="high", saving=1.0)
    high_big = finding("fixture", severity="high", saving=5.0)
    medium_b = finding("schema", severity="medium", saving=2.0)
    medium_a = finding("cleanup", severity="medium", saving=2.0)
    medium_a_earlier_test = finding("cleanup", severity="medium", saving=2.0, test="tests/test_0.py::test_0")

    result = analyze(
        HISTORY, detectors=[returning(low, medium_b, high_small), returning(medium_a, high_big, medium_a_earlier_test)]
    )

    assert list(result.findings) == [high_big, high_small, medium_a_earlier_test, medium_a, medium_b, low]
    assert sorted(result.findings, key=sort_key) == list(result.findings)


def test_open_regressions_lead_then_improvements_then_the_rest_whatever_their_severity() -> None:
    pattern = finding("schema", severity="high", saving=5.0)
    improvement = finding("improvement", severity="low")
    regression = finding("regression", severity="low", saving=0.01)
    fixed = dataclasses.replace(finding("regression", severity="low"), status="closed")
    count = finding("count", severity="medium")

    result = analyze(HISTORY, detectors=[returning(pattern, fixed, improvement, regression, count)])

    assert list(result.findings) == [count, regression, improvement, pattern, fixed]
    # After a fix (nothing regressed) the report leads with what it saved.
    assert list(analyze(HISTORY, detectors=[returning(pattern, improvement)]).findings) == [improvement, pattern]


def test_every_detector_gets_the_history_and_the_options() -> None:
    seen: list[tuple[History, AnalysisOptions]] = []

    def spy(history: History, options: AnalysisOptions) -> list[Finding]:
        seen.append((history, options))
        return []

    options = AnalysisOptions(current_runs=3, baseline_runs=7)
    analyze(HISTORY, options, detectors=[spy, spy])
    assert seen == [(HISTORY, options), (HISTORY, options)]


def test_default_options_are_used_when_none_are_given() -> None:
    seen: list[AnalysisOptions] = []

    def spy(history: History, options: AnalysisOptions) -> list[Finding]:
        seen.append(options)
        return []

    analyze(HISTORY, detectors=[spy])
    assert seen == [AnalysisOptions()]


def test_the_analysis_names_the_current_run_its_revision_and_the_history_notes_once_each() -> None:
    waterfall = Waterfall("t", "c", 1.0, ())
    result = analyze(HISTORY, detectors=[], waterfall=waterfall)
    assert result == Analysis(
        findings=(),
        runs_analyzed=3,
        current_run="c",
        notes=("skipped x", "left y"),
        current_revision="abc123",
        waterfall=waterfall,
    )


def test_an_empty_history_gives_an_empty_analysis() -> None:
    result = analyze(History(runs=(), notes=("no runs found",)), detectors=[returning()])
    assert (result.current_run, result.current_revision, result.runs_analyzed, result.notes) == (
        None,
        None,
        0,
        ("no runs found",),
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (finding(kind="slow"), "returned a finding of unknown kind 'slow'"),
        (finding(severity="critical"), "returned a finding of unknown severity 'critical'"),
    ],
)
def test_a_detector_returning_an_unknown_kind_or_severity_is_named(bad: Finding, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        analyze(HISTORY, detectors=[returning(bad)])
    assert __name__ in str(raised.value)


def test_the_gate_fails_only_on_findings_of_the_chosen_kinds() -> None:
    result = analyze(HISTORY, detectors=[returning(finding("n+1"), finding("schema"), finding("schema"))])
    assert not gate(result, set())
    assert not gate(result, {"regression", "flaky"})
    assert gate(result, {"regression", "n+1"})
    assert [f.kind for f in gating_findings(result, {"schema", "count"})] == ["schema", "schema"]
    assert len(gating_findings(result, set(KINDS))) == 3


def test_provisional_findings_never_fail_the_gate() -> None:
    result = analyze(HISTORY, detectors=[returning(finding("regression", provisional=True))])
    assert not gate(result, {"regression"})
    mixed = analyze(HISTORY, detectors=[returning(finding("regression", provisional=True), finding("regression"))])
    assert [f.provisional for f in gating_findings(mixed, {"regression"})] == [False]


def test_each_detector_runs_once_and_its_findings_keep_the_age_it_gave_them() -> None:
    """Dating is the detectors' (their state, or ``detectors.evidence.dated``): the analysis
    judges no history twice, and a finding without an age gates (below)."""
    calls: list[str] = []

    def detect(history: History, options: AnalysisOptions) -> list[Finding]:
        assert history.current is not None
        calls.append(history.current.run_id)
        return [finding("count", age=4), finding("n+1", age=None)]

    result = analyze(HISTORY, detectors=[detect])

    assert calls == ["c"]
    assert [(f.kind, f.age) for f in result.findings] == [("count", 4), ("n+1", None)]
    assert [f.kind for f in gating_findings(result, {"count", "n+1"}, gate_runs=3)] == ["n+1"]
    assert [f.kind for f in gating_findings(result, {"count", "n+1"}, gate_runs=4)] == ["count", "n+1"]


def test_a_finding_newer_than_gate_runs_gates_and_an_older_one_is_held_back() -> None:
    new, old = finding("n+1", age=2), finding("count", age=3)
    result = Analysis(findings=(new, old), runs_analyzed=3, current_run="c")

    assert gating_findings(result, {"n+1", "count"}, gate_runs=2) == [new]
    assert held_back(result, {"n+1", "count"}, gate_runs=2) == [old]
    assert held_back(result, {"n+1", "count"}, gate_runs=1) == [new, old]


def test_a_finding_held_over_the_whole_lookback_is_older_than_the_gate_looks() -> None:
    """``began`` unknown and ``age`` one more than the runs looked back at: a lower bound
    (``detectors.evidence.dated``), beyond any ``gate_runs`` it looked back for."""
    options = AnalysisOptions(current_runs=1, baseline_runs=1, gate_runs=2)
    always = dataclasses.replace(finding("n+1", age=None), began=None)
    longer = History((*HISTORY.runs, run("d")))
    result = analyze(longer, options, detectors=[lambda h, o: dated(h, o, lambda *_: [always])])

    [found] = result.findings
    assert (found.began, found.age) == (None, 3)
    assert not gate(result, {"n+1"}, gate_runs=2)
    assert held_back(result, {"n+1"}, gate_runs=2) == [found]


def test_closed_findings_never_fail_the_gate() -> None:
    result = analyze(HISTORY, detectors=[returning(finding("count", status="closed"))])
    assert not gate(result, {"count"})
    assert held_back(result, {"count"}) == []


def test_a_finding_of_unknown_age_gates() -> None:
    result = Analysis(findings=(finding("regression", age=None),), runs_analyzed=3, current_run="c")
    assert gate(result, {"regression"})


def test_improvements_never_fail_the_gate_even_when_named() -> None:
    result = analyze(HISTORY, detectors=[returning(finding("improvement", severity="high"))])

    assert not gate(result, set(KINDS))
    assert not gate(result, {"improvement"})


def test_the_gate_refuses_unknown_kinds() -> None:
    result = analyze(HISTORY, detectors=[])
    with pytest.raises(ValueError, match=r"unknown finding kinds \['n\+2'\]"):
        gate(result, {"n+2"})


def test_the_default_detectors_are_the_nine_detector_modules() -> None:
    modules = [detector.__module__ for detector in default_detectors()]
    names = ("durations", "counts", "connections", "schema", "cleanup", "n_plus_one", "fixtures", "gc", "flaky")
    assert modules == [f"otel_pytest.analyze.detectors.{name}" for name in names]


def modules_loaded_by(statement: str) -> list[str]:
    """The heavy modules a fresh interpreter has loaded after ``statement`` (what must never be
    loaded is checked on the real command: tests/test_cli.py)."""
    code = (
        f"import sys\n{statement}\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('numpy', 'scipy', 'rich')\n"
        "             or name.startswith('otel_pytest.analyze.detectors.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = done.stdout.strip()
    return [] if loaded == "[]" else loaded.strip("[]").replace("'", "").split(", ")


def test_the_analysis_and_the_renderers_import_no_detector_and_nothing_heavy() -> None:
    assert (
        modules_loaded_by(
            "import otel_pytest.analyze.analysis, otel_pytest.analyze.waterfall\n"
            "from otel_pytest.analyze.report import json_report, markdown, html, terminal, wording, words"
        )
        == []
    )


def test_the_command_line_loads_without_numpy_scipy_rich_or_the_detectors() -> None:
    """``otel-pytest runs`` and ``--help`` must not pay for the analyzer's imports."""
    assert modules_loaded_by("import otel_pytest.cli") == []


def test_two_findings_on_one_fixture_never_save_more_than_the_fixture_costs() -> None:
    # One fixture makes an engine and rebuilds the schema on every setup: the connection
    # finding saves its connection set-up, the schema finding the rest; together, no more
    # than the 1.0 s it costs (all but one setup of it).
    both = fixture(
        "db",
        setups=10,
        setup_time=0.8,
        teardown_time=0.2,
        db={"engines_created": 10, "connections": 10, "connection_time": 0.3, "ddl": 40, "ddl_time": 0.4},
        statements={"c1": 20, "d1": 20},
    )
    ddl = [
        statement("c1", "CREATE TABLE t (id INTEGER)", count=20, total_time=0.2, tests=10),
        statement("d1", "DROP TABLE t", count=20, total_time=0.2, tests=10),
    ]
    tests = [
        sample(f"tests/test_a.py::test_{n}", setup=0.1, db={"engines_created": 1, "connections": 1}) for n in range(10)
    ]

    analysis = analyze(History((shop_run("r1", tests, fixtures=[both], statements=ddl, wall_time=2.0),)))

    assert sorted((f.kind, round(f.saving, 6)) for f in analysis.findings if f.saving > 0) == [
        ("connection", 0.27),
        ("schema", 0.63),
    ]
    assert analysis.total_saving == pytest.approx(0.9)


def test_the_slow_shop_suites_savings_are_less_than_its_fixtures_cost() -> None:
    analysis = analyze(History((slow_shop_run(),)))
    fixtures = sum(item.total_time for item in slow_shop_run().fixtures.values())

    assert sum(f.saving for f in analysis.findings) == pytest.approx(analysis.total_saving)  # no claim shared here
    assert analysis.total_saving < fixtures


def test_churn_in_a_fixture_and_its_slow_fixture_finding_claim_its_connects_once() -> None:
    # `client` connects on every setup: the churn finding saves its connects, the slow
    # fixture finding all but one setup of it; fixing both saves what the second does.
    client = fixture("client", setups=10, setup_time=0.5, db={"connections": 10, "connection_time": 0.2})
    tests = [
        sample(f"tests/test_a.py::test_{n}", setup=0.06, db={"connections": 1, "connection_time": 0.02, "queries": 1})
        for n in range(10)
    ]

    analysis = analyze(History((shop_run("r1", tests, fixtures=[client], wall_time=2.0),)))

    savings = sorted((f.kind, round(f.saving, 6)) for f in analysis.findings if f.saving > 0)
    assert savings == [("connection", 0.18), ("fixture", 0.45)]
    assert analysis.total_saving == pytest.approx(0.45)
