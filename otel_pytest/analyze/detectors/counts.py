"""Count regressions (kind ``"count"``): a test does more database work than before.

Method: a test runs more queries, transactions, physical connections or commits than in
its previous passed run and than the median of its baseline runs (by at least
``count_min_increase`` and ``count_min_ratio``) and than any baseline run, or runs a
statement fingerprint it never ran in the baseline runs. Counts are exact, so there is no
statistics: a count regression is reported at the run where it appeared. Severity is by
the seconds per run the extra work costs (``severity_high_seconds``,
``severity_medium_seconds``), which is also ``Finding.saving``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from otel_pytest.analyze.detectors.impact import severity_of_cost
from otel_pytest.analyze.detectors.series import COUNTED_OUTCOMES
from otel_pytest.analyze.findings import (
    CountIncrease,
    CountRegression,
    Finding,
    Location,
    Measurement,
    NewStatement,
)
from otel_pytest.analyze.model import History, RunSummary, TestSample
from otel_pytest.analyze.options import AnalysisOptions

# db.summary keys compared, with the name of their measurements.
COUNT_METRICS: tuple[tuple[str, str], ...] = (
    ("queries", "queries"),
    ("transactions", "transactions"),
    ("connections", "physical connections"),
    ("commits", "commits"),
)


def detect(history: History, options: AnalysisOptions) -> list[Finding]:
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
        increases = _increases(sample, previous, [s for _, s in passed], options)
        seen: set[str] = set()
        for _, past_sample in past:
            seen |= past_sample.statements
        new_statements = sorted(sample.statements - seen)
        if increases or new_statements:
            findings.append(_finding(runs, sample, previous_run, len(passed), increases, new_statements, options))
    return _merge_new_statements(findings, options)


def _increases(
    sample: TestSample, previous: TestSample, baseline: Sequence[TestSample], options: AnalysisOptions
) -> list[CountIncrease]:
    """The counts of ``sample`` that went up against its previous passed run and its baseline."""
    increases = []
    for metric, _ in COUNT_METRICS:
        now = float(sample.db.get(metric, 0.0))
        before = float(previous.db.get(metric, 0.0))
        values = [float(s.db.get(metric, 0.0)) for s in baseline]
        median = float(np.median(values))
        if (
            now > before
            and now > max(values)
            and now - median >= options.count_min_increase
            and (median <= 0 or now >= median * options.count_min_ratio)
        ):
            increases.append(CountIncrease(metric, now, before, median))
    return increases


def _merge_new_statements(findings: list[Finding], options: AnalysisOptions) -> list[Finding]:
    """One finding for the same new statements in several tests (one code change reached by
    many tests), instead of one per test; findings with count increases stay per test."""
    groups: dict[tuple[str, ...], list[Finding]] = {}
    kept: list[Finding] = []
    for finding in findings:
        detail = finding.detail
        assert isinstance(detail, CountRegression)  # this module's own findings
        if detail.increases:
            kept.append(finding)
        else:
            groups.setdefault(tuple(s.fingerprint_id for s in detail.new_statements), []).append(finding)
    for group in groups.values():
        kept.append(group[0] if len(group) == 1 else _merged(group, options))
    return kept


def _merged(group: Sequence[Finding], options: AnalysisOptions) -> Finding:
    first = group[0]
    assert isinstance(first.detail, CountRegression)
    tests = tuple(
        test for finding in group if isinstance(finding.detail, CountRegression) for test in finding.detail.tests
    )
    saving = sum(finding.saving for finding in group)
    return dataclasses.replace(
        first,
        severity=severity_of_cost(saving, options),
        measurements=(
            *(m for m in first.measurements if m.name == "new statements"),
            Measurement("tests", float(len(tests)), "count", baseline=0.0),
            Measurement("estimated cost per run", saving, "s"),
        ),
        detail=dataclasses.replace(first.detail, tests=tests),
        saving=saving,
    )


def _finding(
    runs: Sequence[RunSummary],
    sample: TestSample,
    previous_run: RunSummary,
    baseline_size: int,
    increases: Sequence[CountIncrease],
    new_statements: Sequence[str],
    options: AnalysisOptions,
) -> Finding:
    newest = runs[-1]
    cost = _cost(newest, sample, increases, new_statements)
    names = dict(COUNT_METRICS)
    measurements = [Measurement(names[i.metric], i.current, "count", baseline=i.baseline) for i in increases]
    measurements += [Measurement(f"{names[i.metric]} in the previous run", i.previous, "count") for i in increases]
    if new_statements:
        measurements.append(Measurement("new statements", float(len(new_statements)), "count", baseline=0.0))
    measurements.append(Measurement("estimated cost per run", cost, "s"))
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
    detail = CountRegression(
        tests=(sample.nodeid,),
        increases=tuple(increases),
        new_statements=tuple(NewStatement(fid, _statement_text(newest, fid)) for fid in new_statements),
        current_run=newest.run_id,
        current_revision=newest.revision,
        previous_run=previous_run.run_id,
        baseline_runs=baseline_size,
        previous_revision=previous_run.revision,
    )
    return Finding(
        kind="count",
        severity=severity_of_cost(cost, options),
        location=Location(test=sample.nodeid, file=sample.file, line=sample.line),
        measurements=tuple(measurements),
        detail=detail,
        saving=cost,
        evidence=evidence,
        history=chart,
    )


def _cost(
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


def _statement_text(run: RunSummary, fingerprint_id: str) -> str:
    stats = run.statements.get(fingerprint_id)
    return stats.fingerprint if stats is not None else fingerprint_id
