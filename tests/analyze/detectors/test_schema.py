"""The schema detector: DDL repeated by a fixture narrower than the session."""

from __future__ import annotations

import dataclasses

import pytest

from otel_pytest.analyze.detectors import schema
from otel_pytest.analyze.findings import Location, Measurement
from otel_pytest.analyze.model import FixtureStats, History
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import (
    ROLLBACK_LIMITS,
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
TESTS = [sample(f"tests/test_a.py::test_{n}", setup=0.04, call=0.01) for n in range(4)]
TRUNCATE = statement("t1", "TRUNCATE customer", count=3, total_time=0.06, tests=0)


def test_the_slow_shop_suite_rebuilds_its_schema_in_fixture_schema_on_every_test() -> None:
    # 1.256 s of setup and teardown, less the 168 ms of connects and 81.2 ms of first
    # checkouts that the connection finding counts; all but one of the 28 setups saved.
    cost = 1.256 - 0.2492
    expected = Reported(
        kind="schema",
        severity="high",
        title=(
            "Schema rebuilt on every setup of fixture `schema` (function scope): 8 DDL statements per setup, "
            "1.01 s over 28 setups"
        ),
        location=Location(fixture="schema", file="examples/shop/fixtures_slow.py", line=24),
        measurements=(
            Measurement("setups", 28, "count"),
            Measurement("setups that ran DDL", 28, "count"),
            Measurement("DDL statements", 224, "count"),
            Measurement("DDL time", 0.504, "s"),
            Measurement("fixture setup", 0.974, "s"),
            Measurement("fixture teardown", 0.282, "s"),
            Measurement("connection set-up inside (counted by the connection finding)", 0.2492, "s"),
            Measurement("cost per run", cost, "s"),
            Measurement("cost per setup", cost / 28, "s"),
        ),
        confidence=(
            "exact counts: 224 DDL statements in 28 of 28 setups of a function-scoped fixture; times measured; "
            "its DDL: CREATE, DROP"
        ),
        suggestion=(
            "Move the DDL in `schema` (create_all/drop_all) to a session-scoped fixture: build the schema "
            "once before the first test and drop it once after the last. Isolate tests with a transaction "
            "per test that is rolled back at the end (the session joins it with "
            'join_transaction_mode="create_savepoint"), not by rebuilding the tables. ' + ROLLBACK_LIMITS
        ),
        saving=cost * 27 / 28,
        evidence={"run": SLOW_RUN_ID, "revision": "0123456789abcdef"},
    )

    assert rounded(schema.detect(history(slow_shop_run()), OPTIONS)) == rounded([expected])


def test_a_session_scoped_schema_fixture_is_not_flagged() -> None:
    once = fixture("schema", scope="session", setups=1, setup_time=0.05, db={"ddl": 8, "ddl_time": 0.02})

    assert schema.detect(history(run("r1", TESTS, fixtures=[once])), OPTIONS) == []


def test_a_narrow_fixture_that_ran_once_is_not_flagged() -> None:
    single = fixture("schema", setups=1, setup_time=0.05, db={"ddl": 8, "ddl_time": 0.02})

    assert schema.detect(history(run("r1", TESTS, fixtures=[single])), OPTIONS) == []


def test_a_fixture_without_ddl_is_not_flagged() -> None:
    rows = fixture("rows", setups=4, setup_time=0.2, db={"queries": 8, "query_time": 0.1, "commits": 4})

    assert schema.detect(history(run("r1", TESTS, fixtures=[rows])), OPTIONS) == []


def test_a_module_scoped_truncate_saves_all_but_one_module() -> None:
    truncate = fixture(
        "clean",
        scope="module",
        setups=3,
        setup_time=0.0,
        teardown_time=0.09,
        db={"ddl": 3, "ddl_time": 0.06, "checkouts": 3, "pool_wait_time": 0.0003},
        statements={"t1": 3},
    )

    [finding] = rounded(
        schema.detect(history(run("r1", TESTS, fixtures=[truncate], statements=[TRUNCATE], wall_time=3.0)), OPTIONS)
    )

    # No new connection inside, so its checkout waits are its own time: nothing is taken off.
    assert finding.title == (
        "Tables truncated on every setup of fixture `clean` (module scope): 1 DDL statement "
        "per setup, 90 ms over 3 setups"
    )
    assert finding.saving == pytest.approx(0.06)
    assert finding.severity == "medium"  # 60 ms of a 3 s run
    assert finding.confidence == (
        "exact counts: 3 DDL statements in 3 of 3 setups of a module-scoped fixture; times measured; its DDL: TRUNCATE"
    )


def test_a_fixture_that_only_truncates_is_told_to_roll_back_instead() -> None:
    truncate = fixture(
        "clean", setups=4, setup_time=0.0, teardown_time=0.04, db={"ddl": 4, "ddl_time": 0.03}, statements={"t1": 4}
    )
    statements = [
        statement("t1", "TRUNCATE customer, product", count=4, total_time=0.03, tests=4),
        # Run once elsewhere (a session fixture): not this fixture's DDL.
        statement("c1", "CREATE TABLE customer", count=1, total_time=0.001, tests=0),
    ]

    [finding] = rounded(schema.detect(history(run("r1", TESTS, fixtures=[truncate], statements=statements)), OPTIONS))

    assert finding.title == (
        "Tables truncated on every setup of fixture `clean` (function scope): 1 DDL statement "
        "per setup, 40 ms over 4 setups"
    )
    assert finding.confidence.endswith("; its DDL: TRUNCATE")
    assert finding.suggestion == (
        "Stop emptying the tables in `clean`: run each test in a transaction that is rolled back at the end (the "
        'session joins it with join_transaction_mode="create_savepoint"), so nothing the test writes is committed '
        "and nothing needs truncating. " + ROLLBACK_LIMITS
    )


def test_each_repeating_ddl_fixture_is_its_own_finding_in_key_order() -> None:
    first = fixture("tables", setups=2, setup_time=0.02, db={"ddl": 2}, file="tests/a.py", statements={"t1": 2})
    second = fixture("views", setups=2, setup_time=0.02, db={"ddl": 2}, file="tests/b.py", statements={"t1": 2})

    findings = reports(
        schema.detect(history(run("r1", TESTS, fixtures=[second, first], statements=[TRUNCATE])), OPTIONS)
    )

    assert [finding.location.fixture for finding in findings] == ["tables", "views"]


def test_no_runs_give_nothing() -> None:
    assert schema.detect(History(runs=()), OPTIONS) == []


# -- what real suites showed (issue 10, item 6) ---------------------------------------------


def create_all(name: str, *, setups: int, ddl_setups: int, creates: int, **db: float) -> FixtureStats:
    """A function-scoped fixture running create_all (two tables) with checkfirst: it creates
    the tables on ``ddl_setups`` of its ``setups`` and finds them there on the others."""
    return fixture(
        name,
        setups=setups,
        setup_time=0.2,
        db={"ddl": 2 * creates, "ddl_time": 0.01 * creates, "queries": 2 * setups + 2 * creates, **db},
        statements={"c1": creates, "c2": creates, "s1": 2 * setups},
        ddl_setups=ddl_setups,
    )


CREATES = [
    statement("c1", "CREATE TABLE customer (id SERIAL NOT NULL)", count=1, total_time=0.005, tests=0),
    statement("c2", "CREATE TABLE product (id SERIAL NOT NULL)", count=1, total_time=0.005, tests=0),
    statement("s1", "SELECT pg_catalog.pg_class.relname FROM pg_catalog.pg_class", count=8, total_time=0.01, tests=4),
]


def test_create_all_with_checkfirst_that_built_the_tables_in_1_of_4_setups_is_no_rebuild() -> None:
    once = create_all("prepare_database", setups=4, ddl_setups=1, creates=1)

    assert schema.detect(history(run("r1", TESTS, fixtures=[once], statements=CREATES)), OPTIONS) == []


def test_a_sequence_restart_is_a_data_reset_not_a_schema_rebuild() -> None:
    reset = fixture(
        "reset_ids",
        setups=4,
        setup_time=0.08,
        db={"ddl": 4, "ddl_time": 0.01, "queries": 8},
        statements={"a1": 4, "d1": 4},
    )
    statements = [
        statement("a1", "ALTER SEQUENCE customer_id_seq RESTART WITH ?", count=4, total_time=0.01, tests=4),
        statement("d1", "DELETE FROM customer", count=4, total_time=0.01, tests=4),
    ]

    assert schema.detect(history(run("r1", TESTS, fixtures=[reset], statements=statements)), OPTIONS) == []


def test_ddl_on_3_of_4_setups_is_not_said_to_run_on_every_setup_and_its_verbs_are_the_fixtures_own() -> None:
    # 3 of 4 setups created the two tables (6 DDL statements, 0.75 per setup in all); the
    # run also dropped tables elsewhere, once per test, which is not this fixture's DDL.
    partly = create_all("prepare_database", setups=4, ddl_setups=3, creates=3)
    dropped = statement("x1", "DROP TABLE audit", count=4, total_time=0.004, tests=4)
    statements = [*CREATES, dropped]

    [finding] = rounded(schema.detect(history(run("r1", TESTS, fixtures=[partly], statements=statements)), OPTIONS))

    assert finding.title == (
        "Schema built on 3 of 4 setups of fixture `prepare_database` (function scope): 2 DDL statements per "
        "such setup, 200 ms over 4 setups"
    )
    assert finding.confidence == (
        "exact counts: 6 DDL statements in 3 of 4 setups of a function-scoped fixture; times measured; its DDL: CREATE"
    )
    assert finding.suggestion == (
        "Move the DDL in `prepare_database` (create_all) to a session-scoped fixture that builds the schema once "
        "before the first test: it changes nothing the tests write, so no test needs it again."
    )


def test_without_a_connection_finding_the_connection_set_up_inside_stays_in_the_cost() -> None:
    # One new connection in one of the four tests: no churn, no engine per setup, so no
    # connection finding counts the 30 ms of set-up inside the fixture.
    connecting = {"connections": 1, "connection_time": 0.02, "checkouts": 1, "pool_wait_time": 0.01}
    tests = [sample("tests/test_a.py::test_0", setup=0.04, call=0.01, db=connecting), *TESTS[1:]]
    tests = [dataclasses.replace(test, db={**test.db, "queries": 1}) for test in tests]
    rebuild = fixture(
        "tables",
        setups=4,
        setup_time=0.3,
        teardown_time=0.1,
        db={"ddl": 8, "ddl_time": 0.2, **connecting},
        statements={"c1": 4, "x1": 4},
    )
    statements = [*CREATES, statement("x1", "DROP TABLE customer", count=4, total_time=0.004, tests=4)]

    [finding] = rounded(schema.detect(history(run("r1", tests, fixtures=[rebuild], statements=statements)), OPTIONS))

    assert finding.measurements == (
        Measurement("setups", 4, "count"),
        Measurement("setups that ran DDL", 4, "count"),
        Measurement("DDL statements", 8, "count"),
        Measurement("DDL time", 0.2, "s"),
        Measurement("fixture setup", 0.3, "s"),
        Measurement("fixture teardown", 0.1, "s"),
        Measurement("cost per run", 0.4, "s"),
        Measurement("cost per setup", 0.1, "s"),
    )
    assert finding.confidence == (
        "exact counts: 8 DDL statements in 4 of 4 setups of a function-scoped fixture; times measured; its DDL: "
        "CREATE, DROP; the 30 ms of connection set-up inside are in this cost (no connection finding counts them)"
    )
    assert finding.saving == pytest.approx(0.3)
