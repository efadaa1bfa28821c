"""The database instrumentation is invisible: the same probes, run in a real pytest process
with and without ``--otel`` against the real PostgreSQL, observe exactly the same things.

The probes look where the code under test can: SQLAlchemy's ``info`` dicts (of the
``Connection``, the pooled connection and its pool entry), the instance dictionaries of
engines, pools, dialects, connections, pool entries and execution contexts, the signature,
code-object arguments, names and docs of every callable the plugin wraps, SQLAlchemy's own
keyword routing (``get_cls_kwargs``), ``engine_from_config`` and ``async_engine_from_config``
with every standard option, and asyncpg's connection objects. Each probe test writes what
it saw to a JSON file; the two runs' files must be equal, and the ``--otel`` run must still
have recorded every kind of database span.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.db import SECRET_PARAMETER, Suite, assert_absent
from tests.spantree import Run

PROBES = {
    "test_probes": r'''
import inspect
import json
import os
import re
from pathlib import Path

import asyncpg
import asyncpg.connection
from sqlalchemy import create_engine, engine_from_config, event, text, util
from sqlalchemy.engine import Engine
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.ext.asyncio import async_engine_from_config, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, Pool, QueuePool

from dburls import ASYNC_URL, DSN, SYNC_URL

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_FLAGS = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS | inspect.CO_COROUTINE | inspect.CO_GENERATOR
PATCHED = {
    "Engine.__init__": Engine.__init__,
    "Engine.dispose": Engine.dispose,
    "Engine.raw_connection": Engine.raw_connection,
    "Pool.connect": Pool.connect,
    **{f"DefaultDialect.{name}": getattr(DefaultDialect, name) for name in (
        "do_begin", "do_commit", "do_rollback", "do_savepoint", "do_rollback_to_savepoint",
        "do_release_savepoint", "do_execute", "do_executemany", "do_execute_no_params", "connect")},
    **{f"asyncpg.Connection.{name}": getattr(asyncpg.connection.Connection, name) for name in (
        "execute", "executemany", "fetch", "fetchrow", "fetchval")},
    "asyncpg.connect": asyncpg.connect,
    "asyncpg.connection.connect": asyncpg.connection.connect,
}


def plain(value):
    """A run-independent text for any value (no memory addresses)."""
    return _ADDRESS.sub("", repr(value))


def save(name, seen):
    path = Path(os.environ["PROBE_OUTPUT"]) / f"{name}.json"
    path.write_text(json.dumps(seen, indent=1, sort_keys=True, default=plain))


def keys(obj):
    return sorted(vars(obj))


def callable_facts(fn):
    """Everything inspect, SQLAlchemy and a curious test can read off a function."""
    code = fn.__code__
    count = code.co_argcount + code.co_kwonlyargcount
    return {
        "signature": str(inspect.signature(fn)),
        "signature_unfollowed": str(inspect.signature(fn, follow_wrapped=False)),
        "fullargspec": plain(inspect.getfullargspec(fn)),
        "name": fn.__name__,
        "qualname": fn.__qualname__,
        "module": fn.__module__,
        "doc": fn.__doc__,
        "annotations": plain(fn.__annotations__),
        "defaults": plain(fn.__defaults__),
        "kwdefaults": plain(fn.__kwdefaults__),
        "dict": keys(fn),
        "code_arguments": [code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount,
                           list(code.co_varnames[:count]), code.co_flags & _FLAGS],
        "code_name": code.co_name,
        "coroutine_function": inspect.iscoroutinefunction(fn),
        "unwrapped_is_itself": inspect.unwrap(fn) is fn,
    }


def test_signatures_and_keyword_routing():
    seen = {name: callable_facts(fn) for name, fn in PATCHED.items()}
    seen["asyncpg.connect is asyncpg.connection.connect"] = asyncpg.connect is asyncpg.connection.connect
    engine = create_engine(SYNC_URL)
    seen["get_cls_kwargs"] = {
        cls.__name__: sorted(util.get_cls_kwargs(cls))
        for cls in (Engine, QueuePool, AsyncAdaptedQueuePool, type(engine.dialect), DefaultDialect)
    }
    seen["get_func_kwargs"] = {name: util.get_func_kwargs(fn) for name, fn in PATCHED.items()}
    engine.dispose()
    save("signatures", seen)


# Every standard create_engine option; the ones engine_from_config coerces are strings, as
# a config file gives them.
COERCED = {
    "echo": "true", "echo_pool": "debug", "pool_size": "3", "max_overflow": "2", "pool_timeout": "7",
    "pool_recycle": "3600",
}
TYPED = {
    "pool_pre_ping": True, "pool_use_lifo": True, "pool_reset_on_return": "rollback",
    "pool_logging_name": "probe_pool", "isolation_level": "REPEATABLE READ", "hide_parameters": True,
    "execution_options": {"stream_results": False, "probe_option": "yes"}, "query_cache_size": 100,
    "logging_name": "probe_engine", "label_length": 40, "insertmanyvalues_page_size": 50,
    "use_insertmanyvalues": True, "enable_from_linting": False, "future": "true",
    "connect_args": {"application_name": "otel_probe"}, "paramstyle": "pyformat",
}


def engine_facts(engine):
    pool = engine.pool
    return {
        "type": type(engine).__name__, "pool": type(pool).__name__, "echo": engine.echo,
        "pool_echo": pool.echo, "pool_size": pool.size(), "max_overflow": pool._max_overflow,
        "timeout": pool.timeout(), "recycle": pool._recycle, "pre_ping": pool._pre_ping,
        "hide_parameters": engine.hide_parameters, "cache": engine._compiled_cache.capacity,
        "logging_name": engine.logging_name, "pool_logging_name": pool.logging_name,
        "execution_options": dict(engine.get_execution_options()), "label_length": engine.dialect.label_length,
        "insertmanyvalues_page_size": engine.dialect.insertmanyvalues_page_size,
        "paramstyle": engine.dialect.paramstyle, "engine_keys": keys(engine), "pool_keys": keys(pool),
        "dialect_keys": keys(engine.dialect),
    }


def config(url, options):
    return {"db.url": url, **{f"db.{key}": value for key, value in options.items()}}


def outcome(make):
    try:
        return make()
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}


def test_engine_from_config_with_every_standard_option():
    seen = {}

    def sync():
        engine = engine_from_config(config(SYNC_URL, {**COERCED, **TYPED}), prefix="db.")
        facts = engine_facts(engine)
        with engine.connect() as connection:
            facts["isolation"] = connection.get_isolation_level()
            facts["application_name"] = connection.execute(text("SHOW application_name")).scalar()
            facts["connection_options"] = dict(connection.get_execution_options())
        engine.dispose()
        return facts

    seen["engine_from_config"] = outcome(sync)
    seen["create_engine echo"] = outcome(lambda: engine_facts(create_engine(SYNC_URL, echo=True)))
    save("engine_from_config", seen)


async def test_async_engine_from_config_with_every_standard_option():
    typed = {key: value for key, value in TYPED.items() if key != "paramstyle"}
    typed["connect_args"] = {"server_settings": {"application_name": "otel_probe"}}
    seen = {}
    try:
        engine = async_engine_from_config(config(ASYNC_URL, {**COERCED, **typed}), prefix="db.")
    except Exception as error:
        seen["error"] = f"{type(error).__name__}: {error}"
    else:
        seen.update(engine_facts(engine.sync_engine))
        async with engine.connect() as connection:
            seen["isolation"] = await connection.get_isolation_level()
            seen["application_name"] = (await connection.execute(text("SHOW application_name"))).scalar()
        await engine.dispose()
    seen["create_async_engine echo"] = engine_facts(create_async_engine(ASYNC_URL, echo=True).sync_engine)
    save("async_engine_from_config", seen)


def watch(engine, seen):
    """What a test's own listeners see of SQLAlchemy's objects in flight."""

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):
        seen.setdefault("context_keys", keys(context))

    @event.listens_for(engine.pool, "checkout")
    def checkout(dbapi_connection, record, proxy):
        seen.setdefault("record_info_at_checkout", dict(record.info))
        seen.setdefault("record_keys_at_checkout", keys(record))

    @event.listens_for(engine.pool, "checkin")
    def checkin(dbapi_connection, record):
        seen["record_info_at_checkin"] = dict(record.info)
        seen["record_keys_at_checkin"] = keys(record)


def connection_facts(connection, seen):
    seen["connection_info"] = dict(connection.info)
    seen["pooled_info"] = dict(connection.connection.info)
    seen["pooled_record_info"] = dict(connection.connection.record_info or {})
    seen["connection_keys"] = keys(connection)
    seen["pooled_keys"] = keys(connection.connection)


def test_sync_objects_and_info_dicts():
    seen = {}
    # An engine without listeners of the test's own: SQLAlchemy gives an engine, its
    # connections and its dialect a dispatch attribute only when someone listens.
    plain_engine = create_engine(SYNC_URL)
    with plain_engine.begin() as connection:
        connection.execute(text("SELECT 1"))
        seen["plain_connection_keys"] = keys(connection)
    seen["plain_engine_keys"] = keys(plain_engine)
    seen["plain_dialect_keys"] = keys(plain_engine.dialect)
    plain_engine.dispose()

    engine = create_engine(SYNC_URL)
    watch(engine, seen)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        with connection.begin_nested():
            connection.execute(text("SELECT 2"))
        connection.commit()
        connection_facts(connection, seen)
    with engine.begin() as connection:
        connection.execute(text("SELECT 3"))
    seen["engine_keys"] = keys(engine)
    seen["pool_keys"] = keys(engine.pool)
    seen["dialect_keys"] = keys(engine.dialect)
    engine.dispose()
    seen["engine_keys_after_dispose"] = keys(engine)
    save("sync_objects", seen)


async def test_async_objects_info_dicts_and_asyncpg_connections():
    seen = {}
    plain_engine = create_async_engine(ASYNC_URL)
    async with plain_engine.begin() as connection:
        await connection.execute(text("SELECT 1"))
        seen["plain_connection_keys"] = keys(connection.sync_connection)
    seen["plain_engine_keys"] = keys(plain_engine.sync_engine)
    seen["plain_dialect_keys"] = keys(plain_engine.sync_engine.dialect)
    await plain_engine.dispose()

    engine = create_async_engine(ASYNC_URL)
    watch(engine.sync_engine, seen)
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
        async with connection.begin_nested():
            await connection.execute(text("SELECT 2"))
        await connection.commit()
        connection_facts(connection.sync_connection, seen)
        seen["async_connection_info"] = dict(connection.info)
        raw = await connection.get_raw_connection()
        seen["raw_info"] = dict(raw.info)
        seen["adapted_dir"] = sorted(dir(raw.driver_connection))
    seen["engine_keys"] = keys(engine.sync_engine)
    seen["pool_keys"] = keys(engine.sync_engine.pool)
    seen["dialect_keys"] = keys(engine.sync_engine.dialect)
    await engine.dispose()

    direct = await asyncpg.connect(DSN)
    try:
        await direct.execute("SELECT 1")
        async with direct.transaction():
            await direct.fetch("SELECT $1::int", 1)
        seen["asyncpg_dir"] = sorted(dir(direct))
        seen["asyncpg_slots_set"] = sorted(
            name for cls in type(direct).__mro__ for name in getattr(cls, "__slots__", ())
            if hasattr(direct, name)
        )
        seen["asyncpg_bound_methods"] = {
            name: [str(inspect.signature(method)), method.__name__, method.__qualname__, method.__doc__,
                   inspect.iscoroutinefunction(method)]
            for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval")
            for method in [getattr(direct, name)]
        }
    finally:
        await direct.close()
    save("async_objects", seen)
''',
}

PROBE_NAMES = ("signatures", "engine_from_config", "async_engine_from_config", "sync_objects", "async_objects")


def probe(suite: Suite, monkeypatch: pytest.MonkeyPatch, name: str, *args: str) -> dict[str, Any]:
    """Run the probes in a pytest subprocess; what each probe saw, by probe."""
    output = suite.pytester.path / f"probes-{name}"
    output.mkdir()
    monkeypatch.setenv("PROBE_OUTPUT", str(output))
    result = suite.pytester.runpytest_subprocess("-p", "no:anyio", *args)
    result.assert_outcomes(passed=5)
    return {path.stem: json.loads(path.read_text()) for path in sorted(Path(output).glob("*.json"))}


def test_probes_see_the_same_with_and_without_the_plugin(suite: Suite, monkeypatch: pytest.MonkeyPatch) -> None:
    suite.pytester.makepyfile(**PROBES)
    bare = probe(suite, monkeypatch, "bare")
    traced = probe(suite, monkeypatch, "otel", "--otel")
    assert sorted(bare) == sorted(PROBE_NAMES)
    for name in PROBE_NAMES:
        assert traced[name] == bare[name], name
    # The probes did real work: options took effect, and nothing failed.
    sync = bare["engine_from_config"]["engine_from_config"]
    assert (sync["isolation"], sync["application_name"], sync["pool_size"], sync["echo"]) == (
        "REPEATABLE READ",
        "otel_probe",
        3,
        True,
    )
    assert bare["async_engine_from_config"]["application_name"] == "otel_probe"

    # ... and the --otel run recorded every kind of database span while they ran.
    store = suite.pytester.path / ".otel-pytest"
    assert_absent(store, suite.database.password, SECRET_PARAMETER)
    run = Run.from_store(store)
    names = {node.name for root in run.roots for node in root.walk()}
    assert names >= {
        "engine create",
        "engine dispose",
        "pool checkout",
        "pool checkin",
        "connect",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE SAVEPOINT",
        "SELECT",
    }
    sync_test = run.root("test_probes.py::test_sync_objects_and_info_dicts")
    assert [node.name for node in sync_test.child("call").children] == [
        "engine create",
        "pool checkout",
        "BEGIN",
        "SELECT",
        "COMMIT",
        "pool checkin",
        "engine dispose",
        "engine create",
        "pool checkout",
        "BEGIN",
        "SELECT",
        "SAVEPOINT",
        "SELECT",
        "RELEASE SAVEPOINT",
        "COMMIT",
        "pool checkin",
        "pool checkout",
        "BEGIN",
        "SELECT",
        "COMMIT",
        "pool checkin",
        "engine dispose",
    ]
