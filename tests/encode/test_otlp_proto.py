"""The protobuf encoder says exactly what the JSON encoder says, in OTLP's other form, and
writes the bytes protobuf's own classes write for the same messages."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from google.protobuf.internal.encoder import _VarintBytes
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from otel_pytest.encode.otlp_json import OtlpJsonEncoder
from otel_pytest.encode.otlp_proto import OtlpProtoEncoder, any_value
from otel_pytest.encode.shape import ExportShape
from otel_pytest.records import (
    KIND_CLIENT,
    STATUS_ERROR,
    STATUS_OK,
    AttributeValue,
    Event,
    Link,
    SharedAttributes,
    SpanRecord,
)
from tests.encode.test_otlp_json import SHAPE, START, TRACE, a_failed_test, a_phase


def as_json(message: dict[str, object]) -> dict[str, object]:
    """Protobuf's JSON mapping writes ids as base64 and enums by name: turn them into
    OTLP JSON's hex and integers, so the two encodings can be compared field by field."""
    import base64

    def fix(value: object, key: str = "") -> object:
        if isinstance(value, dict):
            return {k: fix(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v, key) for v in value]
        if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
            return base64.b64decode(value).hex()
        if key == "kind" and isinstance(value, str):
            return {"SPAN_KIND_INTERNAL": 1, "SPAN_KIND_CLIENT": 3}[value]
        if key == "code" and isinstance(value, str):
            return {"STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}[value]
        return value

    fixed = fix(message)
    assert isinstance(fixed, dict)
    return fixed


def records() -> list[SpanRecord]:
    test = a_failed_test()
    shared = SharedAttributes({"db.system.name": "postgresql", "db.query.text": "SELECT ?"})
    query = SpanRecord(
        "SELECT", TRACE, 0x1111, 0x53995C3F42CD8AD8, START + 12, shared, scope="otel_pytest.db", kind=KIND_CLIENT
    )
    query.end = START + 15
    overridden = SpanRecord("SELECT", TRACE, 0x2222, 0x53995C3F42CD8AD8, START + 16, shared, kind=KIND_CLIENT)
    overridden.set("db.query.text", "SELECT ? -- per span")
    overridden.end = START + 18
    return [test, a_phase(test), query, overridden]


def test_the_protobuf_request_holds_the_same_spans_as_the_json_line() -> None:
    json_line = orjson.loads(OtlpJsonEncoder(SHAPE).line(records()))
    request = ExportTraceServiceRequest.FromString(OtlpProtoEncoder(SHAPE).request(records()))
    decoded = as_json(MessageToDict(request))
    assert len(decoded["resourceSpans"][0]["scopeSpans"]) == 2  # type: ignore[index]
    assert decoded["resourceSpans"] == json_line["resourceSpans"]


def test_shared_attributes_are_encoded_once_and_reused() -> None:
    shared = SharedAttributes({"pytest.fixture.name": "db"})
    encoder = OtlpProtoEncoder(SHAPE)
    first, second = (SpanRecord("fixture db", TRACE, span, 0, START, shared) for span in (1, 2))
    encoder.request([first])
    (cached,) = shared.forms.values()
    encoder.request([second])
    (again,) = shared.forms.values()
    assert again is cached


# -- byte for byte, against protobuf's classes ----------------------------------------------


def pb_value(value: AttributeValue) -> AnyValue:
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(array_value=ArrayValue(values=[pb_value(item) for item in value]))


def pb_attributes(attributes: Mapping[str, AttributeValue]) -> list[KeyValue]:
    return [KeyValue(key=key, value=pb_value(value)) for key, value in attributes.items()]


def pb_span(record: SpanRecord, shape: ExportShape) -> Span:
    """The record as a message of protobuf's classes, every field set through them."""
    attributes = [item for attributes in shape.attribute_sets(record) for item in pb_attributes(attributes)]
    return Span(
        trace_id=record.trace_id.to_bytes(16, "big"),
        span_id=record.span_id.to_bytes(8, "big"),
        parent_span_id=record.parent_id.to_bytes(8, "big") if record.parent_id else b"",
        name=record.name,
        kind=record.kind,  # type: ignore[arg-type]
        start_time_unix_nano=record.start,
        end_time_unix_nano=record.end,
        attributes=attributes,
        events=[
            Span.Event(time_unix_nano=event.time, name=event.name, attributes=pb_attributes(event.attributes))
            for event in record.events or ()
        ],
        links=[
            Span.Link(
                trace_id=link.trace_id.to_bytes(16, "big"),
                span_id=link.span_id.to_bytes(8, "big"),
                attributes=pb_attributes(link.attributes),
            )
            for link in record.links or ()
        ],
        status=Status(code=record.status, message=record.status_message) if record.status else None,  # type: ignore[arg-type]
    )


def pb_span_bytes(record: SpanRecord, shape: ExportShape) -> bytes:
    """What protobuf writes for the span, its attributes (field 9) moved last: the encoder
    appends them, encoded once per shared set, after the span's other fields."""
    span = pb_span(record, shape)
    attributes = Span(attributes=span.attributes).SerializeToString()
    span.ClearField("attributes")
    data: bytes = span.SerializeToString() + attributes
    return data


# Any: an application's SDK spans also carry sequences of numbers and booleans.
VALUES: list[Any] = [
    "",
    "shop",
    "naïve ☃ 𝄞",
    "x" * 300,  # a length over one varint byte
    True,
    False,
    0,
    1,
    127,
    128,
    -1,
    2**63 - 1,
    -(2**63),
    0.0,
    -0.0,
    0.25,
    float("inf"),
    1e300,
    [],
    ["slow", "db"],
    [1, 2],
    [True, 0.5, "mixed"],
]


def varied_records() -> list[SpanRecord]:
    """Records with every field a record can set, set and unset, and every attribute type."""
    shared = SharedAttributes({f"value.{number}": value for number, value in enumerate(VALUES)})
    varied = [*records(), SpanRecord("", TRACE, 0, 0, 0, {})]  # the last: every proto3 default, ids only
    for number, kind in enumerate((0, 1, 2, 3, 4, 5)):
        record = SpanRecord(f"span {number} ☃", TRACE, 0xFFFF_FFFF_FFFF_FFFF - number, 0x42, START + number, shared)
        record.kind = kind
        record.end = START + number + 10**9 if number % 2 else 0
        record.status = (0, STATUS_OK, STATUS_ERROR)[number % 3]
        record.status_message = "boom ☃" if number in (2, 5) else ""
        record.events = [Event("e", 0 if number == 1 else START, {"k": number})] if number else None
        record.links = [Link(TRACE, 0x1), Link(0, 0, {"why": "retry", "n": -number})] if number > 2 else None
        if number == 4:
            record.set("value.1", "replaced per span")
        if number == 5:
            record.set("only.this.span", VALUES[-1])
        varied.append(record)
    return varied


def test_each_span_is_the_bytes_protobuf_writes_for_it() -> None:
    encoder = OtlpProtoEncoder(SHAPE)
    for record in varied_records():
        expected = pb_span_bytes(record, SHAPE)
        # Framed as ScopeSpans.spans (field 2): its tag, its length, the span.
        assert encoder.span(record) == b"\x12" + _VarintBytes(len(expected)) + expected, record.name


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_each_attribute_value_is_the_any_value_protobuf_writes(value: AttributeValue) -> None:
    assert any_value(value) == pb_value(value).SerializeToString()


def test_an_int_beyond_int64_is_refused_as_protobuf_refuses_it() -> None:
    with pytest.raises(ValueError, match="int64"):
        any_value(2**63)
    with pytest.raises(ValueError, match="out of range"):
        pb_value(2**63)


def test_a_request_decodes_to_the_message_protobuf_builds_from_the_same_records() -> None:
    shape = ExportShape({"service.name": "shop", "n": 3, "tags": ["a", "b"]}, "0123456789abcdef", "1.2.3")
    records = varied_records()
    expected = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=pb_attributes(shape.resource)),
                scope_spans=[
                    ScopeSpans(
                        scope=InstrumentationScope(name=scope, version=shape.scope_version(scope)),
                        spans=[pb_span(record, shape) for record in records if record.scope == scope],
                    )
                    for scope in dict.fromkeys(record.scope for record in records)
                ],
            )
        ]
    )
    decoded = ExportTraceServiceRequest.FromString(OtlpProtoEncoder(shape).request(records))
    assert decoded == expected


def test_the_encoder_and_the_export_path_import_no_protobuf_into_the_pytest_process() -> None:
    code = (
        "import sys, otel_pytest.export, otel_pytest.encode.otlp_proto\n"
        "print([name for name in sys.modules if name.startswith(('google', 'opentelemetry.proto'))])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
