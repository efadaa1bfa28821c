"""OTLP JSON lines into export requests: every field carried over, limits kept, bad lines named."""

from __future__ import annotations

from pathlib import Path

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_pytest.encode.limits import Limits
from otel_pytest.encode.otlp_batches import METRICS, SPANS, read_requests

TRACE = "0af7651916cd43dd8448eb211c80319c"


def span(number: int, **extra: object) -> dict[str, object]:
    return {
        "traceId": TRACE,
        "spanId": f"{number:016x}",
        "name": f"span {number}",
        "startTimeUnixNano": str(1_700_000_000_000_000_000 + number),
        "endTimeUnixNano": str(1_700_000_000_000_000_100 + number),
        **extra,
    }


def line(spans: list[dict[str, object]], service: str = "svc") -> bytes:
    data = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
                "scopeSpans": [{"scope": {"name": "app", "version": "2"}, "spans": spans}],
            }
        ]
    }
    return orjson.dumps(data) + b"\n"


def write(tmp_path: Path, *lines: bytes) -> Path:
    path = tmp_path / "run.otlp.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def test_every_field_of_a_span_is_carried_over_ids_in_binary(tmp_path: Path) -> None:
    exotic = span(
        1,
        parentSpanId="00000000000000ff",
        traceState="vendor=1",
        flags=257,
        kind="SPAN_KIND_CLIENT",
        attributes=[
            {"key": "map", "value": {"kvlistValue": {"values": [{"key": "a", "value": {"intValue": "7"}}]}}},
            {"key": "blob", "value": {"bytesValue": "AAEC"}},
            {"key": "nan", "value": {"doubleValue": "NaN"}},
        ],
        droppedAttributesCount=3,
        events=[{"timeUnixNano": "5", "name": "exception", "droppedAttributesCount": 1}],
        links=[{"traceId": TRACE, "spanId": "00000000000000aa", "traceState": "t=1", "flags": 1}],
        status={"code": 2, "message": "boom"},
    )
    problems: list[str] = []
    (request,) = read_requests([write(tmp_path, line([exotic]))], Limits(), problems)
    got = ExportTraceServiceRequest.FromString(request.data)
    resource_spans = got.resource_spans[0]
    (only,) = resource_spans.scope_spans[0].spans
    assert problems == []
    assert (request.signal, request.items) == (SPANS, 1)
    assert resource_spans.schema_url == "https://opentelemetry.io/schemas/1.26.0"
    assert (resource_spans.scope_spans[0].scope.name, resource_spans.scope_spans[0].scope.version) == ("app", "2")
    assert (only.trace_id.hex(), only.span_id.hex(), only.parent_span_id.hex()) == (
        TRACE,
        "0000000000000001",
        "00000000000000ff",
    )
    assert (only.trace_state, only.flags, only.kind, only.dropped_attributes_count) == ("vendor=1", 257, 3, 3)
    assert only.attributes[0].value.kvlist_value.values[0].value.int_value == 7
    assert only.attributes[1].value.bytes_value == b"\x00\x01\x02"
    assert only.attributes[2].value.double_value != only.attributes[2].value.double_value  # NaN
    assert (only.events[0].name, only.events[0].time_unix_nano, only.events[0].dropped_attributes_count) == (
        "exception",
        5,
        1,
    )
    assert (only.links[0].span_id.hex(), only.links[0].trace_state, only.links[0].flags) == (
        "00000000000000aa",
        "t=1",
        1,
    )
    assert (only.status.code, only.status.message) == (2, "boom")


def test_spans_are_regrouped_within_the_item_and_byte_limits_keeping_their_resource(tmp_path: Path) -> None:
    lines = [line([span(n) for n in range(10)], "a"), line([span(n) for n in range(10, 17)], "b")]
    requests = list(read_requests([write(tmp_path, *lines)], Limits(items=4), []))
    decoded = [ExportTraceServiceRequest.FromString(request.data) for request in requests]
    assert [request.items for request in requests] == [4, 4, 4, 4, 1]
    assert [
        [(rs.resource.attributes[0].value.string_value, len(rs.scope_spans[0].spans)) for rs in request.resource_spans]
        for request in decoded
    ] == [[("a", 4)], [("a", 4)], [("a", 2), ("b", 2)], [("b", 4)], [("b", 1)]]
    limit = 400
    by_bytes = list(read_requests([write(tmp_path, *lines)], Limits(bytes=limit), []))
    sizes = [len(request.data) for request in by_bytes]
    assert max(sizes) <= limit < sum(sizes)
    names = [
        s.name
        for request in by_bytes
        for rs in ExportTraceServiceRequest.FromString(request.data).resource_spans
        for scope in rs.scope_spans
        for s in scope.spans
    ]
    assert names == [f"span {n}" for n in range(17)]


def test_metrics_lines_become_metrics_requests_counting_data_points(tmp_path: Path) -> None:
    metrics = {
        "resourceMetrics": [
            {
                "resource": {},
                "scopeMetrics": [
                    {
                        "scope": {"name": "db"},
                        "metrics": [
                            {
                                "name": "db.client.operation.duration",
                                "histogram": {
                                    "aggregationTemporality": 2,
                                    "dataPoints": [{"count": "1", "sum": 0.5}, {"count": "2", "sum": 1.0}],
                                },
                            }
                        ],
                    }
                ],
            }
        ]
    }
    path = write(tmp_path, line([span(1)]), orjson.dumps(metrics) + b"\n")
    spans, points = read_requests([path], Limits(), [])
    assert (spans.signal, points.signal, points.items) == (SPANS, METRICS, 2)
    expected = json_format.ParseDict(metrics, ExportMetricsServiceRequest())
    assert ExportMetricsServiceRequest.FromString(points.data) == expected


def test_a_line_that_is_not_otlp_is_named_by_file_and_line_and_the_rest_is_read(tmp_path: Path) -> None:
    bad_id = line([span(1, spanId="zz")])
    path = write(tmp_path, line([span(1)]), bad_id, b"not json\n", b'{"resourceLogs": []}\n', line([span(2)]))
    problems: list[str] = []
    (request,) = read_requests([path], Limits(), problems)
    assert request.items == 2
    assert [problem.split(" (")[0] for problem in problems] == [
        f"{path}:2: skipped an unreadable line",
        f"{path}:3: skipped an unreadable line",
        f"{path}: skipped 1 line(s) without trace or metric data",
    ]
