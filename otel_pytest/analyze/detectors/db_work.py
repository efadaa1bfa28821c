"""What the database summaries of one run say, shared by the database detectors.

Summaries use the keys of ``db.summary.*`` without the prefix (``queries``, ``query_time``,
``connections``, ``engines_created``, …); a missing key counts as 0 (a run recorded before
the key existed, or a layer that does not record it). A test's summary covers its own
phases and its function-scoped fixtures; a fixture's (:attr:`FixtureStats.db`) is the sum
over all its setups and teardowns in the run.

Which fixture a cost belongs to is decided here, once, so that two detectors never claim
the same seconds: a fixture that creates an engine on every setup belongs to the
connection detector, one that changes the schema on most setups to the schema detector
(minus the connection set-up inside it, which is the connection detector's when it
reports it; a fixture doing both is counted by each for its own part), and the fixture
detector leaves both alone. What a fixture's DDL is comes from its own statements
(:attr:`FixtureStats.statements`), never from the run's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from otel_pytest.analyze.model import FixtureStats, RunSummary, StatementStats, TestSample
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.semconv.statements import DDL_VERBS

# db.summary keys that hold seconds end with this; the others are counts.
TIME_SUFFIX = "_time"
# Outcomes of tests that did not run their body: their (empty) summaries say nothing.
NOT_RUN = frozenset({"skipped"})

WRITE_VERBS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "COPY"})
_SEQUENCE_RESTART = re.compile(r"ALTER\s+SEQUENCE\b.*\bRESTART\b", re.I | re.S)

_Predicate = Callable[[FixtureStats], bool]


def amount(db: Mapping[str, float], key: str) -> float:
    """One value of a summary; 0 when the key is missing."""
    return float(db.get(key, 0.0))


def total(tests: Iterable[TestSample], key: str) -> float:
    """A summary value added up over tests."""
    return sum(amount(test.db, key) for test in tests)


def database_time(db: Mapping[str, float]) -> float:
    """Time spent on the database: queries (DDL included), rollbacks, physical connects,
    waits for a pooled connection, and engine creation and disposal. COMMIT time is not in
    the summary."""
    return sum(
        amount(db, key) for key in ("query_time", "rollback_time", "connection_time", "pool_wait_time", "engine_time")
    )


def connection_setup_time(db: Mapping[str, float]) -> float:
    """Time spent getting a connection that is not the pool's job when pooling works:
    engines created and disposed, physical connects, and the checkouts of a summary that
    made new connections (their wait beyond the connect is the driver's first-connect
    initialisation, not a busy pool)."""
    waits = amount(db, "pool_wait_time") if amount(db, "connections") > 0 else 0.0
    return amount(db, "engine_time") + amount(db, "connection_time") + waits


def tests_with_database_work(run: RunSummary) -> list[TestSample]:
    """The tests that ran and have a database summary, in test-id order."""
    return [run.tests[key] for key in sorted(run.tests) if run.tests[key].db and run.tests[key].outcome not in NOT_RUN]


def repeats(fixture: FixtureStats) -> bool:
    """A fixture narrower than the session that ran more than once."""
    return fixture.scope != "session" and fixture.setups >= 2


def engine_fixtures(run: RunSummary) -> list[FixtureStats]:
    """Repeating fixtures that create at least one engine on every setup."""
    return _fixtures(run, lambda fixture: amount(fixture.db, "engines_created") >= fixture.setups)


def schema_fixtures(run: RunSummary, options: AnalysisOptions) -> list[FixtureStats]:
    """Repeating fixtures that change the schema (``CREATE``/``DROP``/``TRUNCATE``/…, not a
    sequence restart) on at least ``options.most_tests_share`` of their setups, and on at
    least two: ``create_all`` with checkfirst that built the tables once is no rebuild."""
    return _fixtures(
        run,
        lambda fixture: (
            fixture.ddl_setups >= max(2, options.most_tests_share * fixture.setups)
            and bool(ddl_operations(run, fixture))
        ),
    )


def resets_data(fingerprint: str) -> bool:
    """Whether a DDL statement only resets data: ``ALTER SEQUENCE … RESTART`` sets a counter
    back, as a cleanup after DELETE does; it rebuilds nothing."""
    return _SEQUENCE_RESTART.match(fingerprint) is not None


def ddl_statements(run: RunSummary, fixture: FixtureStats) -> list[tuple[StatementStats, int]]:
    """The fixture's own schema DDL (data resets left out), with its executions in the
    fixture, in fingerprint-id order."""
    chosen = []
    for fingerprint_id, count in sorted(fixture.statements.items()):
        statement = run.statements.get(fingerprint_id)
        if (
            statement is not None
            and statement.operation.upper() in DDL_VERBS
            and not resets_data(statement.fingerprint)
        ):
            chosen.append((statement, count))
    return chosen


def ddl_operations(run: RunSummary, fixture: FixtureStats) -> tuple[str, ...]:
    """The verbs (sorted) of the fixture's own schema DDL: ``("CREATE", "DROP")`` for
    create_all/drop_all, ``("CREATE",)`` for create_all alone, ``("TRUNCATE",)`` for
    emptying tables."""
    return tuple(sorted({statement.operation.upper() for statement, _ in ddl_statements(run, fixture)}))


def truncates_only(run: RunSummary, fixture: FixtureStats) -> bool:
    """Whether the fixture's DDL is only TRUNCATE (it empties tables, not rebuilds them)."""
    return ddl_operations(run, fixture) == ("TRUNCATE",)


def writes_rows(run: RunSummary, fixture: FixtureStats) -> bool:
    """Whether the fixture's own statements write rows (INSERT, UPDATE, DELETE, MERGE, COPY)."""
    return any(
        statement.operation.upper() in WRITE_VERBS
        for statement in (run.statements.get(fingerprint_id) for fingerprint_id in fixture.statements)
        if statement is not None
    )


def _fixtures(run: RunSummary, wanted: _Predicate) -> list[FixtureStats]:
    chosen = [fixture for fixture in run.fixtures.values() if repeats(fixture) and wanted(fixture)]
    return sorted(chosen, key=lambda fixture: fixture.key)


def connection_cost(tests: Iterable[TestSample]) -> float:
    """The mean cost of one new physical connection in these tests: connect time plus the
    checkout it happened in (see :func:`connection_setup_time`); 0 without connections."""
    connecting = [test for test in tests if amount(test.db, "connections") > 0]
    connections = total(connecting, "connections")
    if connections == 0:
        return 0.0
    return (total(connecting, "connection_time") + total(connecting, "pool_wait_time")) / connections


def connection_share(tests: Iterable[TestSample]) -> float:
    """Connection set-up time as a share of these tests' database time (0 when there is none)."""
    chosen = list(tests)
    spent = sum(database_time(test.db) for test in chosen)
    return sum(connection_setup_time(test.db) for test in chosen) / spent if spent > 0 else 0.0
