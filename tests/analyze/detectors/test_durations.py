"""The duration detector (and the judgement behind it) on constructed histories with known truth."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from otel_pytest.analyze.detectors import durations
from otel_pytest.analyze.findings import Finding, Location, RunRef, Written
from otel_pytest.analyze.model import FixtureStats, History, RunSummary, StatementStats
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import reports
from tests.analyze.detectors.series_runs import history, name, noise, only, run_summary, timings

OPTIONS = AnalysisOptions()


def test_a_20_percent_step_is_found_with_the_run_and_revision_where_it_happened() -> None:
    matrix = timings(seed=1, cv=0.05)  # bench/accuracy.py measures noisier series
    matrix[7, 44:] *= 1.2

    found = durations.detect(history(matrix), OPTIONS)
    finding = only(found)

    assert finding.kind == "regression"
    assert finding.location.test == name(7)
    assert finding.evidence["change_point_run"] == "run44"
    assert finding.evidence["change_point_revision"] == "rev44"
    assert finding.evidence["current_run"] == "run49"
    assert not finding.provisional
    assert "one-sided t on winsorized log durations of the newest runs vs the 44 baseline runs before the step" in (
        finding.confidence
    )
    assert "the most significant of 3 current windows (p x 3, Bonferroni)" in finding.confidence
    assert "the newest 3 runs above the baseline median" in finding.confidence
    assert "Look at the change in rev44 (run run44, the first slower run): " in finding.suggestion
    assert re.fullmatch(rf"{re.escape(name(7))} got 17 % slower \(101\u00a0ms -> 118\u00a0ms\)", finding.title)
    # The analysis of run 46 (3 stepped runs) first reported it: 4 runs ago, both counted.
    assert (found[0].status, found[0].began, found[0].age, found[0].key) == (
        "open",
        RunRef("run46", "rev46"),
        4,
        "test",
    )
    ratio = next(m for m in finding.measurements if m.name == "ratio")
    assert ratio.value == pytest.approx(1.2, abs=0.04)  # Hodges-Lehmann: not shrunk by the winsorizing
    level = next(m for m in finding.measurements if m.name == "own duration")
    assert level.baseline == pytest.approx(0.1, rel=0.1)
    assert level.value == pytest.approx((level.baseline or 0.0) * ratio.value)
    assert finding.saving == pytest.approx(level.value - (level.baseline or 0.0))
    assert finding.severity == "low"  # ~20 ms per run
    assert finding.history == tuple((f"run{run:02d}", float(matrix[7, run])) for run in range(50))


def test_pure_noise_gives_no_finding() -> None:
    matrix = timings(seed=2, tests=200, cv=0.20)
    matrix *= noise(seed=3, shape=(50,), cv=0.15)[None, :]  # and a noisy machine

    assert durations.detect(history(matrix), OPTIONS) == []


def test_a_step_in_one_of_200_series_survives_false_discovery_control() -> None:
    matrix = timings(seed=4, tests=200, cv=0.05)
    matrix[123, 43:] *= 1.3

    found = {f.location.test: f for f in reports(durations.detect(history(matrix), OPTIONS))}

    # This seed also holds a chance excursion: test_046's newest 3 runs are 2.2-2.8 standard
    # deviations above its baseline (p = 4e-4 after the Bonferroni factor), which false-discovery
    # control at 20 % admits beside a true finding. test_pure_noise_gives_no_finding checks
    # that chance alone does not get through.
    assert set(found) <= {name(123), name(46)}
    finding = found[name(123)]
    assert "over 200 series" in finding.confidence
    q = next(m for m in finding.measurements if m.name.startswith("q "))
    assert q.value <= OPTIONS.false_discovery_rate


def test_without_enough_tests_for_a_speed_index_the_same_slowdown_is_flagged_and_the_finding_says_why() -> None:
    matrix = timings(seed=5, tests=4)
    matrix[:, 42:] *= 1.3

    findings = reports(durations.detect(history(matrix), OPTIONS))

    assert len(findings) == 4
    assert all("not speed-normalised" in finding.confidence for finding in findings)


def test_the_finding_says_whether_noise_was_pooled_across_series() -> None:
    matrix = timings(seed=1, cv=0.05)
    matrix[7, 44:] *= 1.2

    pooled = only(durations.detect(history(matrix), OPTIONS))
    own = only(durations.detect(history(matrix), dataclasses.replace(OPTIONS, pool_noise=False)))

    assert "moderated towards all series' (empirical Bayes" in pooled.confidence
    assert "empirical Bayes" not in own.confidence


def test_a_history_of_four_runs_falls_back_to_a_labelled_provisional_comparison() -> None:
    matrix = timings(seed=10, tests=20, runs=4)
    matrix[5, 1:] *= 4.0  # 4x in the newest three runs (the rule compares each with the median before it)
    matrix[6, 1:] *= 1.2  # +20 %: too small for the provisional rule

    found = durations.detect(history(matrix), OPTIONS)
    finding = only(found)

    assert finding.location.test == name(5)
    assert finding.provisional
    assert finding.confidence.startswith("provisional: only 4 runs, fewer than the 5")
    assert "no significance claimed" in finding.confidence
    assert "p=" not in finding.confidence
    assert not any(m.unit == "p" for m in finding.measurements)
    assert (found[0].began, found[0].age) == (RunRef("run03", "rev03"), 1)


def test_from_five_runs_the_statistical_test_judges_and_its_finding_is_not_provisional() -> None:
    matrix = timings(seed=10, tests=20, runs=8)
    matrix[5, 5:] *= 2.0  # doubled in the newest three runs

    found = durations.detect(history(matrix), OPTIONS)
    finding = only(found)

    assert finding.location.test == name(5)
    assert not finding.provisional
    assert finding.confidence.startswith("p=")
    assert "vs the 5 baseline runs before the step" in finding.confidence
    assert finding.evidence["change_point_run"] == "run05"
    assert (found[0].began, found[0].age) == (RunRef("run07", "rev07"), 1)  # three slow runs are enough


def test_two_runs_are_enough_for_the_fallback_but_not_for_persistence() -> None:
    matrix = timings(seed=11, tests=20, runs=2)
    matrix[2, 1] *= 3.0

    assert durations.detect(history(matrix), OPTIONS) == []
    once = dataclasses.replace(OPTIONS, persistence=1)
    assert only(durations.detect(history(matrix), once)).provisional
    assert durations.detect(history(matrix[:, :1]), once) == []


def test_four_runs_on_a_busy_machine_report_only_what_its_noise_cannot_reach() -> None:
    matrix = timings(seed=21, tests=30, runs=4, cv=0.5)  # a loaded machine: 2x between runs is common
    matrix[4, 1:] = matrix[4, 0] * 2.5  # a doubling a quiet machine's rule (1.5x) would report
    matrix[9, 1:] = matrix[9, 0] * 12.0

    finding = only(durations.detect(history(matrix), OPTIONS))

    assert finding.location.test == name(9)
    assert finding.provisional
    # The rule it states is the one it applied: the busy machine's bar, not a quiet one's 1.5x.
    assert "rule >= 9.44x" in finding.confidence


def three_slow_runs(tests: int) -> np.ndarray:
    """Seven runs of a busy machine (CV 30 %); test 2 at 1.7x its median in the newest three."""
    matrix = timings(seed=3, tests=tests, runs=7, cv=0.3)
    matrix[2, 4:] = np.median(matrix[2, :4]) * 1.7
    return matrix


def test_in_a_small_suite_the_provisional_rule_backs_up_the_test_on_a_short_history() -> None:
    finding = only(durations.detect(history(three_slow_runs(tests=5)), OPTIONS))

    assert finding.location.test == name(2)
    assert finding.provisional


def test_in_a_larger_suite_slow_runs_the_test_does_not_flag_are_no_finding() -> None:
    # 30 series share their noise: the pooled test judges them, and three slow runs within
    # a busy machine's noise are not enough (bench/repeat_runs.py: a loaded machine gave
    # dozens of such provisional findings on an unchanged suite).
    assert durations.detect(history(three_slow_runs(tests=30)), OPTIONS) == []


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
    matrix = timings(seed=13, cv=0.05)
    per_call = 0.030 * noise(seed=14, shape=(50,), cv=0.05)
    per_call[44:] *= 1.5
    runs = [run_summary(run, matrix[:, run], fixtures={"f": fixture(run, per_call[run])}) for run in range(50)]

    finding = only(durations.detect(History(runs), OPTIONS))

    assert finding.location.fixture == "db"
    assert (finding.location.file, finding.location.line) == ("tests/conftest.py", 12)
    assert finding.title.startswith("fixture db setup got ")
    assert "per call, 100 setups per run" in finding.title
    level = next(m for m in finding.measurements if m.name == "setup per call")
    assert finding.saving == pytest.approx((level.value - (level.baseline or 0.0)) * 100)
    assert finding.severity == "high"  # ~1.5 s per run
    assert finding.evidence["change_point_run"] == "run44"


def test_a_statement_regression_is_judged_per_execution_against_its_own_floor() -> None:
    matrix = timings(seed=15, cv=0.05)
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

    finding = only(durations.detect(History(runs), OPTIONS))

    assert finding.location.fingerprint == "SELECT * FROM orders WHERE id = ?"
    assert "per execution, 200 executions per run" in finding.title
    assert "EXPLAIN ANALYZE" in finding.suggestion


def test_the_same_history_gives_the_same_findings() -> None:
    matrix = timings(seed=18)
    matrix[0, 44:] *= 1.3

    assert durations.detect(history(matrix), OPTIONS) == durations.detect(history(matrix), OPTIONS)


def test_a_step_in_runs_of_one_revision_points_at_the_run_not_at_a_change_of_code() -> None:
    matrix = timings(seed=1, cv=0.05)
    matrix[7, 44:] *= 1.2
    runs = tuple(dataclasses.replace(run, revision="abc123") for run in history(matrix).runs)

    finding = only(durations.detect(History(runs), OPTIONS))

    assert "the change in" not in finding.suggestion
    assert finding.suggestion.startswith(
        "Look at what changed in run run44 (same revision, abc123, as the run before it: look at data, "
        "dependencies, configuration or the machine; the first slower run): "
    )


def test_a_fixed_regression_is_a_closed_low_finding_that_says_where_it_was_fixed() -> None:
    matrix = timings(seed=22, cv=0.05)
    matrix[4, 25:40] *= 1.5

    found = durations.detect(history(matrix), OPTIONS)
    finding = only(found)

    assert (found[0].kind, found[0].status, found[0].ended, found[0].key) == (
        "regression",
        "closed",
        RunRef("run40", "rev40"),
        "test",
    )
    assert (finding.severity, finding.saving) == ("low", 0.0)
    assert finding.title == (
        f"{name(4)}: fixed in run run40 (rev40); it was 53 % slower (100\u00a0ms -> 152\u00a0ms), now 100\u00a0ms"
    )
    assert finding.suggestion.startswith("Nothing to do")
    assert finding.evidence["fixed_run"] == "run40"


def test_a_test_that_got_faster_is_an_improvement_that_saves_nothing_more() -> None:
    matrix = timings(seed=26, cv=0.05)
    matrix[9, 44:] *= 0.5

    found = durations.detect(history(matrix), OPTIONS)
    finding = only(found)

    assert (finding.kind, finding.severity, finding.saving) == ("improvement", "low", 0.0)
    # The analysis of run 45 flagged it (its runs 43-45: two halved, and a low one before);
    # it begins with its third halved run, 46.
    assert (found[0].status, found[0].key, found[0].began, found[0].age) == (
        "open",
        "test",
        RunRef("run46", "rev46"),
        4,
    )
    assert finding.title == (f"{name(9)} got 49 % faster (100\u00a0ms -> 51\u00a0ms), saving 49\u00a0ms per run")
    saved = next(m for m in finding.measurements if m.name == "saved per run")
    assert saved.value == pytest.approx(0.05, rel=0.1)


def with_setup(run: int, values: np.ndarray, setup: float) -> RunSummary:
    """A run whose tests each spend ``setup`` seconds in (shared) fixtures before they start."""
    summary = run_summary(run, values)
    tests = {
        key: dataclasses.replace(sample, setup=setup, duration=sample.duration + setup, shared_fixture_time=setup)
        for key, sample in summary.tests.items()
    }
    return dataclasses.replace(summary, tests=tests)


def test_after_a_fix_the_suites_setup_is_reported_as_an_improvement_per_run() -> None:
    matrix = timings(seed=27, cv=0.05)
    per_test = 0.0375 * noise(seed=28, shape=(50,), cv=0.05)  # 40 tests: 1.5 s per run
    per_test[44:] *= 0.2 / 1.5
    runs = [with_setup(run, matrix[:, run], float(per_test[run])) for run in range(50)]

    finding = only(durations.detect(History(runs), OPTIONS))

    assert finding.kind == "improvement"
    assert finding.location.describe() == "the suite"
    assert finding.severity == "high"  # 1.3 s per run saved
    assert finding.title == (
        "the suite's setup fell from 1.50\u00a0s to 202\u00a0ms per run, saving 1.30\u00a0s per run"
    )


def test_a_fixture_whose_scope_widened_is_named_as_a_scope_change_and_judged_per_run() -> None:
    matrix = timings(seed=29, cv=0.05)
    per_call = 0.045 * noise(seed=30, shape=(50,), cv=0.05)
    per_call[44:] *= 60 / 45  # one session-wide setup costs more than one per test ...
    setups = [32 if run < 44 else 1 for run in range(50)]  # ... but runs once instead of 32 times
    runs = [
        run_summary(
            run,
            matrix[:, run],
            fixtures={"e": fixture(run, float(per_call[run]), calls=setups[run])},
        )
        for run in range(50)
    ]

    found = durations.detect(History(runs), OPTIONS)
    finding = only(found)

    assert found[0].key == "fixture setup total"  # not the per-call series: never "33 % slower per call"
    assert finding.kind == "improvement"
    assert finding.title == (
        "fixture db setup: scope change: 32 -> 1 setups per run; 1.43\u00a0s -> 60\u00a0ms per run, "
        "saving 1.37\u00a0s per run"
    )
    level = next(m for m in finding.measurements if m.name == "setup per run")
    assert level.baseline == pytest.approx(32 * 0.045, rel=0.05)
    assert level.value == pytest.approx(0.060, rel=0.05)


def test_findings_of_one_fixture_in_two_series_have_distinct_ids() -> None:
    site = Location(fixture="db", file="tests/conftest.py", line=12)
    per_call = Finding("regression", "low", site, (), Written("t", "c", "s"), key="fixture setup")
    per_run = dataclasses.replace(per_call, key="fixture setup total")

    assert per_call.id != per_run.id


def test_a_statement_run_once_a_session_instead_of_once_a_test_is_not_slower_per_execution() -> None:
    """The demo's fix: CREATE TABLE ran 32 times a run, then once; that one execution pays
    what 32 shared (a cold plan), 4x the old time per execution, and is no regression."""
    matrix = timings(seed=31, cv=0.05)
    per_execution = 0.004 * noise(seed=32, shape=(50,), cv=0.05)
    per_execution[44:] *= 4
    executions = [32 if run < 44 else 1 for run in range(50)]
    runs = [
        run_summary(
            run,
            matrix[:, run],
            stats={
                "ddl": StatementStats(
                    "ddl",
                    "CREATE TABLE orders",
                    "CREATE",
                    executions[run],
                    float(per_execution[run]) * executions[run],
                    1,
                )
            },
        )
        for run in range(50)
    ]

    assert [f for f in durations.detect(History(runs), OPTIONS) if f.kind == "regression"] == []


def test_a_fix_that_speeds_up_every_test_at_a_scope_change_is_no_faster_machine() -> None:
    """The demo's fix: the engine fixture went from function to session scope and every
    test got 5x faster at once. Taken for a faster machine, that would make the statement
    it left alone look 5x slower; found apart on each side of the scope change, the speed
    index leaves it as it is and the tests' speed-up is an improvement."""
    matrix = timings(seed=33, cv=0.05)
    matrix[:, 44:] /= 5
    per_execution = 0.001 * noise(seed=34, shape=(50,), cv=0.05)

    def run(number: int) -> RunSummary:
        engine = dataclasses.replace(fixture(number, 0.01, calls=40 if number < 44 else 1), name="engine")
        engine = dataclasses.replace(engine, scope="function" if number < 44 else "session")
        select = StatementStats("q", "SELECT 1", "SELECT", 40, float(per_execution[number]) * 40, 40)
        return run_summary(number, matrix[:, number], fixtures={"engine": engine}, stats={"q": select})

    found = durations.detect(History([run(number) for number in range(50)]), OPTIONS)

    assert [f for f in found if f.kind == "regression"] == []
    assert sum(1 for f in found if f.kind == "improvement" and f.location.test) == 40
