"""SQLAlchemy instrumentation: queries, transaction steps, connections and engines.

The hooks are on classes, so every engine is covered exactly once, however and whenever it
was created (also through a ``create_engine`` alias imported before the plugin started,
and the sync engine inside every ``AsyncEngine``):

- the dialect's ``do_execute``/``do_executemany``/``do_execute_no_params``: one query span
  per cursor execution, the driver's call exactly (what ``before_cursor_execute`` and
  ``after_cursor_execute`` bracket);
- the dialect's ``connect`` and ``PoolEvents.connect``: the physical connection, from the
  driver's connect call to the connection's arrival in the pool;
- ``Pool.connect``: the checkout, so waiting for the pool is measured (its time minus any
  physical connect inside it); ``PoolEvents.checkout``/``reset``/``checkin``: the return,
  including the rollback-on-return round trip, and the connection's use time;
- the dialect's ``do_begin``/``do_commit``/``do_rollback``/``do_savepoint``/
  ``do_rollback_to_savepoint``/``do_release_savepoint``: transaction spans with their real
  duration (the ``ConnectionEvents`` of the same names fire before the step and cannot
  time it). The stock instrumentation has none of these.
- ``Engine.__init__`` and ``Engine.dispose``: engine creation and disposal (no event fires
  before either); ``Engine.raw_connection``: an engine created before instrumentation is
  met there before its pool's first checkout and connect.

The code under test must not be able to tell the plugin is there:

- nothing is stored on SQLAlchemy's objects or in their ``info`` dicts (users read
  ``Connection.info``): what the hooks know about a dialect, a pool or a pooled connection
  is kept in ``weakref.WeakKeyDictionary``s owned by :class:`SqlAlchemyInstrumentation`,
  which forget an object when SQLAlchemy drops it;
- no ``ConnectionEvents`` or ``DialectEvents`` listener: one on the ``Engine`` class makes
  SQLAlchemy give every engine, connection and dialect its own ``dispatch`` attribute,
  which user code sees in their ``__dict__``. Pool events are used: every pool has its
  ``dispatch`` anyway (``create_engine`` listens on it);
- dialect methods are wrapped on the class that defines them (a class's ``__dict__`` keeps
  its keys), never on the dialect object, and every wrapper keeps the original's
  signature and code-object argument names (:mod:`otel_pytest.db.patching`): SQLAlchemy
  reads those to route ``create_engine``'s keyword arguments (``echo``,
  ``engine_from_config``).

Every listener and wrapper is registered through one method that remembers it, and
:meth:`SqlAlchemyInstrumentation.uninstrument` removes them all.
"""

from __future__ import annotations

import functools
import types
import weakref
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from otel_pytest import clock
from otel_pytest.db.patching import Patches
from otel_pytest.db.spans import DbSpans, EngineInfo
from otel_pytest.records import AttributeValue
from otel_pytest.semconv import spans as span_names

_TRANSACTION_METHODS = (
    ("do_begin", "BEGIN"),
    ("do_commit", "COMMIT"),
    ("do_rollback", "ROLLBACK"),
    ("do_savepoint", "SAVEPOINT"),
    ("do_rollback_to_savepoint", "ROLLBACK TO SAVEPOINT"),
    ("do_release_savepoint", "RELEASE SAVEPOINT"),
)
_EXECUTE_METHODS = ("do_execute", "do_executemany", "do_execute_no_params")


class _Checkout(NamedTuple):
    """A pooled connection while it is out of the pool."""

    at: int  # clock.now_ns() at checkout
    attributes: Mapping[str, AttributeValue] | None  # its pool's database attributes


class SqlAlchemyInstrumentation:
    """Installs and removes the hooks; the spans themselves are made by :class:`DbSpans`."""

    def __init__(self, spans: DbSpans, on_new_dialect: Callable[[], None]) -> None:
        self.spans = spans
        # Called when a new dialect is met: the driver it loaded (asyncpg) may need
        # instrumenting too.
        self._on_new_dialect = on_new_dialect
        self._listeners: list[tuple[Any, str, Callable[..., Any]]] = []
        self._patches = Patches()
        # One create_engine makes one dialect; an engine's execution_options() copies
        # share it: the dialect stands for the database.
        self._dialects: weakref.WeakKeyDictionary[Any, EngineInfo] = weakref.WeakKeyDictionary()
        self._pools: weakref.WeakKeyDictionary[Any, EngineInfo] = weakref.WeakKeyDictionary()
        self._checkouts: weakref.WeakKeyDictionary[Any, _Checkout] = weakref.WeakKeyDictionary()
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

    def instrument(self) -> None:
        if self.installed:
            return
        from sqlalchemy.engine import Engine
        from sqlalchemy.engine.default import DefaultDialect
        from sqlalchemy.pool import Pool

        self._listen(Pool, "connect", self._on_pool_connect)
        self._listen(Pool, "checkout", self._on_checkout)
        self._listen(Pool, "reset", self._on_reset, named=True)
        self._listen(Pool, "checkin", self._on_checkin)
        self._patches.wrap(Engine, "__init__", self._engine_init)
        self._patches.wrap(Engine, "dispose", self._engine_dispose)
        self._patches.wrap(Engine, "raw_connection", self._raw_connection)
        self._patches.wrap(Pool, "connect", self._pool_connect)
        # Every dialect's base, at once: a connection opened before instrumentation is
        # traced from its next statement (which registers its engine).
        self._wrap_dialect_class(DefaultDialect)
        self.installed = True

    def uninstrument(self) -> None:
        from sqlalchemy import event

        for target, name, fn in reversed(self._listeners):
            if event.contains(target, name, fn):
                event.remove(target, name, fn)
        self._patches.restore()
        self._listeners.clear()
        for known in (self._dialects, self._pools, self._checkouts):
            known.clear()
        self.installed = False

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    # -- engines and dialects ----------------------------------------------------------

    def _register(self, engine: Any) -> EngineInfo:
        """The engine's static attributes, built once per dialect and kept beside the
        dialect and the engine's current pool (``dispose`` replaces it)."""
        dialect = engine.dialect
        info = self._dialects.get(dialect)
        if info is None:
            url = engine.url
            host = url.host or url.query.get("host")
            info = EngineInfo(
                system=dialect.name,
                driver=dialect.driver,
                namespace=url.database,
                address=str(host) if host else None,
                port=url.port,
            )
            self._dialects[dialect] = info
            self._on_new_dialect()
            self._wrap_dialect_class(type(dialect))
        self._pools[engine.pool] = info
        return info

    def _guarded_register(self, engine: Any) -> EngineInfo | None:
        try:
            return self._register(engine)
        except Exception as error:
            self.spans.recorder.failed(error)
            return None

    def _wrap_dialect_class(self, dialect_class: type) -> None:
        """Wrap each hooked method where the dialect's class hierarchy defines it; once per
        defining class. Every dialect of that class then goes through the wrapper, which
        records only for the dialects met here."""
        hooks: list[tuple[str, Callable[..., Callable[..., Any]]]] = [
            *((method, functools.partial(self._transaction_step, step=step)) for method, step in _TRANSACTION_METHODS),
            *((method, self._execute) for method in _EXECUTE_METHODS),
            ("connect", self._dialect_connect),
        ]
        for method, make in hooks:
            owner = next((cls for cls in dialect_class.__mro__ if method in vars(cls)), None)
            if owner is not None and isinstance(vars(owner)[method], types.FunctionType):
                self._patches.wrap(owner, method, functools.partial(make, called=_called_check(owner, method)))

    def _transaction_step(
        self, original: Callable[..., Any], step: str, called: Callable[[Any], bool]
    ) -> Callable[..., Any]:
        spans, dialects = self.spans, self._dialects

        def transaction_step(dialect: Any, connection: Any, *args: Any) -> Any:
            __tracebackhide__ = True
            info = dialects.get(dialect)
            # asyncpg's adapter sends BEGIN lazily, inside the first query, where the
            # asyncpg layer records the real round trip: its do_begin is a no-op.
            if (
                info is None
                or spans.suppress_depth
                or not called(dialect)
                or (step == "BEGIN" and info.driver == "asyncpg")
            ):
                return original(dialect, connection, *args)
            return spans.timed_step(step, info, original, dialect, connection, *args)

        return transaction_step

    def _execute(self, original: Callable[..., Any], called: Callable[[Any], bool]) -> Callable[..., Any]:
        spans, dialects = self.spans, self._dialects

        def execute(dialect: Any, cursor: Any, statement: str, *args: Any) -> Any:
            __tracebackhide__ = True
            context = args[-1]  # the last parameter of all three: no context, no statement of ours
            if context is None or spans.suppress_depth or spans.in_pool_work() or not called(dialect):
                return original(dialect, cursor, statement, *args)
            info = dialects.get(dialect)
            if info is None:  # an engine whose connection predates instrumentation
                info = self._guarded_register(context.root_connection.engine)
            record = spans.start_query(statement, info, layer="sqlalchemy")
            try:
                result = original(dialect, cursor, statement, *args)
            except BaseException as error:
                spans.end_query(record, error)
                raise
            spans.end_query(record)
            return result

        return execute

    def _dialect_connect(self, original: Callable[..., Any], called: Callable[[Any], bool]) -> Callable[..., Any]:
        spans, dialects = self.spans, self._dialects

        def connect(dialect: Any, *cargs: Any, **cparams: Any) -> Any:
            __tracebackhide__ = True
            if not called(dialect) or spans.covered_by_connect():
                return original(dialect, *cargs, **cparams)
            # Ended by the pool's connect event, once the dialect's on-connect work is done.
            spans.start_physical_connect(dialects.get(dialect))
            try:
                return original(dialect, *cargs, **cparams)
            except BaseException as error:
                spans.end_physical_connect(error)
                raise

        return connect

    def _engine_init(self, original: Callable[..., None]) -> Callable[..., None]:
        spans = self.spans

        def engine_init(engine: Any, *args: Any, **kwargs: Any) -> None:
            __tracebackhide__ = True
            record = spans.start_engine_span(span_names.ENGINE_CREATE)
            try:
                original(engine, *args, **kwargs)
            except BaseException as error:
                spans.end(record, error)
                raise
            info = self._guarded_register(engine)
            if info is not None:
                spans.end_engine_span(record, info)
            else:
                spans.end(record)

        return engine_init

    def _engine_dispose(self, original: Callable[..., None]) -> Callable[..., None]:
        spans = self.spans

        def dispose(engine: Any, *args: Any, **kwargs: Any) -> None:
            __tracebackhide__ = True
            record = spans.start_engine_span(span_names.ENGINE_DISPOSE, self._guarded_register(engine))
            try:
                original(engine, *args, **kwargs)
            except BaseException as error:
                spans.end(record, error)
                raise
            spans.end(record)

        return dispose

    def _raw_connection(self, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        pools = self._pools

        def raw_connection(engine: Any) -> Any:
            __tracebackhide__ = True
            # Every checkout of an engine comes through here; one created before
            # instrumentation, or whose pool dispose() replaced, is met here first,
            # before its pool (whose checkout and connect spans take the engine's
            # attributes) and its dialect are used.
            if engine.pool not in pools:
                self._guarded_register(engine)
            return original(engine)

        return raw_connection

    # -- connections -------------------------------------------------------------------

    def _pool_connect(self, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        spans, pools = self.spans, self._pools

        def connect(pool: Any) -> Any:
            __tracebackhide__ = True
            record = spans.start_checkout(pools.get(pool))
            try:
                connection = original(pool)
            except BaseException as error:
                spans.end_checkout(record, error)
                raise
            spans.end_checkout(record)
            return connection

        return connect

    def _on_pool_connect(self, dbapi_connection: Any, connection_record: Any) -> None:
        self.spans.end_physical_connect()

    def _on_checkout(self, dbapi_connection: Any, connection_record: Any, proxy: Any) -> None:
        # The checkout event fires inside Pool.connect, under its checkout span.
        self._checkouts[connection_record] = _Checkout(clock.now_ns(), self.spans.open_checkout_attributes())

    def _on_reset(self, **kw: Any) -> None:
        record = kw.get("connection_record")
        checkout = self._checkouts.get(record) if record is not None else None
        self.spans.start_checkin(checkout.attributes if checkout is not None else None)

    def _on_checkin(self, dbapi_connection: Any, connection_record: Any) -> None:
        checkout = self._checkouts.pop(connection_record, None) if connection_record is not None else None
        if checkout is None:
            self.spans.end_checkin(None, None)
        else:
            self.spans.end_checkin(checkout.at, checkout.attributes)


def _called_check(owner: type, method: str) -> Callable[[Any], bool]:
    """Whether ``owner.<method>`` is what SQLAlchemy called on a dialect, rather than an
    override further down reaching it through ``super()`` (the override's own wrapper
    records that call)."""
    defined = vars(owner)

    def called(dialect: Any) -> bool:
        return getattr(type(dialect), method) is defined[method]

    return called
