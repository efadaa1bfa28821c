"""The protobuf encoder says exactly what the JSON encoder says, in OTLP's other form."""

from __future__ import annotations

import orjson
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_pytest.encode.otlp_json import OtlpJsonEncoder
from otel_pytest.encode.otlp_proto import OtlpProtoEncoder
from otel_pytest.records import KIND_CLIENT, SharedAttributes, SpanRecord
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
