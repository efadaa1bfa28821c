"""Duration regressions (statistical) and count regressions (exact) of tests, fixtures and statements.

Two detectors, both pure functions of a history and options:

* :func:`detect_durations` (kind ``"regression"``): did a test's own duration, a fixture's
  setup or teardown time per call, or a statement's time per execution get slower?

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

* :func:`detect_counts` (kind ``"count"``): a test runs more queries, transactions,
  physical connections or commits than in its previous passed run and than the median of
  its baseline runs (by at least ``count_min_increase`` and ``count_min_ratio``) and than
  any baseline run, or runs a statement fingerprint it never ran in the baseline runs. Counts are exact, so there is
  no statistics: a count regression is reported at the run where it appeared.

:func:`detect` runs both. Severity is by the seconds per run the regression costs
(``severity_high_seconds``, ``severity_medium_seconds``), which is also ``Finding.saving``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from otel_pytest.analyze.findings import Finding, Location, Measurement
from otel_pytest.analyze.model import History, RunSummary, TestSample
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
# Change-point significance costs ~0.1 s per regressed series (999 permutations); past this
# many regressions in one analysis (the costliest first) the step is only located, not tested.
MAX_CHANGE_POINT_TESTS = 20
# Fewest values in a window for the statistical test on a series with gaps.
MIN_SEGMENT = 3

# db.summary keys compared by the count detector, with the words a reader sees.
COUNT_METRICS: tuple[tuple[str, str], ...] = (
    ("queries", "queries"),
    ("transactions", "transactions"),
    ("connections", "physical connections"),
    ("commits", "commits"),
)
COUNTED_OUTCOMES = frozenset({"passed"})


# -- series ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesInfo:
    """What one series measures, and where it points."""

    key: str  # unique within an analysis: "<kind>:<identity>"
    kind: str  # "test", "fixture setup", "fixture teardown", "statement"
    label: str  # how a reader names it: the node id, "fixture db setup", "statement SELECT …"
    measure: str  # "own duration", "setup per call", "teardown per call", "time per execution"
    location: Location
    calls: float  # how often the newest run paid the value (1 for a test): saving = difference x calls


@dataclass(frozen=True)
class SeriesMatrix:
    """Every series of a history: raw values ``(series, runs)``, ``NaN`` where absent."""

    infos: tuple[SeriesInfo, ...]
    values: FloatArray
    is_test: BoolArray


def build_series(history: History) -> SeriesMatrix:
    """Tests (own duration of passed runs: a failure or a skip says nothing about speed),
    fixtures (setup and teardown time per call) and statements (time per execution), with
    their description taken from the newest run that has them."""
    runs = history.runs
    rows: dict[str, int] = {}
    infos: dict[str, SeriesInfo] = {}
    cells: list[tuple[int, int, float]] = []

    def add(column: int, info: SeriesInfo, value: float) -> None:
        row = rows.setdefault(info.key, len(rows))
        infos[info.key] = info  # runs are oldest first: the newest description wins
        cells.append((row, column, value))

    for column, run in enumerate(runs):
        for sample in run.tests.values():
            if sample.outcome in COUNTED_OUTCOMES:
                add(column, _test_info(sample), sample.own_duration)
        for fixture in run.fixtures.values():
            site = Location(fixture=fixture.name, file=fixture.file, line=fixture.line)
            if fixture.setups > 0:
                info = SeriesInfo(
                    f"fixture setup:{fixture.key}",
                    "fixture setup",
                    f"fixture {fixture.name} setup",
                    "setup per call",
                    site,
                    float(fixture.setups),
                )
                add(column, info, fixture.setup_time / fixture.setups)
            if fixture.teardowns > 0:
                info = SeriesInfo(
                    f"fixture teardown:{fixture.key}",
                    "fixture teardown",
                    f"fixture {fixture.name} teardown",
                    "teardown per call",
                    site,
                    float(fixture.teardowns),
                )
                add(column, info, fixture.teardown_time / fixture.teardowns)
        for statement in run.statements.values():
            if statement.count > 0:
                info = SeriesInfo(
                    f"statement:{statement.fingerprint_id}",
                    "statement",
                    f"statement {_short(statement.fingerprint)}",
                    "time per execution",
                    Location(fingerprint=statement.fingerprint),
                    float(statement.count),
                )
                add(column, info, statement.total_time / statement.count)
    ordered = sorted(rows, key=rows.__getitem__)
    values = np.full((len(ordered), len(runs)), np.nan)
    if cells:
        r, c, v = (np.asarray(part) for part in zip(*cells, strict=True))
        values[r.astype(np.int64), c.astype(np.int64)] = v
    is_test = np.array([infos[key].kind == "test" for key in ordered], dtype=bool)
    return SeriesMatrix(tuple(infos[key] for key in ordered), values, is_test)


def _test_info(sample: TestSample) -> SeriesInfo:
    return SeriesInfo(
        f"test:{sample.test_id}",
        "test",
        sample.nodeid,
        "own duration",
        Location(test=sample.nodeid, file=sample.file, line=sample.line),
        1.0,
    )


def _floors(infos: Sequence[SeriesInfo], options: AnalysisOptions) -> FloatArray:
    return np.array(
        [options.floor_statement if info.kind == "statement" else options.floor_test for info in infos],
        dtype=np.float64,
    )


# -- one analysis -------------------------------------------------------------------------


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
    current_runs, baseline_runs = options.current_runs, options.baseline_runs
    span = max(current_runs + baseline_runs, options.change_point_window)
    first = max(0, total - span)
    window = values[:, first:total]
    tests = window[is_test]
    index_applied = bool(((~np.isnan(tests)).sum(axis=0) >= MIN_TESTS_FOR_SPEED_INDEX).any())
    index = speed_index(tests, min_series=MIN_TESTS_FOR_SPEED_INDEX) if index_applied else np.ones(window.shape[1])
    norm = normalise(window, index)
    rows = norm.shape[0]
    statistical = np.zeros(rows, dtype=bool)
    flagged = np.zeros(rows, dtype=bool)
    current = np.full(rows, np.nan)
    baseline = np.full(rows, np.nan)
    ratio = np.full(rows, np.nan)
    p = np.full(rows, np.nan)
    q = np.full(rows, np.nan)
    n_current = np.zeros(rows, dtype=np.int64)
    n_baseline = np.zeros(rows, dtype=np.int64)
    windows = np.zeros(rows, dtype=np.int64)
    hypotheses = 0
    newest_present = ~np.isnan(norm[:, -1])
    if total >= current_runs + baseline_runs:
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
        eligible = statistical & newest_present & (scan.spread >= floors)
        hypotheses = int(eligible.sum())
        q = benjamini_hochberg(np.where(eligible, scan.p_adjusted, np.nan))
        level = np.where(statistical, scan.baseline * scan.ratio, np.nan)
        with np.errstate(invalid="ignore"):
            flagged = (
                eligible
                & (q <= options.false_discovery_rate)
                & (scan.p_adjusted < options.p_value)
                & (scan.ratio >= options.min_ratio)
                & (level - scan.baseline >= floors)
                & _still_above(norm, scan.k, scan.baseline, options.persistence)
            )
        current = level
        baseline = np.where(statistical, scan.baseline, np.nan)
        ratio = np.where(statistical, scan.ratio, np.nan)
        p = np.where(statistical, scan.p_adjusted, np.nan)
        n_current = scan.n_current
        n_baseline = scan.n_baseline
        windows = scan.windows
    newest = max(options.persistence, 1)
    provisional = ~statistical & newest_present
    runs_seen = norm.shape[1]
    if runs_seen > newest:
        # What the finding shows: the newest run against the median of the runs before it.
        earlier = norm[:, max(0, runs_seen - 1 - baseline_runs) : runs_seen - 1]
        counts = (~np.isnan(earlier)).sum(axis=1)
        provisional &= counts > 0
        if provisional.any():
            median = np.nanmedian(earlier[provisional], axis=1)
            value = norm[provisional, -1]
            current[provisional] = value
            baseline[provisional] = median
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio[provisional] = np.where(median > 0, value / median, np.inf)
            n_current[provisional] = 1
            n_baseline[provisional] = counts[provisional]
        # The rule: each of the newest `persistence` runs against the median of the runs before it.
        rule = max(options.provisional_min_ratio, options.min_ratio)
        held = provisional.copy()
        for back in range(1, newest + 1):
            if not held.any():
                break
            value = norm[:, runs_seen - back]
            before = norm[:, max(0, runs_seen - back - baseline_runs) : runs_seen - back]
            held &= ~np.isnan(value) & ((~np.isnan(before)).sum(axis=1) > 0)
            median = np.full(rows, np.nan)
            median[held] = np.nanmedian(before[held], axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                held &= (np.where(median > 0, value / median, np.inf) >= rule) & (value - median >= floors)
        flagged[provisional] = held[provisional]
    else:
        provisional[:] = False
    return Judgement(
        total,
        first,
        statistical,
        flagged,
        current,
        baseline,
        ratio,
        p,
        q,
        n_current,
        n_baseline,
        windows,
        hypotheses,
        index,
        index_applied,
        norm,
    )


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


# -- regressions --------------------------------------------------------------------------


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
    change points (the benchmark calls this after every run; :func:`detect_durations` adds
    the change points and the words)."""
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
    newest = judge(matrix.values, matrix.is_test, _floors(matrix.infos, options), options)
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
    permutation test (used past ``MAX_CHANGE_POINT_TESTS`` regressions).
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


def detect_durations(history: History, options: AnalysisOptions) -> list[Finding]:
    """Duration regressions of tests, fixtures and statements; see the module docstring."""
    matrix = build_series(history)
    regressions = find_regressions(history, options, matrix)
    ranked = sorted(regressions, key=lambda r: (-r.saving, r.info.key))
    findings = []
    for rank, regression in enumerate(ranked):
        step = locate_step(regression, options, test_significance=rank < MAX_CHANGE_POINT_TESTS)
        findings.append(_duration_finding(history, matrix, regression, step, options))
    return findings


def _duration_finding(
    history: History, matrix: SeriesMatrix, regression: Regression, step: Step | None, options: AnalysisOptions
) -> Finding:
    runs = history.runs
    info = regression.info
    newest = runs[-1]
    percent = (regression.ratio - 1.0) * 100.0
    per = "" if info.kind == "test" else f" {_per(info)}"
    calls = "" if info.kind == "test" else f", {_count(info.calls)} {_calls(info)} per run"
    title = (
        f"{info.label} got {percent:.0f} % slower ({_seconds(regression.baseline)} -> "
        f"{_seconds(regression.current)}{per}{calls})"
    )
    measurements = [
        Measurement(info.measure, regression.current, "s", baseline=regression.baseline),
        Measurement("ratio", regression.ratio, "ratio", baseline=1.0),
        Measurement("cost per run", regression.saving, "s"),
    ]
    if info.kind != "test":
        measurements.append(Measurement(_calls(info), info.calls, "count"))
    if not regression.provisional:
        measurements.append(Measurement("p (winsorized t, Bonferroni over current windows)", regression.p, "p"))
        measurements.append(Measurement("q (false-discovery adjusted)", regression.q, "p"))
    if regression.index_applied:
        measurements.append(Measurement("speed index of the newest run", regression.speed_index, "ratio", baseline=1.0))
    evidence = {"current_run": newest.run_id}
    if newest.revision:
        evidence["current_revision"] = newest.revision
    if step is not None:
        run = runs[step.run]
        evidence["change_point_run"] = run.run_id
        if run.revision:
            evidence["change_point_revision"] = run.revision
        evidence["change_point"] = (
            f"E-divisive means, permutation p={step.p:.2g} <= {options.change_point_p:g}"
            if step.significant
            else f"most likely split (E-divisive energy statistic); not significant at p <= {options.change_point_p:g}"
        )
    series = matrix.values[regression.row]
    chart = tuple((runs[i].run_id, float(series[i])) for i in range(len(runs)) if not np.isnan(series[i]))
    return Finding(
        kind="regression",
        severity=_severity(regression.saving, options),
        title=title,
        location=info.location,
        measurements=tuple(measurements),
        confidence=_duration_confidence(regression, len(runs), options),
        suggestion=_duration_suggestion(runs, regression, step),
        saving=regression.saving,
        evidence=evidence,
        history=chart,
        provisional=regression.provisional,
    )


def _duration_confidence(regression: Regression, runs: int, options: AnalysisOptions) -> str:
    index = (
        f"durations divided by the per-run speed index (newest run {regression.speed_index:.2f})"
        if regression.index_applied
        else f"not speed-normalised (fewer than {MIN_TESTS_FOR_SPEED_INDEX} tests per run)"
    )
    newest = _runs(options.persistence)
    if regression.provisional:
        needed = options.current_runs + options.baseline_runs
        reason = (
            f"only {runs} runs, fewer than the {needed} the statistical test needs"
            if runs < needed
            else "too few runs of this series for the statistical test"
        )
        rule = max(options.provisional_min_ratio, options.min_ratio)
        each = (
            f"each of the newest {newest} with the median of the runs before it"
            if options.persistence > 1
            else "the newest run with the median of the runs before it"
        )
        return (
            f"provisional: {reason}; simple comparison of {each} (newest run {regression.ratio:.2f}x the "
            f"median of the {regression.n_baseline} before it, rule >= {rule:g}x); no significance claimed; "
            f"{index}"
        )
    held = f"the newest {newest} above the baseline median"
    pooled = (
        "; each series' noise moderated towards all series' (empirical Bayes, from 20 series on)"
        if options.pool_noise
        else ""
    )
    return (
        f"p={regression.p:.2g}, one-sided t on winsorized log durations, newest {regression.n_current} vs "
        f"previous {regression.n_baseline} runs, the most significant of {regression.windows} current windows "
        f"(p x {regression.windows}, Bonferroni){pooled}; q={regression.q:.2g} after Benjamini-Hochberg over "
        f"{regression.hypotheses} series (rate {options.false_discovery_rate:g}); {held}; {index}"
    )


def _runs(count: int) -> str:
    return "run" if count == 1 else f"{count} runs"


def _duration_suggestion(runs: Sequence[RunSummary], regression: Regression, step: Step | None) -> str:
    info = regression.info
    per = "" if info.kind == "test" else f" {_per(info)}"
    change = f"now takes {_seconds(regression.current)}{per} instead of {_seconds(regression.baseline)}"
    if step is not None:
        run = runs[step.run]
        sure = "where the step happened" if step.significant else "where the step most likely began"
        where = (
            f"the change in {run.revision} (run {run.run_id}, {sure})"
            if run.revision
            else f"what changed in run {run.run_id} ({sure})"
        )
        head = f"Look at {where}: {info.label} {change}."
    else:
        head = f"Look at what changed in the last runs: {info.label} {change}."
    if info.kind == "test":
        tail = " Compare its trace with one from before the step to see which span grew."
    elif info.kind == "statement":
        tail = (
            f" It runs {_count(info.calls)} times per run: check its plan (EXPLAIN ANALYZE), indexes and the "
            f"data the tests create."
        )
    else:
        tail = (
            f" It runs {_count(info.calls)} times per run, so the change costs {_seconds(regression.saving)} "
            f"per run; if its result can be shared, a wider scope would pay it once."
        )
    return head + tail


# -- count regressions -------------------------------------------------------------------


@dataclass(frozen=True)
class CountIncrease:
    metric: str
    words: str
    current: float
    previous: float
    baseline: float  # median over the baseline runs


def detect_counts(history: History, options: AnalysisOptions) -> list[Finding]:
    """Count regressions of the newest run; see the module docstring.

    The comparison is with the test's latest *passed* run before this one and with the
    median of its passed runs among the ``baseline_runs`` before (a failed run may have
    stopped early). The count must also exceed every baseline value: a count that flips
    between two values (a pool that sometimes has a connection ready) would otherwise be
    "up" against the median of an odd number of runs every other run. A test with no
    earlier run is new, not regressed. A new statement is
    one the test never ran (in any outcome) in those runs. One finding per test gathers
    all its increases.
    """
    runs = history.runs
    if len(runs) < 2:
        return []
    newest = runs[-1]
    earlier = runs[-(options.baseline_runs + 1) : -1]
    findings = []
    for test_id in sorted(newest.tests):
        sample = newest.tests[test_id]
        if sample.outcome not in COUNTED_OUTCOMES:
            continue
        past = [(run, run.tests[test_id]) for run in earlier if test_id in run.tests]
        passed = [(run, past_sample) for run, past_sample in past if past_sample.outcome in COUNTED_OUTCOMES]
        if not passed:
            continue
        previous_run, previous = passed[-1]
        increases = []
        for metric, words in COUNT_METRICS:
            now = float(sample.db.get(metric, 0.0))
            before = float(previous.db.get(metric, 0.0))
            baseline = [float(s.db.get(metric, 0.0)) for _, s in passed]
            median = float(np.median(baseline))
            if (
                now > before
                and now > max(baseline)
                and now - median >= options.count_min_increase
                and (median <= 0 or now >= median * options.count_min_ratio)
            ):
                increases.append(CountIncrease(metric, words, now, before, median))
        seen: set[str] = set()
        for _, past_sample in past:
            seen |= past_sample.statements
        new_statements = sorted(sample.statements - seen)
        if increases or new_statements:
            findings.append(_count_finding(runs, sample, previous_run, len(passed), increases, new_statements, options))
    return _merge_new_statements(findings, options)


def _merge_new_statements(findings: list[Finding], options: AnalysisOptions) -> list[Finding]:
    """One finding for the same new statements in several tests (one code change reached by
    many tests), instead of one per test; findings with count increases stay per test."""
    groups: dict[tuple[str, ...], list[Finding]] = {}
    kept: list[Finding] = []
    for finding in findings:
        new = tuple(value for key, value in sorted(finding.evidence.items()) if key.startswith("new_statement_"))
        only_new = new and all(m.name in ("new statements", "estimated cost per run") for m in finding.measurements)
        if only_new:
            groups.setdefault(new, []).append(finding)
        else:
            kept.append(finding)
    for group in groups.values():
        if len(group) == 1:
            kept.append(group[0])
            continue
        first = group[0]
        tests = [finding.location.test or "" for finding in group]
        saving = sum(finding.saving for finding in group)
        statement = first.title.split(": ", 1)[1]
        named = ", ".join(tests[:3]) + (f" and {len(tests) - 3} more" if len(tests) > 3 else "")
        kept.append(
            dataclasses.replace(
                first,
                title=f"{statement}, in {len(tests)} tests",
                severity=_severity(saving, options),
                measurements=(
                    *(m for m in first.measurements if m.name == "new statements"),
                    Measurement("tests", float(len(tests)), "count", baseline=0.0),
                    Measurement("estimated cost per run", saving, "s"),
                ),
                suggestion=first.suggestion.replace(tests[0], named, 1),
                saving=saving,
            )
        )
    return kept


def _count_finding(
    runs: Sequence[RunSummary],
    sample: TestSample,
    previous_run: RunSummary,
    baseline_size: int,
    increases: Sequence[CountIncrease],
    new_statements: Sequence[str],
    options: AnalysisOptions,
) -> Finding:
    newest = runs[-1]
    texts = [_statement_text(newest, fid) for fid in new_statements]
    cost = _count_cost(newest, sample, increases, new_statements)
    changes = [f"{_count(i.current)} {_noun(i.words, i.current)} instead of {_count(i.baseline)}" for i in increases]
    if texts:
        noun = "new statement" if len(texts) == 1 else f"{len(texts)} new statements"
        changes.append(f"{noun} {_short(texts[0], 60)}")
    title = f"{sample.nodeid}: " + ", ".join(changes)
    measurements = [Measurement(i.words, i.current, "count", baseline=i.baseline) for i in increases]
    measurements += [Measurement(f"{i.words} in the previous run", i.previous, "count") for i in increases]
    if new_statements:
        measurements.append(Measurement("new statements", float(len(new_statements)), "count", baseline=0.0))
    measurements.append(Measurement("estimated cost per run", cost, "s"))
    where = (
        f"the change in {newest.revision} (run {newest.run_id})"
        if newest.revision
        else f"what changed in run {newest.run_id}"
    )
    detail = []
    if increases:
        detail.append(", ".join(changes[: len(increases)]))
    if texts:
        detail.append(
            "new: "
            + "; ".join(_short(text, 120) for text in texts[:3])
            + (f" and {len(texts) - 3} more" if len(texts) > 3 else "")
        )
    advice = _count_advice(increases)
    suggestion = f"Look at {where}: {sample.nodeid} now runs {'; '.join(detail)}.{advice}"
    evidence = {"current_run": newest.run_id, "previous_run": previous_run.run_id}
    if newest.revision:
        evidence["current_revision"] = newest.revision
    if previous_run.revision:
        evidence["previous_revision"] = previous_run.revision
    for position, fid in enumerate(new_statements):
        evidence[f"new_statement_{position + 1}"] = fid
    metric = increases[0].metric if increases else "queries"
    chart = tuple(
        (run.run_id, float(run.tests[sample.test_id].db.get(metric, 0.0)))
        for run in runs
        if sample.test_id in run.tests
    )
    confidence = (
        f"exact counts: this run against the previous passed run ({previous_run.run_id}) and the median of "
        f"{baseline_size} passed runs before it"
    )
    return Finding(
        kind="count",
        severity=_severity(cost, options),
        title=title,
        location=Location(test=sample.nodeid, file=sample.file, line=sample.line),
        measurements=tuple(measurements),
        confidence=confidence,
        suggestion=suggestion,
        saving=cost,
        evidence=evidence,
        history=chart,
    )


def _count_cost(
    run: RunSummary, sample: TestSample, increases: Iterable[CountIncrease], new_statements: Sequence[str]
) -> float:
    """Seconds per run the extra work costs, from this run's own times: extra queries x the
    test's mean query time (or, if larger, the new statements' mean time per test), plus
    extra connections x its mean connect time. Transactions and commits carry no time of
    their own in the summary, so they add nothing (the finding still stands)."""
    db = sample.db
    by_metric = {i.metric: i for i in increases}
    queries = 0.0
    if "queries" in by_metric and db.get("queries", 0.0) > 0:
        extra = by_metric["queries"].current - by_metric["queries"].baseline
        queries = extra * float(db.get("query_time", 0.0)) / float(db["queries"])
    statements = 0.0
    for fid in new_statements:
        stats = run.statements.get(fid)
        if stats is not None and stats.tests > 0:
            statements += stats.total_time / stats.tests
    connections = 0.0
    if "connections" in by_metric and db.get("connections", 0.0) > 0:
        extra = by_metric["connections"].current - by_metric["connections"].baseline
        connections = extra * float(db.get("connection_time", 0.0)) / float(db["connections"])
    return max(queries, statements) + connections


def _count_advice(increases: Sequence[CountIncrease]) -> str:
    metrics = {i.metric for i in increases}
    advice = []
    if "queries" in metrics:
        advice.append(
            " More queries for the same test usually mean a loop that loads rows one by one (N+1) or a "
            "lost eager load; compare the statements of its trace with an earlier run."
        )
    if "connections" in metrics:
        advice.append(
            " New physical connections cost 7-25 ms each: share one engine (session-scoped fixture) and "
            "let the pool reuse connections."
        )
    if metrics & {"commits", "transactions"}:
        advice.append(
            " More commits or transactions: roll back a savepoint at the end of the test instead of "
            "committing and deleting."
        )
    return "".join(advice)


def _statement_text(run: RunSummary, fingerprint_id: str) -> str:
    stats = run.statements.get(fingerprint_id)
    return stats.fingerprint if stats is not None else fingerprint_id


# -- both ----------------------------------------------------------------------------------


def detect(history: History, options: AnalysisOptions) -> list[Finding]:
    """Duration regressions, then count regressions."""
    return detect_durations(history, options) + detect_counts(history, options)


# -- words ---------------------------------------------------------------------------------


def _severity(seconds: float, options: AnalysisOptions) -> str:
    if seconds >= options.severity_high_seconds:
        return "high"
    if seconds >= options.severity_medium_seconds:
        return "medium"
    return "low"


def _seconds(value: float) -> str:
    if not math.isfinite(value):
        return "?"
    if abs(value) >= 1.0:
        return f"{value:.2f} s"
    if abs(value) >= 0.01:
        return f"{value * 1000:.0f} ms"
    return f"{value * 1000:.2f} ms"


def _count(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _noun(plural: str, count: float) -> str:
    """'1 commit', '2 commits', '1 query'."""
    if count != 1:
        return plural
    return plural[:-3] + "y" if plural.endswith("ies") else plural.removesuffix("s")


def _per(info: SeriesInfo) -> str:
    return "per execution" if info.kind == "statement" else "per call"


def _calls(info: SeriesInfo) -> str:
    names = {"statement": "executions", "fixture setup": "setups", "fixture teardown": "teardowns"}
    return names.get(info.kind, "runs")
