"""The statistics module on constructed series with known truth (seeded numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu  # type: ignore[import-untyped]

from otel_pytest.analyze.stats import (
    benjamini_hochberg,
    default_permutations,
    e_divisive,
    last_step,
    mann_whitney_greater,
    normalise,
    speed_index,
    windowed_comparison,
)


def noise(rng: np.random.Generator, shape: tuple[int, ...], cv: float) -> np.ndarray:
    """Log-normal noise with mean 1 and the given coefficient of variation."""
    sigma = math.sqrt(math.log(1 + cv * cv))
    return np.exp(rng.normal(-sigma * sigma / 2, sigma, shape))


# -- speed index ---------------------------------------------------------------------------


def test_the_speed_index_recovers_a_machine_factor_shared_by_every_series() -> None:
    rng = np.random.default_rng(1)
    machine = np.array([1.0, 1.0, 1.3, 0.9, 1.0, 1.5, 1.0, 1.0])
    levels = np.exp(rng.uniform(np.log(0.01), np.log(2.0), 300))
    values = levels[:, None] * machine[None, :] * noise(rng, (300, 8), 0.10)

    index = speed_index(values)

    np.testing.assert_allclose(index / np.median(index), machine / np.median(machine), rtol=0.03)


def test_normalising_by_the_speed_index_removes_the_machine_and_keeps_a_regression() -> None:
    rng = np.random.default_rng(2)
    values = np.ones((100, 10)) * noise(rng, (100, 10), 0.02)
    values[:, 7:] *= 1.3  # every series: a slower machine in the last three runs
    values[0, 7:] *= 1.5  # one series: also a real regression

    normalised = normalise(values, speed_index(values))

    assert np.median(normalised[1:, 7:]) == pytest.approx(1.0, abs=0.02)
    assert np.median(normalised[0, 7:]) == pytest.approx(1.5, rel=0.05)


def test_the_speed_index_ignores_missing_values_and_series_without_a_positive_median() -> None:
    values = np.array([[1.0, 2.0, np.nan, 2.0], [2.0, 4.0, 4.0, np.nan], [0.0, 0.0, 0.0, 0.0], [np.nan] * 4])

    index = speed_index(values)

    assert index.tolist() == [pytest.approx(0.5), pytest.approx(1.0), pytest.approx(1.0), pytest.approx(1.0)]


def test_runs_with_fewer_series_than_the_minimum_keep_an_index_of_one() -> None:
    values = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, np.nan]])

    assert speed_index(values, min_series=3).tolist() == [pytest.approx(2 / 3), 1.0]
    assert speed_index(np.empty((0, 3))).tolist() == [1.0, 1.0, 1.0]


def test_normalise_refuses_an_index_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="do not match"):
        normalise(np.ones((2, 3)), np.ones(2))


# -- Mann-Whitney and windows -------------------------------------------------------------


def test_complete_separation_of_5_against_20_runs_has_the_exact_smallest_p() -> None:
    current = np.arange(21.0, 26.0)[None, :]
    baseline = np.arange(1.0, 21.0)[None, :]

    assert mann_whitney_greater(current, baseline)[0] == pytest.approx(1 / math.comb(25, 5))


def test_a_tied_row_uses_the_normal_approximation_without_changing_the_other_rows() -> None:
    rng = np.random.default_rng(3)
    current = rng.normal(1.0, 1.0, (3, 5))
    baseline = rng.normal(0.0, 1.0, (3, 20))
    baseline[1, :5] = current[1, 0]  # ties in row 1 only

    p = mann_whitney_greater(current, baseline)

    exact = mannwhitneyu(current[[0, 2]], baseline[[0, 2]], alternative="greater", axis=1, method="exact").pvalue
    approx = mannwhitneyu(current[1], baseline[1], alternative="greater", method="asymptotic").pvalue
    np.testing.assert_allclose(p[[0, 2]], exact)
    assert p[1] == pytest.approx(approx)


def test_windowed_comparison_gives_median_ratio_difference_and_spread() -> None:
    current = np.array([[2.0, 2.2, 2.1, np.nan, 2.05]])
    baseline = np.linspace(1.0, 1.1, 20)[None, :]

    result = windowed_comparison(current, baseline)

    assert result.current_median[0] == pytest.approx(2.075)
    assert result.baseline_median[0] == pytest.approx(1.05)
    assert result.ratio[0] == pytest.approx(2.075 / 1.05)
    assert result.difference[0] == pytest.approx(1.025)
    assert result.spread[0] == pytest.approx(1.2)
    assert (result.n_current[0], result.n_baseline[0]) == (4, 20)
    assert result.p[0] == pytest.approx(1 / math.comb(24, 4))


def test_windowed_comparison_does_not_test_rows_with_too_few_values() -> None:
    current = np.array([[2.0, np.nan, np.nan], [2.0, 2.0, 2.0]])
    baseline = np.array([[1.0] * 12, [1.0] * 5 + [np.nan] * 7])

    result = windowed_comparison(current, baseline, min_current=3, min_baseline=10)

    assert np.isnan(result.p).all()
    assert result.ratio.tolist() == [2.0, 2.0]


# -- false discovery rate -----------------------------------------------------------------


def test_benjamini_hochberg_matches_the_step_up_rule_by_hand() -> None:
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.20])

    q = benjamini_hochberg(p)

    # sorted: 0.01*4/1=0.04, 0.03*4/2=0.06, 0.04*4/3=0.0533, 0.20*4/4=0.2 -> running minimum from the top
    np.testing.assert_allclose(q, [0.04, 0.05333333, np.nan, 0.05333333, 0.20])


def test_benjamini_hochberg_keeps_one_strong_signal_among_200_and_drops_chance() -> None:
    rng = np.random.default_rng(4)
    p = rng.uniform(size=200)
    p[17] = 1e-5

    q = benjamini_hochberg(p)

    assert np.flatnonzero(q <= 0.05).tolist() == [17]
    assert np.all(q >= p)


def test_benjamini_hochberg_of_nothing_is_nothing() -> None:
    assert np.isnan(benjamini_hochberg(np.array([np.nan, np.nan]))).all()


# -- change points --------------------------------------------------------------------------


def test_e_divisive_names_the_run_of_a_20_percent_step() -> None:
    rng = np.random.default_rng(5)
    series = noise(rng, (50,), 0.05)
    series[30:] *= 1.2

    found = e_divisive(series, window=50, p_value=0.001, seed=0)

    assert [point.index for point in found.points] == [30]
    point = found.points[0]
    assert point.significant
    assert point.p_value <= 0.001
    assert point.after / point.before == pytest.approx(1.2, abs=0.05)


def test_e_divisive_finds_nothing_in_pure_noise_and_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(6)
    series = noise(rng, (50,), 0.10)

    first = e_divisive(series, seed=7)
    second = e_divisive(series, seed=7)

    assert first.points == ()
    assert first == second
    assert first.candidate is not None
    assert not first.candidate.significant
    assert first.candidate.p_value > 0.001


def test_e_divisive_finds_two_steps_and_ignores_a_single_outlier_run() -> None:
    rng = np.random.default_rng(8)
    series = noise(rng, (60,), 0.05)
    series[20:] *= 1.3
    series[40:] *= 0.7
    series[10] *= 4.0  # one spike

    found = e_divisive(series, window=60, seed=1)

    assert [point.index for point in found.points] == [20, 40]
    assert found.points[0].after > found.points[0].before
    assert found.points[1].after < found.points[1].before


def test_e_divisive_windows_find_steps_beyond_the_first_window() -> None:
    rng = np.random.default_rng(9)
    series = noise(rng, (120,), 0.05)
    series[90:] *= 1.3

    found = e_divisive(series, window=50, seed=2)

    assert [point.index for point in found.points] == [90]


def test_e_divisive_drops_missing_values_and_needs_two_segments() -> None:
    assert e_divisive(np.array([1.0, np.nan, 2.0, 3.0, 4.0, 5.0])) == e_divisive(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert e_divisive(np.array([1.0, 2.0, 3.0, 4.0, 5.0])).points == ()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 5}, "shorter than two segments"),
        ({"min_size": 0}, "min_size"),
        ({"permutations": 0}, "permutations"),
        ({"p_value": 0.0}, "p threshold"),
    ],
)
def test_e_divisive_refuses_impossible_settings(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        e_divisive(np.ones(20), **kwargs)  # type: ignore[arg-type]


def test_the_default_permutations_can_just_reach_the_threshold() -> None:
    assert default_permutations(0.001) == 999
    assert default_permutations(0.01) == 99
    assert default_permutations(0.05) == 99


def test_last_step_names_where_the_newest_level_began() -> None:
    rng = np.random.default_rng(10)
    series = noise(rng, (50,), 0.05)
    series[44:] *= 1.2

    assert last_step(series) == 44
    assert last_step(np.ones(5)) is None


def test_last_step_can_name_a_step_in_the_newest_runs_when_allowed() -> None:
    series = np.array([1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 2.0, 2.1])

    assert last_step(series) == 6  # three values after at least
    assert last_step(series, min_after=2) == 7
    with pytest.raises(ValueError, match="at least one value"):
        last_step(series, min_after=0)
