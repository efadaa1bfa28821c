"""Schema work in a narrow scope: DDL (create_all/drop_all, CREATE, DROP, TRUNCATE, …)
repeated by a function-, class- or module-scoped fixture.

Method (current run only): every fixture narrower than the session that ran at least twice
and executed DDL (``FixtureStats.db["ddl"] > 0``); one finding per fixture. Its cost is its
setup and teardown time over the run, less the connection set-up inside it (engines,
physical connects and the checkouts that made them, which the connection detector counts).
Saving: that cost except one setup and teardown, i.e. the schema built once per run.
Which DDL it is comes from the run's statements run at least once per setup: only
TRUNCATE means the fixture empties tables (the fix is a rollback per test), anything else
that it rebuilds the schema (the fix is a session-scoped schema).
Severity: the saving's share of the run's time (``severity_high_share``,
``severity_medium_share``).
"""

from __future__ import annotations

from otel_pytest.analyze.detectors import db_work
from otel_pytest.analyze.detectors.evidence import fixture_location, fixture_ref, run_evidence
from otel_pytest.analyze.detectors.impact import once_instead_of, severity
from otel_pytest.analyze.findings import Finding, Measurement, SchemaRebuild
from otel_pytest.analyze.model import FixtureStats, History, RunSummary
from otel_pytest.analyze.options import AnalysisOptions


def detect(history: History, options: AnalysisOptions) -> list[Finding]:
    run = history.current
    if run is None:
        return []
    return [_finding(run, fixture, options) for fixture in db_work.schema_fixtures(run)]


def _finding(run: RunSummary, fixture: FixtureStats, options: AnalysisOptions) -> Finding:
    ddl = db_work.amount(fixture.db, "ddl")
    connecting = db_work.connection_setup_time(fixture.db)
    spent = max(fixture.total_time - connecting, 0.0)
    saving = once_instead_of(spent, fixture.setups)
    detail = SchemaRebuild(
        fixture_ref(fixture),
        fixture.setups,
        ddl,
        spent,
        db_work.ddl_operations(run, fixture),
        db_work.truncates_only(run, fixture),
    )
    return Finding(
        kind="schema",
        severity=severity(saving, run, options),
        location=fixture_location(fixture),
        measurements=(
            Measurement("setups", fixture.setups, "count"),
            Measurement("DDL statements", ddl, "count"),
            Measurement("DDL time", db_work.amount(fixture.db, "ddl_time"), "s"),
            Measurement("fixture setup", fixture.setup_time, "s"),
            Measurement("fixture teardown", fixture.teardown_time, "s"),
            Measurement("connection set-up inside (counted by the connection finding)", connecting, "s"),
            Measurement("cost per run", spent, "s"),
            Measurement("cost per setup", spent / fixture.setups, "s"),
        ),
        detail=detail,
        saving=saving,
        evidence=run_evidence(run),
    )
