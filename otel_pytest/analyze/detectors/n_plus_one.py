"""N+1 queries: one statement executed again and again under one parent span.

Method (Sentry's rule, current run only): a test's :class:`Repetition` is its longest run of
consecutive executions of one statement fingerprint under one parent span (a phase or a
fixture) after a different statement; it counts when ``count >= n_plus_one_min`` (5).
Repetitions of the same fingerprint are gathered into one finding, naming the test with
the longest run. Saving: every repeated execution but one per repetition, at their mean
time (one IN query or eager load costs about one), claimed on the statement. Severity: by
the saving, at least ``medium``: its cost grows with the rows, beyond what a test's few
rows show (:mod:`~otel_pytest.analyze.detectors.impact`).

Each finding also says since when it holds (``began``, ``age``): the runs before the newest
are judged the same way, each alone (:func:`~otel_pytest.analyze.detectors.evidence.dated`).
Times are steady (:mod:`~otel_pytest.analyze.detectors.steady`).
"""

from __future__ import annotations

from collections import defaultdict

from otel_pytest.analyze.detectors import steady
from otel_pytest.analyze.detectors.db_work import tests_with_database_work
from otel_pytest.analyze.detectors.evidence import dated, run_evidence
from otel_pytest.analyze.detectors.impact import claims, once_instead_of, severity
from otel_pytest.analyze.findings import Finding, Location, Measurement, NPlusOne
from otel_pytest.analyze.model import History, Repetition, RunSummary, TestSample
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.semconv.spans import FIXTURE_PREFIX


def detect(history: History, options: AnalysisOptions) -> list[Finding]:
    return dated(steady.steadied(history, options), options, _found)


def _found(history: History, options: AnalysisOptions) -> list[Finding]:
    run = history.current
    if run is None:
        return []
    found: dict[str, list[tuple[TestSample, Repetition]]] = defaultdict(list)
    for key in sorted(run.tests):
        test = run.tests[key]
        for repetition in test.repetitions:
            if repetition.count >= options.n_plus_one_min:
                found[repetition.fingerprint_id].append((test, repetition))
    tests = len(tests_with_database_work(run)) or len(run.tests)
    return [_finding(run, fingerprint_id, found[fingerprint_id], tests, options) for fingerprint_id in sorted(found)]


def _finding(
    run: RunSummary,
    fingerprint_id: str,
    cases: list[tuple[TestSample, Repetition]],
    tests: int,
    options: AnalysisOptions,
) -> Finding:
    statement = run.statements.get(fingerprint_id)
    text = statement.fingerprint if statement else fingerprint_id
    operation = (statement.operation if statement else text.split(" ", 1)[0]).upper()
    worst_test, worst = max(cases, key=lambda case: (case[1].count, case[1].total, case[0].test_id))
    executions = sum(repetition.count for _, repetition in cases)
    spent = sum(repetition.total for _, repetition in cases)
    saving = sum(once_instead_of(repetition.total, repetition.count) for _, repetition in cases)
    parent = worst.parent
    fixture = parent.removeprefix(FIXTURE_PREFIX) if parent.startswith(FIXTURE_PREFIX) else None
    measurements = [
        Measurement("executions in a row (longest)", worst.count, "count"),
        Measurement("tests", len(cases), "count"),
        Measurement("repeated executions", executions, "count"),
        Measurement("time in repeated executions", spent, "s"),
        Measurement("mean per execution", spent / executions, "s"),
    ]
    if statement is not None:
        measurements.append(Measurement("executions of the statement in the run", statement.count, "count"))
    detail = NPlusOne(
        text, operation, worst.count, parent, worst_test.test_id, len(cases), tests, spent, options.n_plus_one_min
    )
    return Finding(
        kind="n+1",
        severity=severity(saving, run, options, serious=True),
        location=Location(test=worst_test.test_id, fixture=fixture, fingerprint=text),
        measurements=tuple(measurements),
        detail=detail,
        saving=saving,
        claims=claims(saving, {f"statement {fingerprint_id}": spent}),
        evidence={**run_evidence(run), "fingerprint_id": fingerprint_id},
    )
