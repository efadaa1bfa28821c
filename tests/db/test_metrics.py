"""The database histograms: buckets, merging, and the two encodings agreeing."""

from __future__ import annotations

import orjson
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

from otel_pytest.db.metrics import BOUNDARIES, DbMetrics, Histogram, pool_name
from otel_pytest.records import KIND_CLIENT, SharedAttributes, SpanRecord

SELECT = SharedAttributes(
    {
        "db.system.name": "postgresql",
        "db.namespace": "shop",
        "db.operation.name": "SELECT",
        "db.collection.name": "item",
        "db.query.text": "SELECT * FROM item WHERE id = $1",
    }
)
SELECT_OTHER_TEXT = SharedAttributes({**SELECT, "db.query.text": "SELECT id FROM item"})


def query(attributes: SharedAttributes, seconds: float) -> SpanRecord:
    record = SpanRecord("SELECT item", 1, 2, 0, 1_000_000_000, attributes, kind=KIND_CLIENT)
    record.end = record.start + round(seconds * 1e9)
    return record


def test_a_value_lands_in_the_first_bucket_whose_bound_it_does_not_exceed() -> None:
    histogram = Histogram({})
    for value in (0.0005, 0.001, 0.003, 20.0):
        histogram.add(value)
    assert len(histogram.buckets) == len(BOUNDARIES) + 1
    assert histogram.buckets[:3] == [2, 1, 0]
    assert histogram.buckets[-1] == 1
    assert (histogram.count, histogram.low, histogram.high) == (4, 0.0005, 20.0)
    assert histogram.total == 0.0005 + 0.001 + 0.003 + 20.0


def test_statements_with_the_same_metric_attributes_share_one_data_point() -> None:
    metrics = DbMetrics({"service.name": "shop"}, "1.0")
    metrics.operation(query(SELECT, 0.002), None)
    metrics.operation(query(SELECT_OTHER_TEXT, 0.004), None)
    metrics.operation(query(SELECT, 0.002), RuntimeError("boom"))
    line = orjson.loads(metrics.json_line())
    (metric,) = line["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
    assert metric["name"] == "db.client.operation.duration"
    assert metric["unit"] == "s"
    points = {tuple(kv["key"] for kv in point["attributes"]): point for point in metric["histogram"]["dataPoints"]}
    ok = points[("db.system.name", "db.namespace", "db.operation.name", "db.collection.name")]
    failed = points[("db.system.name", "db.namespace", "db.operation.name", "db.collection.name", "error.type")]
    assert (ok["count"], failed["count"]) == ("2", "1")
    assert ok["bucketCounts"][1] == "2"  # 2 ms and 4 ms are both in (1 ms, 5 ms]
    assert "db.query.text" not in str(line)  # high-cardinality text stays out of metrics


def test_the_json_line_and_the_exported_data_say_the_same() -> None:
    metrics = DbMetrics({"service.name": "shop"}, "1.0")
    metrics.operation(query(SELECT, 0.02), None)
    metrics.seconds("db.client.connection.wait_time", 0.0001, SELECT)
    stored = orjson.loads(metrics.json_line())
    exported = MessageToDict(encode_metrics(metrics.metrics_data()))

    def shape(data: dict[str, object]) -> list[tuple[str, list[str], object]]:
        scope = data["resourceMetrics"][0]["scopeMetrics"][0]  # type: ignore[index]
        return [
            (
                metric["name"],
                metric["histogram"]["dataPoints"][0]["bucketCounts"],
                metric["histogram"]["dataPoints"][0]["attributes"],
            )
            for metric in scope["metrics"]
        ]

    assert shape(stored) == shape(exported)
    assert shape(stored)[1][2] == [
        {"key": "db.client.connection.pool.name", "value": {"stringValue": "postgresql:///shop"}}
    ]


def test_the_pool_name_never_carries_credentials() -> None:
    assert (
        pool_name({"db.system.name": "postgresql", "server.address": "db", "server.port": 5432, "db.namespace": "shop"})
        == "postgresql://db:5432/shop"
    )
