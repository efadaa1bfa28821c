"""The instrumentation layers in process: installing and removing them is symmetric, each
engine gets one listener, transaction depths and the per-test summary are computed right,
and a failure inside the instrumentation never reaches the user's query."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import asyncpg.connection
import pytest
from sqlalchemy import create_engine as make_engine
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.pool import Pool

from otel_pytest.db import DbInstrumentation
from otel_pytest.db import spans as spans_module
from otel_pytest.db.asyncpg import AsyncpgInstrumentation
from otel_pytest.db.spans import DbSpans, EngineInfo, summary_attributes
from otel_pytest.db.sqlalchemy import SqlAlchemyInstrumentation
from otel_pytest.encode.otlp_json import OtlpJsonEncoder
from otel_pytest.encode.shape import ExportShape
from otel_pytest.recorder import Recorder
from otel_pytest.records import KIND_INTERNAL, SpanRecord
from otel_pytest.semconv import attributes as attr
from tests.db import Database

_ENGINE_METHODS = ("__init__", "dispose", "raw_connection")
_QUERY_METHODS = ("execute", "executemany", "fetch", "fetchrow", "fetchval")
_DIALECT_METHODS = (
    "do_begin",
    "do_commit",
    "do_rollback",
    "do_savepoint",
    "do_rollback_to_savepoint",
    "do_release_savepoint",
    "do_execute",
    "do_executemany",
    "do_execute_no_params",
    "connect",
)


class ListSink:
    def __init__(self) -> None:
        self.records: list[SpanRecord] = []

    def add(self, records: list[SpanRecord]) -> None:
        self.records.extend(records)

    @property
    def names(self) -> list[str]:
        """Names in the order the spans ended."""
        return [record.name for record in self.records]


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def recorder(sink: ListSink) -> Recorder:
    """A real recorder between tests: database spans go under its session span, to the sink."""
    return Recorder(sink, trace_per_test=True, session_parent=None, session_attributes={})


@pytest.fixture
def spans(recorder: Recorder) -> DbSpans:
    return DbSpans(recorder)


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    """Engines a test makes through the ``from sqlalchemy import create_engine`` alias,
    disposed at the end."""
    made: list[Engine] = []
    yield made
    for engine in made:
        engine.dispose()


def select_one(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1


def test_sqlalchemy_instrumentation_is_symmetric_and_gives_each_engine_one_listener(
    database: Database,
    spans: DbSpans,
    sink: ListSink,
    engines: list[Engine],
) -> None:
    originals = {name: Engine.__dict__[name] for name in _ENGINE_METHODS}
    pool_connect = Pool.__dict__["connect"]
    steps = {name: DefaultDialect.__dict__[name] for name in _DIALECT_METHODS}
    before = make_engine(database.sync_url)  # created before instrumentation, through the alias
    engines.append(before)
    assert len(before.dispatch.before_cursor_execute) == 0
    dialects_wrapped: list[int] = []
    layer = SqlAlchemyInstrumentation(spans, lambda: dialects_wrapped.append(1))
    try:
        layer.instrument()
        listeners = list(layer._listeners)
        patched = {name: Engine.__dict__[name] for name in _ENGINE_METHODS}
        layer.instrument()  # a second time: nothing more
        assert layer.listener_count == len(listeners) == 4
        assert layer._listeners == listeners
        assert {name: Engine.__dict__[name] for name in _ENGINE_METHODS} == patched
        assert all(patched[name] is not originals[name] for name in _ENGINE_METHODS)
        assert all(event.contains(target, name, fn) for target, name, fn in listeners)

        # The engine made before instrumentation: no listener of its own (a dialect's methods
        # are wrapped on its class), one span per statement, and the same spans as any
        # engine (its first connect included).
        assert len(before.dispatch.before_cursor_execute) == 0
        select_one(before)
        assert sink.names == ["connect", "ROLLBACK", "pool checkout", "BEGIN", "SELECT", "ROLLBACK", "pool checkin"]
        namespace = make_url(database.url).database
        assert [record.attributes.get("db.namespace") for record in sink.records] == [namespace] * 7
        sink.records.clear()
        after = make_engine(database.sync_url)
        engines.append(after)
        select_one(after)
        select_one(before)
        assert sink.names == [
            "engine create",
            "connect",
            "ROLLBACK",
            "pool checkout",
            "BEGIN",
            "SELECT",
            "ROLLBACK",
            "pool checkin",
            "pool checkout",
            "BEGIN",
            "SELECT",
            "ROLLBACK",
            "pool checkin",
        ]
        assert len(after.dispatch.before_cursor_execute) == 0
        assert dialects_wrapped == [1, 1]
        # The steps are wrapped where they are defined, never on the dialect itself.
        assert all(DefaultDialect.__dict__[name] is not steps[name] for name in _DIALECT_METHODS)
        for engine in (before, after):
            assert not set(vars(engine.dialect)) & set(_DIALECT_METHODS)
    finally:
        layer.uninstrument()

    assert layer.listener_count == 0
    assert not any(event.contains(target, name, fn) for target, name, fn in listeners)
    assert all(Engine.__dict__[name] is originals[name] for name in _ENGINE_METHODS)
    assert Pool.__dict__["connect"] is pool_connect
    assert {name: DefaultDialect.__dict__[name] for name in _DIALECT_METHODS} == steps
    for engine in (before, after):
        assert len(engine.dispatch.before_cursor_execute) == 0
    sink.records.clear()
    select_one(before)
    engines.append(make_engine(database.sync_url))
    select_one(engines[-1])
    assert sink.records == []
    layer.uninstrument()  # a second time: harmless


async def _select_one(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        assert await connection.fetchval("SELECT 1") == 1
    finally:
        await connection.close()


def test_asyncpg_instrumentation_is_symmetric(database: Database, spans: DbSpans, sink: ListSink) -> None:
    cls = asyncpg.connection.Connection
    originals: dict[str, Any] = {name: cls.__dict__[name] for name in _QUERY_METHODS}
    connects = (asyncpg.connect, asyncpg.connection.connect)
    layer = AsyncpgInstrumentation(spans)
    try:
        layer.instrument()
        patched = {name: cls.__dict__[name] for name in _QUERY_METHODS}
        layer.instrument()  # a second time: nothing more
        assert {name: cls.__dict__[name] for name in _QUERY_METHODS} == patched
        assert all(patched[name] is not originals[name] for name in _QUERY_METHODS)
        assert asyncpg.connect is asyncpg.connection.connect is not connects[0]
        asyncio.run(_select_one(database.dsn))
        assert sink.names == ["connect", "SELECT"]
        assert sink.records[1].attributes["db.query.text"] == "SELECT ?"
    finally:
        layer.uninstrument()
    assert all(cls.__dict__[name] is originals[name] for name in _QUERY_METHODS)
    assert (asyncpg.connect, asyncpg.connection.connect) == connects
    sink.records.clear()
    asyncio.run(_select_one(database.dsn))
    assert sink.records == []
    layer.uninstrument()  # a second time: harmless


def test_db_instrumentation_instruments_imported_libraries_once_and_closes_them(recorder: Recorder) -> None:
    originals = (Engine.__dict__["__init__"], asyncpg.connection.Connection.__dict__["execute"])
    db = DbInstrumentation(recorder)
    try:
        db.refresh()  # both libraries are imported in this process
        assert recorder.summarizers == [summary_attributes]
        layers = (db.sqlalchemy, db.asyncpg)
        assert layers[0] is not None
        assert layers[1] is not None
        assert layers[0].installed
        assert layers[1].installed
        db.refresh()
        assert (db.sqlalchemy, db.asyncpg) == layers
        assert recorder.summarizers == [summary_attributes]
        assert layers[0].listener_count == 4
    finally:
        db.close()
    assert (Engine.__dict__["__init__"], asyncpg.connection.Connection.__dict__["execute"]) == originals
    assert not layers[0].installed
    assert not layers[1].installed
    assert recorder.summarizers == []


@pytest.mark.parametrize("method", ["start_span", "end_span"])
def test_a_failing_recorder_never_fails_the_query(
    method: str,
    database: Database,
    recorder: Recorder,
    spans: DbSpans,
    sink: ListSink,
    engines: list[Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> SpanRecord:
        raise RuntimeError("recorder is broken")

    layer = SqlAlchemyInstrumentation(spans, lambda: None)
    layer.instrument()
    try:
        monkeypatch.setattr(recorder, method, broken)
        engine = make_engine(database.sync_url)
        engines.append(engine)
        with engine.begin() as connection:
            assert connection.execute(text("SELECT 2")).scalar() == 2
    finally:
        layer.uninstrument()
    assert recorder.stats.internal_error == "RuntimeError: recorder is broken"
    assert sink.records == []


class Connection:
    """Stands for a driver connection: transaction depth is kept per connection."""


def test_transaction_depth_is_kept_per_connection_and_steps_are_told_apart(
    recorder: Recorder,
    spans: DbSpans,
    sink: ListSink,
) -> None:
    first, second = Connection(), Connection()

    def run(statement: str, connection: Connection) -> None:
        spans.end_query(spans.start_query(statement, None, "asyncpg", connection))

    for statement, connection in [
        ("BEGIN", first),
        ("SAVEPOINT a", first),
        ("BEGIN", second),
        ("SAVEPOINT b", first),
        ("SELECT 1", first),
        ("ROLLBACK TO SAVEPOINT b", first),
        ("RELEASE SAVEPOINT a", first),
        ("COMMIT", second),
        ("CREATE TABLE t (id int)", first),
        ("ROLLBACK", first),
    ]:
        run(statement, connection)
    spans.start_checkin(None)  # the pool's rollback-on-return is a reset, not a rollback
    run("ROLLBACK", first)
    spans.end_checkin(None, None)
    depths = [(record.name, record.all_attributes().get("pytest.db.transaction.depth")) for record in sink.records]
    assert depths == [
        ("BEGIN", 1),
        ("SAVEPOINT", 2),
        ("BEGIN", 1),
        ("SAVEPOINT", 3),
        ("SELECT", None),
        ("ROLLBACK TO SAVEPOINT", 3),
        ("RELEASE SAVEPOINT", 2),
        ("COMMIT", 1),
        ("CREATE t", None),
        ("ROLLBACK", 1),
        ("ROLLBACK", 1),
        ("pool checkin", None),
    ]
    assert sink.records[-2].all_attributes()["pytest.db.transaction.reset"] is True
    assert recorder.current is recorder.session  # every span ended
    summary = summary_attributes(sink.records)
    counts = {key: value for key, value in summary.items() if not key.endswith("_time")}
    assert counts == {
        "db.summary.queries": 2,
        "db.summary.transactions": 2,
        "db.summary.commits": 1,
        "db.summary.rollbacks": 1,
        "db.summary.savepoints": 2,
        "db.summary.savepoint_rollbacks": 1,
        "db.summary.pool_resets": 1,
        "db.summary.ddl": 1,
        "db.summary.connections": 0,
        "db.summary.checkouts": 0,
        "db.summary.engines_created": 0,
        "db.summary.engines_disposed": 0,
    }
    rollback = next(record for record in sink.records if record.name == "ROLLBACK")
    assert summary["db.summary.rollback_time"] == (rollback.end - rollback.start) * 1e-9


def test_a_step_span_encodes_as_its_statement_attributes_followed_by_its_depth_and_reset(
    recorder: Recorder, spans: DbSpans, sink: ListSink
) -> None:
    info = EngineInfo("postgresql", "asyncpg", "shop", "db.local", 5432)
    connection = Connection()
    for step in ("BEGIN", "SAVEPOINT", "BEGIN"):
        spans.timed_step(step, info, lambda dialect, connection: None, None, connection)
    spans.start_checkin(None)
    spans.timed_step("ROLLBACK", info, lambda dialect, connection: None, None, connection)
    spans.end_checkin(None, None)
    encoder = OtlpJsonEncoder(ExportShape({"service.name": "shop"}, "0" * 16, "1.0"))
    for record in sink.records[:4]:
        # The same span as it was recorded before: the statement's shared set, then the
        # depth and the reset as values of its own.
        per_span = SpanRecord(record.name, record.trace_id, record.span_id, record.parent_id, record.start, {})
        per_span.end, per_span.kind = record.end, record.kind
        per_span.attributes = info.step_attributes(record.name)
        per_span.set(attr.DB_TRANSACTION_DEPTH, record.all_attributes()[attr.DB_TRANSACTION_DEPTH])
        if attr.DB_TRANSACTION_RESET in record.attributes:
            per_span.set(attr.DB_TRANSACTION_RESET, True)
        assert encoder.span(record) == encoder.span(per_span)
    begin, _, again, reset = sink.records[:4]
    assert begin.attributes is again.attributes  # one shared set per statement, depth and reset
    assert reset.attributes[attr.DB_TRANSACTION_RESET] is True


def test_a_test_without_database_work_gets_no_summary() -> None:
    assert summary_attributes([]) == {}
    assert summary_attributes([SpanRecord("fixture client", 1, 2, 0, 0, {})]) == {}


def test_the_summary_counts_another_tools_statement_spans_whatever_their_kind() -> None:
    select = {attr.DB_QUERY_TEXT: "SELECT 1"}
    app_client = SpanRecord("SELECT", 1, 2, 0, 0, select, scope="opentelemetry.instrumentation.asyncpg", kind=3)
    app_internal = SpanRecord("SELECT", 1, 3, 0, 0, select, scope="app", kind=KIND_INTERNAL)
    plugin_phase = SpanRecord("call", 1, 4, 0, 0, {})  # the plugin's own: an internal span of its scope
    summary = summary_attributes([app_client, app_internal, plugin_phase])
    assert summary["db.summary.queries"] == 2


def test_statement_attributes_are_one_shared_object_per_statement_text_and_layer() -> None:
    info = EngineInfo("postgresql", "asyncpg", "shop", "db.local", 5432)
    first = info.statement_attributes("SELECT * FROM items WHERE id = $1", "sqlalchemy")
    again = info.statement_attributes("SELECT * FROM items WHERE id = $1", "sqlalchemy")
    assert again is first
    assert again[attr.DB_FINGERPRINT] is first[attr.DB_FINGERPRINT]
    assert first[attr.DB_QUERY_TEXT] == "SELECT * FROM items WHERE id = $1"
    assert first[attr.DB_LAYER] == "sqlalchemy"
    other_layer = info.statement_attributes("SELECT * FROM items WHERE id = $1", "asyncpg")
    assert other_layer is not first
    assert other_layer[attr.DB_LAYER] == "asyncpg"


def test_different_statement_texts_never_share_attributes() -> None:
    info = EngineInfo("postgresql", "asyncpg", "shop", None, None)
    # One fingerprint (the literal is a value), two texts: two attribute sets.
    one = info.statement_attributes("SELECT * FROM items WHERE id = 1", "sqlalchemy")
    two = info.statement_attributes("SELECT * FROM items WHERE id = 2", "sqlalchemy")
    assert one is not two
    assert one[attr.DB_FINGERPRINT_ID] == two[attr.DB_FINGERPRINT_ID]
    update = info.statement_attributes("UPDATE items SET qty = $1", "sqlalchemy")
    assert (update[attr.DB_OPERATION_NAME], one[attr.DB_OPERATION_NAME]) == ("UPDATE", "SELECT")


def test_the_statement_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spans_module, "_MAX_CACHED_STATEMENTS", 3)
    info = EngineInfo("postgresql", "asyncpg", "shop", None, None)
    texts = [f"SELECT * FROM items_{number}" for number in range(5)]
    made = [info.statement_attributes(text, "sqlalchemy") for text in texts]
    assert len(info._statements) == 3
    assert info.statement_attributes(texts[0], "sqlalchemy") is made[0]
    beyond = info.statement_attributes(texts[4], "sqlalchemy")
    assert beyond is not made[4]  # not kept: computed again, the same attributes
    assert beyond == made[4]
    assert beyond[attr.DB_COLLECTION_NAME] == "items_4"
