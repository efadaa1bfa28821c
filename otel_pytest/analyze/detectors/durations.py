"""Duration regressions (kind ``"regression"``): tests, fixtures and statements that got slower.

Method: :mod:`~otel_pytest.analyze.detectors.judgement` (steps 1-7 and the provisional rule
for short histories) over the history's
:class:`~otel_pytest.analyze.detectors.series.SeriesMatrix`; one finding per regressed
series, the costliest first located by a tested change point (at most
``MAX_CHANGE_POINT_TESTS``). Severity is by the seconds per run the regression costs
(``severity_high_seconds``, ``severity_medium_seconds``), which is also ``Finding.saving``.
"""

from __future__ import annotations

import numpy as np

from otel_pytest.analyze.detectors.impact import severity_of_cost
from otel_pytest.analyze.detectors.judgement import (
    MIN_TESTS_FOR_SPEED_INDEX,
    Regression,
    Step,
    find_regressions,
    locate_step,
)
from otel_pytest.analyze.detectors.series import SeriesMatrix, build_series
from otel_pytest.analyze.findings import ChangePointRun, DurationRegression, Finding, Measurement, RegressionRule
from otel_pytest.analyze.model import History
from otel_pytest.analyze.options import AnalysisOptions

# Change-point significance costs ~0.1 s per regressed series (999 permutations); past this
# many regressions in one analysis (the costliest first) the step is only located, not tested.
MAX_CHANGE_POINT_TESTS = 20


def detect(history: History, options: AnalysisOptions) -> list[Finding]:
    """Duration regressions of tests, fixtures and statements; see the module docstring."""
    matrix = build_series(history)
    regressions = find_regressions(history, options, matrix)
    ranked = sorted(regressions, key=lambda r: (-r.saving, r.info.key))
    findings = []
    for rank, regression in enumerate(ranked):
        step = locate_step(regression, options, test_significance=rank < MAX_CHANGE_POINT_TESTS)
        findings.append(_finding(history, matrix, regression, step, options))
    return findings


def _finding(
    history: History, matrix: SeriesMatrix, regression: Regression, step: Step | None, options: AnalysisOptions
) -> Finding:
    runs = history.runs
    newest = runs[-1]
    evidence = {"current_run": newest.run_id}
    if newest.revision:
        evidence["current_revision"] = newest.revision
    changed = None
    if step is not None:
        run = runs[step.run]
        before = runs[step.run - 1].revision if step.run > 0 else None
        changed = ChangePointRun(run.run_id, run.revision, step.significant, step.p, before)
        evidence["change_point_run"] = run.run_id
        if run.revision:
            evidence["change_point_revision"] = run.revision
    series = matrix.values[regression.row]
    chart = tuple((runs[i].run_id, float(series[i])) for i in range(len(runs)) if not np.isnan(series[i]))
    return Finding(
        kind="regression",
        severity=severity_of_cost(regression.saving, options),
        location=regression.info.location,
        measurements=_measurements(regression),
        detail=_detail(regression, len(runs), newest.run_id, newest.revision, changed, options),
        saving=regression.saving,
        evidence=evidence,
        history=chart,
        provisional=regression.provisional,
    )


def _measurements(regression: Regression) -> tuple[Measurement, ...]:
    info = regression.info
    measurements = [
        Measurement(info.measure, regression.current, "s", baseline=regression.baseline),
        Measurement("ratio", regression.ratio, "ratio", baseline=1.0),
        Measurement("cost per run", regression.saving, "s"),
    ]
    if info.kind != "test":
        measurements.append(Measurement(info.counted, info.calls, "count"))
    if not regression.provisional:
        measurements.append(Measurement("p (winsorized t, Bonferroni over current windows)", regression.p, "p"))
        measurements.append(Measurement("q (false-discovery adjusted)", regression.q, "p"))
    if regression.index_applied:
        measurements.append(Measurement("speed index of the newest run", regression.speed_index, "ratio", baseline=1.0))
    return tuple(measurements)


def _detail(
    regression: Regression,
    runs: int,
    run_id: str,
    revision: str | None,
    step: ChangePointRun | None,
    options: AnalysisOptions,
) -> DurationRegression:
    info = regression.info
    rule = RegressionRule(
        persistence=options.persistence,
        needed_runs=options.current_runs + options.baseline_runs,
        provisional_ratio=max(options.provisional_min_ratio, options.min_ratio),
        pool_noise=options.pool_noise,
        false_discovery_rate=options.false_discovery_rate,
        change_point_p=options.change_point_p,
        min_tests_for_index=MIN_TESTS_FOR_SPEED_INDEX,
    )
    return DurationRegression(
        series=info.kind,
        name=info.name,
        calls=info.calls,
        counted=info.counted,
        current=regression.current,
        baseline=regression.baseline,
        ratio=regression.ratio,
        p=regression.p,
        q=regression.q,
        n_current=regression.n_current,
        n_baseline=regression.n_baseline,
        windows=regression.windows,
        hypotheses=regression.hypotheses,
        speed_index=regression.speed_index,
        index_applied=regression.index_applied,
        runs=runs,
        current_run=run_id,
        current_revision=revision,
        step=step,
        rule=rule,
    )
