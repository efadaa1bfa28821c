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
from otel_pytest.analyze.detectors.evidence import fixture_label, fixture_location, run_evidence
from otel_pytest.analyze.detectors.impact import once_instead_of, severity
from otel_pytest.analyze.findings import Finding, Measurement
from otel_pytest.analyze.model import FixtureStats, History, RunSummary
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.report.wording import seconds


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
    per_setup = spent / fixture.setups
    statements = ddl / fixture.setups
    verbs = db_work.ddl_operations(run, fixture)
    truncating = db_work.truncates_only(run, fixture)
    confidence = (
        f"exact counts: {ddl:.0f} DDL statements in {fixture.setups} setups of a "
        f"{fixture.scope}-scoped fixture; times measured"
    )
    if verbs:
        confidence += f"; DDL repeated as often in the run: {', '.join(verbs)}"
    if truncating:
        what = "Tables truncated"
        fix = (
            f"Stop emptying the tables in `{fixture.name}`: run each test in a transaction that is rolled back "
            'at the end (the session joins it with join_transaction_mode="create_savepoint"), so nothing the '
            "test writes is committed and nothing needs truncating."
        )
    else:
        what = "Schema rebuilt"
        fix = (
            f"Move the DDL in `{fixture.name}` (create_all/drop_all) to a session-scoped fixture: build the "
            "schema once before the first test and drop it once after the last. Isolate tests with a "
            "transaction per test that is rolled back at the end (the session joins it with "
            'join_transaction_mode="create_savepoint"), not by rebuilding the tables.'
        )
    return Finding(
        kind="schema",
        severity=severity(saving, run, options),
        title=(
            f"{what} on every setup of {fixture_label(fixture)}: {statements:.3g} DDL "
            f"{'statement' if statements == 1 else 'statements'} per setup, {seconds(spent)} over "
            f"{fixture.setups} setups"
        ),
        location=fixture_location(fixture),
        measurements=(
            Measurement("setups", fixture.setups, "count"),
            Measurement("DDL statements", ddl, "count"),
            Measurement("DDL time", db_work.amount(fixture.db, "ddl_time"), "s"),
            Measurement("fixture setup", fixture.setup_time, "s"),
            Measurement("fixture teardown", fixture.teardown_time, "s"),
            Measurement("connection set-up inside (counted by the connection finding)", connecting, "s"),
            Measurement("cost per run", spent, "s"),
            Measurement("cost per setup", per_setup, "s"),
        ),
        confidence=confidence,
        suggestion=fix,
        saving=saving,
        evidence=run_evidence(run),
    )
