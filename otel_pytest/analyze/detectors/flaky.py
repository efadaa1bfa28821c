"""Flaky outcomes: tests that both passed and failed on the same revision.

Method: the runs of the history whose revision equals the current run's (at least two are
needed; a run without a revision is never grouped). A test is flaky when among those runs
it passed at least once and failed or errored at least once (skipped, xfailed and xpassed
outcomes are left out). One finding per test. No saving: the cost is re-runs and lost
trust, so ``medium`` by the rule for what harms results
(:mod:`~otel_pytest.analyze.detectors.impact`), whether or not it failed in the current run.
Since when it is flaky: :func:`~otel_pytest.analyze.detectors.evidence.dated` (the
histories ending at the earlier runs judged the same way, each alone: it began in the
first run of the revision whose outcomes disagreed).
"""

from __future__ import annotations

from collections import defaultdict

from otel_pytest.analyze.detectors import db_work
from otel_pytest.analyze.detectors.evidence import dated
from otel_pytest.analyze.detectors.impact import severity
from otel_pytest.analyze.findings import Finding, Flaky, Location, Measurement
from otel_pytest.analyze.model import History, RunSummary, TestSample
from otel_pytest.analyze.options import AnalysisOptions

FAILED = frozenset({"failed", "error"})


def detect(history: History, options: AnalysisOptions) -> list[Finding]:
    return dated(history, options, _found)


def _found(history: History, options: AnalysisOptions) -> list[Finding]:
    current = history.current
    if current is None or not current.revision:
        return []
    runs = [run for run in history.runs if run.revision == current.revision]
    if len(runs) < 2:
        return []
    seen: dict[str, list[tuple[RunSummary, TestSample]]] = defaultdict(list)
    for run in runs:
        for sample in run.tests.values():
            if sample.outcome == "passed" or sample.outcome in FAILED:
                seen[sample.test_id].append((run, sample))
    findings = []
    for test_id in sorted(seen):
        outcomes = seen[test_id]
        failures = sum(1 for _, sample in outcomes if sample.outcome in FAILED)
        if 0 < failures < len(outcomes):
            findings.append(_finding(current, test_id, outcomes, failures, options))
    return findings


def _finding(
    current: RunSummary,
    test_id: str,
    outcomes: list[tuple[RunSummary, TestSample]],
    failures: int,
    options: AnalysisOptions,
) -> Finding:
    revision = current.revision or ""
    passes = len(outcomes) - failures
    latest = outcomes[-1][1]
    return Finding(
        kind="flaky",
        severity=severity(None, current, options, serious=True),
        location=Location(test=test_id, file=latest.file or None, line=latest.line or None),
        measurements=(
            Measurement("runs of the revision", len(outcomes), "count"),
            Measurement("passed", passes, "count"),
            Measurement("failed or error", failures, "count"),
            Measurement("failure rate", 100 * failures / len(outcomes), "%"),
        ),
        detail=Flaky(test_id, latest.nodeid, failures, len(outcomes), revision, db_work.amount(latest.db, "commits")),
        evidence={"revision": revision, **{run.run_id: sample.outcome for run, sample in outcomes}},
    )
