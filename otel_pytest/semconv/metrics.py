"""Metric names (OTel's database client metrics, in seconds), recorded by
:mod:`otel_pytest.db.metrics` from the database spans."""

from __future__ import annotations

DB_CLIENT_OPERATION_DURATION = "db.client.operation.duration"
DB_CLIENT_CONNECTION_CREATE_TIME = "db.client.connection.create_time"
DB_CLIENT_CONNECTION_WAIT_TIME = "db.client.connection.wait_time"
DB_CLIENT_CONNECTION_USE_TIME = "db.client.connection.use_time"
