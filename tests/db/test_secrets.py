"""No bound value and no password reaches the store or a collector through a database
error, against a real PostgreSQL and a real OTLP receiver.

Every shape that quotes a value back is provoked: unique and check violations (PostgreSQL's
``DETAIL:  Key (v)=(...) already exists.`` and ``Failing row contains (...)``, SQLAlchemy's
``[parameters: ...]``) through SQLAlchemy on psycopg, SQLAlchemy on asyncpg and asyncpg
directly, caught by the test and not; an application wrapping such an error on one line;
and failed connects with a password among the call's arguments. pytest runs with ``-vv
--showlocals``, so its own output holds every secret, in each failure-text mode. The store's
files and what the receiver got must hold none, and still name the SQLSTATE, the error
class and the constraint.
"""

from __future__ import annotations

import pytest

from tests.db import Suite, assert_absent
from tests.otlp_receiver import HttpReceiver
from tests.spantree import Node

UNIQUE_VALUE = "uq-SECRET-5f1c"
CHECK_VALUE = "ck-SECRET-a93e"
PASSWORD = "pw-SECRET-77d0"
UNIQUE = "uq_otel_secret_v"
CHECK = "ck_otel_secret_n"

SUITE = {
    "test_errors": f"""
        import asyncpg
        import pytest
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import IntegrityError, OperationalError
        from sqlalchemy.ext.asyncio import create_async_engine

        from dburls import ASYNC_URL, DSN, SYNC_URL

        # A temporary table: each connection its own, whatever else runs on the server.
        TABLE = (
            "CREATE TEMPORARY TABLE secret_item (id serial PRIMARY KEY,"
            " v text CONSTRAINT {UNIQUE} UNIQUE, n int CONSTRAINT {CHECK} CHECK (n > 0))"
        )
        INSERT = "INSERT INTO secret_item (v, n) VALUES ($1, $2)"
        ROWS = {{"unique": [("{UNIQUE_VALUE}", 1), ("{UNIQUE_VALUE}", 2)], "check": [("{CHECK_VALUE}", -1)]}}
        VIOLATIONS = pytest.mark.parametrize("violation", ["unique", "check"])
        CAUGHT = pytest.mark.parametrize("caught", [True, False], ids=["caught", "uncaught"])
        NOBODY = "otel_no_such_role"


        def provoke_sync(connection, violation):
            connection.execute(text(TABLE))
            for v, n in ROWS[violation]:
                connection.execute(text("INSERT INTO secret_item (v, n) VALUES (:v, :n)"), {{"v": v, "n": n}})


        @VIOLATIONS
        @CAUGHT
        def test_sqlalchemy_psycopg(violation, caught):
            engine = create_engine(SYNC_URL)
            with engine.connect() as connection:
                if caught:
                    with pytest.raises(IntegrityError):
                        provoke_sync(connection, violation)
                else:
                    provoke_sync(connection, violation)
            engine.dispose()


        async def provoke_async(connection, violation):
            await connection.execute(text(TABLE))
            for v, n in ROWS[violation]:
                await connection.execute(text("INSERT INTO secret_item (v, n) VALUES (:v, :n)"), {{"v": v, "n": n}})


        @VIOLATIONS
        @CAUGHT
        async def test_sqlalchemy_asyncpg(violation, caught):
            engine = create_async_engine(ASYNC_URL)
            try:
                async with engine.connect() as connection:
                    if caught:
                        with pytest.raises(IntegrityError):
                            await provoke_async(connection, violation)
                    else:
                        await provoke_async(connection, violation)
            finally:
                await engine.dispose()


        async def provoke_direct(connection, violation):
            await connection.execute(TABLE)
            for v, n in ROWS[violation]:
                await connection.execute(INSERT, v, n)


        @VIOLATIONS
        @CAUGHT
        async def test_asyncpg(violation, caught):
            connection = await asyncpg.connect(DSN)
            try:
                if caught:
                    with pytest.raises(asyncpg.IntegrityConstraintViolationError):
                        await provoke_direct(connection, violation)
                else:
                    await provoke_direct(connection, violation)
            finally:
                await connection.close()


        def test_application_wraps_the_error_on_one_line():
            engine = create_engine(SYNC_URL)
            with engine.connect() as connection:
                try:
                    provoke_sync(connection, "unique")
                except IntegrityError as error:
                    raise RuntimeError("could not save: " + str(error).replace("\\n", " ")) from None
                finally:
                    engine.dispose()


        @CAUGHT
        async def test_asyncpg_connect_with_wrong_credentials(caught):
            if caught:
                with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
                    await asyncpg.connect(DSN, user=NOBODY, password="{PASSWORD}")
            else:
                await asyncpg.connect(DSN, user=NOBODY, password="{PASSWORD}")


        def test_sqlalchemy_connect_with_wrong_credentials():
            url = make_url(SYNC_URL).set(username=NOBODY, password="{PASSWORD}")
            engine = create_engine(url)
            with engine.connect():
                pass
    """,
}
# Each layer's failing INSERT: the error classes it may have (SQLAlchemy 2.1's asyncpg
# adapter names its exceptions after asyncpg's, 2.0's has the DB-API classes only).
VIOLATION_TYPES: dict[str, dict[str, tuple[str, ...]]] = {
    "test_sqlalchemy_psycopg": {"unique": ("UniqueViolation",), "check": ("CheckViolation",)},
    "test_sqlalchemy_asyncpg": {
        "unique": ("AsyncAdapt_asyncpg_dbapi.UniqueViolationError", "AsyncAdapt_asyncpg_dbapi.IntegrityError"),
        "check": ("AsyncAdapt_asyncpg_dbapi.CheckViolationError", "AsyncAdapt_asyncpg_dbapi.IntegrityError"),
    },
    "test_asyncpg": {"unique": ("UniqueViolationError",), "check": ("CheckViolationError",)},
}
SQLSTATES = {"unique": "23505", "check": "23514"}
CONSTRAINTS = {"unique": UNIQUE, "check": CHECK}


def failed_spans(test: Node) -> list[Node]:
    return [node for node in test.walk() if node.status_code == 2 and "db.system.name" in node.attributes]


@pytest.mark.parametrize("mode", ["message", "traceback"])
def test_database_errors_leak_no_value_and_no_password_to_the_store_or_a_collector(
    suite: Suite,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    suite.pytester.makepyfile(**SUITE)
    with HttpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        result, run = suite.run("-vv", "--showlocals", f"--otel-record-failures={mode}")
    result.assert_outcomes(passed=7, failed=9)
    output = result.stdout.str()
    for secret in (UNIQUE_VALUE, CHECK_VALUE, PASSWORD):
        assert secret in output  # pytest shows them: the store and the collector must not
    secrets = (UNIQUE_VALUE, CHECK_VALUE, PASSWORD, suite.database.password)
    store = suite.pytester.path / ".otel-pytest"
    assert_absent(store, *secrets)
    received = b"".join(item.request.SerializeToString() for item in receiver.received)
    assert len(receiver.spans()) == len([node for root in run.roots for node in root.walk()])
    for secret in secrets:
        assert secret.encode() not in received, f"{secret!r} reached the collector"

    # What is kept: the SQLSTATE, the error class and the constraint, on every layer.
    for function, types in VIOLATION_TYPES.items():
        for violation, error_types in types.items():
            for caught in ("caught", "uncaught"):
                test = run.root(f"test_errors.py::{function}[{caught}-{violation}]")
                (insert,) = failed_spans(test)
                assert insert.name == "INSERT secret_item"
                assert insert.attributes["db.response.status_code"] == SQLSTATES[violation]
                assert insert.attributes["error.type"] in error_types
                assert f'constraint "{CONSTRAINTS[violation]}"' in insert.status_message
                assert test.attributes["pytest.outcome"] == ("passed" if caught == "caught" else "failed")
                if caught == "uncaught":
                    ((_, event),) = test.child("call").events()
                    assert f'constraint "{CONSTRAINTS[violation]}"' in str(event["exception.message"])
    wrapped = run.root("test_errors.py::test_application_wraps_the_error_on_one_line").child("call")
    ((_, event),) = wrapped.events()
    assert event["exception.type"] == "RuntimeError"
    assert f'constraint "{UNIQUE}"' in str(event["exception.message"])
    for caught in ("caught", "uncaught"):
        test = run.root(f"test_errors.py::test_asyncpg_connect_with_wrong_credentials[{caught}]")
        (connect,) = failed_spans(test)
        assert connect.name == "connect"
        assert connect.attributes["db.response.status_code"] == "28000"
        assert connect.status_message == (
            'InvalidAuthorizationSpecificationError: role "otel_no_such_role" does not exist'
        )
    sqlalchemy_connect = run.root("test_errors.py::test_sqlalchemy_connect_with_wrong_credentials")
    (connect,) = [node for node in failed_spans(sqlalchemy_connect) if node.name == "connect"]
    # psycopg gives no SQLSTATE for a failed connect (libpq's text only).
    assert "db.response.status_code" not in connect.attributes
    assert 'role "otel_no_such_role" does not exist' in connect.status_message
    if mode == "traceback":
        stacktraces = [
            str(event.get("exception.stacktrace", ""))
            for root in run.roots
            for node in root.walk()
            for _, event in node.events()
        ]
        assert any(f'constraint "{UNIQUE}"' in text for text in stacktraces)
