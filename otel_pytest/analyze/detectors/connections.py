"""Connection overhead in the current run: engines per test, connection churn, pool waits.

Method (current run only; "tests" are the tests that ran with a database summary):

- **Engine per setup** (one finding per fixture): a fixture narrower than the session that
  ran at least twice and created at least one engine on every setup (its ``engines_created``
  >= ``setups``). Cost: the fixture's own setup and teardown time, plus the first physical
  connection of each engine it created (a new engine's pool starts empty) where that
  connection was made outside the fixture, at the run's mean cost of a new connection
  (connect time plus the checkout it happened in, whose extra time is the driver's
  first-connect initialisation). Saving: all of it but one engine and one connection.
  A fixture that also changes the schema on its setups (the schema detector's) is counted
  here only for its engines and connections (``engine_time``, connects and the checkouts
  that made them): the rest of its time is the schema finding's, so the two never claim
  the same seconds.
- **Engine disposed on every setup** (one finding per fixture): a repeating fixture that
  disposes an engine it did not create on at least ``most_tests_share`` of its setups
  (and at least twice): ``await engine.dispose()`` of a shared engine in an async
  fixture, which empties its pool, so the next test connects again. Reconnects: the new
  physical connections, beyond the engines they created, of the tests that set the
  fixture up (of all tests when no test says which fixtures it set up), at most one per
  disposal. Cost: those at the mean connection cost, plus the disposals' own time;
  saving: all but one reconnect. Those tests' connections are left out of the churn.
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
connects, checkout waits, engines) is given with the first three. Savings claim the
fixture's costs (its connection set-up and other work), its engines' first connections
where they were made, or the tests' connects and waits
(:mod:`~otel_pytest.analyze.detectors.impact`); churn in a fixture that connects on every
setup claims that fixture's connection set-up.

Each finding also says since when it holds (``began``, ``age``): the runs before the newest
are judged the same way, each alone (:func:`~otel_pytest.analyze.detectors.evidence.dated`).
Times are steady (:mod:`~otel_pytest.analyze.detectors.steady`: the newest run's, at the
fastest of the newest runs that did the same work), and a fixture defined in several
modules is one finding (:mod:`~otel_pytest.analyze.detectors.causes`).
"""

from __future__ import annotations

from otel_pytest.analyze.detectors import causes, db_work, scopes, steady
from otel_pytest.analyze.detectors.evidence import dated, fixture_location, fixture_ref, run_evidence
from otel_pytest.analyze.detectors.impact import claims, connecting, fixture_costs, once_instead_of, severity
from otel_pytest.analyze.findings import (
    ConnectionChurn,
    EngineDisposals,
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
    return dated(steady.steadied(history, options), options, _found)


def _found(history: History, options: AnalysisOptions) -> list[Finding]:
    run = causes.current(history)
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
    schema = {fixture.key for fixture in db_work.schema_fixtures(run, options)}
    findings = [
        _engine_fixture(run, fixture, tests, cost, connected, fixture.key in schema, options) for fixture in fixtures
    ]
    if not findings:
        findings.extend(_engines_in_tests(run, tests, cost, options))
    reconnected: set[str] = set()
    for fixture in _disposing_fixtures(run, options):
        users = _users(fixture, tests)
        reconnected.update(test.test_id for test in users)
        findings.extend(_disposals(run, fixture, users, len(tests), cost, options))
    findings.extend(_churn(run, [test for test in tests if test.test_id not in reconnected], len(tests), cost, options))
    findings.extend(_pool_waits(run, tests, options))
    return findings


_SETUP_FINDINGS = (EnginePerSetup, EnginesInTests, ConnectionChurn, EngineDisposals)


def counts_connection_setup(history: History, options: AnalysisOptions) -> bool:
    """Whether this detector reports the run's connection set-up (engines, connects, the
    checkouts that made them): then no other finding may count those seconds too."""
    return any(isinstance(finding.detail, _SETUP_FINDINGS) for finding in _found(history, options))


def _engine_fixture(
    run: RunSummary,
    fixture: FixtureStats,
    tests: list[TestSample],
    cost: float,
    connected: float,
    schema: bool,
    options: AnalysisOptions,
) -> Finding:
    engines = db_work.amount(fixture.db, "engines_created")
    # The engines' first connections; those made inside the fixture are in its own time.
    first = engines * connected
    outside = max(first - db_work.amount(fixture.db, "connections"), 0.0)
    own = db_work.connection_setup_time(fixture.db) if schema else fixture.total_time
    # What of the fixture's own time this finding counts, by name (with a schema finding
    # on it, only the connection set-up: the rest is that finding's).
    own_costs = fixture_costs(fixture)
    if schema:
        own_costs = {connecting(fixture): own}
    spent = own + outside * cost
    saving = once_instead_of(spent, engines)
    affected = [
        test
        for test in tests
        if db_work.amount(test.db, "engines_created") > 0 or db_work.amount(test.db, "connections") > 0
    ]
    return Finding(
        kind="connection",
        key="engine per setup",
        severity=severity(saving, run, options),
        location=fixture_location(fixture),
        measurements=(
            Measurement("engines created", engines, "count"),
            Measurement("setups", fixture.setups, "count"),
            Measurement(
                "engines and connections inside the fixture (the rest is the schema finding's)"
                if schema
                else "fixture setup and teardown",
                own,
                "s",
            ),
            Measurement("first connections of those engines", first, "count"),
            Measurement("mean cost of a new connection", cost, "s"),
            Measurement("cost per run", spent, "s"),
            Measurement("connection set-up share of database time", 100 * db_work.connection_share(affected), "%"),
        ),
        detail=EnginePerSetup(
            fixture_ref(fixture),
            engines,
            fixture.setups,
            spent,
            len(affected),
            len(tests),
            scopes.scope_change(run, fixture, "session", options),
        ),
        saving=saving,
        claims=claims(saving, {**own_costs, **_first_connections(run, fixture, outside * cost)}),
        evidence=run_evidence(run),
    )


def _first_connections(run: RunSummary, engines: FixtureStats, spent: float) -> dict[str, float]:
    """Where the first connections of a fixture's engines, made outside it, cost ``spent``:
    the connection set-up of the other repeating fixtures that connect (the schema fixture
    whose ``engine.begin()`` opens the pool), as far as it goes, and the tests for the rest."""
    costs = {}
    for other in sorted(run.fixtures.values(), key=lambda fixture: fixture.key):
        if other.key != engines.key and db_work.repeats(other) and db_work.amount(other.db, "connections") > 0:
            share = min(db_work.connection_setup_time(other.db), spent)
            costs[connecting(other)] = share
            spent -= share
    costs["tests: first connections of new engines"] = spent
    return costs


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
            key="engines in tests",
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
            claims=claims(saving, {"tests: engines created and their first connections": spent}),
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


def _disposing_fixtures(run: RunSummary, options: AnalysisOptions) -> list[FixtureStats]:
    """Repeating fixtures that dispose an engine they did not create on most setups."""
    return sorted(
        (
            fixture
            for fixture in run.fixtures.values()
            if db_work.repeats(fixture)
            and _disposals_beyond_creations(fixture) >= max(2, options.most_tests_share * fixture.setups)
        ),
        key=lambda fixture: fixture.key,
    )


def _disposals_beyond_creations(fixture: FixtureStats) -> float:
    return db_work.amount(fixture.db, "engines_disposed") - db_work.amount(fixture.db, "engines_created")


def _users(fixture: FixtureStats, tests: list[TestSample]) -> list[TestSample]:
    """The tests that set ``fixture`` up; all of them when no test says which fixtures it set up."""
    if not any(test.fixtures for test in tests):
        return tests
    return [test for test in tests if fixture.key in test.fixtures]


def _disposals(
    run: RunSummary, fixture: FixtureStats, users: list[TestSample], tests: int, cost: float, options: AnalysisOptions
) -> list[Finding]:
    disposals = _disposals_beyond_creations(fixture)
    reconnects = min(sum(_excess_connections(test) for test in users), disposals)
    if reconnects < 2:
        return []
    spent = reconnects * cost + db_work.amount(fixture.db, "engine_time")
    saving = once_instead_of(spent, reconnects)
    return [
        Finding(
            kind="connection",
            key="engine disposals",
            severity=severity(saving, run, options),
            location=fixture_location(fixture),
            measurements=(
                Measurement("engines disposed", disposals, "count"),
                Measurement("setups", fixture.setups, "count"),
                Measurement("tests that set it up", len(users), "count"),
                Measurement("reconnects in those tests", reconnects, "count"),
                Measurement("mean cost of a new connection", cost, "s"),
                Measurement("engine dispose time", db_work.amount(fixture.db, "engine_time"), "s"),
                Measurement("cost per run", spent, "s"),
            ),
            detail=EngineDisposals(
                fixture_ref(fixture), disposals, fixture.setups, reconnects, spent, len(users), tests
            ),
            saving=saving,
            claims=claims(saving, {f"reconnects after fixture {fixture.key}'s disposals": spent}),
            evidence=run_evidence(run),
        )
    ]


def _churn(
    run: RunSummary, tests: list[TestSample], everyone: int, cost: float, options: AnalysisOptions
) -> list[Finding]:
    """Connection churn in ``tests`` (those of the ``everyone`` tests with database work
    whose reconnects no disposal finding claims)."""
    affected = [test for test in tests if _excess_connections(test) >= 1]
    excess = sum(_excess_connections(test) for test in affected) - _unconnected_wide_engines(run)
    needed = options.most_tests_share * everyone
    if not affected or len(affected) < needed or excess < needed:
        return []
    connections = db_work.total(tests, "connections")
    checkouts = db_work.total(tests, "checkouts")
    nullpool = checkouts > 0 and connections >= NULLPOOL_RATIO * checkouts
    spent = excess * cost
    saving = max(spent - cost, 0.0)
    where = _connecting_fixture(run, options)
    # The connects of a fixture that connects on every setup are that fixture's cost.
    inside = min(db_work.connection_setup_time(where.db), spent) if where is not None else 0.0
    costs = {"tests: connections beyond each engine's first": spent - inside}
    if where is not None:
        costs[connecting(where)] = inside
    return [
        Finding(
            kind="connection",
            key="churn",
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
                everyone,
                excess,
                spent,
                nullpool,
                connections,
                checkouts,
                fixture_ref(where) if where is not None else None,
            ),
            saving=saving,
            claims=claims(saving, costs),
            evidence=run_evidence(run),
        )
    ]


def _connecting_fixture(run: RunSummary, options: AnalysisOptions) -> FixtureStats | None:
    """The repeating fixture that connects on every setup and spends the most on it, if any
    (fixtures that create engines are the engine finding's)."""
    engines = {fixture.key for fixture in db_work.engine_fixtures(run)}
    engines.update(fixture.key for fixture in _disposing_fixtures(run, options))
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
            key="pool waits",
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
            claims=claims(saving, {"tests: pool waits": waited}),
            evidence=run_evidence(run),
        )
    ]
