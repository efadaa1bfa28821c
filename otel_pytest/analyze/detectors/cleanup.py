"""Cleanup strategy: tests that commit and then clean up (or never do) instead of rolling
back, and transactions left open.

Method (current run only; "tests" are the tests that ran with a database summary):

- **Commit, then clean up** (one finding for the run). A test's data commits are its
  COMMITs less those of the fixtures with DDL that it set up itself (their DDL's own
  commits, ``commits / setups`` of each such fixture, whether or not it ran in every
  test). Tests with at least one data commit are flagged when there is at least one. The
  cleanup is named from what the run shows: a schema detector's fixture whose own DDL
  drops or truncates tables (drop_all, TRUNCATE; that finding counts its time; one that
  only creates them cleans nothing), and DELETE statements run in at least
  ``most_tests_share`` of the committing tests (their time is this finding's). Neither: the data stays for later tests.
  Rollback cost per test: the run's mean ROLLBACK duration (``rollback_time / rollbacks``).
  Saving: the DELETE time less one rollback per committing test; COMMIT time is not in the
  summaries, so the saving leaves it out; it claims the DELETE statements' time.
  Severity: by the saving (:mod:`~otel_pytest.analyze.detectors.impact`), at least
  ``medium`` when nothing cleans up, since later tests then see the data.
- **Leaked transactions** (one finding for the run): per test, BEGINs less COMMITs and
  ROLLBACKs (``transactions - commits - rollbacks``) in its summary. Pool resets (the pool's
  rollback when a connection is returned) are not counted as the code's rollbacks, so a
  transaction ended only by the pool returning its connection counts as leaked, as does
  one still open when the test ended. No saving (it is isolation), so ``medium`` by the
  rule for what harms results.

Each finding also says since when it holds (``began``, ``age``): the runs before the newest
are judged the same way, each alone (:func:`~otel_pytest.analyze.detectors.evidence.dated`).
Times are steady (:mod:`~otel_pytest.analyze.detectors.steady`: the newest run's, at the
fastest of the newest runs that did the same work), and a fixture defined in several
modules is one finding (:mod:`~otel_pytest.analyze.detectors.causes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from otel_pytest.analyze.detectors import causes, db_work, steady
from otel_pytest.analyze.detectors.evidence import dated, fixture_location, run_evidence
from otel_pytest.analyze.detectors.impact import claims, severity
from otel_pytest.analyze.findings import (
    CommitThenClean,
    Finding,
    LeakedTransactions,
    Location,
    Measurement,
    SchemaCleaner,
)
from otel_pytest.analyze.model import FixtureStats, History, RunSummary, StatementStats, TestSample
from otel_pytest.analyze.options import AnalysisOptions


def detect(history: History, options: AnalysisOptions) -> list[Finding]:
    return dated(steady.steadied(history, options), options, _found)


def _found(history: History, options: AnalysisOptions) -> list[Finding]:
    run = causes.current(history)
    if run is None:
        return []
    tests = db_work.tests_with_database_work(run)
    if not tests:
        return []
    return [*_commit_then_clean(run, tests, options), *_leaked_transactions(run, tests, options)]


def _schema_commits(run: RunSummary) -> dict[str, float]:
    """Per fixture key, the COMMITs per setup of the fixtures that ran DDL: their commits
    are in the summary of every test that set them up, and are no data of the test's."""
    return {
        fixture.key: db_work.amount(fixture.db, "commits") / fixture.setups
        for fixture in run.fixtures.values()
        if fixture.setups and db_work.amount(fixture.db, "ddl") > 0 and db_work.amount(fixture.db, "commits") > 0
    }


def _split_commits(test: TestSample, schema_commits: Mapping[str, float]) -> tuple[float, float]:
    """A test's COMMITs as (its data's, its schema fixtures')."""
    commits = db_work.amount(test.db, "commits")
    schema = sum(schema_commits[key] for key in test.fixtures if key in schema_commits) if schema_commits else 0.0
    return max(commits - schema, 0.0), min(schema, commits)


def _commit_then_clean(run: RunSummary, tests: list[TestSample], options: AnalysisOptions) -> list[Finding]:
    schema_commits = _schema_commits(run)
    split = [_split_commits(test, schema_commits) for test in tests]
    data_commits = [data for data, _ in split if data >= 1]
    committing = len(data_commits)
    if not committing:
        return []
    schema = [
        fixture
        for fixture in db_work.schema_fixtures(run, options)
        if {"DROP", "TRUNCATE"} & set(db_work.ddl_operations(run, fixture))
    ]
    commits = sum(data_commits)
    deletes = [
        statement
        for statement in sorted(run.statements.values(), key=lambda s: s.fingerprint_id)
        if statement.operation.upper() == "DELETE" and statement.tests >= options.most_tests_share * committing
    ]
    delete_time = sum(statement.total_time for statement in deletes)
    schema_cleanup = sum(fixture.teardown_time for fixture in schema)
    rollbacks = db_work.total(tests, "rollbacks")
    rollback = db_work.total(tests, "rollback_time") / rollbacks if rollbacks else None
    saving = max(delete_time - committing * (rollback or 0.0), 0.0)

    measurements = [
        Measurement("tests that commit data", committing, "count"),
        Measurement("data commits", commits, "count"),
        Measurement("commits per committing test", commits / committing, "count"),
    ]
    if schema:
        measurements.append(
            Measurement("schema fixtures' teardown (counted by the schema finding)", schema_cleanup, "s")
        )
    if deletes:
        measurements.append(Measurement("DELETE statements", sum(s.count for s in deletes), "count"))
        measurements.append(Measurement("DELETE time", delete_time, "s"))
    if rollback is not None:
        measurements.append(Measurement("a ROLLBACK in this run (mean, the cost per test instead)", rollback, "s"))

    return [
        Finding(
            kind="cleanup",
            key="commit then clean",
            severity=severity(saving, run, options, serious=not schema and not deletes),
            location=_where(schema, deletes),
            measurements=tuple(measurements),
            detail=CommitThenClean(
                committing,
                len(tests),
                _cleaners(run, schema),
                len(deletes),
                delete_time,
                sum(schema for _, schema in split),
                rollback is not None,
            ),
            saving=saving,
            claims=claims(saving, {f"statement {s.fingerprint_id}": s.total_time for s in deletes}),
            evidence=run_evidence(run),
        )
    ]


def _cleaners(run: RunSummary, schema: Sequence[FixtureStats]) -> tuple[SchemaCleaner, ...]:
    """The cleaning schema fixtures by name: one fixture defined in several modules is one
    cleaner, its setups added up."""
    cleaners: dict[str, SchemaCleaner] = {}
    for fixture in schema:
        known = cleaners.get(fixture.name)
        cleaners[fixture.name] = SchemaCleaner(
            fixture.name,
            db_work.truncates_only(run, fixture) and (known is None or known.truncates),
            fixture.ddl_setups + (known.ddl_setups if known else 0),
            fixture.setups + (known.setups if known else 0),
        )
    return tuple(cleaners.values())


def _where(schema: Sequence[FixtureStats], deletes: Sequence[StatementStats]) -> Location:
    if schema:
        return fixture_location(max(schema, key=lambda fixture: (fixture.teardown_time, fixture.key)))
    if deletes:
        return Location(fingerprint=max(deletes, key=lambda s: (s.total_time, s.fingerprint_id)).fingerprint)
    return Location()


def _leaked(test: TestSample) -> float:
    ended = db_work.amount(test.db, "commits") + db_work.amount(test.db, "rollbacks")
    return max(db_work.amount(test.db, "transactions") - ended, 0.0)


def _leaked_transactions(run: RunSummary, tests: list[TestSample], options: AnalysisOptions) -> list[Finding]:
    leaking = [(count, test) for test in tests if (count := _leaked(test)) >= 1]
    if not leaking:
        return []
    leaked = sum(count for count, _ in leaking)
    most, worst = max(leaking, key=lambda pair: (pair[0], pair[1].test_id))
    return [
        Finding(
            kind="cleanup",
            key="leaked transactions",
            severity=severity(None, run, options, serious=True),
            location=Location(test=worst.test_id) if len(leaking) == 1 else Location(),
            measurements=(
                Measurement("tests", len(leaking), "count"),
                Measurement("transactions left open", leaked, "count"),
                Measurement(f"most in one test ({worst.test_id})", most, "count"),
            ),
            detail=LeakedTransactions(leaked, len(leaking), len(tests)),
            evidence=run_evidence(run),
        )
    ]
