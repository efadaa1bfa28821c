"""Database spans and metrics over the wire: a collector gets what the store holds."""

from __future__ import annotations

import orjson
import pytest

from otel_pytest.store.compression import read_decoded
from tests.db import Suite
from tests.otlp_receiver import GrpcReceiver, HttpReceiver

ENGINE_PER_TEST = {
    "test_engine_per_test": """
        import pytest
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        from dburls import ASYNC_URL

        @pytest.fixture
        async def engine():
            engine = create_async_engine(ASYNC_URL)
            yield engine
            await engine.dispose()

        async def test_one(engine):
            async with engine.begin() as connection:
                await connection.execute(text("SELECT 1"))

        async def test_two(engine):
            async with engine.begin() as connection:
                await connection.execute(text("SELECT 2"))
    """
}

DATABASE_METRICS = {
    "db.client.operation.duration",
    "db.client.connection.create_time",
    "db.client.connection.wait_time",
    "db.client.connection.use_time",
}


@pytest.mark.parametrize("receiver_type", [HttpReceiver, GrpcReceiver])
def test_a_collector_receives_the_database_spans_and_metrics_of_the_store(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, receiver_type: type[HttpReceiver] | type[GrpcReceiver]
) -> None:
    suite.pytester.makepyfile(**ENGINE_PER_TEST)
    with receiver_type() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        if receiver_type is GrpcReceiver:
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        result, run = suite.run()
    result.assert_outcomes(passed=2)
    stored = {(node.span_id, node.name) for root in run.roots for node in root.walk()}
    received = {(span.span_id.hex(), span.name) for span in receiver.spans()}
    assert received == stored
    names = {name for _, name in stored}
    assert {"engine create", "connect", "pool checkout", "BEGIN", "COMMIT", "engine dispose"} <= names
    assert set(receiver.metric_names()) == DATABASE_METRICS
    (metrics_file,) = (suite.pytester.path / ".otel-pytest" / "metrics").glob("*.otlp.jsonl.zst")
    stored_metrics = {
        metric["name"]
        for line in read_decoded(metrics_file).splitlines()
        for resource in orjson.loads(line)["resourceMetrics"]
        for scope in resource["scopeMetrics"]
        for metric in scope["metrics"]
    }
    assert stored_metrics == DATABASE_METRICS
    assert "not delivered" not in result.stdout.str()
