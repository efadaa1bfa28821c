"""Connection overhead in the current run: engines per test, connection churn, pool waits.

Method (current run only; "tests" are the tests that ran with a database summary):

- **Engine per setup** (one finding per fixture): a fixture narrower than the session that
  ran at least twice and created at least one engine on every setup (its ``engines_created``
  >= ``setups``). Cost: the fixture's own setup and teardown time, plus the first physical
  connection of each engine it created (a new engine's pool starts empty) where that
  connection was made outside the fixture, at the run's mean cost of a new connection
  (connect time plus the checkout it happened in, whose extra time is the driver's
  first-connect initialisation). Saving: all of it but one engine and one connection.
- **Engines created in tests**: no such fixture, but at least ``most_tests_share`` of the
  tests create an engine themselves. Cost: their engine time plus the first connection of
  each engine; saving as above.
- **Churn**: physical connections beyond the first of each engine created in the run (by
  the tests, or by wider-scoped fixtures that did not connect themselves), in at least
  ``most_tests_share`` of the tests and at least that many in all. Said to be NullPool-like
  when the run's connects are at least 90 % of its pool checkouts. Cost: those connections
  at the mean connection cost; saving: all but one connection (what a pool opens once).
- **Pool waits**: in tests that made no new connection (so the wait is not first-connect
  initialisation), a mean wait per checkout of at least ``pool_wait_min`` and a total of at
  least ``floor_test``. Saving: the wait beyond a pooled checkout's cost (0.1 ms, the middle
  of the 0.04-0.14 ms measured on loopback).

The connection set-up share of the affected tests' database time (queries, rollbacks,
connects, checkout waits, engines) is given with the first three.
"""

from __future__ import annotations

from otel_pytest.analyze.detectors import db_work
from otel_pytest.analyze.detectors.evidence import fixture_location, fixture_ref, run_evidence
from otel_pytest.analyze.detectors.impact import once_instead_of, severity
from otel_pytest.analyze.findings import (
    ConnectionChurn,
    EnginePerSetup,
    EnginesInTests,
    Finding,
    Location,
    Measurement,
    PoolWaits,
)
from otel_pytest.analyze.model import FixtureStats, History, RunSummary, TestSample
from otel_pytest.analyze.options import AnalysisOptions

WIDE_SCOPES = ("session", "package", "module")  # their fixture spans sit outside the tests' traces
NULLPOOL_RATIO = 0.9  # connects / checkouts from which the pool is not reusing connections
POOLED_CHECKOUT = 0.0001  # seconds: a checkout from a warm pool, loopback


def detect(history: History, options: AnalysisOptions) -> list[Finding]:
    run = history.current
    if run is None:
        return []
    tests = db_work.tests_with_database_work(run)
    if not tests:
        return []
    cost = db_work.connection_cost(tests)
    fixtures = db_work.engine_fixtures(run)
    # Each new engine opens a first connection; share the run's connections out among the
    # engines when there were fewer (some engines never connected).
    engines = sum(db_work.amount(fixture.db, "engines_created") for fixture in fixtures)
    connected = min(db_work.total(tests, "connections") / engines, 1.0) if engines else 0.0
    findings = [_engine_fixture(run, fixture, tests, cost, connected, options) for fixture in fixtures]
    if not findings:
        findings.extend(_engines_in_tests(run, tests, cost, options))
    findings.extend(_churn(run, tests, cost, options))
    findings.extend(_pool_waits(run, tests, options))
    return findings


def _engine_fixture(
    run: RunSummary,
    fixture: FixtureStats,
    tests: list[TestSample],
    cost: float,
    connected: float,
    options: AnalysisOptions,
) -> Finding:
    engines = db_work.amount(fixture.db, "engines_created")
    # The engines' first connections; those made inside the fixture are in its own time.
    first = engines * connected
    outside = max(first - db_work.amount(fixture.db, "connections"), 0.0)
    spent = fixture.total_time + outside * cost
    saving = once_instead_of(spent, engines)
    affected = [
        test
        for test in tests
        if db_work.amount(test.db, "engines_created") > 0 or db_work.amount(test.db, "connections") > 0
    ]
    return Finding(
        kind="connection",
        severity=severity(saving, run, options),
        location=fixture_location(fixture),
        measurements=(
            Measurement("engines created", engines, "count"),
            Measurement("setups", fixture.setups, "count"),
            Measurement("fixture setup and teardown", fixture.total_time, "s"),
            Measurement("first connections of those engines", first, "count"),
            Measurement("mean cost of a new connection", cost, "s"),
            Measurement("cost per run", spent, "s"),
            Measurement("connection set-up share of database time", 100 * db_work.connection_share(affected), "%"),
        ),
        detail=EnginePerSetup(fixture_ref(fixture), engines, fixture.setups, spent, len(affected), len(tests)),
        saving=saving,
        evidence=run_evidence(run),
    )


def _engines_in_tests(run: RunSummary, tests: list[TestSample], cost: float, options: AnalysisOptions) -> list[Finding]:
    affected = [test for test in tests if db_work.amount(test.db, "engines_created") > 0]
    if not affected or len(affected) < options.most_tests_share * len(tests):
        return []
    engines = db_work.total(affected, "engines_created")
    first = sum(
        min(db_work.amount(test.db, "engines_created"), db_work.amount(test.db, "connections")) for test in affected
    )
    spent = db_work.total(affected, "engine_time") + first * cost
    saving = once_instead_of(spent, engines)
    return [
        Finding(
            kind="connection",
            severity=severity(saving, run, options),
            location=Location(),
            measurements=(
                Measurement("tests creating engines", len(affected), "count"),
                Measurement("engines created", engines, "count"),
                Measurement("engine create and dispose", db_work.total(affected, "engine_time"), "s"),
                Measurement("first connections of those engines", first, "count"),
                Measurement("mean cost of a new connection", cost, "s"),
                Measurement("cost per run", spent, "s"),
                Measurement("connection set-up share of database time", 100 * db_work.connection_share(affected), "%"),
            ),
            detail=EnginesInTests(len(affected), len(tests), engines, spent),
            saving=saving,
            evidence=run_evidence(run),
        )
    ]


def _excess_connections(test: TestSample) -> float:
    """New physical connections beyond the first of each engine the test created."""
    return max(db_work.amount(test.db, "connections") - db_work.amount(test.db, "engines_created"), 0.0)


def _unconnected_wide_engines(run: RunSummary) -> float:
    """Engines created by session-, package- and module-scoped fixtures (whose spans are not
    in any test's trace) that did not connect inside the fixture: their first connections
    happen in some test."""
    return sum(
        max(db_work.amount(fixture.db, "engines_created") - db_work.amount(fixture.db, "connections"), 0.0)
        for fixture in run.fixtures.values()
        if fixture.scope in WIDE_SCOPES
    )


def _churn(run: RunSummary, tests: list[TestSample], cost: float, options: AnalysisOptions) -> list[Finding]:
    affected = [test for test in tests if _excess_connections(test) >= 1]
    excess = sum(_excess_connections(test) for test in affected) - _unconnected_wide_engines(run)
    needed = options.most_tests_share * len(tests)
    if not affected or len(affected) < needed or excess < needed:
        return []
    connections = db_work.total(tests, "connections")
    checkouts = db_work.total(tests, "checkouts")
    nullpool = checkouts > 0 and connections >= NULLPOOL_RATIO * checkouts
    spent = excess * cost
    saving = max(spent - cost, 0.0)
    where = _connecting_fixture(run)
    return [
        Finding(
            kind="connection",
            severity=severity(saving, run, options),
            location=fixture_location(where) if where is not None else Location(),
            measurements=(
                Measurement("tests opening connections", len(affected), "count"),
                Measurement("new connections beyond each new engine's first", excess, "count"),
                Measurement("pool checkouts", checkouts, "count"),
                Measurement("mean cost of a new connection", cost, "s"),
                Measurement("cost per run", spent, "s"),
                Measurement("connection set-up share of database time", 100 * db_work.connection_share(affected), "%"),
            ),
            detail=ConnectionChurn(
                len(affected),
                len(tests),
                excess,
                spent,
                nullpool,
                connections,
                checkouts,
                fixture_ref(where) if where is not None else None,
            ),
            saving=saving,
            evidence=run_evidence(run),
        )
    ]


def _connecting_fixture(run: RunSummary) -> FixtureStats | None:
    """The repeating fixture that connects on every setup and spends the most on it, if any
    (fixtures that create engines are the engine finding's)."""
    engines = {fixture.key for fixture in db_work.engine_fixtures(run)}
    candidates = [
        fixture
        for fixture in run.fixtures.values()
        if db_work.repeats(fixture)
        and fixture.key not in engines
        and db_work.amount(fixture.db, "connections") >= fixture.setups
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda fixture: (db_work.amount(fixture.db, "connection_time"), fixture.key))


def _pool_waits(run: RunSummary, tests: list[TestSample], options: AnalysisOptions) -> list[Finding]:
    waiting = [
        test
        for test in tests
        if db_work.amount(test.db, "connections") == 0 and db_work.amount(test.db, "checkouts") > 0
    ]
    checkouts = db_work.total(waiting, "checkouts")
    waited = db_work.total(waiting, "pool_wait_time")
    if checkouts == 0 or waited < options.floor_test or waited / checkouts < options.pool_wait_min:
        return []
    per_checkout = waited / checkouts
    saving = max(waited - checkouts * POOLED_CHECKOUT, 0.0)
    slowest = max(waiting, key=lambda test: (db_work.amount(test.db, "pool_wait_time"), test.test_id))
    return [
        Finding(
            kind="connection",
            severity=severity(saving, run, options),
            location=Location(),
            measurements=(
                Measurement("wait per checkout", per_checkout, "s", baseline=POOLED_CHECKOUT),
                Measurement("total wait", waited, "s"),
                Measurement("checkouts", checkouts, "count"),
                Measurement(
                    "tests that waited",
                    sum(1 for test in waiting if db_work.amount(test.db, "pool_wait_time") > 0),
                    "count",
                ),
                Measurement(
                    f"longest wait in one test ({slowest.test_id})", db_work.amount(slowest.db, "pool_wait_time"), "s"
                ),
            ),
            detail=PoolWaits(per_checkout, waited, checkouts, len(waiting), len(tests)),
            saving=saving,
            evidence=run_evidence(run),
        )
    ]
