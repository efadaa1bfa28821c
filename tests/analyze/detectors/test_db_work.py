"""What the database summaries say: the arithmetic and the fixture claims the detectors share."""

from __future__ import annotations

import dataclasses

import pytest

from otel_pytest.analyze.detectors import db_work
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import fixture, run, sample, statement

CONNECTING = {
    "query_time": 0.02,
    "rollback_time": 0.001,
    "connection_time": 0.006,
    "pool_wait_time": 0.003,
    "engine_time": 0.002,
    "connections": 1,
    "checkouts": 2,
}


def test_a_missing_key_counts_as_zero() -> None:
    assert db_work.amount({}, "queries") == 0.0
    assert db_work.amount({"queries": 3}, "queries") == 3.0


def test_database_time_adds_queries_rollbacks_connects_waits_and_engines() -> None:
    assert db_work.database_time(CONNECTING) == pytest.approx(0.032)


def test_checkout_waits_are_connection_set_up_only_where_a_connection_was_made() -> None:
    assert db_work.connection_setup_time(CONNECTING) == pytest.approx(0.011)
    assert db_work.connection_setup_time({"pool_wait_time": 0.003, "checkouts": 2}) == 0.0


def test_tests_with_database_work_leave_out_skipped_tests_and_tests_without_a_summary() -> None:
    tests = [
        sample("tests/test_a.py::test_b", db={"queries": 1}),
        sample("tests/test_a.py::test_a", db={"queries": 1}),
        sample("tests/test_a.py::test_skipped", outcome="skipped", db={"queries": 1}),
        sample("tests/test_a.py::test_pure"),
    ]

    chosen = db_work.tests_with_database_work(run("r1", tests))

    assert [test.test_id for test in chosen] == ["tests/test_a.py::test_a", "tests/test_a.py::test_b"]


def test_engine_and_schema_fixtures_are_repeating_ones_that_do_it_on_most_setups() -> None:
    truncate = statement("t1", "TRUNCATE customer", count=9, total_time=0.01, tests=0)
    fixtures = [
        fixture("engine", setups=3, setup_time=0.01, db={"engines_created": 3}),
        fixture("sometimes", setups=3, setup_time=0.01, db={"engines_created": 2}),
        fixture(
            "shared",
            scope="session",
            setups=1,
            setup_time=0.01,
            db={"engines_created": 1, "ddl": 4},
            statements={"t1": 4},
        ),
        fixture("schema", scope="module", setups=2, setup_time=0.01, db={"ddl": 1}, statements={"t1": 1}),
        fixture("once", setups=4, setup_time=0.01, db={"ddl": 1}, statements={"t1": 1}, ddl_setups=1),
        fixture("half", setups=4, setup_time=0.01, db={"ddl": 2}, statements={"t1": 2}, ddl_setups=2),
    ]
    summary = run("r1", [], fixtures=fixtures, statements=[truncate])

    assert [item.name for item in db_work.engine_fixtures(summary)] == ["engine"]
    assert [item.name for item in db_work.schema_fixtures(summary, AnalysisOptions())] == ["half", "schema"]


def test_the_cost_of_a_connection_is_its_connect_and_checkout_time_and_its_share_of_database_time() -> None:
    tests = [
        sample("tests/test_a.py::test_a", db=CONNECTING),
        sample("tests/test_a.py::test_b", db={"query_time": 0.01, "checkouts": 1, "pool_wait_time": 0.001}),
    ]

    assert db_work.connection_cost(tests) == pytest.approx(0.009)
    assert db_work.connection_share(tests) == pytest.approx(0.011 / 0.043)


def test_without_connections_or_database_time_the_cost_and_share_are_zero() -> None:
    assert db_work.connection_cost([sample("tests/test_a.py::test_a", db={"queries": 1})]) == 0.0
    assert db_work.connection_share([]) == 0.0


def test_the_ddl_of_a_fixture_is_its_own_statements_without_sequence_restarts() -> None:
    clean = fixture("clean", setups=4, setup_time=0.01, db={"ddl": 8}, statements={"t1": 4, "a1": 4, "s1": 4})
    statements = [
        statement("t1", "TRUNCATE customer", count=4, total_time=0.01, tests=4),
        statement("a1", "ALTER SEQUENCE customer_id_seq RESTART WITH ?", count=4, total_time=0.01, tests=4),
        statement("c1", "CREATE TABLE customer", count=4, total_time=0.01, tests=0),  # another fixture's
        statement("s1", "SELECT 1", count=9, total_time=0.01, tests=4),
    ]
    rebuilt = [*statements, statement("d1", "DROP TABLE customer", count=4, total_time=0.01, tests=4)]
    rebuilding = dataclasses.replace(clean, statements={**clean.statements, "d1": 4})

    assert [
        (item.fingerprint_id, count)
        for item, count in db_work.ddl_statements(run("r1", [], statements=statements), clean)
    ] == [("t1", 4)]
    assert db_work.ddl_operations(run("r1", [], statements=statements), clean) == ("TRUNCATE",)
    assert db_work.truncates_only(run("r1", [], statements=statements), clean)
    assert db_work.ddl_operations(run("r1", [], statements=rebuilt), rebuilding) == ("DROP", "TRUNCATE")
    assert not db_work.truncates_only(run("r1", [], statements=rebuilt), rebuilding)


@pytest.mark.parametrize(
    ("text", "resets"),
    [
        ("ALTER SEQUENCE customer_id_seq RESTART WITH ?", True),
        ("alter sequence public.order_id_seq restart", True),
        ("ALTER SEQUENCE customer_id_seq INCREMENT BY ?", False),
        ("ALTER TABLE customer ADD COLUMN note TEXT", False),
    ],
)
def test_only_a_sequence_restart_is_a_data_reset(text: str, resets: bool) -> None:
    assert db_work.resets_data(text) is resets


def test_a_fixture_writes_rows_when_its_own_statements_insert_update_delete_merge_or_copy() -> None:
    statements = [
        statement("i1", "INSERT INTO customer (name) VALUES (?)", count=2, total_time=0.01, tests=2),
        statement("c1", "CREATE TABLE customer", count=2, total_time=0.01, tests=0),
    ]
    summary = run("r1", [], statements=statements)

    assert db_work.writes_rows(summary, fixture("rows", setups=2, setup_time=0.01, statements={"i1": 2}))
    assert not db_work.writes_rows(summary, fixture("tables", setups=2, setup_time=0.01, statements={"c1": 2}))
