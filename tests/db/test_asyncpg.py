"""asyncpg instrumentation end to end: asyncpg used directly (one span per round trip) and
under SQLAlchemy (no round trip recorded twice), against a real PostgreSQL."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from tests.db import (
    CHECKOUT,
    FIRST_CHECKOUT,
    RESET_CHECKIN,
    Suite,
    assert_each_round_trip_once,
    assert_summary_times_match_spans,
    counts,
    db_nodes,
    span,
    summary,
    trace,
)
from tests.spantree import Node

ASYNCPG = {
    "test_direct": """
        import asyncpg
        import pytest

        from dburls import DSN

        @pytest.fixture
        async def connection():
            connection = await asyncpg.connect(DSN)
            yield connection
            await connection.close()

        async def test_round_trips_and_nested_transactions(connection):
            await connection.execute("CREATE TEMPORARY TABLE pet (id int PRIMARY KEY, name text)")
            async with connection.transaction():
                await connection.execute("INSERT INTO pet VALUES ($1, $2)", 1, "rex")
                async with connection.transaction():
                    await connection.executemany("INSERT INTO pet VALUES ($1, $2)", [(2, "tom"), (3, "kit")])
                assert await connection.fetchval("SELECT count(*) FROM pet") == 3
            assert [row["id"] for row in await connection.fetch("SELECT id FROM pet ORDER BY id")] == [1, 2, 3]
            assert (await connection.fetchrow("SELECT name FROM pet WHERE id = $1", 2))["name"] == "tom"

        async def test_rolled_back_transactions_and_a_failing_statement(connection):
            with pytest.raises(RuntimeError):
                async with connection.transaction():
                    await connection.execute("SELECT 1")
                    async with connection.transaction():
                        raise RuntimeError("undo both")
            with pytest.raises(asyncpg.UndefinedTableError):
                await connection.fetch("SELECT * FROM missing_table")
        """,
    "test_under_sqlalchemy": """
        from sqlalchemy import Column, Integer, MetaData, String, Table, select
        from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

        from dburls import ASYNC_URL

        metadata = MetaData()
        toy = Table("toy", metadata, Column("id", Integer, primary_key=True), Column("name", String(20)))

        async def test_each_statement_once():
            engine = create_async_engine(ASYNC_URL)
            async with engine.begin() as connection:
                await connection.run_sync(metadata.create_all)
            async with AsyncSession(engine) as session:
                await session.execute(toy.insert(), [{"name": "ball"}, {"name": "kite"}])
                async with session.begin_nested():
                    await session.execute(toy.insert().values(name="yoyo"))
                await session.commit()
                names = (await session.scalars(select(toy.c.name).order_by(toy.c.id))).all()
                assert names == ["ball", "kite", "yoyo"]
            async with engine.begin() as connection:
                await connection.run_sync(metadata.drop_all)
            await engine.dispose()
        """,
}


def steps(test: Node) -> list[tuple[str, object, object]]:
    """Transaction steps in order: name, depth, fingerprint of the SQL asyncpg sent."""
    return [
        (node.name, node.attributes["pytest.db.transaction.depth"], node.attributes["pytest.db.fingerprint"])
        for node in test.walk()
        if "pytest.db.transaction.step" in node.attributes
    ]


def test_asyncpg_used_directly_gets_one_span_per_round_trip(suite: Suite) -> None:
    suite.pytester.makepyfile(**ASYNCPG)
    result, run = suite.run()
    result.assert_outcomes(passed=3)
    module = "test_direct.py::"
    fixture = {
        "setup": (span("fixture connection", span("connect")),),
        "teardown": (span("fixture connection teardown"),),  # close() is not traced
    }
    committed = run.root(module + "test_round_trips_and_nested_transactions")
    assert committed.shape(waits=False) == trace(
        committed.name,
        call=(
            span("CREATE pet"),
            span("BEGIN"),
            span("INSERT pet"),
            span("SAVEPOINT"),
            span("INSERT pet"),
            span("RELEASE SAVEPOINT"),  # executemany: one span
            span("SELECT pet"),
            span("COMMIT"),
            span("SELECT pet"),
            span("SELECT pet"),
        ),
        **fixture,
    )
    assert steps(committed) == [
        ("BEGIN", 1, "BEGIN"),
        ("SAVEPOINT", 2, "SAVEPOINT ?"),
        ("RELEASE SAVEPOINT", 2, "RELEASE SAVEPOINT ?"),
        ("COMMIT", 1, "COMMIT"),
    ]
    texts = [
        node.attributes["db.query.text"]
        for node in committed.child("call").children
        if "pytest.db.transaction.step" not in node.attributes
    ]
    assert texts == [
        "CREATE TEMPORARY TABLE pet (id int PRIMARY KEY, name text)",  # execute
        "INSERT INTO pet VALUES ($1, $2)",  # execute with arguments
        "INSERT INTO pet VALUES ($1, $2)",  # executemany
        "SELECT count(*) FROM pet",  # fetchval
        "SELECT id FROM pet ORDER BY id",  # fetch
        "SELECT name FROM pet WHERE id = $1",  # fetchrow
    ]
    assert summary(committed) == counts(queries=6, transactions=1, commits=1, savepoints=1, ddl=1, connections=1)

    rolled_back = run.root(module + "test_rolled_back_transactions_and_a_failing_statement")
    assert rolled_back.shape(waits=False) == trace(
        rolled_back.name,
        call=(
            span("BEGIN"),
            span("SELECT"),
            span("SAVEPOINT"),
            span("ROLLBACK TO SAVEPOINT"),
            span("ROLLBACK"),
            span("SELECT missing_table"),
        ),
        **fixture,
    )
    # asyncpg writes "ROLLBACK TO <name>": a savepoint rollback, never a top-level one.
    assert steps(rolled_back) == [
        ("BEGIN", 1, "BEGIN"),
        ("SAVEPOINT", 2, "SAVEPOINT ?"),
        ("ROLLBACK TO SAVEPOINT", 2, "ROLLBACK TO ?"),
        ("ROLLBACK", 1, "ROLLBACK"),
    ]
    assert summary(rolled_back) == counts(
        queries=2,
        transactions=1,
        rollbacks=1,
        savepoints=1,
        savepoint_rollbacks=1,
        connections=1,
    )
    failed = rolled_back.child("call").child("SELECT missing_table")
    assert failed.status_code == 2
    assert failed.attributes["error.type"] == "UndefinedTableError"
    assert failed.attributes["db.response.status_code"] == "42P01"
    # Object names stay in database errors; values they quote are redacted.
    assert failed.status_message == 'UndefinedTableError: relation "missing_table" does not exist'
    assert rolled_back.attributes["pytest.outcome"] == "passed"
    assert rolled_back.status_code == rolled_back.child("call").status_code == 0

    for test in (committed, rolled_back):
        assert_summary_times_match_spans(test)
        connect = test.child("setup").child("fixture connection").child("connect")
        assert connect.attributes["pytest.db.connection.new"] is True
        assert connect.attributes["db.system.name"] == "postgresql"
        for node in db_nodes(test.walk()):
            if node is not connect:
                assert node.attributes["pytest.db.layer"] == "asyncpg"
                assert node.attributes["db.namespace"] == make_url(suite.database.url).database

    # Under SQLAlchemy, every round trip is recorded once, by the SQLAlchemy layer; the
    # adapter's lazily sent BEGIN is a child of the transaction's first statement.
    sqlalchemy = run.root("test_under_sqlalchemy.py::test_each_statement_once")
    assert sqlalchemy.shape(waits=False) == trace(
        sqlalchemy.name,
        call=(
            span("engine create"),
            FIRST_CHECKOUT,
            span("SELECT pg_catalog.pg_class", span("BEGIN")),
            span("CREATE toy"),
            span("COMMIT"),
            RESET_CHECKIN,
            CHECKOUT,
            span("INSERT toy", span("BEGIN")),
            span("SAVEPOINT"),
            span("INSERT toy"),
            span("RELEASE SAVEPOINT"),
            span("COMMIT"),
            RESET_CHECKIN,
            CHECKOUT,
            span("SELECT toy", span("BEGIN")),
            span("ROLLBACK"),
            RESET_CHECKIN,
            CHECKOUT,
            span("SELECT pg_catalog.pg_class", span("BEGIN")),
            span("DROP toy"),
            span("COMMIT"),
            RESET_CHECKIN,
            span("engine dispose"),
        ),
    )
    assert_each_round_trip_once(sqlalchemy)
    call = sqlalchemy.child("call").children
    begins = [index for index, node in enumerate(call) if [c.name for c in node.children] == ["BEGIN"]]
    assert [call[index - 1].name for index in begins] == ["pool checkout"] * 4  # once per transaction
    assert summary(sqlalchemy) == counts(
        queries=7,
        transactions=4,
        commits=3,
        rollbacks=1,
        savepoints=1,
        pool_resets=5,
        ddl=2,
        connections=1,
        checkouts=4,
        engines_created=1,
        engines_disposed=1,
    )
    assert_summary_times_match_spans(sqlalchemy)
