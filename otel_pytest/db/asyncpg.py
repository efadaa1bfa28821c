"""asyncpg instrumentation: statements and connects of code that uses asyncpg directly.

Under SQLAlchemy the same round trips would be recorded twice (the stock instrumentations
do exactly that), so a statement is skipped when a SQLAlchemy span already covers it:
inside a SQLAlchemy query span only transaction steps are kept (the asyncpg adapter sends
its BEGIN lazily, inside the first query: the only place that round trip can be seen),
and inside a SQLAlchemy transaction span, physical connect or pool checkout nothing is
added (in a checkout the adapter runs the pool's own work: the dialect's first-connect
checks, ``pool_pre_ping``; like psycopg's, it is part of the checkout's time, not queries).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from otel_pytest.db.patching import Patches
from otel_pytest.db.spans import DbSpans, EngineInfo, never_raises
from otel_pytest.records import SpanRecord
from otel_pytest.semconv import attributes as attr
from otel_pytest.semconv.statements import describe

_SERVER = EngineInfo("postgresql", "asyncpg", None, None, None)
_QUERY_METHODS = ("execute", "executemany", "fetch", "fetchrow", "fetchval")


class AsyncpgInstrumentation:
    """Wraps ``Connection``'s query methods and ``connect`` with wrappers that keep their
    signatures (:mod:`otel_pytest.db.patching`); nothing is set on connections."""

    def __init__(self, spans: DbSpans) -> None:
        self.spans = spans
        self.recorder = spans.recorder  # never_raises reports here
        self._patches = Patches()
        # asyncpg connections have __slots__, and must not see the plugin anyway: their
        # facts are kept beside them.
        self._infos: weakref.WeakKeyDictionary[Any, EngineInfo] = weakref.WeakKeyDictionary()
        self.installed = False

    def instrument(self) -> None:
        if self.installed:
            return
        import asyncpg
        import asyncpg.connection

        for method in _QUERY_METHODS:
            self._patches.wrap(asyncpg.connection.Connection, method, self._wrap_query)
        self._patches.wrap(asyncpg.connection, "connect", self._wrap_connect)
        self._patches.share(asyncpg, "connect", asyncpg.connection)
        self.installed = True

    def uninstrument(self) -> None:
        self._patches.restore()
        self._infos.clear()
        self.installed = False

    def _info(self, connection: Any) -> EngineInfo:
        info = self._infos.get(connection)
        if info is None:
            address = getattr(connection, "_addr", None)
            params = getattr(connection, "_params", None)
            host, port = address if isinstance(address, tuple) else (address, None)
            info = EngineInfo(
                system="postgresql",
                driver="asyncpg",
                namespace=getattr(params, "database", None),
                address=str(host) if host else None,
                port=int(port) if port else None,
            )
            self._infos[connection] = info
        return info

    def _covered(self, statement: str) -> bool:
        """True when a SQLAlchemy span already stands for this round trip."""
        current = self.spans.recorder.current
        if current.attributes.get(attr.DB_LAYER) != "sqlalchemy":
            return bool(self.spans.in_pool_work())
        step = describe(statement).transaction_step
        if attr.DB_TRANSACTION_STEP in current.attributes:
            # The step's own SQL is covered; a BEGIN the adapter sends first is not.
            return step is None or step == current.attributes[attr.DB_TRANSACTION_STEP]
        return step is None

    @never_raises
    def _start(self, connection: Any, query: str) -> SpanRecord | None:
        if self._covered(query):
            return None
        return self.spans.start_query(query, self._info(connection), layer="asyncpg", connection=connection)

    def _wrap_query(self, original: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
        spans = self.spans

        async def traced(connection: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            record = self._start(connection, query)
            if record is None:
                return await original(connection, query, *args, **kwargs)
            try:
                result = await original(connection, query, *args, **kwargs)
            except BaseException as error:
                spans.end_query(record, error)
                raise
            spans.end_query(record)
            return result

        return traced

    def _wrap_connect(self, original: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
        spans = self.spans

        async def connect(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            if spans.covered_by_connect():  # SQLAlchemy's connect span covers it
                return await original(*args, **kwargs)
            spans.start_physical_connect(_SERVER)
            try:
                connection = await original(*args, **kwargs)
            except BaseException as error:
                spans.end_physical_connect(error)
                raise
            spans.end_physical_connect()
            return connection

        return connect
