"""Schema work in a narrow scope: DDL (create_all/drop_all, CREATE, DROP, TRUNCATE, …)
repeated by a function-, class- or module-scoped fixture.

Method (current run only): every fixture narrower than the session that ran at least twice
and changed the schema on at least two of its setups and on at least ``most_tests_share``
of them (:func:`~otel_pytest.analyze.detectors.db_work.schema_fixtures`: a setup counts
when its setup or its teardown ran DDL; ``create_all`` with checkfirst that built the
tables once is not a rebuild, nor is ``ALTER SEQUENCE … RESTART``, a data reset); one
finding per fixture. Which DDL it is comes from the fixture's own statements: only
TRUNCATE means the fixture empties tables (the fix is a rollback per test), anything else
that it builds or rebuilds the schema (the fix is a session-scoped schema).
Its cost is its setup and teardown time over the run, less the connection set-up inside
it (engines, physical connects and the checkouts that made them) when a connection
finding counts that set-up (:func:`~otel_pytest.analyze.detectors.connections.counts_connection_setup`);
otherwise the set-up stays in this cost, and is said not to be taken off.
Saving: that cost except one setup and teardown, i.e. the schema built once per run.
The fixture's other work (not its connection set-up) is what the saving claims, and the
set-up too when it stays in the cost. Severity: by the saving
(:mod:`~otel_pytest.analyze.detectors.impact`).

Each finding also says since when it holds (``began``, ``age``): the runs before the newest
are judged the same way, each alone (:func:`~otel_pytest.analyze.detectors.evidence.dated`).
Times are steady (:mod:`~otel_pytest.analyze.detectors.steady`: the newest run's, at the
fastest of the newest runs that did the same work), and a fixture defined in several
modules is one finding (:mod:`~otel_pytest.analyze.detectors.causes`).
"""

from __future__ import annotations

from otel_pytest.analyze.detectors import causes, connections, db_work, steady
from otel_pytest.analyze.detectors.evidence import dated, fixture_location, fixture_ref, run_evidence
from otel_pytest.analyze.detectors.impact import claims, fixture_costs, once_instead_of, severity, working
from otel_pytest.analyze.findings import Finding, Measurement, SchemaRebuild
from otel_pytest.analyze.model import FixtureStats, History, RunSummary
from otel_pytest.analyze.options import AnalysisOptions


def detect(history: History, options: AnalysisOptions) -> list[Finding]:
    return dated(steady.steadied(history, options), options, _found)


def _found(history: History, options: AnalysisOptions) -> list[Finding]:
    run = causes.current(history)
    if run is None:
        return []
    fixtures = db_work.schema_fixtures(run, options)
    if not fixtures:
        return []
    counted = connections.counts_connection_setup(history, options)
    return [_finding(run, fixture, counted, options) for fixture in fixtures]


def _finding(run: RunSummary, fixture: FixtureStats, counted: bool, options: AnalysisOptions) -> Finding:
    ddl = float(sum(count for _, count in db_work.ddl_statements(run, fixture)))
    connecting = db_work.connection_setup_time(fixture.db)
    spent = max(fixture.total_time - (connecting if counted else 0.0), 0.0)
    saving = once_instead_of(spent, fixture.setups)
    detail = SchemaRebuild(
        fixture_ref(fixture),
        fixture.setups,
        ddl,
        spent,
        db_work.ddl_operations(run, fixture),
        db_work.truncates_only(run, fixture),
        fixture.ddl_setups,
        connecting,
        counted,
    )
    measurements = [
        Measurement("setups", fixture.setups, "count"),
        Measurement("setups that ran DDL", fixture.ddl_setups, "count"),
        Measurement("DDL statements", ddl, "count"),
        Measurement("DDL time", db_work.amount(fixture.db, "ddl_time"), "s"),
        Measurement("fixture setup", fixture.setup_time, "s"),
        Measurement("fixture teardown", fixture.teardown_time, "s"),
    ]
    if counted:
        measurements.append(
            Measurement("connection set-up inside (counted by the connection finding)", connecting, "s")
        )
    measurements += [
        Measurement("cost per run", spent, "s"),
        Measurement("cost per setup", spent / fixture.setups, "s"),
    ]
    return Finding(
        kind="schema",
        key="schema in a narrow scope",
        severity=severity(saving, run, options),
        location=fixture_location(fixture),
        measurements=tuple(measurements),
        detail=detail,
        saving=saving,
        claims=claims(saving, fixture_costs(fixture) if not counted else {working(fixture): spent}),
        evidence=run_evidence(run),
    )
