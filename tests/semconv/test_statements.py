"""What a statement is, read from its text: fingerprint, verb, table, transaction step."""

from __future__ import annotations

import pytest

from otel_pytest.semconv.statements import (
    TRANSACTION_STEPS,
    describe,
    hide_sql_parameters,
    normalise,
    redact_message,
    sqlstate,
    transaction_step,
)


@pytest.mark.parametrize(
    ("sql", "fingerprint"),
    [
        # literals: strings (with doubled quotes), numbers of every form, not digits in names
        (
            "SELECT * FROM t WHERE a = 'it''s' AND b = 42 AND c = -3.5e10 AND d = 0.25",
            "SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ?",
        ),
        ("SELECT t1.col2 FROM t1 WHERE x = 7", "SELECT t1.col2 FROM t1 WHERE x = ?"),
        ("SELECT a - 1 FROM t", "SELECT a - ? FROM t"),
        # placeholders of every paramstyle
        (
            "SELECT * FROM t WHERE a = $1 AND b = %(b)s AND c = %s AND d = :d AND e = ?",
            "SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ? AND e = ?",
        ),
        # casts are not parameters: SQLAlchemy's PostgreSQL dialects cast every bind
        (
            "SELECT t.id FROM t WHERE t.name = $1::VARCHAR AND t.n = a::int",
            "SELECT t.id FROM t WHERE t.name = ?::VARCHAR AND t.n = a::int",
        ),
        (
            "SELECT * FROM t WHERE t.x = %(x_1)s::TIMESTAMP WITHOUT TIME ZONE",
            "SELECT * FROM t WHERE t.x = ?::TIMESTAMP WITHOUT TIME ZONE",
        ),
        # IN lists collapse, whatever their length, values or casts; a subquery stays
        ("SELECT * FROM t WHERE id IN ($1, $2, $3)", "SELECT * FROM t WHERE id IN (?)"),
        ("SELECT * FROM t WHERE id in (1,2 , 3) AND k IN ('a')", "SELECT * FROM t WHERE id IN (?) AND k IN (?)"),
        (
            "SELECT * FROM t WHERE t.id IN ($2::INTEGER, $3::INTEGER, $4::INTEGER) AND t.n = $1::INTEGER",
            "SELECT * FROM t WHERE t.id IN (?) AND t.n = ?::INTEGER",
        ),
        (
            "SELECT * FROM t WHERE a IN (SELECT b FROM c WHERE d = 1)",
            "SELECT * FROM t WHERE a IN (SELECT b FROM c WHERE d = ?)",
        ),
        # VALUES rows collapse to the first
        ("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')", "INSERT INTO t (a, b) VALUES (?, ?)"),
        (
            "INSERT INTO t (a, b) VALUES (%(a_m0)s, %(b_m0)s), (%(a_m1)s, %(b_m1)s)",
            "INSERT INTO t (a, b) VALUES (?, ?)",
        ),
        (
            "INSERT INTO t (name, n) VALUES ($1::VARCHAR, $2::NUMERIC(10, 2)), ($3::VARCHAR, $4::NUMERIC(10, 2))",
            "INSERT INTO t (name, n) VALUES (?::VARCHAR, ?::NUMERIC(?, ?))",
        ),
        # savepoint names, however written
        ("SAVEPOINT sa_savepoint_1", "SAVEPOINT ?"),
        ("RELEASE SAVEPOINT sa_savepoint_12", "RELEASE SAVEPOINT ?"),
        ("ROLLBACK TO SAVEPOINT sa_savepoint_3", "ROLLBACK TO SAVEPOINT ?"),
        ("ROLLBACK TO __asyncpg_savepoint_2__;", "ROLLBACK TO ?"),
        ('release savepoint "Quoted"', "RELEASE SAVEPOINT ?"),
        # dollar quoting: empty tag, named tag, tag with digits; $1 stays a parameter
        ("SELECT $$it's$$, $fn$a $$ b$fn$, $body1$x$body1$, $1", "SELECT ?, ?, ?, ?"),
        # comments, whitespace, a trailing semicolon
        ("SELECT a -- the a\n  FROM t /* a\nblock */ WHERE b = :b ;", "SELECT a FROM t WHERE b = ?"),
        ("\n\tSELECT   a\n\tFROM t\n", "SELECT a FROM t"),
    ],
)
def test_normalise_replaces_literals_and_collapses_lists(sql: str, fingerprint: str) -> None:
    assert normalise(sql) == fingerprint


def test_equivalent_statements_share_a_fingerprint_and_its_id() -> None:
    a = describe("SELECT * FROM t WHERE id IN ($1, $2) AND name = 'x'")
    b = describe("SELECT *\n  FROM t\n WHERE id IN ($1, $2, $3, $4) AND name = 'a much longer secret' -- x")
    c = describe("SELECT * FROM t WHERE id = $1")
    assert a.fingerprint == b.fingerprint == "SELECT * FROM t WHERE id IN (?) AND name = ?"
    assert a.fingerprint_id == b.fingerprint_id != c.fingerprint_id
    assert len(a.fingerprint_id) == 16
    assert int(a.fingerprint_id, 16) >= 0
    assert "secret" not in b.fingerprint


@pytest.mark.parametrize(
    ("sql", "operation", "collection", "summary"),
    [
        ("SELECT a FROM account WHERE id = 1", "SELECT", "account", "SELECT account"),
        ("select a from account", "SELECT", "account", "SELECT account"),
        ('SELECT * FROM "Order" o JOIN public.customer c ON c.id = o.customer_id', "SELECT", "Order", "SELECT Order"),
        ('SELECT * FROM "my schema"."My Table"', "SELECT", "my schema.My Table", "SELECT my schema.My Table"),
        ("SELECT * FROM pg_catalog.pg_class", "SELECT", "pg_catalog.pg_class", "SELECT pg_catalog.pg_class"),
        ("INSERT INTO shop.item (name) VALUES ($1)", "INSERT", "shop.item", "INSERT shop.item"),
        ('UPDATE public."Item" SET a = $1 WHERE b = $2', "UPDATE", "public.Item", "UPDATE public.Item"),
        ("DELETE FROM item WHERE id = $1", "DELETE", "item", "DELETE item"),
        ("CREATE TABLE IF NOT EXISTS item (id SERIAL)", "CREATE", "item", "CREATE item"),
        ("\nCREATE TEMPORARY TABLE pet (id int)", "CREATE", "pet", "CREATE pet"),
        ("DROP TABLE IF EXISTS item", "DROP", "item", "DROP item"),
        ("CREATE INDEX ix_a ON item (a)", "CREATE", None, "CREATE"),
        ("SELECT 1", "SELECT", None, "SELECT"),
        ("", "", None, "query"),
    ],
)
def test_describe_names_the_operation_and_the_collection(
    sql: str,
    operation: str,
    collection: str | None,
    summary: str,
) -> None:
    statement = describe(sql)
    assert (statement.operation, statement.collection, statement.summary) == (operation, collection, summary)
    assert statement.transaction_step is None
    assert statement.is_ddl is (operation in ("CREATE", "DROP"))


@pytest.mark.parametrize(
    ("sql", "step"),
    [
        ("BEGIN", "BEGIN"),
        ("BEGIN;", "BEGIN"),
        ("  begin isolation level serializable", "BEGIN"),
        ("START TRANSACTION", "BEGIN"),
        ("COMMIT", "COMMIT"),
        ("COMMIT;", "COMMIT"),
        ("END", "COMMIT"),
        ("ROLLBACK", "ROLLBACK"),
        ("rollback;", "ROLLBACK"),
        ("ABORT", "ROLLBACK"),
        ("SAVEPOINT sa_savepoint_1", "SAVEPOINT"),
        ("RELEASE SAVEPOINT sa_savepoint_1", "RELEASE SAVEPOINT"),
        ("RELEASE __asyncpg_savepoint_2__;", "RELEASE SAVEPOINT"),
        ("ROLLBACK TO SAVEPOINT sa_savepoint_1", "ROLLBACK TO SAVEPOINT"),
        ("ROLLBACK TO __asyncpg_savepoint_2__;", "ROLLBACK TO SAVEPOINT"),
        ("rollback work to savepoint x", "ROLLBACK TO SAVEPOINT"),
        ("ROLLBACK TRANSACTION TO SAVEPOINT x", "ROLLBACK TO SAVEPOINT"),
        ("SELECT 1", None),
        ("COMMITTED", None),
        ("ENDPOINT", None),
        ("rollback_log", None),
        ("INSERT INTO savepoint_log VALUES (1)", None),
    ],
)
def test_transaction_step_tells_the_six_steps_apart(sql: str, step: str | None) -> None:
    assert transaction_step(sql) == step
    statement = describe(sql)
    assert statement.transaction_step == step
    if step is not None:
        assert statement.summary == step  # the span name


def test_there_are_six_steps_and_a_savepoint_rollback_is_never_a_rollback() -> None:
    assert set(TRANSACTION_STEPS) == {
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "ROLLBACK TO SAVEPOINT",
        "RELEASE SAVEPOINT",
    }
    for sql in ("ROLLBACK TO SAVEPOINT a", "ROLLBACK TO a", "rollback to savepoint a", "ROLLBACK WORK TO a"):
        assert describe(sql).transaction_step == "ROLLBACK TO SAVEPOINT"
        assert describe(sql).summary == "ROLLBACK TO SAVEPOINT"


@pytest.mark.parametrize(
    ("message", "kept"),
    [
        # object names stay, the values after them go
        (
            'duplicate key value violates unique constraint "uq_v"\nDETAIL:  Key (v)=(s3cret) already exists.',
            'duplicate key value violates unique constraint "uq_v"\nDETAIL: [hidden]',
        ),
        (
            'new row for relation "item" violates check constraint "ck_n"\n'
            "DETAIL:  Failing row contains (1, s3cret, -5).",
            'new row for relation "item" violates check constraint "ck_n"\nDETAIL: [hidden]',
        ),
        (
            'null value in column "v" of relation "item" violates not-null constraint',
            'null value in column "v" of relation "item" violates not-null constraint',
        ),
        ('role "nobody" does not exist', 'role "nobody" does not exist'),
        # values PostgreSQL quotes like names
        ('invalid input syntax for type integer: "s3cret"', 'invalid input syntax for type integer: "?"'),
        ('value "s3cret" is out of range for type integer', 'value "?" is out of range for type integer'),
        (
            "invalid input value for enum mood: \"s3cret\"\nHINT:  'x'",
            'invalid input value for enum mood: "?"\nHINT: [hidden]',
        ),
        # SQLAlchemy's wrapper, and an application's one-line wrapping of it
        (
            '(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "uq"\n'
            "DETAIL:  Key (lower(v))=(s3cret) already exists.\n[SQL: INSERT INTO t (v) VALUES (%(v)s)]\n"
            "[parameters: {'v': 's3cret'}]\n(Background on this error at: https://sqlalche.me/e/20/gkpj)",
            '(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "uq"\n'
            "DETAIL: [hidden]\n[SQL: INSERT INTO t (v) VALUES (%(v)s)]\n[parameters hidden]\n"
            "(Background on this error at: https://sqlalche.me/e/20/gkpj)",
        ),
        (
            'could not save: duplicate key value violates unique constraint "uq" '
            "DETAIL:  Key (v)=(s3cret) already exists.",
            'could not save: duplicate key value violates unique constraint "uq" DETAIL: [hidden]',
        ),
        ("CONTEXT:  unnamed portal parameter $1 = 's3cret'", "CONTEXT: [hidden]"),
    ],
)
def test_database_errors_keep_object_names_and_lose_every_value(message: str, kept: str) -> None:
    assert redact_message(message) == kept


def test_value_bearing_parts_go_from_any_text_and_nothing_else_changes() -> None:
    # An application's exception wrapping a driver's on one line (its class is not a
    # driver's: only the value-bearing parts go, quoted words stay).
    assert hide_sql_parameters('could not save: unique constraint "uq" DETAIL:  Key (v)=(s3cret) exists. [x]') == (
        'could not save: unique constraint "uq" DETAIL: [hidden]'
    )
    # An application printing a driver's detail without its label keeps the column names.
    assert hide_sql_parameters("save failed: Key (email)=(a@b.c) already exists.") == "save failed: Key (email)=(?)"
    assert hide_sql_parameters("Failing row contains (1, a@b.c).") == "Failing row contains (?)"
    for text in ("assert 'a' == \"b\"", 'relation "x" does not exist', "Key points: none"):
        assert hide_sql_parameters(text) == text


class _Driver(Exception):
    sqlstate = "23505"


class _Psycopg2(Exception):
    pgcode = "23514"


class _Wrapper(Exception):
    def __init__(self, orig: BaseException) -> None:
        super().__init__("wrapped")
        self.orig = orig


def test_sqlstate_is_read_from_drivers_errors_and_through_wrappers() -> None:
    assert sqlstate(_Driver()) == "23505"
    assert sqlstate(_Psycopg2()) == "23514"
    assert sqlstate(_Wrapper(_Driver())) == "23505"
    caused = RuntimeError("adapter")
    caused.__cause__ = _Psycopg2()
    assert sqlstate(caused) == "23514"
    assert sqlstate(ValueError("no code")) is None
