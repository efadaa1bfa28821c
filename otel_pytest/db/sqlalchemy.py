"""SQLAlchemy instrumentation: queries, transaction steps, connections and engines.

Everything hangs off class-level hooks, so every engine is covered exactly once, however
and whenever it was created (also through a ``create_engine`` alias imported before the
plugin started, and the sync engine inside every ``AsyncEngine``):

- ``ConnectionEvents`` on the ``Engine`` class: one query span per cursor execution;
- ``DialectEvents.do_connect`` and ``PoolEvents.connect``: the physical connection, from
  before the driver's connect call to the connection's arrival in the pool;
- ``Pool.connect`` wrapped: the checkout, so waiting for the pool is measured (its time
  minus any physical connect inside it); ``PoolEvents.reset``/``checkin``: the return,
  including the rollback-on-return round trip, and the connection's use time;
- each dialect's ``do_begin``/``do_commit``/``do_rollback``/``do_savepoint``/
  ``do_rollback_to_savepoint``/``do_release_savepoint`` wrapped on the dialect instance:
  transaction spans with their real duration. The stock instrumentation has none of these.
- ``Engine.__init__`` and ``Engine.dispose`` wrapped: engine creation and disposal;
  ``Engine.raw_connection`` wrapped: an engine created before instrumentation gets its
  attributes and transaction spans before its pool's first checkout and connect.

Every listener and wrapper is registered through one method that remembers it, and
:meth:`SqlAlchemyInstrumentation.uninstrument` removes them all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from otel_pytest import clock
from otel_pytest.db.spans import DbSpans, EngineInfo
from otel_pytest.db.statements import describe

_TRANSACTION_METHODS = (
    ("do_begin", "BEGIN"),
    ("do_commit", "COMMIT"),
    ("do_rollback", "ROLLBACK"),
    ("do_savepoint", "SAVEPOINT"),
    ("do_rollback_to_savepoint", "ROLLBACK TO SAVEPOINT"),
    ("do_release_savepoint", "RELEASE SAVEPOINT"),
)
_INFO = "_otel_pytest_info"
_SPAN = "_otel_pytest_span"
_CHECKOUT_AT = "otel_pytest_checkout_ns"
_POOL_ATTRIBUTES = "otel_pytest_pool_attributes"


def engine_info(engine: Any) -> EngineInfo:
    """The engine's static attributes, built once and kept on the engine."""
    info: EngineInfo | None = getattr(engine, _INFO, None)
    if info is None:
        url = engine.url
        host = url.host or url.query.get("host")
        info = EngineInfo(
            system=engine.dialect.name,
            driver=engine.dialect.driver,
            namespace=url.database,
            address=str(host) if host else None,
            port=url.port,
        )
        setattr(engine, _INFO, info)
        setattr(engine.pool, _INFO, info)
    return info


class SqlAlchemyInstrumentation:
    """Installs and removes the hooks; the spans themselves are made by :class:`DbSpans`."""

    def __init__(self, spans: DbSpans, on_new_dialect: Callable[[], None]) -> None:
        self.spans = spans
        # Called before a dialect is wrapped: the driver it loaded (asyncpg) may need
        # instrumenting too.
        self._on_new_dialect = on_new_dialect
        self._listeners: list[tuple[Any, str, Callable[..., Any]]] = []
        self._patches: list[tuple[Any, str, Any]] = []
        self._dialects: list[Any] = []
        self.installed = False

    # -- registration ------------------------------------------------------------------

    def _listen(self, target: Any, name: str, fn: Callable[..., Any], **kw: Any) -> None:
        from sqlalchemy import event

        guarded = self._guarded(fn)
        event.listen(target, name, guarded, **kw)
        self._listeners.append((target, name, guarded))

    def _guarded(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """A listener that raised would fail the user's query: report it instead."""
        recorder = self.spans.recorder

        @functools.wraps(fn)
        def listener(*args: Any, **kwargs: Any) -> None:
            try:
                fn(*args, **kwargs)
            except Exception as error:
                recorder.failed(error)

        return listener

    def _patch(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = owner.__dict__[name]
        self._patches.append((owner, name, original))
        setattr(owner, name, make(original))

    def instrument(self) -> None:
        if self.installed:
            return
        from sqlalchemy.engine import Engine
        from sqlalchemy.pool import Pool

        self._listen(Engine, "before_cursor_execute", self._before_execute)
        self._listen(Engine, "after_cursor_execute", self._after_execute)
        self._listen(Engine, "handle_error", self._on_error)
        self._listen(Engine, "engine_connect", self._on_engine_connect)
        self._listen(Engine, "do_connect", self._on_do_connect)
        self._listen(Pool, "connect", self._on_pool_connect)
        self._listen(Pool, "checkout", self._on_checkout)
        self._listen(Pool, "reset", self._on_reset, named=True)
        self._listen(Pool, "checkin", self._on_checkin)
        self._patch(Engine, "__init__", self._wrap_engine_init)
        self._patch(Engine, "dispose", self._wrap_engine_dispose)
        self._patch(Engine, "raw_connection", self._wrap_raw_connection)
        self._patch(Pool, "connect", self._wrap_pool_connect)
        self.installed = True

    def uninstrument(self) -> None:
        from sqlalchemy import event

        for target, name, fn in reversed(self._listeners):
            if event.contains(target, name, fn):
                event.remove(target, name, fn)
        for owner, name, original in reversed(self._patches):
            setattr(owner, name, original)
        for dialect in self._dialects:
            for method, _ in _TRANSACTION_METHODS:
                dialect.__dict__.pop(method, None)
            dialect.__dict__.pop(_INFO, None)
        self._listeners.clear()
        self._patches.clear()
        self._dialects.clear()
        self.installed = False

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    # -- engines and dialects ----------------------------------------------------------

    def _wrap_engine_init(self, original: Callable[..., None]) -> Callable[..., None]:
        spans = self.spans

        def __init__(engine: Any, pool: Any, dialect: Any, url: Any, *args: Any, **kwargs: Any) -> None:
            record = spans.start_engine_span("engine create")
            try:
                original(engine, pool, dialect, url, *args, **kwargs)
            except BaseException as error:
                spans.end(record, error)
                raise
            info = self._guarded_info(engine)
            if info is not None:
                spans.end_engine_span(record, info)
            else:
                spans.end(record)

        return __init__

    def _wrap_engine_dispose(self, original: Callable[..., None]) -> Callable[..., None]:
        spans = self.spans

        def dispose(engine: Any, *args: Any, **kwargs: Any) -> None:
            record = spans.start_engine_span("engine dispose", self._guarded_info(engine))
            try:
                original(engine, *args, **kwargs)
            except BaseException as error:
                spans.end(record, error)
                raise
            spans.end(record)

        return dispose

    def _guarded_info(self, engine: Any) -> EngineInfo | None:
        try:
            info = engine_info(engine)
            self._wrap_dialect(engine.dialect, info)
            return info
        except Exception as error:
            self.spans.recorder.failed(error)
            return None

    def _wrap_raw_connection(self, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def raw_connection(engine: Any) -> Any:
            # Every checkout of an engine comes through here; one created before
            # instrumentation is met here first, before its pool (whose checkout and
            # connect spans take the engine's attributes) and its dialect are used.
            if _INFO not in engine.dialect.__dict__:
                self._guarded_info(engine)
            return original(engine)

        return raw_connection

    def _on_engine_connect(self, connection: Any) -> None:
        # Engines created before instrumentation get their dialect wrapped on first use.
        engine = connection.engine
        self._wrap_dialect(engine.dialect, engine_info(engine))

    def _wrap_dialect(self, dialect: Any, info: EngineInfo) -> None:
        if _INFO in dialect.__dict__:
            return
        dialect.__dict__[_INFO] = info
        self._dialects.append(dialect)
        self._on_new_dialect()
        for method, step in _TRANSACTION_METHODS:
            # asyncpg's adapter sends BEGIN lazily, inside the first query, where the
            # asyncpg layer records the real round trip; do_begin is a no-op there.
            if step == "BEGIN" and info.driver == "asyncpg":
                continue
            bound = getattr(dialect, method)
            dialect.__dict__[method] = self.spans.transaction_wrapper(bound, step, info)

    # -- queries -----------------------------------------------------------------------

    def _before_execute(self, conn: Any, cursor: Any, statement: str, parameters: Any,
                        context: Any, executemany: bool) -> None:
        if self.spans.suppressed or context is None:
            return
        setattr(context, _SPAN, self.spans.start_query(statement, engine_info(conn.engine), layer="sqlalchemy"))

    def _after_execute(self, conn: Any, cursor: Any, statement: str, parameters: Any,
                       context: Any, executemany: bool) -> None:
        record = getattr(context, _SPAN, None)
        if record is not None:
            setattr(context, _SPAN, None)
            self.spans.end_query(record)

    def _on_error(self, exception_context: Any) -> None:
        context = exception_context.execution_context
        record = getattr(context, _SPAN, None) if context is not None else None
        if record is not None:
            setattr(context, _SPAN, None)
            self.spans.end_query(record, exception_context.original_exception)

    # -- connections -------------------------------------------------------------------

    def _wrap_pool_connect(self, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        spans = self.spans

        def connect(pool: Any) -> Any:
            info: EngineInfo | None = getattr(pool, _INFO, None)
            record = spans.start_checkout(info)
            try:
                connection = original(pool)
            except BaseException as error:
                spans.end_checkout(record, error)
                raise
            spans.end_checkout(record)
            if info is not None:
                # Kept with the DBAPI connection, for its checkin spans and use time.
                connection.info.setdefault(_POOL_ATTRIBUTES, info.base)
            return connection

        return connect

    def _on_do_connect(self, dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> None:
        self.spans.start_physical_connect(dialect.__dict__.get(_INFO))

    def _on_pool_connect(self, dbapi_connection: Any, connection_record: Any) -> None:
        self.spans.end_physical_connect()

    def _on_checkout(self, dbapi_connection: Any, connection_record: Any, proxy: Any) -> None:
        connection_record.info[_CHECKOUT_AT] = clock.now_ns()

    def _on_reset(self, **kw: Any) -> None:
        record = kw.get("connection_record")
        self.spans.start_checkin(record.info.get(_POOL_ATTRIBUTES) if record is not None else None)

    def _on_checkin(self, dbapi_connection: Any, connection_record: Any) -> None:
        info = connection_record.info if connection_record is not None else {}
        self.spans.end_checkin(info.pop(_CHECKOUT_AT, None), info.get(_POOL_ATTRIBUTES))


def statement_name(statement: str) -> str:
    """The low-cardinality span name of a statement (for tests and the asyncpg layer)."""
    return describe(statement).summary
