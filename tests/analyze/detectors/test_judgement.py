"""The judgement behind duration regressions (which series regressed) on constructed histories."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from otel_pytest.analyze.detectors import judgement
from otel_pytest.analyze.detectors.judgement import find_changes, find_regressions
from otel_pytest.analyze.model import History
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.stats import shift_scans
from tests.analyze.detectors.series_runs import history, name, run_summary, timings

OPTIONS = AnalysisOptions()


def test_a_machine_wide_slowdown_is_not_a_regression() -> None:
    matrix = timings(seed=5, tests=60)
    matrix[:, 42:] *= 1.3  # every test, the last 8 runs: a slower runner

    assert find_regressions(history(matrix), OPTIONS) == []


def test_a_change_below_the_floor_is_not_a_finding() -> None:
    matrix = timings(seed=6, tests=40, level=0.100, cv=0.05)
    matrix[0] = timings(seed=7, tests=1, level=0.004, cv=0.05)[0]
    matrix[0, 44:] *= 1.5  # +2 ms: under the 5 ms floor
    matrix[1, 44:] *= 1.2  # +20 ms on 100 ms: over it

    found = find_regressions(history(matrix), OPTIONS)

    assert [regression.info.location.test for regression in found] == [name(1)]
    lower = dataclasses.replace(OPTIONS, floor_test=0.001)
    assert {r.info.location.test for r in find_regressions(history(matrix), lower)} == {name(0), name(1)}


def test_two_slow_runs_after_one_high_by_chance_are_not_a_finding_and_the_third_gates() -> None:
    matrix = timings(seed=9, cv=0.05)
    matrix[3, 45] = 1.05 * np.median(matrix[3, :45])  # high by chance, not slow
    matrix[3, 46:] = 2.0 * np.median(matrix[3, :45])  # slow from run 46: runs 46, 47 and 48 ...
    # ... the analysis of 47 sees two: its 3-run window (45-47) is significant, but run 45
    # is nearer the baseline than the doubled level, so the change has not persisted yet.
    assert find_regressions(history(matrix[:, :48]), OPTIONS) == []

    (change,) = find_regressions(history(matrix[:, :49]), OPTIONS)

    # Dated from its third slow run, the newest: it gates there.
    assert (change.step, change.began, change.age) == (46, 48, 1)


def test_a_step_in_the_very_last_run_is_not_flagged_yet() -> None:
    matrix = timings(seed=8)
    matrix[3, 49] *= 3.0

    assert find_regressions(history(matrix), OPTIONS) == []


def test_a_step_needs_three_slow_runs_in_a_row() -> None:
    matrix = timings(seed=9, cv=0.05)
    matrix[3, 49] *= 2.0  # one doubled run: never a finding

    assert find_regressions(history(matrix), OPTIONS) == []
    matrix[3, 46:48] = 0.95 * np.median(matrix[3, :46])  # below the baseline's median
    matrix[3, 48] *= 2.0  # two: what a busy shared machine gives too
    assert find_regressions(history(matrix), OPTIONS) == []
    matrix[3, 47] *= 2.0  # three: the shortest current window holds only stepped runs
    found = find_regressions(history(matrix), OPTIONS)
    assert [r.info.location.test for r in found] == [name(3)]
    assert (found[0].began, found[0].step, found[0].n_current, found[0].n_baseline, found[0].windows) == (
        49,
        47,
        3,
        47,
        3,
    )
    assert found[0].ratio == pytest.approx(2.0, rel=0.05)


def test_a_doubling_of_a_quiet_test_is_found_after_3_runs_among_2000_with_its_full_size() -> None:
    matrix = timings(seed=28, tests=2000, cv=0.02)
    matrix[11, 47:] *= 2.0  # 35 standard deviations: winsorizing must not cap it at a few

    found = find_regressions(history(matrix), OPTIONS)

    assert [r.info.location.test for r in found] == [name(11)]
    assert found[0].n_current == 3
    assert found[0].ratio == pytest.approx(2.0, rel=0.03)
    assert found[0].q <= 0.01


def test_a_slow_stretch_that_already_ended_is_not_a_regression() -> None:
    matrix = timings(seed=9, cv=0.05)
    matrix[3, 45:49] *= 2.0  # 4 slow runs ...
    matrix[3, 49] = 0.09  # ... then the newest back below the baseline median (about 0.1)

    scan = shift_scans(matrix)[0]
    assert (scan.k[3], scan.p_adjusted[3] < 1e-3) == (5, True)  # the 5-run window is significant
    assert find_regressions(history(matrix), OPTIONS) == []  # but the newest run is not above the median
    assert find_regressions(history(matrix), dataclasses.replace(OPTIONS, persistence=1)) == []
    assert find_regressions(history(matrix), dataclasses.replace(OPTIONS, persistence=0)) == []  # detector off
    matrix[3, 49] = 0.2  # still slow
    assert [r.info.location.test for r in find_regressions(history(matrix), OPTIONS)] == [name(3)]


def test_a_test_that_is_not_in_the_newest_run_or_did_not_pass_there_is_not_judged() -> None:
    matrix = timings(seed=12, cv=0.05)
    matrix[1, 44:] *= 1.5
    matrix[2, 44:] *= 1.5
    matrix[1, 49] = np.nan  # no longer runs
    runs = [run_summary(run, matrix[:, run], outcomes={2: "failed"} if run == 49 else None) for run in range(50)]

    assert find_regressions(History(runs), OPTIONS) == []


def test_windows_of_no_runs_are_refused_with_the_values() -> None:
    with pytest.raises(ValueError, match="at least 1, got 0 and 20"):
        find_regressions(history(timings(seed=19, runs=3)), dataclasses.replace(OPTIONS, current_runs=0))


def test_the_speed_index_needs_ten_tests_a_run() -> None:
    assert judgement.MIN_TESTS_FOR_SPEED_INDEX == 10


# -- state: what the analysis replayed over the newest runs reports ---------------------------


def test_a_25_percent_step_20_runs_ago_that_nobody_fixed_is_still_reported_with_the_run_it_began_in() -> None:
    matrix = timings(seed=21, cv=0.05)
    matrix[4, 29:] *= 1.25  # 21 stepped runs; a sliding window of 50 would hold 16 of them in its baseline

    changes = find_changes(history(matrix), OPTIONS)

    (regression,) = changes.regressions
    assert regression.info.location.test == name(4)
    assert (regression.status, regression.step, regression.began, regression.age, regression.held) == (
        "open",
        29,
        31,  # the analysis of run 31 (3 stepped runs) first reported it
        19,
        21,
    )
    assert (regression.n_baseline, regression.n_current) == (29, 21)  # the frozen baseline: runs 0-28
    assert regression.ratio == pytest.approx(1.25, rel=0.03)
    assert changes.closed == ()
    assert changes.improvements == ()


def test_a_fixed_regression_is_closed_in_the_run_it_was_fixed_and_no_longer_open() -> None:
    matrix = timings(seed=22, cv=0.05)
    matrix[4, 25:40] *= 1.5  # slow from run 25, fixed in run 40

    changes = find_changes(history(matrix), OPTIONS)

    assert changes.regressions == ()
    (fixed,) = changes.closed
    assert fixed.info.location.test == name(4)
    assert (fixed.status, fixed.step, fixed.ended, fixed.held) == ("closed", 25, 40, 15)
    assert fixed.raised == pytest.approx(1.5 * fixed.baseline, rel=0.05)
    assert fixed.ratio == pytest.approx(1.0, abs=0.05)  # the newest runs are back at the baseline
    assert fixed.saving == 0.0
    assert fixed.saved == pytest.approx(fixed.raised - fixed.current)
    assert changes.improvements == ()  # the fix is the closed regression, not a second finding


def test_an_8x_slowdown_after_10_stable_runs_is_sure_and_gating_after_3() -> None:
    matrix = timings(seed=23, runs=13)
    matrix[2, 10:] *= 8.0

    (regression,) = find_regressions(history(matrix), OPTIONS)

    assert regression.info.location.test == name(2)
    assert not regression.provisional
    # First reported by the analysis of the third slow run, the newest: it gates.
    assert (regression.step, regression.began, regression.age, regression.n_baseline) == (10, 12, 1, 10)
    assert regression.ratio == pytest.approx(8.0, rel=0.10)
    assert regression.q < 1e-6


def test_a_single_slow_run_is_never_a_finding() -> None:
    newest = timings(seed=24, runs=13)
    newest[2, 12] *= 8.0
    earlier = timings(seed=24, runs=13)
    earlier[2, 11] *= 8.0  # and the newest run back to normal

    assert find_changes(history(newest), OPTIONS).regressions == ()
    assert find_changes(history(earlier), OPTIONS).regressions == ()


def test_a_fix_that_sped_up_most_tests_leaves_the_others_unchanged_and_is_reported_as_improvements() -> None:
    matrix = timings(seed=25, tests=40, runs=36)
    faster = list(range(25))
    matrix[faster, 30:] *= 0.3  # the fix, at run 30: most tests 3.3x faster; 15 untouched

    changes = find_changes(history(matrix), OPTIONS)

    assert changes.regressions == ()
    assert sorted(change.info.name for change in changes.improvements) == [name(i) for i in faster]
    assert all(change.ratio == pytest.approx(0.3, rel=0.10) for change in changes.improvements)
    assert {(change.status, change.step) for change in changes.improvements} == {("open", 30)}
    # Each begins with its third faster run, 32 (a few whose runs before the fix happened to
    # be low already were flagged by the analyses of runs 30 and 31).
    assert {change.began for change in changes.improvements} == {32}


def test_a_fixs_improvements_do_not_lower_the_bar_for_a_regression_of_a_test_it_left_unchanged() -> None:
    # 300 tests 3.3x faster from run 30 (the fix), 200 untouched, and one 10 % slower in
    # the newest 5 runs: evidence (p 0.009) a lone regression among 500 series does not
    # have, which the fix's 300 improvements must not lend it (they loosen the shared
    # family's bar: q = p x m / rank, 0.03 here).
    rng = np.random.default_rng(3)
    norm = np.exp(rng.normal(0.0, 0.05, (501, 36)))
    norm[500, 31:] *= 1.10
    floors = np.full(501, 0.001)
    fixed = norm.copy()
    fixed[:300, 30:] *= 0.3

    without_fix = judgement.judge(norm, floors, OPTIONS)
    with_fix = judgement.judge(fixed, floors, OPTIONS)

    assert with_fix.up.p[500] == pytest.approx(9.1e-3, rel=0.01)
    assert with_fix.up.q[500] < OPTIONS.false_discovery_rate  # the shared family alone would flag it
    assert np.flatnonzero(with_fix.down.flagged).tolist() == list(range(300))
    assert np.flatnonzero(with_fix.up.flagged).tolist() == []
    assert np.flatnonzero(without_fix.up.flagged).tolist() == []
