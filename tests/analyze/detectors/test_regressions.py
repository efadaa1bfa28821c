"""Duration and count regressions on constructed histories with known truth (seeded numpy)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from otel_pytest.analyze.detectors import regressions
from otel_pytest.analyze.detectors.regressions import detect, detect_counts, detect_durations, find_regressions
from otel_pytest.analyze.findings import Finding
from otel_pytest.analyze.model import FixtureStats, History, RunSummary, StatementStats
from otel_pytest.analyze.model import TestSample as Sample
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.stats import shift_scan

OPTIONS = AnalysisOptions()


def noise(seed: int, shape: tuple[int, ...], cv: float) -> np.ndarray:
    """Log-normal noise with mean 1 and the given coefficient of variation."""
    rng = np.random.default_rng(seed)
    sigma = math.sqrt(math.log(1 + cv * cv))
    return np.exp(rng.normal(-sigma * sigma / 2, sigma, shape))


def durations(seed: int, tests: int = 40, runs: int = 50, cv: float = 0.10, level: float = 0.1) -> np.ndarray:
    """``tests`` x ``runs`` test durations around ``level`` seconds."""
    return level * noise(seed, (tests, runs), cv)


def name(index: int) -> str:
    return f"tests/test_shop.py::test_{index:03d}"


def run_summary(
    run: int,
    values: Sequence[float] | np.ndarray,
    *,
    db: Mapping[int, Mapping[str, float]] | None = None,
    statements: Mapping[int, frozenset[str]] | None = None,
    fixtures: Mapping[str, FixtureStats] | None = None,
    stats: Mapping[str, StatementStats] | None = None,
    outcomes: Mapping[int, str] | None = None,
) -> RunSummary:
    tests = {}
    for index, value in enumerate(values):
        if math.isnan(value):
            continue
        tests[name(index)] = Sample(
            test_id=name(index),
            nodeid=name(index),
            file="tests/test_shop.py",
            line=10 + index,
            outcome=(outcomes or {}).get(index, "passed"),
            duration=float(value),
            setup=0.0,
            call=float(value),
            teardown=0.0,
            db=(db or {}).get(index, {}),
            statements=(statements or {}).get(index, frozenset()),
        )
    return RunSummary(
        run_id=f"run{run:02d}",
        start_time=float(run),
        source="constructed",
        environment="ci",
        revision=f"rev{run:02d}",
        tests=tests,
        fixtures=fixtures or {},
        statements=stats or {},
    )


def history(matrix: np.ndarray) -> History:
    return History([run_summary(run, matrix[:, run]) for run in range(matrix.shape[1])])


def only(findings: Sequence[Finding]) -> Finding:
    assert len(findings) == 1, [finding.title for finding in findings]
    return findings[0]


# -- duration regressions ----------------------------------------------------------------------


def test_a_20_percent_step_is_found_with_the_run_and_revision_where_it_happened() -> None:
    matrix = durations(seed=1, cv=0.05)  # bench/accuracy.py measures noisier series
    matrix[7, 44:] *= 1.2

    finding = only(detect_durations(history(matrix), OPTIONS))

    assert finding.kind == "regression"
    assert finding.location.test == name(7)
    assert finding.evidence["change_point_run"] == "run44"
    assert finding.evidence["change_point_revision"] == "rev44"
    assert finding.evidence["current_run"] == "run49"
    assert not finding.provisional
    assert "one-sided t on winsorized log durations, newest 5 vs previous 45 runs" in finding.confidence
    assert "the most significant of 3 current windows (p x 3, Bonferroni)" in finding.confidence
    assert "the newest 2 runs above the baseline median" in finding.confidence
    assert "Look at the change in rev44 (run run44" in finding.suggestion
    assert finding.title.startswith(f"{name(7)} got ")
    ratio = next(m for m in finding.measurements if m.name == "ratio")
    assert ratio.value == pytest.approx(1.2, abs=0.04)  # Hodges-Lehmann: not shrunk by the winsorizing
    level = next(m for m in finding.measurements if m.name == "own duration")
    assert level.baseline == pytest.approx(0.1, rel=0.1)
    assert level.value == pytest.approx((level.baseline or 0.0) * ratio.value)
    assert finding.saving == pytest.approx(level.value - (level.baseline or 0.0))
    assert finding.severity == "low"  # ~20 ms per run
    assert finding.history == tuple((f"run{run:02d}", float(matrix[7, run])) for run in range(50))


def test_pure_noise_gives_no_finding() -> None:
    matrix = durations(seed=2, tests=200, cv=0.20)
    matrix *= noise(seed=3, shape=(50,), cv=0.15)[None, :]  # and a noisy machine

    assert detect(history(matrix), OPTIONS) == []


def test_a_step_in_one_of_200_series_survives_false_discovery_control() -> None:
    matrix = durations(seed=4, tests=200, cv=0.05)
    matrix[123, 43:] *= 1.3

    found = {f.location.test: f for f in detect_durations(history(matrix), OPTIONS)}

    # This seed also holds a chance excursion: test_046's newest 3 runs are 2.2-2.8 standard
    # deviations above its baseline (p = 4e-4 after the Bonferroni factor), which false-discovery
    # control at 20 % admits beside a true finding. test_pure_noise_gives_no_finding checks
    # that chance alone does not get through.
    assert set(found) <= {name(123), name(46)}
    finding = found[name(123)]
    assert "over 200 series" in finding.confidence
    q = next(m for m in finding.measurements if m.name.startswith("q "))
    assert q.value <= OPTIONS.false_discovery_rate


def test_a_machine_wide_slowdown_is_not_a_regression() -> None:
    matrix = durations(seed=5, tests=60)
    matrix[:, 42:] *= 1.3  # every test, the last 8 runs: a slower runner

    assert find_regressions(history(matrix), OPTIONS) == []


def test_without_enough_tests_for_a_speed_index_the_same_slowdown_is_flagged_and_the_finding_says_why() -> None:
    matrix = durations(seed=5, tests=4)
    matrix[:, 42:] *= 1.3

    findings = detect_durations(history(matrix), OPTIONS)

    assert len(findings) == 4
    assert all("not speed-normalised" in finding.confidence for finding in findings)


def test_a_change_below_the_floor_is_not_a_finding() -> None:
    matrix = durations(seed=6, tests=40, level=0.100, cv=0.05)
    matrix[0] = durations(seed=7, tests=1, level=0.004, cv=0.05)[0]
    matrix[0, 44:] *= 1.5  # +2 ms: under the 5 ms floor
    matrix[1, 44:] *= 1.2  # +20 ms on 100 ms: over it

    found = find_regressions(history(matrix), OPTIONS)

    assert [regression.info.location.test for regression in found] == [name(1)]
    lower = dataclasses.replace(OPTIONS, floor_test=0.001)
    assert {r.info.location.test for r in find_regressions(history(matrix), lower)} == {name(0), name(1)}


def test_a_step_in_the_very_last_run_is_not_flagged_yet() -> None:
    matrix = durations(seed=8)
    matrix[3, 49] *= 3.0

    assert find_regressions(history(matrix), OPTIONS) == []


def test_a_step_needs_the_shortest_current_window_of_runs() -> None:
    matrix = durations(seed=9, cv=0.05)
    matrix[3, 47] = 0.097  # a usual value (the median is about 0.1) ...
    matrix[3, 48:] *= 2.0  # ... then 2 doubled runs: every window of 3 or more holds an unstepped run

    assert find_regressions(history(matrix), OPTIONS) == []
    matrix[3, 47] = 0.2  # the newest 3 runs: the 3-run window holds only stepped runs
    found = find_regressions(history(matrix), OPTIONS)
    assert [r.info.location.test for r in found] == [name(3)]
    assert (found[0].n_current, found[0].n_baseline, found[0].windows) == (3, 47, 3)
    assert found[0].ratio == pytest.approx(2.0, rel=0.05)


def test_a_doubling_of_a_quiet_test_is_found_after_3_runs_among_2000_with_its_full_size() -> None:
    matrix = durations(seed=28, tests=2000, cv=0.02)
    matrix[11, 47:] *= 2.0  # 35 standard deviations: winsorizing must not cap it at a few

    found = find_regressions(history(matrix), OPTIONS)

    assert [r.info.location.test for r in found] == [name(11)]
    assert found[0].n_current == 3
    assert found[0].ratio == pytest.approx(2.0, rel=0.03)
    assert found[0].q <= 0.01


def test_the_finding_says_whether_noise_was_pooled_across_series() -> None:
    matrix = durations(seed=1, cv=0.05)
    matrix[7, 44:] *= 1.2

    pooled = only(detect_durations(history(matrix), OPTIONS))
    own = only(detect_durations(history(matrix), dataclasses.replace(OPTIONS, pool_noise=False)))

    assert "moderated towards all series' (empirical Bayes" in pooled.confidence
    assert "empirical Bayes" not in own.confidence


def test_a_slow_stretch_that_already_ended_is_not_a_regression() -> None:
    matrix = durations(seed=9, cv=0.05)
    matrix[3, 45:49] *= 2.0  # 4 slow runs ...
    matrix[3, 49] = 0.09  # ... then the newest back below the baseline median (about 0.1)

    scan = shift_scan(matrix)
    assert (scan.k[3], scan.p_adjusted[3] < 1e-3) == (5, True)  # the 5-run window is significant
    assert find_regressions(history(matrix), OPTIONS) == []  # but the newest run is not above the median
    assert find_regressions(history(matrix), dataclasses.replace(OPTIONS, persistence=1)) == []
    assert find_regressions(history(matrix), dataclasses.replace(OPTIONS, persistence=0)) == []  # detector off
    matrix[3, 49] = 0.2  # still slow
    assert [r.info.location.test for r in find_regressions(history(matrix), OPTIONS)] == [name(3)]


def test_a_short_history_falls_back_to_a_labelled_provisional_comparison() -> None:
    matrix = durations(seed=10, tests=20, runs=8)
    matrix[5, 6:] *= 2.0  # doubled in the newest two runs
    matrix[6, 6:] *= 1.2  # +20 %: too small for the provisional rule

    finding = only(detect_durations(history(matrix), OPTIONS))

    assert finding.location.test == name(5)
    assert finding.provisional
    assert finding.confidence.startswith("provisional: only 8 runs, fewer than the 25")
    assert "no significance claimed" in finding.confidence
    assert "p=" not in finding.confidence
    assert not any(m.unit == "p" for m in finding.measurements)
    assert finding.evidence["change_point_run"] == "run06"
    assert "not significant" in finding.evidence["change_point"]


def test_two_runs_are_enough_for_the_fallback_but_not_for_persistence() -> None:
    matrix = durations(seed=11, tests=20, runs=2)
    matrix[2, 1] *= 3.0

    assert detect_durations(history(matrix), OPTIONS) == []
    once = dataclasses.replace(OPTIONS, persistence=1)
    assert only(detect_durations(history(matrix), once)).provisional
    assert detect_durations(history(matrix[:, :1]), once) == []


def test_a_test_that_is_not_in_the_newest_run_or_did_not_pass_there_is_not_judged() -> None:
    matrix = durations(seed=12, cv=0.05)
    matrix[1, 44:] *= 1.5
    matrix[2, 44:] *= 1.5
    matrix[1, 49] = np.nan  # no longer runs
    runs = [run_summary(run, matrix[:, run], outcomes={2: "failed"} if run == 49 else None) for run in range(50)]

    assert find_regressions(History(runs), OPTIONS) == []


def fixture(run: int, per_call: float, calls: int = 100) -> FixtureStats:
    return FixtureStats(
        name="db",
        scope="function",
        file="tests/conftest.py",
        line=12,
        setups=calls,
        setup_time=per_call * calls,
        teardowns=calls,
        teardown_time=0.002 * calls,
    )


def test_a_fixture_whose_setup_got_slower_costs_the_difference_times_its_calls() -> None:
    matrix = durations(seed=13)
    per_call = 0.030 * noise(seed=14, shape=(50,), cv=0.05)
    per_call[44:] *= 1.5
    runs = [run_summary(run, matrix[:, run], fixtures={"f": fixture(run, per_call[run])}) for run in range(50)]

    finding = only(detect_durations(History(runs), OPTIONS))

    assert finding.location.fixture == "db"
    assert (finding.location.file, finding.location.line) == ("tests/conftest.py", 12)
    assert finding.title.startswith("fixture db setup got ")
    assert "per call, 100 setups per run" in finding.title
    level = next(m for m in finding.measurements if m.name == "setup per call")
    assert finding.saving == pytest.approx((level.value - (level.baseline or 0.0)) * 100)
    assert finding.severity == "high"  # ~1.5 s per run
    assert finding.evidence["change_point_run"] == "run44"


def test_a_statement_regression_is_judged_per_execution_against_its_own_floor() -> None:
    matrix = durations(seed=15)
    slow = 0.004 * noise(seed=16, shape=(50,), cv=0.05)
    slow[44:] *= 1.5  # +2 ms per execution: over the 1 ms floor
    fast = 0.0010 * noise(seed=17, shape=(50,), cv=0.05)
    fast[44:] *= 1.5  # +0.5 ms: under it

    def stats(run: int) -> dict[str, StatementStats]:
        return {
            "s1": StatementStats("s1", "SELECT * FROM orders WHERE id = ?", "SELECT", 200, slow[run] * 200, 40),
            "s2": StatementStats("s2", "SELECT * FROM users WHERE id = ?", "SELECT", 200, fast[run] * 200, 40),
        }

    runs = [run_summary(run, matrix[:, run], stats=stats(run)) for run in range(50)]

    finding = only(detect_durations(History(runs), OPTIONS))

    assert finding.location.fingerprint == "SELECT * FROM orders WHERE id = ?"
    assert "per execution, 200 executions per run" in finding.title
    assert "EXPLAIN ANALYZE" in finding.suggestion


def test_windows_of_no_runs_are_refused_with_the_values() -> None:
    with pytest.raises(ValueError, match="at least 1, got 0 and 20"):
        find_regressions(history(durations(seed=19, runs=3)), dataclasses.replace(OPTIONS, current_runs=0))


def test_the_same_history_gives_the_same_findings() -> None:
    matrix = durations(seed=18)
    matrix[0, 44:] *= 1.3

    assert detect(history(matrix), OPTIONS) == detect(history(matrix), OPTIONS)


# -- count regressions ---------------------------------------------------------------------------


def count_history(
    queries: Sequence[float],
    statements: Sequence[frozenset[str]] | None = None,
    *,
    connections: Sequence[float] | None = None,
    test: int = 0,
) -> History:
    runs = []
    for run, value in enumerate(queries):
        db = {
            test: {
                "queries": value,
                "query_time": value * 0.0005,
                "transactions": 1.0,
                "connections": connections[run] if connections else 0.0,
                "connection_time": 0.0,
                "commits": 0.0,
            }
        }
        sets = {test: statements[run]} if statements else None
        stats = {
            "fp-new": StatementStats("fp-new", "SELECT * FROM order_items WHERE order_id = ?", "SELECT", 9, 0.0045, 1)
        }
        runs.append(run_summary(run, [0.1] * (test + 1), db=db, statements=sets, stats=stats))
    return History(runs)


def test_a_test_running_12_queries_instead_of_3_is_a_count_regression_with_exact_numbers() -> None:
    finding = only(detect_counts(count_history([3, 3, 3, 3, 12]), OPTIONS))

    assert finding.kind == "count"
    assert finding.title == f"{name(0)}: 12 queries instead of 3"
    queries = next(m for m in finding.measurements if m.name == "queries")
    assert (queries.value, queries.unit, queries.baseline) == (12, "count", 3)
    assert "Look at the change in rev04 (run run04): " in finding.suggestion
    assert f"{name(0)} now runs 12 queries instead of 3" in finding.suggestion
    assert finding.saving == pytest.approx(9 * 0.0005)
    assert finding.severity == "low"
    assert finding.evidence["previous_run"] == "run03"
    assert finding.history == tuple((f"run{run:02d}", value) for run, value in enumerate([3, 3, 3, 3, 12]))
    assert finding.confidence.startswith("exact counts")


def test_a_new_statement_in_a_test_is_named() -> None:
    old = frozenset({"fp-a"})
    finding = only(detect_counts(count_history([3, 3, 3, 12], [old, old, old, old | {"fp-new"}]), OPTIONS))

    assert "new statement SELECT * FROM order_items WHERE order_id = ?" in finding.title
    assert finding.evidence["new_statement_1"] == "fp-new"
    assert "new: SELECT * FROM order_items WHERE order_id = ?" in finding.suggestion
    new = next(m for m in finding.measurements if m.name == "new statements")
    assert (new.value, new.baseline) == (1, 0)


def test_the_same_new_statement_in_several_tests_is_one_finding() -> None:
    old = frozenset({"fp-a"})
    runs = list(count_history([3, 3, 3], [old, old, old | {"fp-new"}]).runs)
    newest = runs[-1]
    first = newest.tests[name(0)]
    second = dataclasses.replace(first, test_id=name(0) + "2", nodeid=name(0) + "2")
    runs[-1] = dataclasses.replace(newest, tests={**newest.tests, second.test_id: second})
    for index, run in enumerate(runs[:-1]):
        earlier = run.tests[name(0)]
        runs[index] = dataclasses.replace(
            run,
            tests={
                **run.tests,
                second.test_id: dataclasses.replace(earlier, test_id=second.test_id, nodeid=second.nodeid),
            },
        )

    finding = only(detect_counts(History(runs), OPTIONS))

    assert finding.title == "new statement SELECT * FROM order_items WHERE order_id = ?, in 2 tests"
    assert next(m for m in finding.measurements if m.name == "tests").value == 2
    assert f"{name(0)}, {name(0)}2 now runs" in finding.suggestion


def test_a_new_statement_alone_is_a_count_regression() -> None:
    old = frozenset({"fp-a"})

    finding = only(detect_counts(count_history([3, 3, 3], [old, old, old | {"fp-new"}]), OPTIONS))

    assert finding.title == f"{name(0)}: new statement SELECT * FROM order_items WHERE order_id = ?"


@pytest.mark.parametrize(
    "queries",
    [
        [3, 3, 3, 3, 3],  # unchanged
        [3, 3, 3, 3, 2],  # fewer: an improvement
        [12, 12, 12, 3, 12],  # back to its usual count after one odd run: not above the baseline
        [3, 3, 3, 12, 12],  # increased one run earlier: reported then, not again
        [10, 10, 10, 10, 10.5],  # +0.5: under count_min_increase
    ],
)
def test_counts_that_did_not_go_up_against_both_references_are_not_findings(queries: list[float]) -> None:
    assert detect_counts(count_history(queries), OPTIONS) == []


@pytest.mark.parametrize("runs", [4, 5, 21, 22])
def test_a_connection_count_alternating_between_0_and_1_is_not_a_regression(runs: int) -> None:
    assert detect_counts(count_history([3] * runs, connections=[run % 2 for run in range(runs)]), OPTIONS) == []


def test_a_new_physical_connection_per_test_is_a_count_regression() -> None:
    finding = only(detect_counts(count_history([3] * 5, connections=[0, 0, 0, 0, 1]), OPTIONS))

    assert finding.title == f"{name(0)}: 1 physical connection instead of 0"
    assert "share one engine" in finding.suggestion


def test_a_new_test_or_a_failed_run_is_not_a_count_regression() -> None:
    first = run_summary(0, [0.1])
    second = run_summary(1, [0.1, 0.1], db={1: {"queries": 40.0}})
    failed = run_summary(2, [0.1, 0.1], db={0: {"queries": 40.0}}, outcomes={0: "failed"})

    assert detect_counts(History([first, second]), OPTIONS) == []
    assert detect_counts(History([first, failed]), OPTIONS) == []
    assert detect_counts(History([first]), OPTIONS) == []


def test_detect_runs_both_detectors() -> None:
    counted = count_history([3, 3, 3, 3, 12])

    assert detect(counted, OPTIONS) == detect_durations(counted, OPTIONS) + detect_counts(counted, OPTIONS)
    assert len(detect(counted, OPTIONS)) == 1


def test_the_speed_index_needs_ten_tests_a_run() -> None:
    assert regressions.MIN_TESTS_FOR_SPEED_INDEX == 10
