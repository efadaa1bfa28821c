"""What every pattern finding rests on: since when it holds (the one dating of findings that
judge the newest run), and ids that tell findings apart."""

from __future__ import annotations

import dataclasses

from otel_pytest.analyze.detectors import cleanup, connections, schema
from otel_pytest.analyze.detectors.evidence import Detect, dated, lookback
from otel_pytest.analyze.findings import Finding, Location, RunRef, Written
from otel_pytest.analyze.model import History, RunSummary
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import history, run, sample, slow_shop_run

OPTIONS = AnalysisOptions()


def fast_run(run_id: str) -> RunSummary:
    """The shop suite after the fix: one pooled checkout per test, nothing else to report."""
    tests = [sample(f"tests/test_a.py::test_{n}", call=0.01, db={"checkouts": 1, "queries": 2}) for n in range(28)]
    return run(run_id, tests, revision=f"rev-{run_id}")


def test_a_pattern_began_in_the_oldest_run_of_its_unbroken_streak_of_newest_runs() -> None:
    slow = [slow_shop_run(run_id, revision=f"rev-{run_id}") for run_id in ("r2", "r3", "r4")]
    data = history(slow_shop_run("r0", revision="rev-r0"), fast_run("r1"), *slow)

    [engine] = connections.detect(data, OPTIONS)
    [rebuild] = schema.detect(data, OPTIONS)

    assert (engine.began, engine.age, engine.status) == (RunRef("r2", "rev-r2"), 3, "open")
    assert (rebuild.began, rebuild.age) == (RunRef("r2", "rev-r2"), 3)


def test_a_pattern_in_the_newest_run_only_is_one_run_old() -> None:
    data = history(fast_run("r0"), slow_shop_run("r1", revision="rev-r1"))

    assert [(finding.began, finding.age) for finding in cleanup.detect(data, OPTIONS)] == [(RunRef("r1", "rev-r1"), 1)]


def test_findings_of_one_kind_at_the_same_place_have_different_ids() -> None:
    # Churn and pool waits, both for the whole suite (no location).
    tests = [
        sample(
            f"tests/test_a.py::test_{n}",
            db={"connections": 2, "connection_time": 0.02, "checkouts": 2, "pool_wait_time": 0.0},
        )
        for n in range(4)
    ] + [
        sample(f"tests/test_b.py::test_{n}", db={"checkouts": 2, "pool_wait_time": 0.01, "queries": 1})
        for n in range(3)
    ]

    findings = connections.detect(History(runs=(run("r1", tests, wall_time=1.0),)), OPTIONS)

    assert [finding.key for finding in findings] == ["churn", "pool waits"]
    assert len({finding.id for finding in findings}) == 2
    assert dataclasses.replace(findings[0], key="pool waits").id == findings[1].id


def test_a_pattern_older_than_the_runs_looked_at_is_at_least_one_more_than_them_old() -> None:
    # current_runs + baseline_runs = 25 runs before the newest are looked at: 27 slow runs hold longer.
    data = history(*(slow_shop_run(f"r{n:02d}") for n in range(27)))
    just = history(fast_run("r00"), fast_run("r01"), *(slow_shop_run(f"r{n:02d}") for n in range(2, 27)))

    [engine] = connections.detect(data, OPTIONS)
    [recent] = connections.detect(just, OPTIONS)

    assert (engine.began, engine.age) == (None, 26)  # a lower bound: held in all 26 runs judged
    assert (recent.began, recent.age) == (RunRef("r02", "0123456789abcdef"), 25)


def seen_in(*run_ids: str, calls: list[str] | None = None) -> Detect:
    """A one-run detector that finds an N+1 when the history ends at one of ``run_ids``."""

    def find(data: History, options: AnalysisOptions) -> list[Finding]:
        assert data.current is not None
        if calls is not None:
            calls.append(data.current.run_id)
        if data.current.run_id not in run_ids:
            return []
        return [Finding("n+1", "low", Location(test="t.py::test_a"), (), Written("t", "c", "s"))]

    return find


ABC = history(run("a", []), run("b", []), run("c", [], revision="abc123"))


def test_a_finding_new_in_the_newest_run_is_one_run_old_after_one_earlier_judgement() -> None:
    calls: list[str] = []
    [found] = dated(ABC, OPTIONS, seen_in("c", calls=calls))

    assert (found.began, found.age) == (RunRef("c", "abc123"), 1)
    assert calls == ["c", "b"]


def test_a_finding_began_in_the_first_run_of_its_unbroken_streak() -> None:
    calls: list[str] = []
    [found] = dated(ABC, OPTIONS, seen_in("a", "c", "b", calls=calls))
    [broken] = dated(ABC, OPTIONS, seen_in("a", "c"))

    assert (found.began, found.age) == (RunRef("a"), 3)  # the history's first run
    assert calls == ["c", "b", "a"]
    assert (broken.began, broken.age) == (RunRef("c", "abc123"), 1)


def test_the_runs_looked_back_at_are_what_a_regression_is_judged_on_or_what_the_gate_asks_if_more() -> None:
    data = history(*(run(f"r{n}", []) for n in range(6)))
    everywhere = seen_in(*(f"r{n}" for n in range(6)))
    short = AnalysisOptions(current_runs=2, baseline_runs=1)
    calls: list[str] = []

    [lower_bound] = dated(data, short, seen_in(*(f"r{n}" for n in range(6)), calls=calls))
    [gate_asks] = dated(data, dataclasses.replace(short, gate_runs=5), everywhere)

    assert (lookback(short), lookback(dataclasses.replace(short, gate_runs=5))) == (3, 5)
    assert calls == ["r5", "r4", "r3", "r2"]  # the newest and 3 before it
    assert (lower_bound.began, lower_bound.age) == (None, 4)  # held in all of them: at least 4 runs
    assert (gate_asks.began, gate_asks.age) == (RunRef("r0"), 6)
