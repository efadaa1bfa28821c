"""SQLAlchemy instrumentation end to end: generated suites against a real PostgreSQL, run
under ``pytest --otel``, with the stored span trees and per-test summaries asserted exactly."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from tests.db import (
    CHECKIN,
    CHECKOUT,
    FIRST_CHECKOUT,
    NEW_CHECKOUT,
    RESET_CHECKIN,
    SECRET_PARAMETER,
    Database,
    Shape,
    Suite,
    assert_each_round_trip_once,
    assert_summary_times_match_spans,
    counts,
    db_nodes,
    span,
    summary,
    trace,
    without_plugin_fixtures,
)
from tests.spantree import Node, Run

POOLS = {
    "test_sync_pools": """
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        from dburls import SYNC_URL

        # Created at import, before the plugin instruments SQLAlchemy, through the
        # ``from sqlalchemy import create_engine`` alias: still one span per query.
        queued = create_engine(SYNC_URL)
        unpooled = create_engine(SYNC_URL, poolclass=NullPool)

        def test_queue_pool_connects_on_first_checkout():
            with queued.begin() as connection:
                connection.execute(text("SELECT 1"))

        def test_queue_pool_reuses_its_connection():
            with queued.begin() as connection:
                connection.execute(text("SELECT 1"))
                connection.execute(text("SELECT 2"))
            with queued.connect() as connection:
                connection.execute(text("SELECT 3"))

        def test_null_pool_connects_on_every_checkout():
            with unpooled.begin() as connection:
                connection.execute(text("SELECT 1"))
            with unpooled.connect() as connection:
                connection.execute(text("SELECT 2"))
                connection.commit()

        def test_engines_are_disposed():
            queued.dispose()
            unpooled.dispose()
        """,
    "test_async_pools": """
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        from dburls import ASYNC_URL

        queued = create_async_engine(ASYNC_URL)
        unpooled = create_async_engine(ASYNC_URL, poolclass=NullPool)

        async def test_queue_pool_connects_on_first_checkout():
            async with queued.begin() as connection:
                await connection.execute(text("SELECT 1"))

        async def test_queue_pool_reuses_its_connection():
            async with queued.begin() as connection:
                await connection.execute(text("SELECT 1"))
                await connection.execute(text("SELECT 2"))
            async with queued.connect() as connection:
                await connection.execute(text("SELECT 3"))

        async def test_null_pool_connects_on_every_checkout():
            async with unpooled.begin() as connection:
                await connection.execute(text("SELECT 1"))
            async with unpooled.connect() as connection:
                await connection.execute(text("SELECT 2"))
                await connection.commit()

        async def test_engines_are_disposed():
            await queued.dispose()
            await unpooled.dispose()
        """,
}

# The classic fast pattern: one engine and schema for the session; each test runs in a
# transaction on one connection, the session joins it through savepoints, and the
# fixture rolls it all back.
SAVEPOINTS = {
    "test_sync_savepoints": """
        import pytest
        from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select, text
        from sqlalchemy.exc import ProgrammingError
        from sqlalchemy.orm import Session

        from dburls import SYNC_URL

        metadata = MetaData()
        item = Table("sync_item", metadata, Column("id", Integer, primary_key=True), Column("name", String(50)))

        @pytest.fixture(scope="session")
        def engine():
            engine = create_engine(SYNC_URL)
            metadata.create_all(engine)
            yield engine
            metadata.drop_all(engine)
            engine.dispose()

        @pytest.fixture
        def session(engine):
            connection = engine.connect()
            transaction = connection.begin()
            session = Session(bind=connection, join_transaction_mode="create_savepoint")
            yield session
            session.close()
            transaction.rollback()
            connection.close()

        def test_commit_releases_a_savepoint_and_nested_rollback_undoes_one(session):
            session.execute(item.insert().values(name="kept"))
            session.commit()
            nested = session.begin_nested()
            session.execute(item.insert().values(name="undone"))
            nested.rollback()
            assert session.scalars(select(item.c.name)).all() == ["kept"]

        def test_failing_statement_is_an_error_span_in_a_passing_test(session):
            with pytest.raises(ProgrammingError):
                session.execute(text("SELECT * FROM missing_table"))

        def test_nothing_of_the_previous_tests_is_left(session):
            assert session.scalars(select(item.c.name)).all() == []
        """,
    "test_async_savepoints": """
        import pytest
        from sqlalchemy import Column, Integer, MetaData, String, Table, select, text
        from sqlalchemy.exc import ProgrammingError
        from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

        from dburls import ASYNC_URL

        metadata = MetaData()
        item = Table("async_item", metadata, Column("id", Integer, primary_key=True), Column("name", String(50)))

        @pytest.fixture(scope="session")
        async def async_engine():
            engine = create_async_engine(ASYNC_URL)
            async with engine.begin() as connection:
                await connection.run_sync(metadata.create_all)
            yield engine
            async with engine.begin() as connection:
                await connection.run_sync(metadata.drop_all)
            await engine.dispose()

        @pytest.fixture
        async def async_session(async_engine):
            async with async_engine.connect() as connection:
                transaction = await connection.begin()
                session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint")
                yield session
                await session.close()
                await transaction.rollback()

        async def test_commit_releases_a_savepoint_and_nested_rollback_undoes_one(async_session):
            await async_session.execute(item.insert().values(name="kept"))
            await async_session.commit()
            nested = await async_session.begin_nested()
            await async_session.execute(item.insert().values(name="undone"))
            await nested.rollback()
            assert (await async_session.scalars(select(item.c.name))).all() == ["kept"]

        async def test_failing_statement_is_an_error_span_in_a_passing_test(async_session):
            with pytest.raises(ProgrammingError):
                await async_session.execute(text("SELECT * FROM missing_table"))

        async def test_nothing_of_the_previous_tests_is_left(async_session):
            assert (await async_session.scalars(select(item.c.name))).all() == []
        """,
}

# The slow pattern: a new engine for every test and the schema created and dropped around
# it; the test stores and looks up a password-like value through bound parameters.
ENGINE_PER_TEST = {
    "test_engine_per_test": """
        import pytest
        from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select
        from sqlalchemy.ext.asyncio import create_async_engine

        from dburls import ASYNC_URL, SECRET, SYNC_URL

        metadata = MetaData()
        account = Table(
            "account", metadata, Column("id", Integer, primary_key=True),
            Column("name", String(50)), Column("password", String(50)),
        )

        @pytest.fixture
        def engine():
            engine = create_engine(SYNC_URL)
            yield engine
            engine.dispose()

        @pytest.fixture
        def schema(engine):
            metadata.create_all(engine)
            yield
            metadata.drop_all(engine)

        def test_sync(engine, schema):
            with engine.begin() as connection:
                connection.execute(account.insert().values(name="alice", password=SECRET))
            with engine.connect() as connection:
                found = connection.execute(select(account.c.name).where(account.c.password == SECRET))
                assert found.scalars().all() == ["alice"]

        @pytest.fixture
        async def async_engine():
            engine = create_async_engine(ASYNC_URL)
            yield engine
            await engine.dispose()

        @pytest.fixture
        async def async_schema(async_engine):
            async with async_engine.begin() as connection:
                await connection.run_sync(metadata.create_all)
            yield
            async with async_engine.begin() as connection:
                await connection.run_sync(metadata.drop_all)

        async def test_async(async_engine, async_schema):
            async with async_engine.begin() as connection:
                await connection.execute(account.insert().values(name="alice", password=SECRET))
            async with async_engine.connect() as connection:
                found = await connection.execute(select(account.c.name).where(account.c.password == SECRET))
                assert found.scalars().all() == ["alice"]
        """,
}


def steps(test: Node) -> list[tuple[str, object, bool]]:
    """Transaction steps in the order they started: name, depth, whether the pool's reset."""
    return [
        (
            node.name,
            node.attributes["pytest.db.transaction.depth"],
            node.attributes.get("pytest.db.transaction.reset") is True,
        )
        for node in test.walk()
        if "pytest.db.transaction.step" in node.attributes
    ]


def assert_database_attributes(run: Run, database: Database) -> None:
    """Every database span names the system and database; every step span is named by its
    step (a ``ROLLBACK TO SAVEPOINT`` is never a ``ROLLBACK``); a checkout says whether it
    opened a new connection exactly when a ``connect`` is inside it."""
    namespace = make_url(database.url).database
    nodes = db_nodes(node for root in run.roots for node in root.walk())
    assert nodes
    for node in nodes:
        attributes = node.attributes
        assert attributes["db.system.name"] == "postgresql", node.name
        assert attributes["db.namespace"] == namespace, node.name
        step = attributes.get("pytest.db.transaction.step")
        if step is not None:
            assert node.name == step
            assert attributes["db.query.summary"] == step
        if node.name == "pool checkout":
            assert attributes["pytest.db.connection.new"] is ("connect" in [c.name for c in node.children])
        if node.name == "pool checkin":
            assert [child.name for child in node.children] in ([], ["ROLLBACK"])
            for child in node.children:
                assert child.attributes["pytest.db.transaction.reset"] is True


def test_queue_pool_connects_on_the_first_checkout_only_and_null_pool_on_every_one(suite: Suite) -> None:
    suite.pytester.makepyfile(**POOLS)
    result, run = suite.run()
    result.assert_outcomes(passed=8)
    # The module-level engines predate the instrumentation (no ``engine create`` anywhere),
    # yet every query has exactly one span, and their first checkout is like any engine's.
    assert run.named("engine create") == []
    sync, asyn = "test_sync_pools.py::", "test_async_pools.py::"
    # psycopg: SQLAlchemy's do_begin is the transaction's start; asyncpg's adapter sends
    # BEGIN inside the transaction's first statement, so it is that statement's child.
    expected = {
        sync + "test_queue_pool_connects_on_first_checkout": (
            FIRST_CHECKOUT,
            span("BEGIN"),
            span("SELECT"),
            span("COMMIT"),
            RESET_CHECKIN,
        ),
        sync + "test_queue_pool_reuses_its_connection": (
            CHECKOUT,
            span("BEGIN"),
            span("SELECT"),
            span("SELECT"),
            span("COMMIT"),
            RESET_CHECKIN,
            CHECKOUT,
            span("BEGIN"),
            span("SELECT"),
            span("ROLLBACK"),
            CHECKIN,
        ),
        sync + "test_null_pool_connects_on_every_checkout": (
            FIRST_CHECKOUT,
            span("BEGIN"),
            span("SELECT"),
            span("COMMIT"),
            RESET_CHECKIN,
            NEW_CHECKOUT,
            span("BEGIN"),
            span("SELECT"),
            span("COMMIT"),
            RESET_CHECKIN,
        ),
        asyn + "test_queue_pool_connects_on_first_checkout": (
            FIRST_CHECKOUT,
            span("SELECT", span("BEGIN")),
            span("COMMIT"),
            RESET_CHECKIN,
        ),
        asyn + "test_queue_pool_reuses_its_connection": (
            CHECKOUT,
            span("SELECT", span("BEGIN")),
            span("SELECT"),
            span("COMMIT"),
            RESET_CHECKIN,
            CHECKOUT,
            span("SELECT", span("BEGIN")),
            span("ROLLBACK"),
            CHECKIN,
        ),
        asyn + "test_null_pool_connects_on_every_checkout": (
            FIRST_CHECKOUT,
            span("SELECT", span("BEGIN")),
            span("COMMIT"),
            RESET_CHECKIN,
            NEW_CHECKOUT,
            span("SELECT", span("BEGIN")),
            span("COMMIT"),
            RESET_CHECKIN,
        ),
        sync + "test_engines_are_disposed": (span("engine dispose"), span("engine dispose")),
        asyn + "test_engines_are_disposed": (span("engine dispose"), span("engine dispose")),
    }
    for nodeid, call in expected.items():
        assert run.root(nodeid).shape(waits=False) == trace(nodeid, call=call)
    # The first-connect rollback and the rollbacks-on-return are the pool's resets, not
    # the application's rollbacks.
    first = counts(queries=1, transactions=1, commits=1, pool_resets=2, connections=1, checkouts=1)
    reused = counts(queries=3, transactions=2, commits=1, rollbacks=1, pool_resets=1, checkouts=2)
    unpooled = counts(queries=2, transactions=2, commits=2, pool_resets=3, connections=2, checkouts=2)
    for prefix in (sync, asyn):
        assert summary(run.root(prefix + "test_queue_pool_connects_on_first_checkout")) == first
        assert summary(run.root(prefix + "test_queue_pool_reuses_its_connection")) == reused
        assert summary(run.root(prefix + "test_null_pool_connects_on_every_checkout")) == unpooled
        assert summary(run.root(prefix + "test_engines_are_disposed")) == counts(engines_disposed=2)
    for nodeid in expected:
        assert_summary_times_match_spans(run.root(nodeid))
    assert_database_attributes(run, suite.database)
    for nodeid in expected:
        if nodeid.startswith(asyn):
            assert_each_round_trip_once(run.root(nodeid))
    lazy = run.root(asyn + "test_queue_pool_connects_on_first_checkout").child("call").child("SELECT")
    assert lazy.attributes["pytest.db.layer"] == "sqlalchemy"
    assert lazy.attributes["db.query.text"] == "SELECT ?"  # literals are sanitized out of db.query.text
    assert lazy.child("BEGIN").attributes["pytest.db.layer"] == "asyncpg"
    assert lazy.child("BEGIN").attributes["db.query.text"] == "BEGIN;"


def test_savepoint_fixture_rolls_back_every_test_and_steps_carry_their_depth(suite: Suite) -> None:
    suite.pytester.makepyfile(**SAVEPOINTS)
    result, run = suite.run()
    result.assert_outcomes(passed=6)
    sync, asyn = "test_sync_savepoints.py::", "test_async_savepoints.py::"
    first = "test_commit_releases_a_savepoint_and_nested_rollback_undoes_one"
    failing = "test_failing_statement_is_an_error_span_in_a_passing_test"
    last = "test_nothing_of_the_previous_tests_is_left"

    # The session-scoped engines and their schema live in the session trace.
    session = run.session
    assert session.child("fixture engine").shape() == span(
        "fixture engine",
        span("engine create"),
        FIRST_CHECKOUT,
        span("BEGIN"),
        span("SELECT pg_catalog.pg_class"),
        span("CREATE sync_item"),
        span("COMMIT"),
        RESET_CHECKIN,
    )
    assert session.child("fixture engine teardown").shape() == span(
        "fixture engine teardown",
        CHECKOUT,
        span("BEGIN"),
        span("SELECT pg_catalog.pg_class"),
        span("DROP sync_item"),
        span("COMMIT"),
        RESET_CHECKIN,
        span("engine dispose"),
    )
    assert without_plugin_fixtures(session.child("fixture async_engine")) == span(
        "fixture async_engine",
        span("engine create"),
        FIRST_CHECKOUT,
        span("SELECT pg_catalog.pg_class", span("BEGIN")),
        span("CREATE async_item"),
        span("COMMIT"),
        RESET_CHECKIN,
    )
    assert session.child("fixture async_engine teardown").shape() == span(
        "fixture async_engine teardown",
        CHECKOUT,
        span("SELECT pg_catalog.pg_class", span("BEGIN")),
        span("DROP async_item"),
        span("COMMIT"),
        RESET_CHECKIN,
        span("engine dispose"),
    )

    # Each test: a checkout and the outer transaction in setup, savepoints in the call,
    # the savepoint and the outer transaction rolled back in teardown.
    sync_setup = (span("fixture session", CHECKOUT, span("BEGIN")),)
    async_setup = (span("fixture async_session", CHECKOUT),)  # BEGIN waits for the first statement
    teardown = (span("ROLLBACK TO SAVEPOINT"), span("ROLLBACK"), RESET_CHECKIN)
    sync_calls = {
        first: (
            span("SAVEPOINT"),
            span("INSERT sync_item"),
            span("RELEASE SAVEPOINT"),
            span("SAVEPOINT"),
            span("SAVEPOINT"),
            span("INSERT sync_item"),
            span("ROLLBACK TO SAVEPOINT"),
            span("SELECT sync_item"),
        ),
        failing: (span("SAVEPOINT"), span("SELECT missing_table")),
        last: (span("SAVEPOINT"), span("SELECT sync_item")),
    }
    async_calls = {
        first: (
            span("SAVEPOINT", span("BEGIN")),
            span("INSERT async_item"),
            span("RELEASE SAVEPOINT"),
            span("SAVEPOINT"),
            span("SAVEPOINT"),
            span("INSERT async_item"),
            span("ROLLBACK TO SAVEPOINT"),
            span("SELECT async_item"),
        ),
        failing: (span("SAVEPOINT", span("BEGIN")), span("SELECT missing_table")),
        last: (span("SAVEPOINT", span("BEGIN")), span("SELECT async_item")),
    }
    for name, call in sync_calls.items():
        assert run.root(sync + name).shape(waits=False) == trace(
            sync + name,
            setup=sync_setup,
            call=call,
            teardown=(span("fixture session teardown", *teardown),),
        )
    for name, call in async_calls.items():
        assert run.root(asyn + name).shape(waits=False) == trace(
            asyn + name,
            setup=async_setup,
            call=call,
            teardown=(span("fixture async_session teardown", *teardown),),
        )

    # Depths: 1 for the outer transaction, 2 for the session's savepoint, 3 for the
    # nested one; the outer ROLLBACK acts at depth 1; the pool's reset is marked.
    end = [("ROLLBACK TO SAVEPOINT", 2, False), ("ROLLBACK", 1, False), ("ROLLBACK", 1, True)]
    nested = [
        ("SAVEPOINT", 2, False),
        ("RELEASE SAVEPOINT", 2, False),
        ("SAVEPOINT", 2, False),
        ("SAVEPOINT", 3, False),
        ("ROLLBACK TO SAVEPOINT", 3, False),
    ]
    assert steps(run.root(sync + first)) == [("BEGIN", 1, False), *nested, *end]
    assert steps(run.root(asyn + first)) == [nested[0], ("BEGIN", 1, False), *nested[1:], *end]
    assert steps(run.root(sync + last)) == [("BEGIN", 1, False), ("SAVEPOINT", 2, False), *end]
    assert steps(run.root(asyn + last)) == [("SAVEPOINT", 2, False), ("BEGIN", 1, False), *end]

    # A ROLLBACK TO SAVEPOINT is counted apart from the one top-level rollback.
    for prefix in (sync, asyn):
        assert summary(run.root(prefix + first)) == counts(
            queries=3,
            transactions=1,
            rollbacks=1,
            savepoints=3,
            savepoint_rollbacks=2,
            pool_resets=1,
            checkouts=1,
        )
        for name in (failing, last):
            assert summary(run.root(prefix + name)) == counts(
                queries=1,
                transactions=1,
                rollbacks=1,
                savepoints=1,
                savepoint_rollbacks=1,
                pool_resets=1,
                checkouts=1,
            )
        for name in (first, failing, last):
            assert_summary_times_match_spans(run.root(prefix + name))
    for name in (first, failing, last):
        assert_each_round_trip_once(run.root(asyn + name))
    assert_each_round_trip_once(session.child("fixture async_engine"))
    assert_database_attributes(run, suite.database)

    # The failing statement is an error span; the test that expected it passes.
    errors = {sync: "UndefinedTable", asyn: "AsyncAdapt_asyncpg_dbapi.ProgrammingError"}
    for prefix, error_type in errors.items():
        test = run.root(prefix + failing)
        assert test.attributes["pytest.outcome"] == "passed"
        assert test.status_code == test.child("call").status_code == 0
        statement = test.child("call").child("SELECT missing_table")
        assert statement.status_code == 2
        assert statement.attributes["error.type"] == error_type
        assert statement.attributes["db.response.status_code"] == "42P01"
        assert statement.attributes["db.query.text"] == "SELECT * FROM missing_table"
        # Object names stay in database errors; values they quote are redacted.
        assert 'relation "missing_table" does not exist' in statement.status_message
        assert [name for name, _ in statement.events()] == ["exception"]
        errors_elsewhere = [node.name for node in test.walk() if node.status_code and node is not statement]
        assert errors_elsewhere == []


def test_engine_per_test_and_schema_per_test_are_in_the_test_and_its_summary(suite: Suite) -> None:
    assert suite.database.password in suite.database.url  # so the store check below means something
    suite.pytester.makepyfile(**ENGINE_PER_TEST)
    result, run = suite.run()  # also checks that neither secret is anywhere in the store
    result.assert_outcomes(passed=2)
    module = "test_engine_per_test.py::"

    def schema(step: str, ddl: str, async_: bool) -> tuple[Shape, ...]:
        lookup = span("SELECT pg_catalog.pg_class", span("BEGIN")) if async_ else span("SELECT pg_catalog.pg_class")
        begin = () if async_ else (span("BEGIN"),)
        checkout = FIRST_CHECKOUT if step == "create" else CHECKOUT
        return (checkout, *begin, lookup, span(ddl), span("COMMIT"), RESET_CHECKIN)

    assert run.root(module + "test_sync").shape(waits=False) == trace(
        module + "test_sync",
        setup=(
            span("fixture engine", span("engine create")),
            span("fixture schema", *schema("create", "CREATE account", False)),
        ),
        call=(
            CHECKOUT,
            span("BEGIN"),
            span("INSERT account"),
            span("COMMIT"),
            RESET_CHECKIN,
            CHECKOUT,
            span("BEGIN"),
            span("SELECT account"),
            span("ROLLBACK"),
            CHECKIN,
        ),
        teardown=(
            span("fixture schema teardown", *schema("drop", "DROP account", False)),
            span("fixture engine teardown", span("engine dispose")),
        ),
    )
    assert run.root(module + "test_async").shape(waits=False) == trace(
        module + "test_async",
        setup=(
            span("fixture async_engine", span("engine create")),
            span("fixture async_schema", *schema("create", "CREATE account", True)),
        ),
        call=(
            CHECKOUT,
            span("INSERT account", span("BEGIN")),
            span("COMMIT"),
            RESET_CHECKIN,
            CHECKOUT,
            span("SELECT account", span("BEGIN")),
            span("ROLLBACK"),
            CHECKIN,
        ),
        teardown=(
            span("fixture async_schema teardown", *schema("drop", "DROP account", True)),
            span("fixture async_engine teardown", span("engine dispose")),
        ),
    )
    expected = counts(
        queries=6,
        transactions=4,
        commits=3,
        rollbacks=1,
        pool_resets=4,
        ddl=2,
        connections=1,
        checkouts=4,
        engines_created=1,
        engines_disposed=1,
    )
    for name in ("test_sync", "test_async"):
        test = run.root(module + name)
        assert summary(test) == expected
        assert_summary_times_match_spans(test)
        assert isinstance(test.attributes["db.summary.ddl_time"], float)
        assert test.attributes["db.summary.ddl_time"] > 0
        ddl = [node for node in test.walk() if node.attributes.get("db.operation.name") in ("CREATE", "DROP")]
        assert [(node.name, node.attributes["db.collection.name"]) for node in ddl] == [
            ("CREATE account", "account"),
            ("DROP account", "account"),
        ]
    assert_each_round_trip_once(run.root(module + "test_async"))
    assert_database_attributes(run, suite.database)
    # The secret went to the server as a bound value: the statements hold placeholders only.
    texts = {node.attributes["db.query.text"] for node in run.named("INSERT account") + run.named("SELECT account")}
    assert texts == {
        "INSERT INTO account (name, password) VALUES (%(name)s::VARCHAR, %(password)s::VARCHAR) RETURNING account.id",
        "SELECT account.name \nFROM account \nWHERE account.password = %(password_1)s::VARCHAR",
        "INSERT INTO account (name, password) VALUES ($1::VARCHAR, $2::VARCHAR) RETURNING account.id",
        "SELECT account.name \nFROM account \nWHERE account.password = $1::VARCHAR",
    }
    assert SECRET_PARAMETER not in "".join(str(text) for text in texts)


def test_db_off_records_no_database_spans(suite: Suite) -> None:
    suite.pytester.makepyfile(**POOLS)
    result, run = suite.run("--otel-db=off")
    result.assert_outcomes(passed=8)
    tests = [root for root in run.roots if root.name != "pytest session"]
    assert len(tests) == 8
    for test in tests:
        assert test.shape(waits=False) == trace(test.name)
        assert not [key for key in test.attributes if key.startswith("db.")]
    assert db_nodes(node for root in run.roots for node in root.walk()) == []


SECRET_IN_ERRORS = {
    "test_secret_errors": """
        import pytest
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import DataError

        from dburls import SECRET, SYNC_URL

        engine = create_engine(SYNC_URL)

        def test_the_database_quotes_the_value_back():
            with engine.connect() as connection, pytest.raises(DataError):
                connection.execute(text("SELECT CAST(:p AS INTEGER)"), {"p": SECRET})

        def test_a_failing_test_shows_the_parameters_in_its_traceback():
            with engine.connect() as connection:
                connection.execute(text("SELECT CAST(:p AS INTEGER)"), {"p": SECRET})
    """
}


def test_bound_values_quoted_back_in_errors_and_tracebacks_never_reach_the_store(suite: Suite) -> None:
    suite.pytester.makepyfile(**SECRET_IN_ERRORS)
    result, run = suite.run()  # also checks that neither secret is anywhere in the store
    result.assert_outcomes(passed=1, failed=1)
    assert SECRET_PARAMETER in result.stdout.str()  # pytest itself shows it: the store must not
    quoted = run.root("test_secret_errors.py::test_the_database_quotes_the_value_back").child("call")
    (statement,) = [node for node in quoted.walk() if node.status_code == 2]
    assert 'invalid input syntax for type integer: "?"' in statement.status_message
    failed = run.root("test_secret_errors.py::test_a_failing_test_shows_the_parameters_in_its_traceback")
    # The test's own failure keeps its first message line (--otel-record-failures=message),
    # the driver's quoted value replaced; the [parameters: ...] block is further down.
    assert failed.child("call").events() == [
        (
            "exception",
            {
                "exception.type": "DataError",
                "exception.message": (
                    '(psycopg.errors.InvalidTextRepresentation) invalid input syntax for type integer: "?"'
                ),
            },
        )
    ]
