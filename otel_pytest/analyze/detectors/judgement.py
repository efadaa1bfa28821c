"""Which series got slower or faster, since when, and whether it still holds: the
statistical judgement behind duration regressions and improvements.

The duration detector (:mod:`~otel_pytest.analyze.detectors.durations`, kinds
``"regression"`` and ``"improvement"``) asks whether a test's own duration, a fixture's
setup or teardown time per call or its setup per run, a statement's time per execution
or the suite's setup per run changed; this module answers, per series of a
:class:`~otel_pytest.analyze.detectors.series.SeriesMatrix`.

  One analysis (:func:`judge`: the history up to one run; the numbers are the
  :class:`AnalysisOptions` defaults; their accuracy, and why these, are in
  docs/benchmarks.md, "Analyzer accuracy"):

  1. One series per test, fixture phase, fixture per run, statement and the suite's
     setup, over the analysed window: the last ``max(current_runs + baseline_runs,
     change_point_window)`` (50) runs.
  2. Divide every run by its speed index (:func:`otel_pytest.analyze.stats.speed_index`:
     the typical ratio to their own median of the tests stable in that run, not of all
     tests, so that a fix that sped up most tests is not taken for a faster machine).
     Only with at least ``MIN_TESTS_FOR_SPEED_INDEX`` tests in a run: with fewer, one
     real regression would be divided out of itself.
  3. Scan of current windows (:func:`otel_pytest.analyze.stats.shift_scans`): for every k
     from ``min_current_runs`` (3, never fewer than ``persistence``) to ``current_runs``
     (5), the newest k runs against all runs of the window before them (at least
     ``MIN_BASELINE``, 2), by a one-sided t on log durations winsorized at ``winsorize``
     (2.25) standard deviations of the series' own noise around its baseline median, each
     series' noise estimate moderated towards what all series share (``pool_noise``,
     empirical Bayes: this is what makes 2 to 10 baseline runs enough, the noise of a
     series being known from all of them). Read in both directions: up (a regression) and
     down (an improvement). The window with the smallest p is the current window, and its
     p is multiplied by the number of windows tested (Bonferroni). The ratio is the
     Hodges-Lehmann shift of the log durations.
  4. Benjamini-Hochberg over both directions of every series this analysis could report
     (present in its newest run) whose window varies by at least its floor (a filter
     that ignores which runs are current; Bourgon, Gentleman & Huber 2010), at
     ``false_discovery_rate`` (20 %): one family for regressions and improvements, which
     keeps false alarms at 0.17 % per series per analysis where a family per direction
     let 0.21 % through (bench/accuracy.py, CV 10 %); and a change must pass within its
     own direction's family as well: a fix's hundreds of improvements loosen the shared
     family's bar (q is p x m / rank), which alone let unchanged tests through as
     regressions (6 in 1,200 in the fix scenario), none since.
  5. A series changed when q <= false_discovery_rate, adjusted p < ``p_value`` (0.01),
     ratio >= ``min_ratio`` (1.10; <= 1 / min_ratio down) and the difference of levels
     >= the floor (``floor_test`` 5 ms, ``floor_statement`` 1 ms per execution).
  6. Persistence: each of the newest ``persistence`` (3) runs is nearer the changed
     level than the baseline's median (beyond their geometric midpoint): one or two slow
     runs are never a finding, even after a run that the noise put a little above the
     median (every window holds at least 3 runs, and the winsorizing caps what one run
     adds). Two slow runs in a row are what a
     shared machine gives: with 2, an unchanged real suite run 10 times got 3 to 27
     regression findings over its 9 analyses (bench/repeat_runs.py); with 3, none but one
     that held (docs/benchmarks.md), and the scan, testing 3 windows instead of 4, finds
     more real steps, not fewer (bench/accuracy.py).

  With fewer than :func:`statistical_runs` (5) runs in all (1-4), no statistics are
  possible: a clearly labelled provisional rule replaces steps 3-5 (each of the newest
  ``persistence`` runs at least ``provisional_min_ratio`` (1.5) times the median of the
  runs before them, and at least what the run-to-run noise of all series reaches,
  family-wise (:func:`otel_pytest.analyze.stats.noise_bar`: 1.8x on a quiet machine, 4x
  or more on a busy one), and above it by the floor; regressions only); short of
  ``current_runs + baseline_runs`` runs, in a suite of fewer than
  ``MIN_TESTS_FOR_SPEED_INDEX`` tests, it also backs the test up for a series the test
  did not flag (with few series, whose noise nothing pools, the test has little to go
  on: a 10x slowdown in 3 of 6 runs of a 5-test suite has 4 degrees of freedom). From 5
  runs on the test compares the newest 3 to 5 runs with the (at least 2) runs before them.

  State (:func:`track`): the analysis is replayed at each of the newest ``state_runs`` (25)
  runs, so that what a finding says is what the analyzer said, and would say, run by run:

  * a change opens when an analysis flags it: ``began`` is that analysis's run, the
    step its current window's first run, and its baseline is frozen: the runs of that
    analysis before the step (the last stable segment, not a window that slides over
    the stepped runs and absorbs them);
  * it holds while every run since the step, together, is still beyond the frozen
    baseline (one-sided winsorized t, p < ``p_value``, by half of ``min_ratio`` and of the
    floor at least), and, from 3 of them on, so are the runs after the analysis that
    flagged it (p < ``HOLD_P``, 0.05: the runs that flagged it were chosen for being high,
    so they alone are no evidence that it holds); it is reported in an analysis when it holds and the
    newest run is beyond the baseline's median;
  * it closes (a regression "fixed in" run X) when the newest 3 to 5 runs are
    significantly back from the level since the step (p x windows < ``p_value``) and
    nearer the baseline than that level; X is the first of those runs;
  * a change that stops holding without closing was not real (a slow stretch): it is
    dropped without a word; so is a provisional one the first statistical analysis does
    not flag.

  A +20 % step that nobody fixed is still reported 20 runs later, with the run it began
  in; a 25-run step of ``state_runs`` earlier than that is beyond the replay, and is
  judged by a window whose baseline already holds the stepped runs.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from otel_pytest.analyze import state
from otel_pytest.analyze.detectors.series import SeriesInfo, SeriesMatrix, build_series, floors
from otel_pytest.analyze.model import History
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.stats import (
    BoolArray,
    FloatArray,
    IntArray,
    benjamini_hochberg,
    e_divisive,
    hodges_lehmann,
    last_step,
    noise_bar,
    normalise,
    one_sided_p,
    row_median,
    shift_scans,
    speed_index,
    winsorized_t,
)

# With fewer tests in a run the speed index is not applied (step 2 above).
MIN_TESTS_FOR_SPEED_INDEX = 10
# Fewest values in a segment for the change-point search.
MIN_SEGMENT = 3
# Fewest baseline values for the statistical test.
MIN_BASELINE = 2
# A change holds while the runs after the analysis that flagged it are beyond its frozen
# baseline at this p (see _holds; measured in bench/accuracy.py).
HOLD_P = 0.05
# Directions of a change: the rows of Judgement.verdicts.
UP, DOWN = 0, 1
SIGNS = (1.0, -1.0)


@dataclass(frozen=True)
class Verdicts:
    """One direction of one analysis, per series (row)."""

    flagged: BoolArray
    current: FloatArray  # normalised current level: baseline x ratio (provisional: the newest value)
    baseline: FloatArray  # normalised median of the baseline runs
    ratio: FloatArray  # Hodges-Lehmann shift of the logs as a factor (provisional: newest / baseline)
    p: FloatArray  # the chosen window's p x windows tested (Bonferroni); NaN when provisional
    q: FloatArray  # NaN when provisional or filtered out before false-discovery control
    k: IntArray  # runs in the chosen current window (provisional: persistence)
    n_current: IntArray
    n_baseline: IntArray
    windows: IntArray  # current windows tested (the Bonferroni factor); 0 when provisional


@dataclass(frozen=True)
class Judgement:
    """One analysis (the history up to one run) of every series, both directions."""

    runs: int  # runs of the analysed window
    statistical: BoolArray  # judged by the statistical test (else by the provisional rule)
    up: Verdicts
    down: Verdicts
    hypotheses: int  # series under false-discovery control
    bar: float  # the provisional rule's ratio in this analysis (see _provisional)

    def verdicts(self, direction: int) -> Verdicts:
        return self.up if direction == UP else self.down


def statistical_runs(options: AnalysisOptions) -> int:
    """Runs in all from which the statistical test applies: its shortest current window and
    the fewest baseline runs (5 with the defaults); before, the provisional rule."""
    return max(options.persistence, options.min_current_runs, 1) + MIN_BASELINE


def span(options: AnalysisOptions) -> int:
    """Runs of the window one analysis judges (step 1)."""
    return max(options.current_runs + options.baseline_runs, options.change_point_window)


def normalised(
    values: FloatArray, is_test: BoolArray, options: AnalysisOptions, rescoped: BoolArray | None = None
) -> tuple[int, FloatArray, bool, FloatArray]:
    """Step 2 over the runs every replayed analysis needs: (first run, speed index of each
    run from it, whether the index applies, the values divided by it). The index is found
    apart on each side of a run where a fixture changed scope (``rescoped``): when the fix
    moved every test, the index would take the fix for a faster machine and every series it
    left alone would look slower by as much."""
    total = values.shape[1]
    first = max(0, total - span(options) - max(options.state_runs, 1) + 1)
    window = values[:, first:]
    tests = window[is_test]
    applied = bool(((~np.isnan(tests)).sum(axis=0) >= MIN_TESTS_FOR_SPEED_INDEX).any())
    index = np.ones(window.shape[1])
    if applied:
        changes = np.flatnonzero(rescoped[first:]) if rescoped is not None else np.array([], dtype=np.int64)
        cuts = [0, *(int(run) for run in changes if run > 0), window.shape[1]]
        for start, end in itertools.pairwise(cuts):
            index[start:end] = speed_index(tests[:, start:end], min_series=MIN_TESTS_FOR_SPEED_INDEX)
    return first, index, applied, normalise(window, index)


def judge(norm: FloatArray, floors: FloatArray, options: AnalysisOptions, *, small: bool = False) -> Judgement:
    """Steps 3-6 of the module docstring (or the provisional rule) on ``norm``, whose last
    column is the newest run of this analysis; ``small``: a suite of fewer than
    ``MIN_TESTS_FOR_SPEED_INDEX`` tests, whose short histories the provisional rule backs up."""
    rows, runs = norm.shape
    statistical = np.zeros(rows, dtype=bool)
    hypotheses = 0
    if runs >= statistical_runs(options):
        verdicts, statistical, hypotheses = _scan(norm, floors, options)
    else:
        verdicts = (_empty(rows), _empty(rows))
    # Short of current_runs + baseline_runs runs, in a small suite, a series the test did
    # not flag may still pass the provisional rule: the test has little to go on where too
    # few series share their noise (a 10x slowdown in 2 of 5 runs of a 5-test suite: 3
    # degrees of freedom). In a larger suite the pooled test knows the noise, and the rule
    # would only add the slow runs in a row a busy machine gives (bench/repeat_runs.py).
    short = small and runs < options.current_runs + options.baseline_runs
    judged = statistical & ~verdicts[UP].flagged if short else np.zeros(rows, dtype=bool)
    up, bar = _provisional(norm, floors, options, statistical & ~judged, verdicts[UP], only_flagged=judged, small=small)
    statistical = statistical & ~(judged & up.flagged)
    return Judgement(runs, statistical, up, verdicts[DOWN], hypotheses, bar)


def _empty(rows: int) -> Verdicts:
    def missing() -> FloatArray:
        return np.full(rows, np.nan)

    def zeros() -> IntArray:
        return np.zeros(rows, dtype=np.int64)

    return Verdicts(
        np.zeros(rows, dtype=bool),
        missing(),
        missing(),
        missing(),
        missing(),
        missing(),
        zeros(),
        zeros(),
        zeros(),
        zeros(),
    )


def _scan(
    norm: FloatArray, floors: FloatArray, options: AnalysisOptions
) -> tuple[tuple[Verdicts, Verdicts], BoolArray, int]:
    """Steps 3-6 on the series with enough runs: both directions, the rows judged, and how
    many series were under false-discovery control."""
    runs = norm.shape[1]
    shortest = max(options.persistence, 1, min(options.min_current_runs, runs - MIN_BASELINE))
    scans = shift_scans(
        norm,
        min_current=min(shortest, max(options.current_runs, 1)),
        max_current=max(options.current_runs, 1),
        min_baseline=MIN_BASELINE,
        clip=options.winsorize,
        pool_noise=options.pool_noise,
    )
    statistical = scans[UP].windows > 0
    # The family under false-discovery control: both directions of every series this
    # analysis could report (present in its newest run) whose window varies by at least the floor.
    eligible = statistical & ~np.isnan(norm[:, -1]) & (scans[UP].spread >= floors)
    rows = norm.shape[0]
    q = benjamini_hochberg(np.concatenate([np.where(eligible, scan.p_adjusted, np.nan) for scan in scans]))
    verdicts = []
    for direction, scan in enumerate(scans):
        sign = SIGNS[direction]
        level = np.where(statistical, scan.baseline * scan.ratio, np.nan)
        q_direction = q[direction * rows : (direction + 1) * rows]
        # ... and within its own direction: a fix's hundreds of improvements would
        # otherwise lower the bar for regressions of the tests it left unchanged.
        q_own = benjamini_hochberg(np.where(eligible, scan.p_adjusted, np.nan))
        with np.errstate(invalid="ignore"):
            flagged = (
                eligible
                & (q_direction <= options.false_discovery_rate)
                & (q_own <= options.false_discovery_rate)
                & (scan.p_adjusted < options.p_value)
                & (np.log(scan.ratio) * sign >= math.log(options.min_ratio))
                & ((level - scan.baseline) * sign >= floors)
                & _still_beyond(norm, scan.k, scan.baseline, scan.ratio, options.persistence, sign)
            )
        verdicts.append(
            Verdicts(
                flagged,
                level,
                np.where(statistical, scan.baseline, np.nan),
                np.where(statistical, scan.ratio, np.nan),
                np.where(statistical, scan.p_adjusted, np.nan),
                q_direction,
                scan.k,
                scan.n_current,
                scan.n_baseline,
                scan.windows,
            )
        )
    return (verdicts[UP], verdicts[DOWN]), statistical, int(eligible.sum())


def _provisional(
    norm: FloatArray,
    floors: FloatArray,
    options: AnalysisOptions,
    statistical: BoolArray,
    up: Verdicts,
    *,
    only_flagged: BoolArray,
    small: bool,
) -> tuple[Verdicts, float]:
    """The provisional rule for the series the statistical test could not judge (too short
    a history): each of the newest ``persistence`` runs at least the rule's ratio times the
    median of the runs before them, and above it by the floor; in a suite that is not
    ``small``, the rule's ratio is at least what the noise of all its series reaches
    (:func:`~otel_pytest.analyze.stats.noise_bar` at ``p_value``, family-wise: two runs
    against one leave each series nothing of its own to judge its noise by, the pool does).
    What the finding shows is
    the newest run against that median. Rows of ``only_flagged`` (judged by the test, and
    not flagged by it) keep their verdicts unless the rule flags them. Also returns the
    rule's ratio."""
    runs_seen = norm.shape[1]
    newest = max(options.persistence, 1)
    rule = max(options.provisional_min_ratio, options.min_ratio)
    if runs_seen <= newest:
        return up, rule
    earlier = norm[:, max(0, runs_seen - newest - options.baseline_runs) : runs_seen - newest]
    counts = (~np.isnan(earlier)).sum(axis=1)
    provisional = ~statistical & ~np.isnan(norm[:, -1]) & (counts > 0)
    if not provisional.any():
        return up, rule
    median = np.full(norm.shape[0], np.nan)
    median[provisional] = row_median(earlier[provisional])
    recent = norm[:, runs_seen - newest :]
    if not small:
        with np.errstate(divide="ignore", invalid="ignore"):
            moved = np.log(recent[provisional] / median[provisional, None])
        rule = max(rule, math.exp(noise_bar(np.where(np.isfinite(moved), moved, np.nan), options.p_value)))
    with np.errstate(divide="ignore", invalid="ignore"):
        passed = provisional & np.all(
            (np.where(median[:, None] > 0, recent / median[:, None], np.inf) >= rule)
            & (recent - median[:, None] >= floors[:, None]),
            axis=1,
        )
    replaced = passed | (provisional & ~only_flagged)
    current, baseline, ratio = up.current.copy(), up.baseline.copy(), up.ratio.copy()
    n_current, n_baseline, k = up.n_current.copy(), up.n_baseline.copy(), up.k.copy()
    p, q = up.p.copy(), up.q.copy()
    current[replaced] = norm[replaced, -1]
    baseline[replaced] = median[replaced]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio[replaced] = np.where(median[replaced] > 0, norm[replaced, -1] / median[replaced], np.inf)
    n_current[replaced] = 1
    n_baseline[replaced] = counts[replaced]
    k[replaced] = newest
    p[replaced] = np.nan
    q[replaced] = np.nan
    flagged = up.flagged.copy()
    flagged[replaced] = passed[replaced]
    return Verdicts(flagged, current, baseline, ratio, p, q, k, n_current, n_baseline, up.windows), rule


def _still_beyond(
    norm: FloatArray, k: IntArray, baseline: FloatArray, ratio: FloatArray, persistence: int, sign: float
) -> BoolArray:
    """Step 6: each of the newest ``persistence`` values of the row's current window (its
    newest ``k`` runs; runs without a value are skipped) is nearer the changed level than
    the baseline median: beyond their geometric midpoint, ``baseline * sqrt(ratio)``
    (above it for ``sign`` 1, below for -1). Beyond the median alone, an unchanged run
    that the noise put a little above it counted as changed: half of them do, so two slow
    runs after one were flagged as a 3-run step about every other time."""
    rows, runs = norm.shape
    if persistence < 1 or runs == 0:
        return np.ones(rows, dtype=bool)
    widest = min(int(k.max(initial=0)), runs)
    recent = norm[:, runs - widest :][:, ::-1]  # newest first
    present = ~np.isnan(recent)
    inside = np.arange(widest)[None, :] < k[:, None]
    checked = present & inside & (np.cumsum(present & inside, axis=1) <= persistence)
    with np.errstate(invalid="ignore"):
        beyond = (recent - (baseline * np.sqrt(ratio))[:, None]) * sign > 0
    held: BoolArray = np.all(beyond | ~checked, axis=1)
    return held


# -- state: the judgement replayed over the newest runs ------------------------------------


@dataclass
class Episodes:
    """Per series, one direction: the open change (if any) and the latest closed one.
    Columns are indices into the normalised matrix of :func:`track`."""

    open: BoolArray
    provisional: BoolArray
    step: IntArray  # first run of the change
    began: IntArray  # the analysis that first flagged it
    base_first: IntArray  # first run of its frozen baseline (which ends at step)
    p: FloatArray  # as the flagging analysis judged it
    q: FloatArray
    windows: IntArray
    hypotheses: IntArray
    bar: FloatArray  # the provisional rule's ratio in the flagging analysis
    closed: BoolArray  # the latest change of the row was closed ...
    closed_at: IntArray  # ... by the analysis of this run,
    ended: IntArray  # fixed from this run on
    closed_step: IntArray
    closed_began: IntArray
    closed_base_first: IntArray

    @classmethod
    def empty(cls, rows: int) -> Episodes:
        def ints() -> IntArray:
            return np.full(rows, -1, dtype=np.int64)

        def no() -> BoolArray:
            return np.zeros(rows, dtype=bool)

        nan = np.full(rows, np.nan)
        return cls(
            no(),
            no(),
            ints(),
            ints(),
            ints(),
            nan,
            nan.copy(),
            ints(),
            ints(),
            nan.copy(),
            no(),
            ints(),
            ints(),
            ints(),
            ints(),
            ints(),
        )


@dataclass(frozen=True)
class Tracked:
    """What :func:`track` found: the state after the newest analysis, per direction, and for
    each replayed analysis which series it reported as open (``reported[d][:, a]`` for the
    analysis of run ``analysed[a]``)."""

    first: int  # index into the history's runs of the normalised matrix's first column
    index: FloatArray  # speed index per normalised column
    index_applied: bool
    norm: FloatArray
    analysed: IntArray  # the normalised column of each replayed analysis
    episodes: tuple[Episodes, Episodes]
    reported: tuple[BoolArray, BoolArray]
    newest: Judgement  # the analysis of the newest run


def track(
    values: FloatArray,
    is_test: BoolArray,
    floors: FloatArray,
    options: AnalysisOptions,
    rescoped: BoolArray | None = None,
) -> Tracked:
    """Replay the analysis at each of the newest ``state_runs`` runs and follow each change
    as a state (the module docstring)."""
    first, index, applied, norm = normalised(values, is_test, options, rescoped)
    rows, columns = norm.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(norm > 0, np.log(np.where(norm > 0, norm, 1.0)), np.nan)
    analysed = np.arange(max(1, columns - max(options.state_runs, 1)), columns, dtype=np.int64)
    episodes = (Episodes.empty(rows), Episodes.empty(rows))
    reported = (np.zeros((rows, analysed.size), dtype=bool), np.zeros((rows, analysed.size), dtype=bool))
    width = span(options)
    newest = judge(norm[:, :1], floors, options, small=not applied)
    for position, column in enumerate(analysed.tolist()):
        window_first = max(0, column + 1 - width)
        newest = judge(norm[:, window_first : column + 1], floors, options, small=not applied)
        for direction in (UP, DOWN):
            state = episodes[direction]
            _follow(state, newest, direction, column, window_first, logs, floors, options)
            reported[direction][:, position] = _reported(state, logs, column, SIGNS[direction])
    return Tracked(first, index, applied, norm, analysed, episodes, reported, newest)


def _follow(
    state: Episodes,
    judged: Judgement,
    direction: int,
    column: int,
    window_first: int,
    logs: FloatArray,
    floors: FloatArray,
    options: AnalysisOptions,
) -> None:
    """One analysis's effect on one direction's episodes: open the newly flagged, confirm a
    provisional one the test now flags, close the fixed, drop what no longer holds."""
    verdicts = judged.verdicts(direction)
    flagged = verdicts.flagged
    sign = SIGNS[direction]
    new = flagged & ~state.open
    confirm = flagged & state.open & state.provisional & judged.statistical
    # A provisional change (the rule of a short history, against a baseline of one or a
    # few runs) lasts until the statistical test can judge it: confirmed, or dropped.
    state.open &= ~(state.provisional & judged.statistical & ~flagged)
    earlier = state.open & ~flagged
    for chosen in (new, confirm):
        if chosen.any():
            state.p[chosen] = verdicts.p[chosen]
            state.q[chosen] = verdicts.q[chosen]
            state.windows[chosen] = verdicts.windows[chosen]
            state.hypotheses[chosen] = judged.hypotheses
            state.bar[chosen] = judged.bar
            state.provisional[chosen] = ~judged.statistical[chosen]
    if new.any():
        state.open |= new
        state.step[new] = column - np.maximum(verdicts.k[new], 1) + 1
        state.began[new] = column
        state.base_first[new] = window_first
        state.closed[new] = False
    rows = np.flatnonzero(earlier & ~np.isnan(logs[:, column]))
    if rows.size == 0:
        return
    signed = sign * logs[rows, : column + 1]
    closing, ended = _closing(signed, state.step[rows], state.base_first[rows], options)
    if closing.any():
        shut = rows[closing]
        state.open[shut] = False
        state.closed[shut] = True
        state.closed_at[shut] = column
        state.ended[shut] = ended[closing]
        state.closed_step[shut] = state.step[shut]
        state.closed_began[shut] = state.began[shut]
        state.closed_base_first[shut] = state.base_first[shut]
    rest = ~closing
    if rest.any():
        kept = rows[rest]
        holds = _holds(
            signed[rest], sign, state.began[kept], state.step[kept], state.base_first[kept], floors[kept], options
        )
        state.open[kept[~holds]] = False


def _segments(columns: int, start: IntArray, end: IntArray) -> BoolArray:
    """Per row, the columns ``start <= c < end``."""
    c = np.arange(columns)[None, :]
    inside: BoolArray = (c >= start[:, None]) & (c < end[:, None])
    return inside


def _holds(
    signed: FloatArray,
    sign: float,
    began: IntArray,
    step: IntArray,
    base_first: IntArray,
    floors: FloatArray,
    options: AnalysisOptions,
) -> BoolArray:
    """Still beyond the frozen baseline (``signed``: the logs, negated for a downward
    change), by at least half of ``min_ratio`` (in logs) and half the floor:

    * every run since the step, together (one-sided winsorized t, p < ``p_value``); and
    * from ``MIN_SEGMENT`` of them on, the runs after the analysis that flagged it
      (p < ``HOLD_P``): the runs that flagged it were chosen for being high, and a chance
      excursion judged on them alone would hold for as long as they dominate."""
    columns = signed.shape[1]
    end = np.full(step.shape, columns)
    before = np.where(_segments(columns, base_first, step), signed, np.nan)
    since = _beyond(
        np.where(_segments(columns, step, end), signed, np.nan), before, sign, floors, options.p_value, options
    )
    fresh_values = np.where(_segments(columns, began + 1, end), signed, np.nan)
    fresh = _beyond(fresh_values, before, sign, floors, HOLD_P, options)
    held: BoolArray = since & (fresh | ((~np.isnan(fresh_values)).sum(axis=1) < MIN_SEGMENT))
    return held


def _beyond(
    values: FloatArray, before: FloatArray, sign: float, floors: FloatArray, p_value: float, options: AnalysisOptions
) -> BoolArray:
    """Rows whose ``values`` are above ``before`` (signed logs) at ``p_value``, by half of
    ``min_ratio`` and half the floor."""
    result = winsorized_t(values, before, clip=options.winsorize)
    p = one_sided_p(result.t, result.df)
    shift = hodges_lehmann(values, before)
    level = np.exp(sign * row_median(before))  # the baseline, in seconds
    with np.errstate(invalid="ignore"):
        gap = np.abs(np.expm1(sign * shift)) * level
        beyond: BoolArray = (p < p_value) & (shift >= math.log(options.min_ratio) / 2.0) & (gap >= floors / 2.0)
    return beyond


def _closing(
    signed: FloatArray, step: IntArray, base_first: IntArray, options: AnalysisOptions
) -> tuple[BoolArray, IntArray]:
    """Which rows are back: for some k from ``min_current_runs`` to ``current_runs``, the
    newest k runs are below the runs from the step to them (one-sided winsorized t,
    p x windows < ``p_value``, with at least ``MIN_SEGMENT`` runs of the raised level), and
    their level is nearer the frozen baseline's than the raised one's. Returns the rows and
    the first run of the chosen window (where it was fixed)."""
    rows, columns = signed.shape
    best = np.full(rows, np.inf)
    ended = np.full(rows, -1, dtype=np.int64)
    windows = np.zeros(rows, dtype=np.int64)
    nearer = np.zeros(rows, dtype=bool)
    base = np.where(_segments(columns, base_first, step), signed, np.nan)
    base_level = row_median(base)
    for size in range(max(options.min_current_runs, 1), max(options.current_runs, 1) + 1):
        start = columns - size
        raised = np.where(_segments(columns, step, np.full(rows, start)), signed, np.nan)[:, :start]
        testable = ((~np.isnan(raised)).sum(axis=1) >= MIN_SEGMENT) & (step < start)
        if not testable.any():
            continue
        newest = signed[:, start:]
        result = winsorized_t(newest, raised, clip=options.winsorize)
        p = one_sided_p(-result.t, result.df)
        raised_level = row_median(raised)
        level = row_median(newest)
        with np.errstate(invalid="ignore"):
            back = testable & (level - base_level < (raised_level - base_level) / 2.0)
            better = testable & (p < best)
        windows += testable
        best = np.where(better, p, best)
        ended = np.where(better, start, ended)
        nearer = np.where(better, back, nearer)
    closing: BoolArray = nearer & (best * np.maximum(windows, 1) < options.p_value)
    return closing, ended


def _reported(state: Episodes, logs: FloatArray, column: int, sign: float) -> BoolArray:
    """Open changes whose newest run is beyond their frozen baseline's median."""
    reported = np.zeros(state.open.shape, dtype=bool)
    rows = np.flatnonzero(state.open & ~np.isnan(logs[:, column]))
    if rows.size == 0:
        return reported
    base = np.where(_segments(column + 1, state.base_first[rows], state.step[rows]), logs[rows, : column + 1], np.nan)
    with np.errstate(invalid="ignore"):
        reported[rows] = (logs[rows, column] - row_median(base)) * sign > 0
    return reported


# -- what the detector reports ------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A series that changed (a regression, or an improvement with ``direction`` DOWN), as
    the newest analysis reports it (steps 1-6 and the state of the module docstring)."""

    info: SeriesInfo
    row: int
    direction: int
    status: str  # "open" or "closed"
    provisional: bool
    current: float  # seconds, speed-normalised: the level since the step (closed: the newest runs')
    baseline: float  # median of the frozen baseline
    ratio: float  # current / baseline (Hodges-Lehmann on the logs)
    raised: float  # the level from the step on (closed: until the fix)
    p: float  # the flagging analysis's p x windows tested; NaN when provisional
    q: float
    n_current: int  # runs since the step
    n_baseline: int
    hypotheses: int
    windows: int
    bar: float  # the provisional rule's ratio when it flagged the change
    speed_index: float  # of the newest run
    index_applied: bool
    first: int  # index into history.runs of the first run of ``normalised``
    normalised: FloatArray  # this series from its frozen baseline's first run on, divided by the speed index
    step: int  # index into history.runs: the change's first run
    began: int  # the run whose analysis first reported it
    ended: int | None  # closed: the first run without it
    runs: int  # runs in the history

    @property
    def age(self) -> int:
        """Runs from the first that reported it to the newest, both counted."""
        return self.runs - self.began

    @property
    def held(self) -> int:
        """Runs at the changed level: from the step to the newest (closed: to the fix)."""
        return (self.ended if self.ended is not None else self.runs) - self.step

    @property
    def difference(self) -> float:
        return self.current - self.baseline

    @property
    def saving(self) -> float:
        """Seconds per run an open regression costs: the difference of levels times how
        often the newest run paid it (0 for an improvement or a closed regression)."""
        if self.direction != UP or self.status != "open":
            return 0.0
        return max(self.difference, 0.0) * self.info.calls

    @property
    def saved(self) -> float:
        """Seconds per run an improvement saves (or a closed regression gave back)."""
        gap = self.baseline - self.current if self.direction == DOWN else self.raised - self.current
        return max(gap, 0.0) * self.info.calls


# Closed regressions and improvements are reported for this many runs after the analysis
# that first saw them (the fix, and what it saved, lead the reports that follow it).
RECENT_RUNS = 10


@dataclass(frozen=True)
class Changes:
    """Everything the newest analysis reports, and the tracking behind it."""

    regressions: tuple[Change, ...]  # open
    closed: tuple[Change, ...]  # fixed regressions
    improvements: tuple[Change, ...]  # open
    tracked: Tracked | None


def find_changes(history: History, options: AnalysisOptions, matrix: SeriesMatrix | None = None) -> Changes:
    """Steps 1-6 and the state of the module docstring: the changes the newest analysis
    reports, without change points (the duration detector adds them)."""
    if options.current_runs < 1 or options.baseline_runs < 1:
        raise ValueError(
            f"current_runs and baseline_runs must be at least 1, got {options.current_runs} and {options.baseline_runs}"
        )
    runs = len(history.runs)
    if runs < 2 or options.persistence < 1 or runs <= options.persistence:
        return Changes((), (), (), None)
    matrix = matrix if matrix is not None else build_series(history)
    if not matrix.infos:
        return Changes((), (), (), None)
    return report(_tracked(matrix, floors(matrix.infos, options), options), matrix, options, runs)


def _tracked(matrix: SeriesMatrix, limits: FloatArray, options: AnalysisOptions) -> Tracked:
    """:func:`track` of the matrix, from the analysis's memo when the previous analysis
    tracked the very same matrices (:mod:`otel_pytest.analyze.state`: an unchanged history;
    a new run moves every run's speed index, so its replays are made again), else tracked
    now and kept for the next one."""
    memo = state.active()
    rescoped = matrix.rescoped
    key = None
    if memo is not None:
        inputs = (matrix.values, matrix.is_test, limits, *(() if rescoped is None else (rescoped,)))
        shapes = repr([(array.dtype.str, array.shape) for array in inputs]).encode()
        key = memo.key("durations track", options, (), shapes, *(np.ascontiguousarray(a).tobytes() for a in inputs))
    if memo is not None and key is not None:
        entry = memo.recall(key)
        if entry is not None:
            return _from_entry(entry)
    tracked = track(matrix.values, matrix.is_test, limits, options, rescoped)
    if memo is not None and key is not None:
        memo.keep(key, _entry(tracked))
    return tracked


def _entry(tracked: Tracked) -> state.Entry:
    """``tracked`` as named arrays (fields joined by dots; scalars as 0-d arrays)."""
    entry: state.Entry = {}

    def flatten(name: str, value: object) -> None:
        if isinstance(value, np.ndarray):
            entry[name] = value
        elif dataclasses.is_dataclass(value):
            for item in dataclasses.fields(value):
                flatten(f"{name}.{item.name}", getattr(value, item.name))
        elif isinstance(value, tuple):
            for position, item in enumerate(value):
                flatten(f"{name}.{position}", item)
        else:
            entry[name] = np.array(value)

    flatten("tracked", tracked)
    return entry


def _from_entry(entry: state.Entry) -> Tracked:
    """The :class:`Tracked` that :func:`_entry` wrote."""

    def arrays(kind: type[Verdicts] | type[Episodes], name: str) -> Any:
        return kind(**{item.name: entry[f"{name}.{item.name}"] for item in dataclasses.fields(kind)})

    newest = "tracked.newest"
    return Tracked(
        first=int(entry["tracked.first"]),
        index=entry["tracked.index"],
        index_applied=bool(entry["tracked.index_applied"]),
        norm=entry["tracked.norm"],
        analysed=entry["tracked.analysed"],
        episodes=(arrays(Episodes, "tracked.episodes.0"), arrays(Episodes, "tracked.episodes.1")),
        reported=(entry["tracked.reported.0"], entry["tracked.reported.1"]),
        newest=Judgement(
            runs=int(entry[f"{newest}.runs"]),
            statistical=entry[f"{newest}.statistical"],
            up=arrays(Verdicts, f"{newest}.up"),
            down=arrays(Verdicts, f"{newest}.down"),
            hypotheses=int(entry[f"{newest}.hypotheses"]),
            bar=float(entry[f"{newest}.bar"]),
        ),
    )


def report(tracked: Tracked, matrix: SeriesMatrix, options: AnalysisOptions, runs: int) -> Changes:
    """The changes reported by the newest analysis of ``tracked``."""
    newest_column = tracked.norm.shape[1] - 1
    recent = newest_column - RECENT_RUNS
    up, down = tracked.episodes
    regressions = (
        [
            _change(tracked, matrix, UP, int(row), "open", runs, options.persistence)
            for row in np.flatnonzero(tracked.reported[UP][:, -1])
        ]
        if tracked.analysed.size
        else []
    )
    closed = [
        _change(tracked, matrix, UP, int(row), "closed", runs, options.persistence)
        for row in np.flatnonzero(up.closed & ~up.open & (up.closed_at > recent))
    ]
    fixed = {change.row for change in closed}
    improvements = (
        [
            _change(tracked, matrix, DOWN, int(row), "open", runs, options.persistence)
            for row in np.flatnonzero(tracked.reported[DOWN][:, -1] & (down.began > recent))
            if int(row) not in fixed
        ]
        if tracked.analysed.size
        else []
    )
    return Changes(tuple(regressions), tuple(closed), tuple(improvements), tracked)


def _change(
    tracked: Tracked, matrix: SeriesMatrix, direction: int, row: int, status: str, runs: int, persistence: int
) -> Change:
    state = tracked.episodes[direction]
    closed = status == "closed"
    step = int(state.closed_step[row] if closed else state.step[row])
    began = int(state.closed_began[row] if closed else state.began[row])
    base_first = int(state.closed_base_first[row] if closed else state.base_first[row])
    ended = int(state.ended[row]) if closed else None
    series = tracked.norm[row]
    step = _refined(series[base_first : ended if ended is not None else None], step - base_first, began - base_first)
    step += base_first
    # Reported from the persistence-th run since its step on, never before: a replay whose
    # newest window held a run that was high by chance may flag two slow runs, and a later
    # replay (each new run moves the speed index of the earlier ones) place the start there,
    # after the analysis of that run itself had not reported it; dated so, the change would
    # never gate (--gate-runs counts from began), though first reported in the newest run.
    began = min(max(began, step + persistence - 1), tracked.norm.shape[1] - 1)
    base = series[base_first:step]
    baseline = float(np.nanmedian(base)) if (~np.isnan(base)).any() else math.nan
    raised_part = series[step : ended if ended is not None else None]
    raised = float(np.nanmedian(raised_part)) if (~np.isnan(raised_part)).any() else math.nan
    now = series[ended:] if ended is not None else raised_part
    with np.errstate(all="ignore"):
        shift = float(hodges_lehmann(np.log(now)[None, :], np.log(base)[None, :])[0])
    ratio = math.exp(shift) if math.isfinite(shift) else math.nan
    current = baseline * ratio
    return Change(
        info=matrix.infos[row],
        row=row,
        direction=direction,
        status=status,
        provisional=bool(state.provisional[row]),
        current=current,
        baseline=baseline,
        ratio=ratio,
        raised=raised,
        p=float(state.p[row]),
        q=float(state.q[row]),
        n_current=int((~np.isnan(raised_part)).sum()),
        n_baseline=int((~np.isnan(base)).sum()),
        hypotheses=int(state.hypotheses[row]),
        bar=float(state.bar[row]),
        windows=int(state.windows[row]),
        speed_index=float(tracked.index[-1]),
        index_applied=tracked.index_applied,
        first=tracked.first + base_first,
        normalised=series[base_first:].copy(),
        step=tracked.first + step,
        began=tracked.first + began,
        ended=None if ended is None else tracked.first + ended,
        runs=runs,
    )


def _refined(values: FloatArray, earliest: int, latest: int) -> int:
    """Where in ``earliest..latest`` the change most likely began: the split of the log
    values into a before and an after level with the least squared error. The flagging
    analysis's current window starts at ``earliest`` and may hold a few unchanged runs (a
    window of 5 with a dip before a step of 1); its analysis's run is ``latest``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(values)
    present = np.isfinite(logs)
    best, best_error = earliest, math.inf
    for split in range(max(earliest, 1), min(latest, values.size - 1) + 1):
        before, after = logs[:split][present[:split]], logs[split:][present[split:]]
        if before.size == 0 or after.size == 0:
            continue
        error = float(((before - before.mean()) ** 2).sum() + ((after - after.mean()) ** 2).sum())
        if error < best_error:
            best, best_error = split, error
    return best


def find_regressions(history: History, options: AnalysisOptions, matrix: SeriesMatrix | None = None) -> list[Change]:
    """The open regressions the newest analysis reports."""
    return list(find_changes(history, options, matrix).regressions)


@dataclass(frozen=True)
class Step:
    """Where a change's step happened."""

    run: int  # index into history.runs
    significant: bool  # E-divisive permutation test passed at change_point_p
    p: float  # the permutation p-value (an estimate when not significant)
    before: float  # normalised median of the segment before the step
    after: float


def locate_step(change: Change, options: AnalysisOptions, *, test_significance: bool = True) -> Step | None:
    """The run where the change's step happened, over its frozen baseline and the runs
    since (to the fix, for a closed one).

    E-divisive means gives the significant change points; the latest one in the change's
    direction is the step. When none is significant yet (a step carried by the few newest
    runs rarely reaches p <= 0.001), :func:`otel_pytest.analyze.stats.last_step` names the
    most likely run, and the finding says it is not significant. ``test_significance=False``
    skips the permutation test (the duration detector does past its
    ``MAX_CHANGE_POINT_TESTS`` changes).
    """
    values = change.normalised
    if change.ended is not None:
        values = values[: change.ended - change.first]
    present = np.flatnonzero(~np.isnan(values))
    if present.size < MIN_SEGMENT + 1:
        return None
    sign = SIGNS[change.direction]
    series = values[present]
    segment_start = 0
    candidate = None
    if test_significance and present.size >= 2 * MIN_SEGMENT:
        found = e_divisive(
            series,
            window=options.change_point_window,
            p_value=options.change_point_p,
            seed=options.seed,
            min_size=MIN_SEGMENT,
        )
        for point in reversed(found.points):
            if (point.after - point.before) * sign > 0:
                return Step(change.first + int(present[point.index]), True, point.p_value, point.before, point.after)
        if found.points:
            segment_start = found.points[-1].index
        candidate = found.candidate
    # A young change holds in fewer runs than a segment: as many as it has held.
    shortest = max(1, min(MIN_SEGMENT, change.held))
    index = last_step(
        series[segment_start:], min_before=min(MIN_SEGMENT, max(1, present.size - shortest)), min_after=shortest
    )
    if index is None:
        return None
    index += segment_start
    before = float(np.median(series[segment_start:index]))
    after = float(np.median(series[index:]))
    if (after - before) * sign <= 0:
        return None
    p = candidate.p_value if candidate is not None and candidate.index == index else math.nan
    return Step(change.first + int(present[index]), False, p, before, after)
