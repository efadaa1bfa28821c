"""Duration regressions (kind ``"regression"``) and improvements (kind ``"improvement"``):
tests, fixtures and statements that got slower or faster.

Method: :mod:`~otel_pytest.analyze.detectors.judgement` (the analysis replayed over the
newest runs, changes followed as a state) over the history's
:class:`~otel_pytest.analyze.detectors.series.SeriesMatrix`; one finding per changed
series, the costliest first located by a tested change point (at most
``MAX_CHANGE_POINT_TESTS``).

* An open regression: its severity is by the seconds per run it costs, which is also
  ``Finding.saving``, absolute and as a share of the newest run, one level lower when
  provisional (:mod:`~otel_pytest.analyze.detectors.impact`); ``began`` is the run whose
  analysis first reported it, ``age`` the runs since (both counted). The gate reads them.
* A closed regression (fixed in the run ``ended``), reported for ``RECENT_RUNS`` runs
  after it was fixed; low severity, no saving, never gating.
* An improvement: severity by the seconds per run it saves (the same rule); no saving (there is nothing
  left to do), never gating; reported for ``RECENT_RUNS`` runs after it was first seen.
  The suite's setup per run is judged for improvements only (its regressions are the
  fixtures' and tests' own).

A fixture is judged per call and per run; its per-run series is reported only when the
per-call one is not (its calls per run changed: more tests use it, or a scope change,
which the finding names), so that one cause is one finding.
"""

from __future__ import annotations

import numpy as np

from otel_pytest.analyze.detectors.impact import severity
from otel_pytest.analyze.detectors.judgement import (
    DOWN,
    MIN_TESTS_FOR_SPEED_INDEX,
    Change,
    Step,
    find_changes,
    locate_step,
    statistical_runs,
)
from otel_pytest.analyze.detectors.series import SeriesMatrix, build_series, scope_change
from otel_pytest.analyze.findings import (
    ChangePointRun,
    DurationImprovement,
    DurationRegression,
    Finding,
    Measurement,
    RegressionRule,
    RunRef,
    SetupsChange,
)
from otel_pytest.analyze.model import History
from otel_pytest.analyze.options import AnalysisOptions

# Change-point significance costs ~0.1 s per changed series (999 permutations); past this
# many changes in one analysis (the costliest first) the step is only located, not tested.
MAX_CHANGE_POINT_TESTS = 20
# Series judged for improvements only.
IMPROVEMENT_ONLY = frozenset({"suite setup"})


def detect(history: History, options: AnalysisOptions) -> list[Finding]:
    """Open and closed duration regressions and improvements; see the module docstring."""
    matrix = build_series(history)
    found = find_changes(history, options, matrix)
    changes = [
        *_one_per_cause(matrix, [c for c in found.regressions if c.info.kind not in IMPROVEMENT_ONLY]),
        *_one_per_cause(matrix, [c for c in found.closed if c.info.kind not in IMPROVEMENT_ONLY]),
        *_one_per_cause(matrix, list(found.improvements)),
    ]
    ranked = sorted(changes, key=lambda c: (-max(c.saving, c.saved), c.direction, c.status, c.info.key))
    findings = []
    for rank, change in enumerate(ranked):
        step = locate_step(change, options, test_significance=rank < MAX_CHANGE_POINT_TESTS)
        findings.append(_finding(history, matrix, change, step, options))
    return findings


def _one_per_cause(matrix: SeriesMatrix, changes: list[Change]) -> list[Change]:
    """A fixture's per-run change is left out when its per-call series changed too."""
    per_call = {c.info.key.split(":", 1)[1] for c in changes if c.info.kind == "fixture setup"}
    return [
        c for c in changes if not (c.info.kind == "fixture setup total" and c.info.key.split(":", 1)[1] in per_call)
    ]


def _finding(
    history: History, matrix: SeriesMatrix, change: Change, step: Step | None, options: AnalysisOptions
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
    ended = None
    if change.ended is not None:
        fixed = runs[change.ended]
        ended = RunRef(fixed.run_id, fixed.revision)
        evidence["fixed_run"] = fixed.run_id
    series = matrix.values[change.row]
    chart = tuple((runs[i].run_id, float(series[i])) for i in range(len(runs)) if not np.isnan(series[i]))
    began = runs[change.began]
    improvement = change.direction == DOWN
    sure = not change.provisional
    if improvement:
        level = severity(change.saved, newest, options, sure=sure)
    elif change.status == "closed":
        level = "low"
    else:
        level = severity(change.saving, newest, options, sure=sure)
    return Finding(
        kind="improvement" if improvement else "regression",
        severity=level,
        location=change.info.location,
        measurements=_measurements(change),
        detail=_detail(change, matrix, len(runs), newest.run_id, newest.revision, changed, options),
        saving=change.saving,
        evidence=evidence,
        history=chart,
        provisional=change.provisional,
        key=change.info.kind,
        status=change.status,
        began=RunRef(began.run_id, began.revision),
        ended=ended,
        age=change.age,
    )


def _measurements(change: Change) -> tuple[Measurement, ...]:
    info = change.info
    measurements = [
        Measurement(info.measure, change.current, "s", baseline=change.baseline),
        Measurement("ratio", change.ratio, "ratio", baseline=1.0),
    ]
    if change.direction == DOWN or change.status == "closed":
        measurements.append(Measurement("saved per run", change.saved, "s"))
    else:
        measurements.append(Measurement("cost per run", change.saving, "s"))
    if change.raised is not None and change.status == "closed":
        measurements.append(
            Measurement(f"{info.measure} while regressed", change.raised, "s", baseline=change.baseline)
        )
    if info.kind != "test" and info.counted != "runs":
        measurements.append(Measurement(info.counted, info.calls, "count"))
    measurements.append(Measurement("runs at this level", float(change.held), "count"))
    if not change.provisional:
        measurements.append(
            Measurement("p (winsorized t, Bonferroni over current windows)", change.p, "p", key="p_value")
        )
        measurements.append(Measurement("q (false-discovery adjusted)", change.q, "p", key="q_value"))
    if change.index_applied:
        measurements.append(Measurement("speed index of the newest run", change.speed_index, "ratio", baseline=1.0))
    return tuple(measurements)


def _detail(
    change: Change,
    matrix: SeriesMatrix,
    runs: int,
    run_id: str,
    revision: str | None,
    step: ChangePointRun | None,
    options: AnalysisOptions,
) -> DurationRegression | DurationImprovement:
    info = change.info
    rule = RegressionRule(
        persistence=options.persistence,
        needed_runs=statistical_runs(options),
        provisional_ratio=change.bar,
        pool_noise=options.pool_noise,
        false_discovery_rate=options.false_discovery_rate,
        change_point_p=options.change_point_p,
        min_tests_for_index=MIN_TESTS_FOR_SPEED_INDEX,
    )
    setups = scope_change(matrix, change.row, change.step)
    kind = DurationImprovement if change.direction == DOWN else DurationRegression
    return kind(
        series=info.kind,
        name=info.name,
        calls=info.calls,
        counted=info.counted,
        current=change.current,
        baseline=change.baseline,
        ratio=change.ratio,
        p=change.p,
        q=change.q,
        n_current=change.n_current,
        n_baseline=change.n_baseline,
        windows=change.windows,
        hypotheses=change.hypotheses,
        speed_index=change.speed_index,
        index_applied=change.index_applied,
        runs=runs,
        current_run=run_id,
        current_revision=revision,
        step=step,
        rule=rule,
        held=change.held,
        raised=change.raised if change.status == "closed" else None,
        scope=None if setups is None else SetupsChange(*setups),
        saved=change.saved,
    )
