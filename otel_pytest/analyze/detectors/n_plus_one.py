"""N+1 queries: one statement executed again and again under one parent span.

Method (Sentry's rule, current run only): a test's :class:`Repetition` is its longest run of
consecutive executions of one statement fingerprint under one parent span (a phase or a
fixture) after a different statement; it counts when ``count >= n_plus_one_min`` (5).
Repetitions of the same fingerprint are gathered into one finding, naming the test with
the longest run. Severity by the repeated executions' total time as a share of the run's
time (``severity_high_share``, ``severity_medium_share``). Saving: every repeated execution
but one per repetition, at their mean time (one IN query or eager load costs about one).
"""

from __future__ import annotations

from collections import defaultdict

from otel_pytest.analyze.detectors.db_work import tests_with_database_work
from otel_pytest.analyze.detectors.evidence import of_tests, run_evidence
from otel_pytest.analyze.detectors.impact import once_instead_of, severity
from otel_pytest.analyze.findings import Finding, Location, Measurement
from otel_pytest.analyze.model import History, Repetition, RunSummary, TestSample
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.report.wording import seconds
from otel_pytest.semconv.spans import FIXTURE_PREFIX

TITLE_STATEMENT = 80  # characters of the fingerprint shown in a title

_FIXES = {
    "SELECT": (
        "Load the related rows in one query: eager-load the relationship the loop touches "
        "(selectinload(...) or joinedload(...) in the query's .options()), or collect the keys "
        "and run one SELECT ... WHERE key IN (...)."
    ),
    "INSERT": (
        "Insert the rows in one statement: session.add_all(...) and one flush (SQLAlchemy batches "
        "them), or insert(table).values([...]) / executemany."
    ),
    "UPDATE": "Update the rows in one statement: UPDATE ... WHERE key IN (...), or one executemany.",
    "DELETE": "Delete the rows in one statement: DELETE ... WHERE key IN (...).",
}


def detect(history: History, options: AnalysisOptions) -> list[Finding]:
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
    where = f"in {worst_test.test_id}" if len(cases) == 1 else f"in {len(cases)} tests (up to {worst.count} in a row)"
    shown = text if len(text) <= TITLE_STATEMENT else text[: TITLE_STATEMENT - 1] + "…"
    measurements = [
        Measurement("executions in a row (longest)", worst.count, "count"),
        Measurement("tests", len(cases), "count"),
        Measurement("repeated executions", executions, "count"),
        Measurement("time in repeated executions", spent, "s"),
        Measurement("mean per execution", spent / executions, "s"),
    ]
    if statement is not None:
        measurements.append(Measurement("executions of the statement in the run", statement.count, "count"))
    return Finding(
        kind="n+1",
        severity=severity(spent, run, options),
        title=(
            f"N+1: `{shown}` runs {worst.count} times in a row under {parent} {where}"
            if len(cases) == 1
            else f"N+1: `{shown}` repeated under one parent {where}, {seconds(spent)} in all"
        ),
        location=Location(test=worst_test.test_id, fixture=fixture, fingerprint=text),
        measurements=tuple(measurements),
        confidence=(
            f"exact: {worst.count} consecutive executions after a different statement (Sentry's N+1 rule, "
            f"at least {options.n_plus_one_min}), in {of_tests(len(cases), tests)}"
        ),
        suggestion=f"{_fix(operation)} The statement: {text}",
        saving=saving,
        evidence={**run_evidence(run), "fingerprint_id": fingerprint_id},
    )


def _fix(operation: str) -> str:
    return _FIXES.get(
        operation,
        "Run the repeated statement once for all the rows (one statement with IN (...), "
        "or executemany) instead of once per row.",
    )
