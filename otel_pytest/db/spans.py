"""Database spans and the per-test database summary, shared by the SQLAlchemy and asyncpg layers.

Spans are the recorder's plain records (a query span costs a few microseconds, an SDK span
25-35), named and attributed by the semantic conventions: ``db.system.name``,
``db.namespace``, ``db.query.text`` (placeholders only: bound values never reach this
module), ``db.operation.name``, ``db.collection.name``, ``db.query.summary``,
``server.address``/``server.port``, ``db.response.status_code`` (the SQLSTATE of a failed
statement or connect) and ``error.type``, plus ``pytest.db.*`` for what the conventions lack
(fingerprint, transaction step and depth, new physical connection).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from otel_pytest.records import KIND_INTERNAL, NO_ATTRIBUTES, PLUGIN_SCOPE, AttributeValue, SharedAttributes, SpanRecord
from otel_pytest.semconv import attributes as attr
from otel_pytest.semconv import metrics as metric_names
from otel_pytest.semconv import spans as span_names
from otel_pytest.semconv.db_work import fold
from otel_pytest.semconv.statements import describe, redact_message, sanitize, sqlstate

if TYPE_CHECKING:
    from otel_pytest.db.metrics import DbMetrics
    from otel_pytest.recorder import Recorder

_MAX_CACHED_STATEMENTS = 4096
F = TypeVar("F", bound=Callable[..., Any])


def never_raises(method: F) -> F:
    """Instrumentation runs inside the user's database calls: a bug here must cost a
    warning (reported once by the recorder), never the user's query or test."""

    @functools.wraps(method)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as error:
            self.recorder.failed(error)
            return None

    return guarded  # type: ignore[return-value]


_SECONDS = 1e-9


@dataclass
class EngineInfo:
    """Static attributes of one database (an engine, or an asyncpg connection's target)."""

    system: str
    driver: str
    namespace: str | None
    address: str | None
    port: int | None
    _base: SharedAttributes | None = field(default=None, repr=False)
    _statements: dict[tuple[str, str], SharedAttributes] = field(default_factory=dict, repr=False)

    @property
    def base(self) -> SharedAttributes:
        if self._base is None:
            base = SharedAttributes({attr.DB_SYSTEM_NAME: self.system})
            if self.namespace:
                base[attr.DB_NAMESPACE] = self.namespace
            if self.address:
                base[attr.SERVER_ADDRESS] = self.address
            if self.port:
                base[attr.SERVER_PORT] = self.port
            self._base = base
        return self._base

    def statement_attributes(self, statement: str, layer: str) -> SharedAttributes:
        """Shared, never-mutated attributes of one statement text on this database."""
        key = (layer, statement)  # a tuple reuses the strings' cached hashes: no copy of the SQL
        cached = self._statements.get(key)
        if cached is None:
            facts = describe(statement)
            cached = SharedAttributes(self.base)
            cached.update(
                {
                    attr.DB_QUERY_TEXT: sanitize(statement),
                    attr.DB_QUERY_SUMMARY: facts.summary,
                    attr.DB_OPERATION_NAME: facts.operation,
                    attr.DB_FINGERPRINT: facts.fingerprint,
                    attr.DB_FINGERPRINT_ID: facts.fingerprint_id,
                    attr.DB_LAYER: layer,
                }
            )
            if facts.collection:
                cached[attr.DB_COLLECTION_NAME] = facts.collection
            if facts.transaction_step:
                cached[attr.DB_TRANSACTION_STEP] = facts.transaction_step
            if len(self._statements) < _MAX_CACHED_STATEMENTS:
                self._statements[key] = cached
        return cached

    def step_attributes(self, step: str) -> SharedAttributes:
        return self.statement_attributes(step, "sqlalchemy")


_NO_INFO = EngineInfo("other_sql", "unknown", None, None, None)


class DbSpans:
    """Makes database spans on the recorder; both instrumentation layers go through it."""

    def __init__(self, recorder: Recorder, metrics: DbMetrics | None = None) -> None:
        self.recorder = recorder
        self.metrics = metrics
        # >0 while a transaction step we time runs its own SQL (SAVEPOINT …) through the
        # cursor: that statement is the step, not another query.
        self.suppress_depth = 0
        self._connect: SpanRecord | None = None
        self._checkin: SpanRecord | None = None
        self._depths: dict[int, int] = {}
        # (id of a statement set, depth, reset) -> (that set, the step's shared set)
        self._step_sets: dict[tuple[int, int, bool], tuple[Mapping[str, AttributeValue], SharedAttributes]] = {}

    @never_raises
    def end(self, record: SpanRecord | None, error: BaseException | None = None) -> None:
        if record is not None:
            self._end(record, error)

    def _end(self, record: SpanRecord, error: BaseException | None) -> None:
        """Unguarded: for callers that are guarded themselves (one guard per hook call)."""
        if error is None:
            self.recorder.end_span(record)
            return
        record.set(attr.ERROR_TYPE, type(error).__qualname__)
        code = sqlstate(error)
        if code is not None:
            record.set(attr.DB_RESPONSE_STATUS_CODE, code)
        self.recorder.end_span(record, error, redact_message(str(error)))

    # -- queries -----------------------------------------------------------------------

    # start_query, end_query and in_pool_work run for every statement: they are guarded
    # as never_raises guards, but inline, without its extra frame (~0.4 µs a call).

    def start_query(
        self, statement: str, info: EngineInfo | None, layer: str, connection: Any = None
    ) -> SpanRecord | None:
        """A query span; a transaction-control statement sent as SQL becomes a step span."""
        try:
            attributes = (info or _NO_INFO).statement_attributes(statement, layer)
            step = attributes.get(attr.DB_TRANSACTION_STEP)
            if step is not None:
                return self._start_step(str(step), attributes, connection)
            return self.recorder.start_span(str(attributes[attr.DB_QUERY_SUMMARY]), attributes)
        except Exception as error:
            self.recorder.failed(error)
            return None

    def end_query(self, record: SpanRecord | None, error: BaseException | None = None) -> None:
        if record is None:
            return
        try:
            self._end(record, error)
            if self.metrics is not None:
                self.metrics.operation(record, error)
        except Exception as failure:
            self.recorder.failed(failure)

    # -- transactions ------------------------------------------------------------------

    def timed_step(
        self, step: str, info: EngineInfo, original: Callable[..., Any], dialect: Any, connection: Any, *args: Any
    ) -> Any:
        """Run a dialect's ``do_<step>`` (``original``) in one span with the step's real duration."""
        __tracebackhide__ = True  # pytest leaves this frame out of the user's tracebacks
        record = self._start_step(step, info.step_attributes(step), connection)
        self.suppress_depth += 1
        try:
            result = original(dialect, connection, *args)
        except BaseException as error:
            self.end(record, error)
            raise
        finally:
            self.suppress_depth -= 1
        self.end(record)
        return result

    @never_raises
    def _start_step(self, step: str, attributes: Mapping[str, AttributeValue], connection: Any) -> SpanRecord:
        # The pool's own rollbacks: on return, and after a new connection's first-connect
        # checks (inside the checkout); not the application's.
        reset = self.recorder.current.name in (span_names.POOL_CHECKIN, span_names.POOL_CHECKOUT)
        depth = self._depth(connection, step)  # before the span opens: nothing may fail after
        return self.recorder.start_span(step, self._step_attributes(attributes, depth, reset))

    def _step_attributes(
        self, attributes: Mapping[str, AttributeValue], depth: int, reset: bool
    ) -> Mapping[str, AttributeValue]:
        """The step's statement attributes with its depth (and reset) after them, as one
        shared set per statement set, depth and reset: a step span then has no values of
        its own, and the store encodes its set once, not on every span (the key-values
        come in the order they had as per-span values after the shared ones)."""
        key = (id(attributes), depth, reset)  # the entry holds the set: its id stays its own
        entry = self._step_sets.get(key)
        if entry is None:
            with_depth = SharedAttributes(attributes)
            with_depth[attr.DB_TRANSACTION_DEPTH] = depth
            if reset:
                with_depth[attr.DB_TRANSACTION_RESET] = True
            entry = (attributes, with_depth)
            if len(self._step_sets) < _MAX_CACHED_STATEMENTS:
                self._step_sets[key] = entry
        return entry[1]

    def _depth(self, connection: Any, step: str) -> int:
        """The nesting level the step acts at: 1 for the outer transaction, 2 for the
        first savepoint, and so on; kept per DBAPI connection."""
        key = _connection_key(connection)
        depth = self._depths.get(key, 0)
        if step == "BEGIN":
            depth = self._depths[key] = 1
        elif step == "SAVEPOINT":
            depth = self._depths[key] = max(depth, 1) + 1
        elif step in ("RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"):
            self._depths[key] = max(depth - 1, 1)
        else:  # COMMIT, ROLLBACK end the transaction
            self._depths.pop(key, None)
            depth = max(depth, 1)
        return depth

    # -- connections -------------------------------------------------------------------

    @never_raises
    def covered_by_connect(self) -> bool:
        return self.recorder.current.name == span_names.CONNECT

    def in_pool_work(self) -> bool:
        """True while the pool connects or checks out: statements sent then (a dialect's
        first-connect checks, ``pool_pre_ping``) are part of that time, not queries."""
        try:
            return self.recorder.current.name in (span_names.CONNECT, span_names.POOL_CHECKOUT)
        except Exception as error:
            self.recorder.failed(error)
            return False

    @never_raises
    def start_physical_connect(self, info: EngineInfo | None) -> None:
        self._connect = self.recorder.start_span(span_names.CONNECT, (info or _NO_INFO).base)

    @never_raises
    def end_physical_connect(self, error: BaseException | None = None) -> None:
        record, self._connect = self._connect, None
        if record is None:
            return
        record.set(attr.DB_CONNECTION_NEW, True)
        self.end(record, error)
        parent = self.recorder.current
        if parent.name == span_names.POOL_CHECKOUT:
            parent.set(attr.DB_CONNECTION_NEW, True)
            parent.set(attr.DB_CONNECTION_CREATE_TIME, (record.end - record.start) * _SECONDS)
        if self.metrics is not None:
            self.metrics.connection_time(metric_names.DB_CLIENT_CONNECTION_CREATE_TIME, record)

    @never_raises
    def open_checkout_attributes(self) -> Mapping[str, AttributeValue] | None:
        """The database attributes of the pool checkout running now (the pool's checkout
        event fires inside it), if one is."""
        current = self.recorder.current
        return current.attributes if current.name == span_names.POOL_CHECKOUT else None

    @never_raises
    def start_checkout(self, info: EngineInfo | None) -> SpanRecord:
        return self.recorder.start_span(span_names.POOL_CHECKOUT, (info or _NO_INFO).base)

    @never_raises
    def end_checkout(self, record: SpanRecord | None, error: BaseException | None = None) -> None:
        if record is None:
            return
        if self._connect is not None:  # the physical connect failed inside the checkout
            self.end_physical_connect(error)
        self.end(record, error)
        extra = record.extra or {}
        created = extra.get(attr.DB_CONNECTION_CREATE_TIME, 0.0)
        waited = max((record.end - record.start) * _SECONDS - float(created), 0.0)  # type: ignore[arg-type]
        record.set(attr.DB_CONNECTION_WAIT_TIME, waited)
        if attr.DB_CONNECTION_NEW not in extra:
            record.set(attr.DB_CONNECTION_NEW, False)
        if self.metrics is not None:
            self.metrics.seconds(metric_names.DB_CLIENT_CONNECTION_WAIT_TIME, waited, record.attributes)

    @never_raises
    def start_checkin(self, attributes: Mapping[str, AttributeValue] | None) -> None:
        if self._checkin is None:
            self._checkin = self.recorder.start_span(span_names.POOL_CHECKIN, attributes or NO_ATTRIBUTES)

    @never_raises
    def end_checkin(self, checked_out_at: int | None, attributes: Mapping[str, AttributeValue] | None) -> None:
        """End the checkin span (begun at the pool's reset, if it resets) and record how
        long the connection was out of the pool."""
        self.start_checkin(attributes)
        record, self._checkin = self._checkin, None
        if record is None:
            return
        self.end(record)
        if checked_out_at is not None:
            used = (record.end - checked_out_at) * _SECONDS
            record.set(attr.DB_CONNECTION_USE_TIME, used)
            if self.metrics is not None:
                self.metrics.seconds(metric_names.DB_CLIENT_CONNECTION_USE_TIME, used, record.attributes)

    # -- engines -----------------------------------------------------------------------

    @never_raises
    def start_engine_span(self, name: str, info: EngineInfo | None = None) -> SpanRecord:
        return self.recorder.start_span(name, info.base if info else NO_ATTRIBUTES)

    @never_raises
    def end_engine_span(self, record: SpanRecord | None, info: EngineInfo) -> None:
        if record is None:
            return
        for key, value in info.base.items():
            record.set(key, value)
        self.end(record)


def _connection_key(connection: Any) -> int:
    """do_begin/commit/rollback get the pool's proxied connection, the savepoint methods
    a SQLAlchemy Connection, the asyncpg layer its own connection: one key per DBAPI one."""
    dbapi = getattr(connection, "dbapi_connection", None)
    if dbapi is None:
        engine_base = sys.modules.get("sqlalchemy.engine.base")
        if engine_base is not None and isinstance(connection, engine_base.Connection):
            dbapi = connection.connection.dbapi_connection
    return id(dbapi if dbapi is not None else connection)


def summary_attributes(records: list[SpanRecord]) -> Mapping[str, AttributeValue]:
    """The per-test database summary, folded from the test's own records at its end.

    Counting from the records rather than keeping counters means the summary can never
    disagree with the spans it summarises. Times are seconds. The plugin's own phase,
    fixture and wait spans (internal spans of its scope) carry no database attribute nor
    a database span's name, so the fold would pass over them: they are left out before.
    """
    work = fold(
        (r.name, r.all_attributes() if r.extra else r.attributes, r.end - r.start)
        for r in records
        if r.kind != KIND_INTERNAL or r.scope != PLUGIN_SCOPE
    )
    return {attr.DB_SUMMARY_PREFIX + key: value for key, value in work.items()}
