"""Span records to OTLP JSON Lines, the OTLP file exporter's format.

One call turns a batch of records into one ``TracesData`` line: lowerCamelCase keys,
hex trace and span ids, 64-bit integers as decimal strings, enums as integers. Protobuf's
``json_format`` would base64 the ids, which no OTLP JSON reader accepts, so the
encoding is written out here and checked against ``opentelemetry-proto-json``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from otel_pytest.encode.shape import ExportShape, by_scope
from otel_pytest.records import Attributes, AttributeValue, Link, SpanRecord


def any_value(value: AttributeValue) -> dict[str, Any]:
    """An ``AnyValue``; ``bool`` is tested before ``int`` because it is one."""
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        # orjson writes NaN and infinities as null; proto3 JSON spells them as strings.
        if not math.isfinite(value):
            special = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
            return {"doubleValue": special}
        return {"doubleValue": value}
    return {"arrayValue": {"values": [any_value(item) for item in value]}}


def key_values(attributes: Mapping[str, AttributeValue]) -> list[dict[str, Any]]:
    return [{"key": key, "value": any_value(value)} for key, value in attributes.items()]


def _members(attributes: Attributes) -> bytes:
    """The key-values as JSON array members, without the brackets."""
    return orjson.dumps(key_values(attributes))[1:-1]


class OtlpJsonEncoder:
    """Encodes batches for one process, in the shape fixed at construction."""

    def __init__(self, shape: ExportShape) -> None:
        self._shape = shape
        self._resource = orjson.Fragment(orjson.dumps({"attributes": key_values(shape.resource)}))

    def _attributes(self, record: SpanRecord) -> orjson.Fragment:
        return orjson.Fragment(b"[" + b",".join(self._shape.encoded_attributes(record, _members)) + b"]")

    def span(self, record: SpanRecord) -> dict[str, Any]:
        attributes = self._attributes(record)
        span: dict[str, Any] = {
            "traceId": f"{record.trace_id:032x}",
            "spanId": f"{record.span_id:016x}",
            "name": record.name,
            "kind": record.kind,
            "startTimeUnixNano": str(record.start),
            "endTimeUnixNano": str(record.end),
            "attributes": attributes,
        }
        if record.parent_id:
            span["parentSpanId"] = f"{record.parent_id:016x}"
        if record.events:
            span["events"] = [
                {
                    "timeUnixNano": str(event.time),
                    "name": event.name,
                    "attributes": key_values(event.attributes),
                }
                for event in record.events
            ]
        if record.links:
            span["links"] = [self._link(link) for link in record.links]
        if record.status:
            status: dict[str, Any] = {"code": record.status}
            if record.status_message:
                status["message"] = record.status_message
            span["status"] = status
        return span

    @staticmethod
    def _link(link: Link) -> dict[str, Any]:
        encoded: dict[str, Any] = {"traceId": f"{link.trace_id:032x}", "spanId": f"{link.span_id:016x}"}
        if link.attributes:
            encoded["attributes"] = key_values(link.attributes)
        return encoded

    def _scope(self, name: str) -> dict[str, str]:
        version = self._shape.scope_version(name)
        return {"name": name, "version": version} if version else {"name": name}

    def line(self, records: Iterable[SpanRecord]) -> bytes:
        """One ``TracesData`` as a JSON line (newline included)."""
        scope_spans = [
            {"scope": self._scope(scope), "spans": spans} for scope, spans in by_scope(records, self.span).items()
        ]
        data = {"resourceSpans": [{"resource": self._resource, "scopeSpans": scope_spans}]}
        return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)
