"""The statistics module on constructed series with known truth (seeded numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad  # type: ignore[import-untyped]
from scipy.special import digamma  # type: ignore[import-untyped]
from scipy.stats import norm, ttest_ind  # type: ignore[import-untyped]

from otel_pytest.analyze.stats import (
    NoisePrior,
    benjamini_hochberg,
    default_permutations,
    e_divisive,
    hodges_lehmann,
    last_step,
    moderate,
    noise_bar,
    noise_prior,
    normalise,
    shift_scans,
    speed_index,
    winsorized_t,
    winsorized_variance,
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


# -- winsorized t, noise pooling and the shift scan -------------------------------------------


ALTERNATING = np.array([-1.0, 1.0] * 10)  # a baseline of 20 values: median 0, mean 0, every deviation 1


def test_the_winsorized_variance_of_normal_values_matches_the_integral() -> None:
    for clip in (1.0, 2.25, 2.5):
        integral, _ = quad(lambda z, c=clip: min(z * z, c * c) * norm.pdf(z), -np.inf, np.inf)
        assert winsorized_variance(clip) == pytest.approx(integral, rel=1e-9)
    assert winsorized_variance(2.5) == pytest.approx(0.97756, abs=1e-5)
    with pytest.raises(ValueError, match="positive clip, got 0"):
        winsorized_variance(0.0)


def test_without_clipping_the_winsorized_t_is_the_pooled_two_sample_t() -> None:
    rng = np.random.default_rng(20)
    current = rng.normal(0.5, 1.0, (4, 5))
    baseline = rng.normal(0.0, 1.0, (4, 30))

    result = winsorized_t(current, baseline, clip=50.0)

    expected = ttest_ind(current, baseline, axis=1, equal_var=True, alternative="greater")
    np.testing.assert_allclose(result.t, expected.statistic)
    np.testing.assert_allclose(result.p, expected.pvalue)
    assert result.df.tolist() == [33.0] * 4
    assert result.clipped.tolist() == [0] * 4
    np.testing.assert_allclose(result.shift, current.mean(axis=1) - baseline.mean(axis=1))


def test_an_outlier_in_the_current_window_counts_only_up_to_the_clip() -> None:
    current = np.array([[0.5, -0.5, 100.0], [0.5, -0.5, 1000.0]])
    baseline = np.vstack([ALTERNATING, ALTERNATING])

    result = winsorized_t(current, baseline)

    assert result.t[0] == result.t[1]  # how far beyond the clip does not matter
    assert result.clipped.tolist() == [1, 1]
    assert result.df.tolist() == [20.0, 20.0]  # 3 + 20 - 2 - 1 clipped
    assert result.center.tolist() == [0.0, 0.0]
    ceiling = 2.25 * result.scale[0]
    assert result.shift[0] == pytest.approx(ceiling / 3)  # (0.5 - 0.5 + ceiling) / 3 - mean 0
    assert result.p[0] > 0.05


def test_a_window_that_moved_entirely_is_clipped_no_lower_than_its_lowest_value() -> None:
    current = np.array([[50.0, 60.0, 70.0]])

    result = winsorized_t(current, ALTERNATING[None, :])

    # 60 and 70 are clipped to 50, the baseline's +-1 are not clipped: shift 50, squares 20 on 21 df.
    assert result.clipped.tolist() == [2]
    assert result.df.tolist() == [19.0]
    assert result.shift[0] == pytest.approx(50.0)
    assert result.variance[0] == pytest.approx(20 / 21)
    assert result.t[0] == pytest.approx(50.0 / math.sqrt(20 / 21 * (1 / 3 + 1 / 20)))


def test_a_coarse_timer_and_constant_series_still_give_a_sensible_t() -> None:
    coarse = np.array([1.0] * 15 + [2.0] * 5)  # more than half the deviations are 0: the MAD is 0
    result = winsorized_t(np.array([[2.0, 2.0, 2.0], [1.0, 1.0, 1.0]]), np.vstack([coarse, coarse]))
    assert np.isfinite(result.t).all()
    assert result.t[0] > 3 > 0 > result.t[1]

    constant = winsorized_t(np.array([[2.0, 2.0, 2.0], [1.0, 1.0, 1.0], [0.5, 0.5, 0.5]]), np.ones((3, 20)))
    assert constant.t.tolist() == [math.inf, 0.0, -math.inf]
    assert constant.p.tolist() == [0.0, 0.5, 1.0]


def test_the_winsorized_t_leaves_rows_without_values_untested() -> None:
    result = winsorized_t(np.array([[np.nan, np.nan], [1.0, 2.0]]), np.array([[1.0, 2.0], [np.nan, np.nan]]))

    assert np.isnan(result.t).all()
    assert np.isnan(result.p).all()
    assert (result.n_current.tolist(), result.n_baseline.tolist()) == ([0, 2], [2, 0])
    with pytest.raises(ValueError, match="2 current rows but 1 baseline rows"):
        winsorized_t(np.ones((2, 3)), np.ones((1, 20)))


def test_hodges_lehmann_is_the_median_of_all_pairwise_differences() -> None:
    current = np.array([[3.0, 5.0], [3.0, np.nan], [np.nan, np.nan]])
    baseline = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])

    result = hodges_lehmann(current, baseline)

    # row 0: differences 2, 1, 4, 3 -> 2.5; row 1: 2, 1 -> 1.5; row 2: none
    assert result[:2].tolist() == [2.5, 1.5]
    assert np.isnan(result[2])


def test_series_with_one_noise_level_share_it_entirely() -> None:
    prior = noise_prior(np.ones(30), np.full(30, 10.0))

    assert prior is not None
    assert prior.df == math.inf
    # E[log s^2] = log sigma^2 + digamma(d/2) - log(d/2): all s^2 = 1 on 10 df means sigma^2 = 5 exp(-digamma(5))
    assert prior.variance == pytest.approx(5.0 * math.exp(-digamma(5.0)))
    assert prior.series == 30
    variance, df = moderate(np.array([0.5, 2.0, np.nan]), np.array([10.0, 10.0, 10.0]), prior)
    assert variance[:2].tolist() == [pytest.approx(prior.variance)] * 2
    assert df[:2].tolist() == [math.inf, math.inf]
    assert np.isnan(variance[2])


def test_the_noise_prior_recovers_the_distribution_of_true_variances() -> None:
    rng = np.random.default_rng(21)
    true = 0.5 * 8.0 / rng.chisquare(8.0, 20_000)  # scaled inverse chi-square: d0 = 8, s0^2 = 0.5
    samples = true * rng.chisquare(20.0, 20_000) / 20.0

    prior = noise_prior(samples, np.full(20_000, 20.0))

    assert prior is not None
    assert prior.df == pytest.approx(8.0, rel=0.1)
    assert prior.variance == pytest.approx(0.5, rel=0.05)
    assert noise_prior(samples[:19], np.full(19, 20.0)) is None  # too few series to learn from


def test_moderation_weighs_the_prior_and_the_series_by_their_degrees_of_freedom() -> None:
    prior = NoisePrior(df=10.0, variance=1.0, series=100)

    variance, df = moderate(np.array([4.0, 0.25]), np.array([30.0, 10.0]), prior)

    assert variance.tolist() == [pytest.approx((10 * 1.0 + 30 * 4.0) / 40), pytest.approx((10 + 10 * 0.25) / 20)]
    assert df.tolist() == [40.0, 20.0]


def step_series(rows: int, runs: int, step_at: int, factor: float, *, seed: int, cv: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = np.exp(rng.normal(0.0, math.sqrt(math.log(1 + cv * cv)), (rows, runs)))
    values[:, step_at:] *= factor
    return values


def test_the_shift_scan_takes_the_window_that_starts_at_the_step() -> None:
    values = np.vstack(
        [
            step_series(1, 50, 47, 1.3, seed=22),
            step_series(1, 50, 45, 1.3, seed=23),
            step_series(1, 50, 50, 1.3, seed=24),
        ]
    )

    scan = shift_scans(values, pool_noise=False)[0]

    assert scan.k.tolist()[:2] == [3, 5]
    assert scan.windows.tolist() == [3, 3, 3]
    np.testing.assert_allclose(scan.p_adjusted, np.minimum(3 * scan.p, 1.0))
    assert (scan.p_adjusted[:2] < 1e-5).all()
    assert scan.p_adjusted[2] > 0.01
    np.testing.assert_allclose(scan.ratio[:2], 1.3, rtol=0.1)  # 3 and 5 values at 5 % noise
    assert (scan.n_current[:2].tolist(), scan.n_baseline[:2].tolist()) == ([3, 5], [47, 45])
    np.testing.assert_allclose(scan.baseline, np.nanmedian(values[:, :45], axis=1), rtol=0.03)


def test_the_shift_scan_tests_only_windows_with_enough_values() -> None:
    values = step_series(3, 30, 27, 1.3, seed=25)
    values[0, 27] = np.nan  # the 3-run window holds 2 values: only the 4- and 5-run windows are tested
    values[1, 28] = -1.0  # not a duration: missing
    values[2, :20] = np.nan  # 10 baseline values at most: fewer than min_baseline=12

    scan = shift_scans(values, min_baseline=12, pool_noise=False)[0]

    assert scan.windows.tolist() == [2, 2, 0]
    assert scan.k.tolist() == [4, 4, 0]
    assert np.isnan(scan.p[2])
    assert np.isnan(scan.ratio[2])
    assert scan.spread[2] == pytest.approx(np.nanmax(values[2]) - np.nanmin(values[2]))
    with pytest.raises(ValueError, match="1 <= min_current <= max_current, got 4 and 3"):
        shift_scans(values, min_current=4, max_current=3)[0]
    with pytest.raises(ValueError, match="min_baseline must be at least 1, got 0"):
        shift_scans(values, min_baseline=0)[0]


@pytest.mark.parametrize("pool_noise", [False, True])
def test_the_adjusted_p_of_the_shift_scan_is_not_optimistic_on_noise(pool_noise: bool) -> None:
    rng = np.random.default_rng(26)
    values = np.exp(rng.normal(0.0, 0.1, (4000, 50)))
    values *= np.where(rng.random(values.shape) < 0.01, rng.uniform(1.5, 4.0, values.shape), 1.0)  # spikes

    scan = shift_scans(values, pool_noise=pool_noise)[0]

    for level in (0.05, 0.01):
        assert (scan.p_adjusted < level).mean() <= level


def test_pooling_the_noise_lowers_the_threshold_a_shared_noise_level_allows() -> None:
    values = step_series(200, 50, 46, 1.2, seed=27, cv=0.10)
    values[100:, 46:] /= 1.2  # only the first 100 stepped

    own = shift_scans(values, pool_noise=False)[0]
    pooled = shift_scans(values, pool_noise=True)[0]

    # One noise level: the prior's degrees of freedom are large (not infinite: a winsorized variance
    # varies a little more than a chi-square one), so each t has about 3x the degrees of freedom.
    assert (pooled.df > 2 * own.df).all()
    assert np.median(pooled.p_adjusted[:100]) < np.median(own.p_adjusted[:100])


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


def test_a_fix_that_sped_up_most_series_is_not_taken_for_a_faster_machine() -> None:
    rng = np.random.default_rng(3)
    machine = np.exp(rng.normal(0.0, 0.05, 36))
    values = np.exp(rng.uniform(np.log(0.05), np.log(2.0), 300))[:, None] * machine[None, :]
    values *= noise(rng, (300, 36), 0.10)
    values[:180, 30:] *= rng.uniform(0.2, 0.7, 180)[:, None]  # 60 % of the series faster, each by its own factor

    index = speed_index(values)

    np.testing.assert_allclose(index / np.median(index), machine / np.median(machine), rtol=0.03)


def test_the_noise_bar_is_the_family_wise_normal_quantile_times_the_robust_spread() -> None:
    differences = np.array([[0.0, 0.1], [-0.1, 0.2], [0.3, np.nan], [np.nan, np.nan]])
    # 5 values about their median 0.1: absolute deviations 0.1, 0, 0.2, 0.1, 0.2 -> 0.1;
    # 3 series have a difference, so alpha 0.03 is 0.01 per series.
    assert noise_bar(differences, 0.03) == pytest.approx(norm.isf(0.01) * 1.4826 * 0.1)


def test_the_noise_bar_rises_with_the_noise_and_ignores_one_series_that_moved() -> None:
    rng = np.random.default_rng(3)
    quiet, busy = rng.normal(0, 0.1, (100, 2)), rng.normal(0, 0.4, (100, 2))
    quiet[7] = 2.0  # one series 7x slower: one difference among many for the spread

    assert noise_bar(quiet, 0.01) == pytest.approx(norm.isf(1e-4) * 0.1, rel=0.15)
    assert noise_bar(busy, 0.01) == pytest.approx(norm.isf(1e-4) * 0.4, rel=0.15)
    assert noise_bar(np.full((3, 2), np.nan), 0.01) == math.inf
