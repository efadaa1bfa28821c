"""Database runs exported to a real Jaeger v2 read back exactly as stored: a small generated
suite (SQLAlchemy sync and async, asyncpg) and the demo shop's two suites, over OTLP
http/protobuf and gRPC. Compared with :mod:`tests.jaeger_traces`."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.db import Database, Suite, shop_suite
from tests.jaeger_server import JaegerServer
from tests.jaeger_traces import SpanFields, Traces, assert_same_traces, jaeger_traces, stored_traces, unique_service
from tests.test_export_jaeger import EXPORT_BUDGET

ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = ("http/protobuf", "grpc")

DATABASE_SUITE = {
    "test_orders": """
        import asyncpg
        import pytest
        from sqlalchemy import create_engine, text
        from sqlalchemy.ext.asyncio import create_async_engine

        from dburls import ASYNC_URL, DSN, SYNC_URL

        @pytest.fixture(scope="module")
        def engine():
            engine = create_engine(SYNC_URL)
            with engine.begin() as connection:
                connection.execute(text("CREATE TABLE IF NOT EXISTS jaeger_orders (id int)"))
            yield engine
            with engine.begin() as connection:
                connection.execute(text("DROP TABLE jaeger_orders"))
            engine.dispose()

        def test_inserts_in_a_rolled_back_transaction(engine):
            with engine.connect() as connection:
                with connection.begin() as transaction:
                    connection.execute(text("INSERT INTO jaeger_orders VALUES (:id)"), {"id": 1})
                    nested = connection.begin_nested()
                    connection.execute(text("SELECT count(*) FROM jaeger_orders"))
                    nested.rollback()
                    transaction.rollback()

        async def test_reads_through_an_async_engine():
            engine = create_async_engine(ASYNC_URL)
            async with engine.begin() as connection:
                await connection.execute(text("SELECT 1"))
            await engine.dispose()

        async def test_reads_with_asyncpg():
            connection = await asyncpg.connect(DSN)
            assert await connection.fetchval("SELECT 2") == 2
            await connection.close()
    """
}


def export_to(jaeger: JaegerServer, protocol: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    """Point the next runs at Jaeger under a service name of their own; return it and the time."""
    service = unique_service("e2e-db")
    monkeypatch.setenv("OTEL_SERVICE_NAME", service)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", jaeger.otlp_grpc if protocol == "grpc" else jaeger.otlp_http)
    return service, time.time_ns()


def spans_of(traces: Traces) -> list[SpanFields]:
    return [span for trace in traces.values() for span in trace.values()]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_database_spans_and_summaries_read_back_from_jaeger_exactly_as_stored(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, jaeger: JaegerServer, protocol: str
) -> None:
    suite.pytester.makepyfile(**DATABASE_SUITE)
    service, start_ns = export_to(jaeger, protocol, monkeypatch)
    result, _run = suite.run(EXPORT_BUDGET)
    result.assert_outcomes(passed=3)
    stored = stored_traces(suite.pytester.path / ".otel-pytest")

    assert_same_traces(stored, jaeger_traces(jaeger, service, start_ns, stored))
    # What the comparison covered: statements of the three clients, transaction steps, pool
    # and connection spans, and every test's database summary.
    spans = spans_of(stored)
    statements = {span["attributes"].get("db.query.text") for span in spans}
    assert {"INSERT INTO jaeger_orders VALUES (%(id)s)", "SELECT count(*) FROM jaeger_orders", "SELECT ?"} <= statements
    assert {span["attributes"].get("pytest.db.layer") for span in spans} >= {"sqlalchemy", "asyncpg"}
    names = {span["name"] for span in spans}
    assert {"SAVEPOINT", "ROLLBACK TO SAVEPOINT", "ROLLBACK", "pool checkout", "connect", "engine create"} <= names
    tests = [span for span in spans if "test.case.name" in span["attributes"]]
    assert len(tests) == 3
    assert all(span["attributes"]["db.summary.queries"] >= 1 for span in tests)
    assert all(isinstance(span["attributes"]["db.summary.query_time"], float) for span in tests)


@pytest.mark.parametrize(("fixtures", "protocol"), [("slow", "http/protobuf"), ("fast", "grpc")])
def test_the_demo_suites_read_back_from_jaeger_exactly_as_stored(
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    jaeger: JaegerServer,
    fixtures: str,
    protocol: str,
) -> None:
    service, start_ns = export_to(jaeger, protocol, monkeypatch)
    store = tmp_path / "store"
    monkeypatch.setenv("DATABASE_URL", database.url)
    done = subprocess.run(
        shop_suite(fixtures, store, EXPORT_BUDGET), cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    stored = stored_traces(store)

    assert_same_traces(stored, jaeger_traces(jaeger, service, start_ns, stored))
    spans = spans_of(stored)
    tests = [span for span in spans if "test.case.name" in span["attributes"]]
    assert len(tests) == 29
    assert sum(span["attributes"]["db.summary.queries"] for span in tests) > 29
    assert len(stored) == 30  # a trace per test and the session's
