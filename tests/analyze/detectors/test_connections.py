"""The connection detector: engines per setup, engines in tests, churn, pool waits."""

from __future__ import annotations

import dataclasses

import pytest

from otel_pytest.analyze.detectors import connections, schema
from otel_pytest.analyze.findings import Location, Measurement
from otel_pytest.analyze.model import History, RunSummary
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import (
    SLOW_RUN_ID,
    Reported,
    fixture,
    history,
    reports,
    rounded,
    run,
    sample,
    slow_shop_run,
    statement,
)

OPTIONS = AnalysisOptions()
SESSION_ENGINE = (
    'Make it session-scoped (@pytest.fixture(scope="session"); for an async engine also loop_scope="session") '
    "so one engine and its pool serve every test, and dispose it once at the end. Keep tests isolated with a "
    "transaction per test that is rolled back, not with a new engine."
)


def test_the_slow_shop_suite_has_one_finding_an_engine_per_test_in_fixture_engine() -> None:
    # Per test: engine 2 ms, connect 6 ms, checkout wait 3 ms (of which the driver's first-connect
    # set-up), queries 31 ms, rollbacks 0.8 ms: a new connection costs 9 ms, set-up is 11 of 42.8 ms.
    cost = 0.1524 + 28 * 0.009
    expected = Reported(
        kind="connection",
        severity="high",
        title="A new engine on every setup of fixture `engine` (function scope): 28 engines in 28 setups cost 404 ms",
        location=Location(fixture="engine", file="examples/shop/fixtures_slow.py", line=17),
        measurements=(
            Measurement("engines created", 28, "count"),
            Measurement("setups", 28, "count"),
            Measurement("fixture setup and teardown", 0.1524, "s"),
            Measurement("first connections of those engines", 28, "count"),
            Measurement("mean cost of a new connection", 0.009, "s"),
            Measurement("cost per run", cost, "s"),
            Measurement("connection set-up share of database time", 100 * 0.011 / 0.0428, "%"),
        ),
        confidence=(
            "exact counts: 28 engines in 28 setups, new engines or connections in 28 of 28 tests; "
            "cost from measured times"
        ),
        suggestion=f"`engine` creates an engine every time it runs. {SESSION_ENGINE}",
        saving=cost * 27 / 28,
        evidence={"run": SLOW_RUN_ID, "revision": "0123456789abcdef"},
    )

    assert rounded(connections.detect(history(slow_shop_run()), OPTIONS)) == rounded([expected])


def test_a_session_scoped_engine_and_pooled_checkouts_give_no_finding() -> None:
    engine = fixture(
        "engine", scope="session", setups=1, setup_time=0.08, db={"engines_created": 1, "engine_time": 0.001}
    )
    tests = [
        sample(
            f"tests/test_a.py::test_{n}",
            call=0.01,
            db={"checkouts": 1, "pool_wait_time": 0.00003, "queries": 3, "query_time": 0.002},
        )
        for n in range(10)
    ]

    assert connections.detect(history(run("r1", tests, fixtures=[engine])), OPTIONS) == []


def test_a_module_scoped_engine_fixture_saves_all_but_one_of_its_engines() -> None:
    engine = fixture(
        "engine",
        scope="module",
        setups=3,
        setup_time=0.03,
        teardown_time=0.006,
        db={"engines_created": 3, "engines_disposed": 3, "engine_time": 0.006},
    )
    tests = [
        sample(
            f"tests/test_{n}.py::test_a",
            call=0.01,
            db={"connections": 1, "connection_time": 0.01, "checkouts": 1, "pool_wait_time": 0.002},
        )
        for n in range(3)
    ]

    [finding] = rounded(connections.detect(history(run("r1", tests, fixtures=[engine], wall_time=1.0)), OPTIONS))

    assert finding.title == (
        "A new engine on every setup of fixture `engine` (module scope): 3 engines in 3 setups cost 72 ms"
    )
    assert finding.saving == pytest.approx((0.036 + 3 * 0.012) * 2 / 3)
    assert finding.severity == "medium"  # 48 ms of a 1 s run
    assert Measurement("connection set-up share of database time", 100.0, "%") in finding.measurements


def test_connections_made_inside_the_engine_fixture_are_not_counted_twice() -> None:
    engine = fixture(
        "engine", setups=4, setup_time=0.06, db={"engines_created": 4, "connections": 4, "connection_time": 0.04}
    )
    tests = [
        sample(
            f"tests/test_a.py::test_{n}",
            setup=0.015,
            call=0.01,
            db={"engines_created": 1, "connections": 1, "connection_time": 0.01, "checkouts": 1},
        )
        for n in range(4)
    ]

    [finding] = rounded(connections.detect(history(run("r1", tests, fixtures=[engine])), OPTIONS))

    assert Measurement("cost per run", 0.06, "s") in finding.measurements
    assert finding.saving == pytest.approx(0.045)


def test_engines_created_inside_most_tests_are_flagged_when_no_fixture_explains_them() -> None:
    tests = [
        sample(
            f"tests/test_a.py::test_{n}",
            call=0.05,
            db={
                "engines_created": 1,
                "engine_time": 0.004,
                "connections": 1,
                "connection_time": 0.01,
                "checkouts": 1,
                "pool_wait_time": 0.002,
                "queries": 2,
                "query_time": 0.004,
            },
        )
        for n in range(3)
    ]
    tests.append(sample("tests/test_a.py::test_3", call=0.01, db={"queries": 1, "query_time": 0.001}))

    [finding] = rounded(connections.detect(history(run("r1", tests)), OPTIONS))

    assert finding.title == "Engines created inside 3 of 4 tests: 3 engines cost 48 ms"
    assert finding.location == Location()
    assert finding.saving == pytest.approx(0.048 * 2 / 3)
    assert Measurement("connection set-up share of database time", 80.0, "%") in finding.measurements
    assert finding.suggestion.startswith("Create the engine once, in a session-scoped fixture")


def test_engines_created_in_a_minority_of_tests_are_left_alone() -> None:
    tests = [sample("tests/test_a.py::test_0", db={"engines_created": 1, "connections": 1, "connection_time": 0.01})]
    tests += [sample(f"tests/test_a.py::test_{n}", db={"queries": 1}) for n in range(1, 4)]

    assert connections.detect(history(run("r1", tests)), OPTIONS) == []


def test_nullpool_like_churn_names_the_fixture_that_connects_every_time() -> None:
    database = fixture(
        "db", setups=4, setup_time=0.02, line=40, db={"connections": 4, "connection_time": 0.02, "checkouts": 4}
    )
    tests = [
        sample(
            f"tests/test_a.py::test_{n}",
            call=0.03,
            db={"connections": 5, "connection_time": 0.025, "checkouts": 5, "queries": 5, "query_time": 0.005},
        )
        for n in range(4)
    ]

    findings = reports(connections.detect(history(run("r1", tests, fixtures=[database], wall_time=0.2)), OPTIONS))

    assert rounded(findings) == rounded(
        [
            Reported(
                kind="connection",
                severity="high",
                title=(
                    "New physical connections in 4 of 4 tests (20 connects for 20 pool checkouts: the pool keeps "
                    "nothing), costing 100 ms"
                ),
                location=Location(fixture="db", file="tests/conftest.py", line=40),
                measurements=(
                    Measurement("tests opening connections", 4, "count"),
                    Measurement("new connections beyond each new engine's first", 20.0, "count"),
                    Measurement("pool checkouts", 20.0, "count"),
                    Measurement("mean cost of a new connection", 0.005, "s"),
                    Measurement("cost per run", 0.1, "s"),
                    Measurement("connection set-up share of database time", 100 * 0.1 / 0.12, "%"),
                ),
                confidence=(
                    "exact counts: 20 new physical connections in 4 of 4 tests; cost from measured connect times"
                ),
                suggestion=(
                    "fixture `db` (function scope) connects on every setup. Let the pool keep connections: drop "
                    "poolclass=NullPool (and anything that invalidates connections on return) from the test "
                    "engine, and share one session-scoped engine."
                ),
                saving=0.095,
                evidence={"run": "r1"},
            )
        ]
    )


def test_a_connection_per_test_from_a_working_pool_is_churn_but_not_nullpool() -> None:
    tests = [
        sample(
            f"tests/test_a.py::test_{n}",
            db={"connections": 1, "connection_time": 0.008, "checkouts": 4, "pool_wait_time": 0.002},
        )
        for n in range(2)
    ]

    [finding] = rounded(connections.detect(history(run("r1", tests)), OPTIONS))

    assert finding.title == (
        "New physical connections in 2 of 2 tests (1.0 new connections per affected test), costing 20 ms"
    )
    assert finding.location == Location()
    assert finding.suggestion.startswith("Reuse connections:")
    assert finding.saving == pytest.approx(0.01)


def test_pool_waits_beyond_the_threshold_are_flagged_against_a_pooled_checkout() -> None:
    tests = [
        sample(
            f"tests/test_a.py::test_{n}",
            call=0.05,
            db={"checkouts": 10, "pool_wait_time": 0.02 + 0.01 * n, "queries": 10, "query_time": 0.01},
        )
        for n in range(3)
    ]

    [finding] = rounded(connections.detect(history(run("r1", tests, wall_time=2.0)), OPTIONS))

    assert finding.title == "Tests wait 3.0 ms per pool checkout: 90 ms over 30 checkouts"
    assert finding.measurements == (
        Measurement("wait per checkout", 0.003, "s", baseline=0.0001),
        Measurement("total wait", 0.09, "s"),
        Measurement("checkouts", 30.0, "count"),
        Measurement("tests that waited", 3, "count"),
        Measurement("longest wait in one test (tests/test_a.py::test_2)", 0.04, "s"),
    )
    assert finding.saving == pytest.approx(0.09 - 30 * 0.0001)
    assert finding.severity == "medium"


def test_short_pool_waits_are_not_flagged() -> None:
    tests = [sample(f"tests/test_a.py::test_{n}", db={"checkouts": 100, "pool_wait_time": 0.01}) for n in range(2)]

    assert connections.detect(history(run("r1", tests)), OPTIONS) == []


def test_the_wait_of_a_checkout_that_connected_is_not_a_pool_wait() -> None:
    pooled = [sample(f"tests/test_a.py::test_{n}", db={"checkouts": 2, "pool_wait_time": 0.0001}) for n in range(3)]
    connecting = [
        sample(
            f"tests/test_b.py::test_{n}",
            db={"connections": 1, "connection_time": 0.001, "checkouts": 1, "pool_wait_time": 0.05},
        )
        for n in range(2)
    ]  # 2 of 5 tests connect: not most of them, so no churn either

    assert connections.detect(history(run("r1", pooled + connecting)), OPTIONS) == []


@pytest.mark.parametrize(
    "data",
    [History(runs=()), history(run("r1", [sample("tests/test_a.py::test_a")]))],
    ids=["no runs", "no database work"],
)
def test_no_current_run_or_no_database_work_gives_nothing(data: History) -> None:
    assert connections.detect(data, OPTIONS) == []


# -- what real suites showed (issue 10, item 6) ---------------------------------------------


def disposing_suite() -> RunSummary:
    """201 tests on one session-scoped engine; the 77 that use the async fixture `client`
    dispose the engine in its teardown (``await engine.dispose()``), so each of them opens
    a new physical connection: 9 ms each (8 ms connect, 1 ms first checkout)."""
    engine = fixture(
        "engine", scope="session", setups=1, setup_time=0.05, db={"engines_created": 1, "engine_time": 0.001}
    )
    client = fixture(
        "client",
        setups=77,
        setup_time=0.077,
        teardown_time=0.0077,
        file="tests/api/conftest.py",
        line=12,
        db={"engines_disposed": 77, "engine_time": 0.0077},
    )
    reconnecting = {"connections": 1, "connection_time": 0.008, "checkouts": 2, "pool_wait_time": 0.001}
    pooled = {"checkouts": 1, "pool_wait_time": 0.00005, "queries": 2, "query_time": 0.002}
    tests = [
        sample(
            f"tests/{'api' if n < 77 else 'core'}/test_{n}.py::test_it",
            call=0.01,
            db={**reconnecting, "queries": 2, "query_time": 0.002} if n < 77 else pooled,
            fixtures=[client.key] if n < 77 else [],
        )
        for n in range(201)
    ]
    return run("r1", tests, fixtures=[engine, client], wall_time=12.0)


def test_an_engine_disposed_on_every_setup_of_an_async_fixture_is_reported_with_its_reconnects() -> None:
    cost = 77 * 0.009 + 0.0077
    expected = Reported(
        kind="connection",
        severity="medium",  # the saving, 0.69 s, is 5.7 % of the 12 s run
        title="An engine disposed on every setup of fixture `client` (function scope): 77 reconnects cost 701 ms",
        location=Location(fixture="client", file="tests/api/conftest.py", line=12),
        measurements=(
            Measurement("engines disposed", 77, "count"),
            Measurement("setups", 77, "count"),
            Measurement("tests that set it up", 77, "count"),
            Measurement("reconnects in those tests", 77, "count"),
            Measurement("mean cost of a new connection", 0.009, "s"),
            Measurement("engine dispose time", 0.0077, "s"),
            Measurement("cost per run", cost, "s"),
        ),
        confidence=(
            "exact counts: 77 engines disposed in 77 setups of a fixture that created none of them; 77 new physical "
            "connections in the 77 of 201 tests that set it up; cost from measured connect and dispose times"
        ),
        suggestion=(
            "`client` disposes an engine it did not create (engine.dispose()) every time it runs: the pool is "
            "emptied and the next test connects again (7-25 ms each). Dispose the engine once, in the teardown of "
            "the session-scoped fixture that creates it. If the dispose works around asyncpg's \"attached to a "
            'different loop" errors, run the engine and the tests in one event loop instead (pytest-asyncio: '
            'loop_scope="session" on the engine fixture and the tests that use it).'
        ),
        saving=cost * 76 / 77,
        evidence={"run": "r1"},
    )

    assert rounded(connections.detect(history(disposing_suite()), OPTIONS)) == rounded([expected])


def test_the_reconnects_a_disposal_finding_counts_are_not_counted_again_as_churn() -> None:
    # Every test reconnects: without the disposal finding they would be churn in 201 of 201.
    summary = disposing_suite()
    client = summary.fixtures["tests/api/conftest.py:12:client"]
    everyone = dataclasses.replace(client, setups=201, teardowns=201, db={**client.db, "engines_disposed": 201})
    tests = {
        key: dataclasses.replace(test, db={**test.db, "connections": 1}, fixtures=frozenset({client.key}))
        for key, test in summary.tests.items()
    }
    summary = dataclasses.replace(summary, tests=tests, fixtures={**summary.fixtures, client.key: everyone})

    findings = connections.detect(history(summary), OPTIONS)

    assert [type(finding.detail).__name__ for finding in findings] == ["EngineDisposals"]
    assert findings[0].measurements[3] == Measurement("reconnects in those tests", 201, "count")


def test_a_fixture_that_creates_its_engine_and_schema_is_counted_once_between_the_two_findings() -> None:
    # `database` creates an engine, connects, and runs create_all/drop_all on each of 4 setups.
    database = fixture(
        "database",
        setups=4,
        setup_time=0.3,
        teardown_time=0.1,
        db={
            "engines_created": 4,
            "engines_disposed": 4,
            "engine_time": 0.008,
            "connections": 4,
            "connection_time": 0.032,
            "checkouts": 4,
            "pool_wait_time": 0.004,
            "ddl": 8,
        },
        statements={"c1": 4, "d1": 4},
    )
    tests = [
        sample(
            f"tests/test_a.py::test_{n}",
            call=0.01,
            db={"engines_created": 1, "connections": 1, "connection_time": 0.008, "pool_wait_time": 0.001},
            fixtures=[database.key],
        )
        for n in range(4)
    ]
    statements = [
        statement("c1", "CREATE TABLE customer", count=4, total_time=0.01, tests=4),
        statement("d1", "DROP TABLE customer", count=4, total_time=0.01, tests=4),
    ]
    data = history(run("r1", tests, fixtures=[database], statements=statements, wall_time=2.0))

    [engine] = connections.detect(data, OPTIONS)
    [rebuild] = schema.detect(data, OPTIONS)

    assert engine.measurements[2] == Measurement(
        "engines and connections inside the fixture (the rest is the schema finding's)", 0.044, "s"
    )
    assert rounded([engine])[0].measurements[5] == Measurement("cost per run", 0.044, "s")
    assert rounded([rebuild])[0].measurements[-2] == Measurement("cost per run", 0.356, "s")
