"""The database client metrics of the semantic conventions, in seconds.

``db.client.operation.duration`` per statement and ``db.client.connection.create_time``,
``.wait_time`` and ``.use_time`` per connection event, recorded into the OpenTelemetry SDK's
histograms (created only once a database library is in use: the SDK's metrics import
costs tens of milliseconds) and collected once at the end of the run, then written to the
store beside the run's spans and exported with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from otel_pytest.records import AttributeValue, SpanRecord

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricsData

# The conventions' advised boundaries for database client durations.
_BOUNDARIES = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
_NANOS = 1e-9
CONNECTION_METRICS = (
    "db.client.connection.create_time",
    "db.client.connection.wait_time",
    "db.client.connection.use_time",
)
_OPERATION_KEYS = ("db.system.name", "db.namespace", "db.operation.name", "db.collection.name",
                   "server.address", "server.port")


def pool_name(attributes: Mapping[str, AttributeValue]) -> str:
    """``db.client.connection.pool.name``: where the pool connects, never with credentials."""
    system = attributes.get("db.system.name", "db")
    address = attributes.get("server.address", "")
    port = attributes.get("server.port")
    namespace = attributes.get("db.namespace", "")
    return f"{system}://{address}{f':{port}' if port else ''}/{namespace}"


class DbMetrics:
    def __init__(self, resource: Mapping[str, AttributeValue], version: str) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
        from opentelemetry.sdk.resources import Resource

        self._reader = InMemoryMetricReader()
        self._provider = MeterProvider(
            metric_readers=[self._reader],
            resource=Resource(dict(resource)),
            views=[View(instrument_name="db.client.*",
                        aggregation=ExplicitBucketHistogramAggregation(_BOUNDARIES))],
        )
        meter = self._provider.get_meter("otel_pytest.db", version)
        self._operation = meter.create_histogram(
            "db.client.operation.duration", unit="s", description="Duration of database client operations.")
        self._connection = {
            name: meter.create_histogram(name, unit="s") for name in CONNECTION_METRICS
        }
        self._pool_names: dict[int, dict[str, AttributeValue]] = {}

    def operation(self, record: SpanRecord, error: BaseException | None) -> None:
        attributes: dict[str, Any] = {key: record.attributes[key] for key in _OPERATION_KEYS
                                      if key in record.attributes}
        if error is not None:
            attributes["error.type"] = type(error).__qualname__
        self._operation.record((record.end - record.start) * _NANOS, attributes)

    def _pool(self, attributes: Mapping[str, AttributeValue]) -> dict[str, AttributeValue]:
        key = id(attributes)
        cached = self._pool_names.get(key)
        if cached is None:
            cached = self._pool_names[key] = {"db.client.connection.pool.name": pool_name(attributes)}
        return cached

    def connection_time(self, name: str, record: SpanRecord) -> None:
        self.seconds(name, (record.end - record.start) * _NANOS, record.attributes)

    def seconds(self, name: str, value: float, attributes: Mapping[str, AttributeValue]) -> None:
        self._connection[name].record(value, self._pool(attributes))

    def collect(self) -> MetricsData | None:
        """Everything recorded, once, at the end of the run; ``None`` when nothing was."""
        data = self._reader.get_metrics_data()
        self._provider.shutdown()
        if data is None or not any(
            metric.data.data_points
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        ):
            return None
        return data


def metrics_json_line(data: MetricsData) -> bytes:
    """One OTLP JSON ``MetricsData`` line. Metrics carry no trace or span ids (exemplars are
    off), so protobuf's JSON mapping is the spec's OTLP JSON here."""
    import orjson
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

    message = MessageToDict(encode_metrics(data))
    return orjson.dumps({"resourceMetrics": message.get("resourceMetrics", [])},
                        option=orjson.OPT_APPEND_NEWLINE)
