"""Which series got slower: the statistical judgement behind duration regressions.

The duration detector (:mod:`~otel_pytest.analyze.detectors.durations`, kind
``"regression"``) asks whether a test's own duration, a fixture's setup or teardown time per
call, or a statement's time per execution got slower; this module answers, per series of
a :class:`~otel_pytest.analyze.detectors.series.SeriesMatrix`.

  Method, per analysis (the numbers are the :class:`AnalysisOptions` defaults; their
  accuracy, and why these, are in docs/benchmarks.md, "Analyzer accuracy"):

  1. One series per test (own duration of passed runs), per fixture (mean setup time per
     call, mean teardown time per call) and per statement fingerprint (mean time per
     execution), over the analysed window: the last ``max(current_runs + baseline_runs,
     change_point_window)`` (50) runs.
  2. Divide every run by its speed index (the median over tests of duration / that
     test's own median; see :func:`otel_pytest.analyze.stats.speed_index`), so that a
     slower CI runner is not a regression of everything. Only with at least
     ``MIN_TESTS_FOR_SPEED_INDEX`` tests in a run: with fewer, one real regression would be
     divided out of itself.
  3. Scan of current windows (:func:`otel_pytest.analyze.stats.shift_scan`): for every k
     from ``min_current_runs`` (3) to ``current_runs`` (5), the newest k runs against all
     runs of the window before them (at least ``baseline_runs`` // 2 values of the 20 or
     more), by a one-sided t on log durations winsorized at ``winsorize`` (2.25) standard
     deviations of the series' own noise around its baseline median, each series' noise
     estimate moderated towards what all series share (``pool_noise``, empirical Bayes).
     The window with the smallest p is the current window (it starts near the step, so no
     unstepped run dilutes it), and its p is multiplied by the number of windows tested
     (Bonferroni: the price of having chosen it). The ratio is the Hodges-Lehmann shift of
     the log durations (the median of all current - baseline differences) as a factor.
  4. Benjamini-Hochberg over every series this analysis could report (present in its
     newest run) whose window varies by at least its floor (max - min over the window, a
     filter that ignores which runs are current, so it does not bias the test; Bourgon,
     Gentleman & Huber 2010), at ``false_discovery_rate`` (20 %). With few simultaneous
     regressions the threshold is near q / series: a lone regression among 500 series
     needs an adjusted p <= 4e-4.
  5. A series regressed when q <= false_discovery_rate, adjusted p < ``p_value`` (0.01),
     ratio >= ``min_ratio`` (1.10) and the difference (baseline median x (ratio - 1)) >= the
     floor (``floor_test`` 5 ms for tests and fixtures per call, ``floor_statement`` 1 ms
     per execution).
  6. Persistence: each of the newest ``persistence`` (2) runs is above the baseline's
     median: the regression is still there now, not a slow stretch that already ended
     (a window of 3-5 runs can still be significant when its last runs are back to
     normal). This replaces "significant in 2 consecutive analyses", which cost a run of
     delay (and the previous Mann-Whitney rule 16 points of detection within 5 runs: see
     the comparison in docs/benchmarks.md). A single slow run cannot be a finding: every
     window holds at least 3 runs, and the winsorizing caps what one run adds.
  7. For each regression, E-divisive means (``change_point_window``, ``change_point_p``,
     ``seed``) names the run, and its revision, where the step happened; a step carried
     by the few newest runs is rarely significant yet, and then the most likely split is
     named and said to be not significant (see :func:`locate_step`).

  Shorter history than ``current_runs + baseline_runs``: no statistics are possible, so a
  clearly labelled provisional rule replaces steps 3-5: each of the newest
  ``persistence`` runs is at least ``provisional_min_ratio`` (1.5) times the median of the
  earlier runs and above it by the floor. Its findings are ``provisional`` and claim no
  significance; a history of ``persistence`` runs or fewer has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from otel_pytest.analyze.detectors.series import SeriesInfo, SeriesMatrix, build_series, floors
from otel_pytest.analyze.model import History
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.stats import (
    BoolArray,
    FloatArray,
    IntArray,
    benjamini_hochberg,
    e_divisive,
    last_step,
    normalise,
    shift_scan,
    speed_index,
)

# With fewer tests in a run the speed index is not applied (step 2 above).
MIN_TESTS_FOR_SPEED_INDEX = 10
# Fewest values in a window for the statistical test on a series with gaps.
MIN_SEGMENT = 3


@dataclass(frozen=True)
class Judgement:
    """One analysis (the history up to one run) of every series: arrays by row."""

    runs: int  # how many runs this analysis saw
    first: int  # index of the first run of the analysed window
    statistical: BoolArray  # judged by the statistical test (else by the provisional rule)
    flagged: BoolArray
    current: FloatArray  # normalised current level: baseline x ratio (provisional: the newest value)
    baseline: FloatArray  # normalised median of the baseline runs
    ratio: FloatArray  # Hodges-Lehmann shift of the logs as a factor (provisional: newest / baseline)
    p: FloatArray  # the chosen window's p x windows tested (Bonferroni); NaN when provisional
    q: FloatArray  # NaN when provisional or filtered out before false-discovery control
    n_current: IntArray
    n_baseline: IntArray
    windows: IntArray  # current windows tested (the Bonferroni factor); 0 when provisional
    hypotheses: int  # series under false-discovery control
    index: FloatArray  # speed index of each run of the window
    index_applied: bool
    normalised: FloatArray  # the window's values divided by the speed index


def judge(values: FloatArray, is_test: BoolArray, floors: FloatArray, options: AnalysisOptions) -> Judgement:
    """Steps 2-6 of the module docstring (or the provisional rule) on ``values``, whose last
    column is the newest run of this analysis."""
    total = values.shape[1]
    span = max(options.current_runs + options.baseline_runs, options.change_point_window)
    first = max(0, total - span)
    window = values[:, first:total]
    index, index_applied = _speed_index(window[is_test], window.shape[1])
    norm = normalise(window, index)
    verdicts = _Verdicts.empty(norm.shape[0])
    hypotheses = 0
    if total >= options.current_runs + options.baseline_runs:
        hypotheses = _scan(norm, floors, options, verdicts)
    _provisional(norm, floors, options, verdicts)
    v = verdicts
    return Judgement(
        total,
        first,
        v.statistical,
        v.flagged,
        v.current,
        v.baseline,
        v.ratio,
        v.p,
        v.q,
        v.n_current,
        v.n_baseline,
        v.windows,
        hypotheses,
        index,
        index_applied,
        norm,
    )


def _speed_index(tests: FloatArray, runs: int) -> tuple[FloatArray, bool]:
    """Step 2: each run's speed index, and whether it applies (some run has enough tests)."""
    applied = bool(((~np.isnan(tests)).sum(axis=0) >= MIN_TESTS_FOR_SPEED_INDEX).any())
    index = speed_index(tests, min_series=MIN_TESTS_FOR_SPEED_INDEX) if applied else np.ones(runs)
    return index, applied


@dataclass
class _Verdicts:
    """The per-series arrays of a :class:`Judgement` while :func:`judge` fills them in."""

    statistical: BoolArray
    flagged: BoolArray
    current: FloatArray
    baseline: FloatArray
    ratio: FloatArray
    p: FloatArray
    q: FloatArray
    n_current: IntArray
    n_baseline: IntArray
    windows: IntArray

    @classmethod
    def empty(cls, rows: int) -> _Verdicts:
        def missing() -> FloatArray:
            return np.full(rows, np.nan)

        def zeros() -> IntArray:
            return np.zeros(rows, dtype=np.int64)

        no = np.zeros(rows, dtype=bool)
        return cls(no, no.copy(), missing(), missing(), missing(), missing(), missing(), zeros(), zeros(), zeros())


def _scan(norm: FloatArray, floors: FloatArray, options: AnalysisOptions, verdicts: _Verdicts) -> int:
    """Steps 3-6 on the series with enough runs; returns how many series were under
    false-discovery control."""
    current_runs, baseline_runs = options.current_runs, options.baseline_runs
    scan = shift_scan(
        norm,
        min_current=max(1, min(options.min_current_runs, current_runs)),
        max_current=current_runs,
        min_baseline=min(max(MIN_SEGMENT, baseline_runs // 2), baseline_runs),
        clip=options.winsorize,
        pool_noise=options.pool_noise,
    )
    statistical = scan.windows > 0
    # The family under false-discovery control: series this analysis could report (present
    # in its newest run) whose window varies by at least the floor.
    eligible = statistical & ~np.isnan(norm[:, -1]) & (scan.spread >= floors)
    q = benjamini_hochberg(np.where(eligible, scan.p_adjusted, np.nan))
    level = np.where(statistical, scan.baseline * scan.ratio, np.nan)
    with np.errstate(invalid="ignore"):
        verdicts.flagged = (
            eligible
            & (q <= options.false_discovery_rate)
            & (scan.p_adjusted < options.p_value)
            & (scan.ratio >= options.min_ratio)
            & (level - scan.baseline >= floors)
            & _still_above(norm, scan.k, scan.baseline, options.persistence)
        )
    verdicts.statistical = statistical
    verdicts.current = level
    verdicts.baseline = np.where(statistical, scan.baseline, np.nan)
    verdicts.ratio = np.where(statistical, scan.ratio, np.nan)
    verdicts.p = np.where(statistical, scan.p_adjusted, np.nan)
    verdicts.q = q
    verdicts.n_current = scan.n_current
    verdicts.n_baseline = scan.n_baseline
    verdicts.windows = scan.windows
    return int(eligible.sum())


def _provisional(norm: FloatArray, floors: FloatArray, options: AnalysisOptions, verdicts: _Verdicts) -> None:
    """The provisional rule for the series the statistical test could not judge (too short
    a history): what the finding shows is the newest run against the median of the runs
    before it; flagged when each of the newest ``persistence`` runs passes the rule."""
    runs_seen = norm.shape[1]
    if runs_seen <= max(options.persistence, 1):
        return
    provisional = ~verdicts.statistical & ~np.isnan(norm[:, -1])
    earlier = norm[:, max(0, runs_seen - 1 - options.baseline_runs) : runs_seen - 1]
    counts = (~np.isnan(earlier)).sum(axis=1)
    provisional &= counts > 0
    if provisional.any():
        median = np.nanmedian(earlier[provisional], axis=1)
        value = norm[provisional, -1]
        verdicts.current[provisional] = value
        verdicts.baseline[provisional] = median
        with np.errstate(divide="ignore", invalid="ignore"):
            verdicts.ratio[provisional] = np.where(median > 0, value / median, np.inf)
        verdicts.n_current[provisional] = 1
        verdicts.n_baseline[provisional] = counts[provisional]
    verdicts.flagged[provisional] = _provisional_rule(norm, floors, options, provisional)[provisional]


def _provisional_rule(norm: FloatArray, floors: FloatArray, options: AnalysisOptions, rows: BoolArray) -> BoolArray:
    """Of ``rows``, those whose newest ``persistence`` runs are each at least the rule's
    ratio times the median of the ``baseline_runs`` runs before it, and above it by the floor."""
    rule = max(options.provisional_min_ratio, options.min_ratio)
    count, runs_seen = norm.shape
    held: BoolArray = rows.copy()
    for back in range(1, max(options.persistence, 1) + 1):
        if not held.any():
            break
        value = norm[:, runs_seen - back]
        before = norm[:, max(0, runs_seen - back - options.baseline_runs) : runs_seen - back]
        held &= ~np.isnan(value) & ((~np.isnan(before)).sum(axis=1) > 0)
        median = np.full(count, np.nan)
        median[held] = np.nanmedian(before[held], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            held &= (np.where(median > 0, value / median, np.inf) >= rule) & (value - median >= floors)
    return held


def _still_above(norm: FloatArray, k: IntArray, baseline: FloatArray, persistence: int) -> BoolArray:
    """Step 6: each of the newest ``persistence`` values of the row's current window (its
    newest ``k`` runs; runs without a value are skipped) is above the baseline median."""
    rows, runs = norm.shape
    if persistence < 1 or runs == 0:
        return np.ones(rows, dtype=bool)
    widest = min(int(k.max(initial=0)), runs)
    recent = norm[:, runs - widest :][:, ::-1]  # newest first
    present = ~np.isnan(recent)
    inside = np.arange(widest)[None, :] < k[:, None]
    checked = present & inside & (np.cumsum(present & inside, axis=1) <= persistence)
    with np.errstate(invalid="ignore"):
        above = recent > baseline[:, None]
    held: BoolArray = np.all(above | ~checked, axis=1)
    return held


@dataclass(frozen=True)
class Regression:
    """A series that regressed in the newest analysis (steps 1-6 of the module docstring)."""

    info: SeriesInfo
    row: int
    provisional: bool
    current: float  # seconds, speed-normalised: baseline x ratio (provisional: the newest value)
    baseline: float  # median of the baseline runs
    ratio: float
    p: float  # the current window's p x windows tested; NaN when provisional
    q: float
    n_current: int  # values in the current window (the newest runs since the step, as the scan chose)
    n_baseline: int
    hypotheses: int
    windows: int  # current windows tested: the Bonferroni factor in p (0 when provisional)
    speed_index: float  # of the newest run
    index_applied: bool
    first: int  # index of the first run of the normalised window
    normalised: FloatArray  # this series over the window, divided by the speed index

    @property
    def difference(self) -> float:
        return self.current - self.baseline

    @property
    def saving(self) -> float:
        """Seconds per run the regression costs: the difference of levels times how often the
        newest run paid it."""
        return max(self.difference, 0.0) * self.info.calls


def find_regressions(
    history: History, options: AnalysisOptions, matrix: SeriesMatrix | None = None
) -> list[Regression]:
    """Steps 1-6 of the module docstring: the regressed series of the newest run, without
    change points (the benchmark calls this after every run; the duration detector adds
    the change points)."""
    if options.current_runs < 1 or options.baseline_runs < 1:
        raise ValueError(
            f"current_runs and baseline_runs must be at least 1, got {options.current_runs} and {options.baseline_runs}"
        )
    runs = len(history.runs)
    if runs < 2 or options.persistence < 1:
        return []
    matrix = matrix if matrix is not None else build_series(history)
    if not matrix.infos:
        return []
    if runs <= options.persistence:  # the newest `persistence` runs need earlier runs to compare with
        return []
    newest = judge(matrix.values, matrix.is_test, floors(matrix.infos, options), options)
    found = []
    for row in np.flatnonzero(newest.flagged & ~np.isnan(matrix.values[:, -1])):
        found.append(
            Regression(
                info=matrix.infos[row],
                row=int(row),
                provisional=not bool(newest.statistical[row]),
                current=float(newest.current[row]),
                baseline=float(newest.baseline[row]),
                ratio=float(newest.ratio[row]),
                p=float(newest.p[row]),
                q=float(newest.q[row]),
                n_current=int(newest.n_current[row]),
                n_baseline=int(newest.n_baseline[row]),
                hypotheses=newest.hypotheses,
                windows=int(newest.windows[row]),
                speed_index=float(newest.index[-1]),
                index_applied=newest.index_applied,
                first=newest.first,
                normalised=newest.normalised[row].copy(),
            )
        )
    return found


@dataclass(frozen=True)
class Step:
    """Where a regression's step happened."""

    run: int  # index into history.runs
    significant: bool  # E-divisive permutation test passed at change_point_p
    p: float  # the permutation p-value (an estimate when not significant)
    before: float  # normalised median of the segment before the step
    after: float


def locate_step(regression: Regression, options: AnalysisOptions, *, test_significance: bool = True) -> Step | None:
    """The run where the regression's step happened (step 7 of the module docstring).

    E-divisive means over the normalised window gives the significant change points; the
    latest one upwards inside the analysed window (the last current + baseline runs) is the
    step. When none is significant yet (a step carried by the few newest runs rarely
    reaches p <= 0.001), :func:`otel_pytest.analyze.stats.last_step` names the most likely
    run, and the finding says it is not significant. ``test_significance=False`` skips the
    permutation test (the duration detector does past its ``MAX_CHANGE_POINT_TESTS`` regressions).
    """
    values = regression.normalised
    present = np.flatnonzero(~np.isnan(values))
    if present.size < MIN_SEGMENT + 1:
        return None
    series = values[present]
    window_start = max(0, len(values) - (options.current_runs + options.baseline_runs))
    segment_start = 0
    if test_significance and present.size >= 2 * MIN_SEGMENT:
        found = e_divisive(
            series,
            window=options.change_point_window,
            p_value=options.change_point_p,
            seed=options.seed,
            min_size=MIN_SEGMENT,
        )
        for point in reversed(found.points):
            if point.after > point.before and present[point.index] >= window_start:
                return Step(
                    regression.first + int(present[point.index]), True, point.p_value, point.before, point.after
                )
        if found.points:
            segment_start = found.points[-1].index
        candidate = found.candidate
    else:
        candidate = None
    # A provisional regression is known to hold only in the newest `persistence` runs.
    shortest = max(1, min(MIN_SEGMENT, options.persistence)) if regression.provisional else MIN_SEGMENT
    index = last_step(series[segment_start:], min_before=MIN_SEGMENT, min_after=shortest)
    if index is None:
        return None
    index += segment_start
    before = float(np.median(series[segment_start:index]))
    after = float(np.median(series[index:]))
    if after <= before:
        return None
    p = candidate.p_value if candidate is not None and candidate.index == index else math.nan
    return Step(regression.first + int(present[index]), False, p, before, after)
