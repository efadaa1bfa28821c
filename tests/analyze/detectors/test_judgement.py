"""The judgement behind duration regressions (which series regressed) on constructed histories."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from otel_pytest.analyze.detectors import judgement
from otel_pytest.analyze.detectors.judgement import find_regressions
from otel_pytest.analyze.model import History
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.stats import shift_scan
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


def test_a_step_in_the_very_last_run_is_not_flagged_yet() -> None:
    matrix = timings(seed=8)
    matrix[3, 49] *= 3.0

    assert find_regressions(history(matrix), OPTIONS) == []


def test_a_step_needs_the_shortest_current_window_of_runs() -> None:
    matrix = timings(seed=9, cv=0.05)
    matrix[3, 47] = 0.097  # a usual value (the median is about 0.1) ...
    matrix[3, 48:] *= 2.0  # ... then 2 doubled runs: every window of 3 or more holds an unstepped run

    assert find_regressions(history(matrix), OPTIONS) == []
    matrix[3, 47] = 0.2  # the newest 3 runs: the 3-run window holds only stepped runs
    found = find_regressions(history(matrix), OPTIONS)
    assert [r.info.location.test for r in found] == [name(3)]
    assert (found[0].n_current, found[0].n_baseline, found[0].windows) == (3, 47, 3)
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

    scan = shift_scan(matrix)
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
