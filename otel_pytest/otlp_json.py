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

from otel_pytest.records import AttributeValue, SharedAttributes, SpanRecord
from otel_pytest.semconv import attributes as attr


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


class OtlpJsonEncoder:
    """Encodes batches for one process: its resource and run id are fixed at construction."""

    def __init__(self, resource: Mapping[str, AttributeValue], run_id: str, scope_version: str) -> None:
        self._resource = orjson.Fragment(orjson.dumps({"attributes": key_values(resource)}))
        self._run_id = orjson.dumps({"key": attr.RUN_ID, "value": {"stringValue": run_id}})
        self._scope_version = scope_version

    @staticmethod
    def _members(attributes: Mapping[str, AttributeValue]) -> bytes:
        """The key-values as JSON array members, without the brackets ("" when empty)."""
        if isinstance(attributes, SharedAttributes):
            if attributes.encoded is None:
                attributes.encoded = orjson.dumps(key_values(attributes))[1:-1]
            return attributes.encoded
        return orjson.dumps(key_values(attributes))[1:-1] if attributes else b""

    def _attributes(self, record: SpanRecord) -> orjson.Fragment:
        extra = record.extra
        if extra and not extra.keys() & record.attributes.keys():
            members = [self._members(record.attributes), self._members(extra)]
        elif extra:  # OTLP keys must be unique: a per-span value replaces the shared one.
            members = [self._members(record.all_attributes())]
        else:
            members = [self._members(record.attributes)]
        members.append(self._run_id)
        return orjson.Fragment(b"[" + b",".join(member for member in members if member) + b"]")

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
            span["links"] = [
                {"traceId": f"{link.trace_id:032x}", "spanId": f"{link.span_id:016x}"} for link in record.links
            ]
        if record.status:
            status: dict[str, Any] = {"code": record.status}
            if record.status_message:
                status["message"] = record.status_message
            span["status"] = status
        return span

    def _scope(self, name: str) -> dict[str, str]:
        """Our own scopes carry the plugin's version; an application's scope is named only."""
        if name.startswith("otel_pytest"):
            return {"name": name, "version": self._scope_version}
        return {"name": name}

    def line(self, records: Iterable[SpanRecord]) -> bytes:
        """One ``TracesData`` as a JSON line (newline included)."""
        by_scope: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            spans = by_scope.get(record.scope)
            if spans is None:
                spans = by_scope[record.scope] = []
            spans.append(self.span(record))
        scope_spans = [{"scope": self._scope(scope), "spans": spans} for scope, spans in by_scope.items()]
        data = {"resourceSpans": [{"resource": self._resource, "scopeSpans": scope_spans}]}
        return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)
