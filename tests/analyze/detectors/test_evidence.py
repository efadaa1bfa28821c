"""What every pattern finding rests on: since when it holds, and ids that tell findings apart."""

from __future__ import annotations

import dataclasses

from otel_pytest.analyze.detectors import cleanup, connections, schema
from otel_pytest.analyze.findings import RunRef
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


def test_a_pattern_older_than_the_runs_looked_at_has_no_known_beginning() -> None:
    # current_runs + baseline_runs = 25 runs before the newest are looked at: 27 slow runs hold longer.
    data = history(*(slow_shop_run(f"r{n:02d}") for n in range(27)))
    just = history(fast_run("r00"), fast_run("r01"), *(slow_shop_run(f"r{n:02d}") for n in range(2, 27)))

    [engine] = connections.detect(data, OPTIONS)
    [recent] = connections.detect(just, OPTIONS)

    assert (engine.began, engine.age) == (None, None)
    assert (recent.began, recent.age) == (RunRef("r02", "0123456789abcdef"), 25)
