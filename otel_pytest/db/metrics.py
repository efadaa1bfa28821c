"""The database client metrics of the semantic conventions, in seconds.

``db.client.operation.duration`` per statement and ``db.client.connection.create_time``,
``.wait_time`` and ``.use_time`` per connection event, as explicit-bucket histograms
(cumulative, one data point per attribute set), collected once at the end of the run,
written to the store beside its spans and exported with them.

The values are aggregated here rather than through the SDK's histogram instruments:
measured in bench/db.py, an SDK ``record`` cost ~28 µs per query (it validates and hashes
the attribute set on every call), a third of the whole database instrumentation. Here a
value costs a dictionary lookup keyed by the statement's shared attribute set and a
bisect. The SDK's own data classes are built once, at the end, for its OTLP exporter.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from otel_pytest import clock
from otel_pytest.encode.otlp_json import key_values
from otel_pytest.records import AttributeValue, SpanRecord
from otel_pytest.semconv import attributes as attr
from otel_pytest.semconv import metrics as metric_names

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricsData

# The conventions' advised boundaries for database client durations.
BOUNDARIES = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
_NANOS = 1e-9
OPERATION = metric_names.DB_CLIENT_OPERATION_DURATION
CONNECTION_METRICS = (
    metric_names.DB_CLIENT_CONNECTION_CREATE_TIME,
    metric_names.DB_CLIENT_CONNECTION_WAIT_TIME,
    metric_names.DB_CLIENT_CONNECTION_USE_TIME,
)
_DESCRIPTIONS = {
    OPERATION: "Duration of database client operations.",
    metric_names.DB_CLIENT_CONNECTION_CREATE_TIME: "The time it took to create a new connection.",
    metric_names.DB_CLIENT_CONNECTION_WAIT_TIME: "The time it took to obtain an open connection from the pool.",
    metric_names.DB_CLIENT_CONNECTION_USE_TIME: "The time between borrowing a connection and returning it to the pool.",
}
_OPERATION_KEYS = (
    attr.DB_SYSTEM_NAME,
    attr.DB_NAMESPACE,
    attr.DB_OPERATION_NAME,
    attr.DB_COLLECTION_NAME,
    attr.SERVER_ADDRESS,
    attr.SERVER_PORT,
)
SCOPE = "otel_pytest.db"


def pool_name(attributes: Mapping[str, AttributeValue]) -> str:
    """``db.client.connection.pool.name``: where the pool connects, never with credentials."""
    system = attributes.get(attr.DB_SYSTEM_NAME, "db")
    address = attributes.get(attr.SERVER_ADDRESS, "")
    port = attributes.get(attr.SERVER_PORT)
    namespace = attributes.get(attr.DB_NAMESPACE, "")
    return f"{system}://{address}{f':{port}' if port else ''}/{namespace}"


@dataclass
class Histogram:
    """One data point: an attribute set's count, sum, min, max and bucket counts."""

    attributes: dict[str, AttributeValue]
    count: int = 0
    total: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BOUNDARIES) + 1))

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        self.buckets[bisect.bisect_left(BOUNDARIES, value)] += 1


class DbMetrics:
    def __init__(self, resource: Mapping[str, AttributeValue], version: str) -> None:
        self._resource = dict(resource)
        self._version = version
        self._start = clock.now_ns()
        # metric name -> key -> data point; the key is the identity of a shared attribute
        # set (kept alive by the statement cache), or the error type for failed statements.
        self._points: dict[str, dict[Any, Histogram]] = {name: {} for name in (OPERATION, *CONNECTION_METRICS)}

    def operation(self, record: SpanRecord, error: BaseException | None) -> None:
        source = record.attributes
        key: Any = (id(source), type(error).__qualname__) if error is not None else id(source)
        points = self._points[OPERATION]
        point = points.get(key)
        if point is None:
            attributes = {name: source[name] for name in _OPERATION_KEYS if name in source}
            if error is not None:
                attributes[attr.ERROR_TYPE] = type(error).__qualname__
            point = points[key] = Histogram(attributes)
        point.add((record.end - record.start) * _NANOS)

    def connection_time(self, name: str, record: SpanRecord) -> None:
        self.seconds(name, (record.end - record.start) * _NANOS, record.attributes)

    def seconds(self, name: str, value: float, attributes: Mapping[str, AttributeValue]) -> None:
        points = self._points[name]
        point = points.get(id(attributes))
        if point is None:
            point = points[id(attributes)] = Histogram({attr.DB_CLIENT_CONNECTION_POOL_NAME: pool_name(attributes)})
        point.add(value)

    @property
    def empty(self) -> bool:
        return not any(self._points.values())

    def _merged(self) -> dict[str, list[Histogram]]:
        """Data points with equal attributes merged (two statements of one verb and table)."""
        merged: dict[str, list[Histogram]] = {}
        for name, points in self._points.items():
            by_attributes: dict[bytes, Histogram] = {}
            for point in points.values():
                key = orjson.dumps(point.attributes, option=orjson.OPT_SORT_KEYS)
                into = by_attributes.get(key)
                if into is None:
                    by_attributes[key] = Histogram(
                        dict(point.attributes), point.count, point.total, point.low, point.high, list(point.buckets)
                    )
                else:
                    into.count += point.count
                    into.total += point.total
                    into.low, into.high = min(into.low, point.low), max(into.high, point.high)
                    into.buckets = [a + b for a, b in zip(into.buckets, point.buckets, strict=True)]
            if by_attributes:
                merged[name] = list(by_attributes.values())
        return merged

    def json_line(self) -> bytes:
        """One OTLP JSON ``MetricsData`` line (int64 as decimal strings, as in the spans)."""
        now = clock.now_ns()
        metrics = [
            {
                "name": name,
                "description": _DESCRIPTIONS[name],
                "unit": "s",
                "histogram": {
                    "aggregationTemporality": 2,  # cumulative
                    "dataPoints": [
                        {
                            "attributes": key_values(point.attributes),
                            "startTimeUnixNano": str(self._start),
                            "timeUnixNano": str(now),
                            "count": str(point.count),
                            "sum": point.total,
                            "min": point.low,
                            "max": point.high,
                            "bucketCounts": [str(count) for count in point.buckets],
                            "explicitBounds": list(BOUNDARIES),
                        }
                        for point in points
                    ],
                },
            }
            for name, points in self._merged().items()
        ]
        data = {
            "resourceMetrics": [
                {
                    "resource": {"attributes": key_values(self._resource)},
                    "scopeMetrics": [{"scope": {"name": SCOPE, "version": self._version}, "metrics": metrics}],
                }
            ]
        }
        return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)

    def metrics_data(self) -> MetricsData:
        """The same data as the SDK's classes, for its OTLP exporters (export thread only)."""
        from opentelemetry.sdk.metrics.export import (
            AggregationTemporality,
            HistogramDataPoint,
            Metric,
            MetricsData,
            ResourceMetrics,
            ScopeMetrics,
        )
        from opentelemetry.sdk.metrics.export import Histogram as SdkHistogram
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        now = clock.now_ns()
        metrics = [
            Metric(
                name=name,
                description=_DESCRIPTIONS[name],
                unit="s",
                data=SdkHistogram(
                    data_points=[
                        HistogramDataPoint(
                            attributes=point.attributes,
                            start_time_unix_nano=self._start,
                            time_unix_nano=now,
                            count=point.count,
                            sum=point.total,
                            bucket_counts=list(point.buckets),
                            explicit_bounds=list(BOUNDARIES),
                            min=point.low,
                            max=point.high,
                        )
                        for point in points
                    ],
                    aggregation_temporality=AggregationTemporality.CUMULATIVE,
                ),
            )
            for name, points in self._merged().items()
        ]
        return MetricsData(
            resource_metrics=[
                ResourceMetrics(
                    resource=Resource(self._resource),
                    scope_metrics=[
                        ScopeMetrics(scope=InstrumentationScope(SCOPE, self._version), metrics=metrics, schema_url="")
                    ],
                    schema_url="",
                )
            ]
        )
