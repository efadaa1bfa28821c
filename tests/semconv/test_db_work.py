"""The database work in a set of spans, as the plugin's ``db.summary.*`` and the analyzer count it."""

from __future__ import annotations

from otel_pytest.semconv import attributes as attr
from otel_pytest.semconv import spans as span_names
from otel_pytest.semconv.db_work import COUNT_KEYS, TIME_KEYS, fold, statement_of
from otel_pytest.semconv.statements import describe

MS = 1_000_000  # nanoseconds


def ours(sql: str, **extra: object) -> dict[str, object]:
    """The attributes the plugin writes on a statement or transaction step span."""
    facts = describe(sql)
    attributes: dict[str, object] = {
        attr.DB_QUERY_TEXT: sql,
        attr.DB_OPERATION_NAME: facts.operation,
        attr.DB_FINGERPRINT: facts.fingerprint,
        attr.DB_FINGERPRINT_ID: facts.fingerprint_id,
    }
    if facts.transaction_step:
        attributes[attr.DB_TRANSACTION_STEP] = facts.transaction_step
    attributes.update(extra)
    return attributes


def test_no_database_span_is_no_database_work() -> None:
    assert fold([("call", {}, 5 * MS), ("fixture db", {attr.FIXTURE_NAME: "db"}, MS)]) == {}


def test_every_kind_of_database_span_is_counted_once_and_timed_in_seconds() -> None:
    work = fold(
        [
            ("BEGIN", ours("BEGIN"), 1 * MS),
            ("SELECT t", ours("SELECT a FROM t WHERE b = $1"), 2 * MS),
            ("CREATE t", ours("CREATE TABLE t (a int)"), 3 * MS),
            ("SAVEPOINT", ours("SAVEPOINT sa_1"), 1 * MS),
            ("ROLLBACK TO SAVEPOINT", ours("ROLLBACK TO SAVEPOINT sa_1"), 1 * MS),
            ("COMMIT", ours("COMMIT"), 4 * MS),
            ("ROLLBACK", ours("ROLLBACK"), 5 * MS),
            ("ROLLBACK", ours("ROLLBACK", **{attr.DB_TRANSACTION_RESET: True}), 6 * MS),
            (span_names.POOL_CHECKOUT, {attr.DB_CONNECTION_WAIT_TIME: 0.25}, 9 * MS),
            (span_names.CONNECT, {}, 7 * MS),
            (span_names.ENGINE_CREATE, {}, 8 * MS),
            (span_names.ENGINE_DISPOSE, {}, 1 * MS),
        ]
    )

    assert list(work) == [*COUNT_KEYS, *TIME_KEYS, "pool_wait_time"]
    assert work == {
        "queries": 2,
        "transactions": 1,
        "commits": 1,
        "rollbacks": 1,
        "savepoints": 1,
        "savepoint_rollbacks": 1,
        "pool_resets": 1,
        "ddl": 1,
        "connections": 1,
        "checkouts": 1,
        "engines_created": 1,
        "engines_disposed": 1,
        "query_time": 5 * MS * 1e-9,
        "commit_time": 4 * MS * 1e-9,
        "rollback_time": 5 * MS * 1e-9,
        "ddl_time": 3 * MS * 1e-9,
        "connection_time": 7 * MS * 1e-9,
        "engine_time": 9 * MS * 1e-9,
        "pool_wait_time": 0.25,
    }


def test_another_tools_transaction_steps_are_read_from_their_text() -> None:
    work = fold(
        [
            ("ROLLBACK", {attr.DB_STATEMENT: "ROLLBACK"}, 2 * MS),
            ("SELECT", {attr.DB_STATEMENT: "SELECT 1"}, 3 * MS),
        ]
    )

    assert (work["rollbacks"], work["rollback_time"], work["queries"], work["query_time"]) == (
        1,
        2 * MS * 1e-9,
        1,
        3 * MS * 1e-9,
    )


def test_a_statement_is_a_query_span_and_never_a_transaction_step() -> None:
    select = describe("SELECT a FROM t WHERE b = 1")

    assert statement_of(ours("SELECT a FROM t WHERE b = 1")) == (select.fingerprint_id, select.fingerprint, "SELECT")
    assert statement_of({attr.DB_STATEMENT: "SELECT a FROM t WHERE b = 1"}) == (
        select.fingerprint_id,
        select.fingerprint,
        "SELECT",
    )
    assert statement_of(ours("COMMIT")) is None
    assert statement_of({attr.DB_QUERY_TEXT: "SAVEPOINT sa_1"}) is None
    assert statement_of({attr.DB_SYSTEM_NAME: "postgresql"}) is None
