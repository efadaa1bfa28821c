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
from otel_pytest.records import Attributes, AttributeValue, Link, SharedAttributes, SpanRecord


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
    # Most values are strings: those skip the call to any_value.
    return [
        {"key": key, "value": {"stringValue": value} if type(value) is str else any_value(value)}
        for key, value in attributes.items()
    ]


def _members(attributes: Attributes) -> bytes:
    """The key-values as JSON array members, without the brackets."""
    return orjson.dumps(key_values(attributes))[1:-1]


class OtlpJsonEncoder:
    """Encodes batches for one process, in the shape fixed at construction.

    A span is written straight into bytes from a template rather than built as a dict for
    orjson: most spans (phases, fixtures, queries) are ids, times, a name and attribute
    sets already encoded once (:class:`otel_pytest.records.SharedAttributes`), and the
    dict cost more than the rest of the encoding. orjson still writes every string, so the
    escaping is its own, and the bytes are the same as the dict's would be (a test compares
    them with a dict encoding)."""

    def __init__(self, shape: ExportShape) -> None:
        self._shape = shape
        self._resource = b'{"resourceSpans":[{"resource":' + orjson.dumps({"attributes": key_values(shape.resource)})
        self._scopes: dict[str, bytes] = {}
        # The run id's key-value, alone and after a shared set's (see _attributes).
        self._run_only = shape.run_attributes.forms.get(_members) or _members(shape.run_attributes)
        self._after_shared = b"," + self._run_only

    def _attributes(self, record: SpanRecord) -> bytes:
        """The span's attribute members. A span with only a shared set (a phase, a fixture,
        most queries) whose form is made is joined to the run id here, without the general
        path of :meth:`ExportShape.encoded_attributes` (same result, a few calls fewer)."""
        static = record.attributes
        if not record.extra and type(static) is SharedAttributes:
            form = static.forms.get(_members)
            if form is not None:
                return form + self._after_shared if form else self._run_only
        return b",".join(self._shape.encoded_attributes(record, _members))

    def span(self, record: SpanRecord) -> bytes:
        """One ``Span`` object, its keys in the order OTLP's JSON examples give them."""
        parent_id = record.parent_id
        encoded = _SPAN % (
            record.trace_id,
            record.span_id,
            orjson.dumps(record.name),
            record.kind,
            record.start,
            record.end,
            self._attributes(record),
            (b',"parentSpanId":"%016x"' % parent_id) if parent_id else b"",
        )
        if record.events or record.links or record.status:
            return encoded[:-1] + _rare_fields(record) + b"}"
        return encoded

    def _scope(self, name: str) -> bytes:
        """A ``ScopeSpans`` opening, up to its spans' array, made once per scope."""
        scope = self._scopes.get(name)
        if scope is None:
            version = self._shape.scope_version(name)
            fields = {"name": name, "version": version} if version else {"name": name}
            scope = self._scopes[name] = b'{"scope":' + orjson.dumps(fields) + b',"spans":['
        return scope

    def line(self, records: Iterable[SpanRecord]) -> bytes:
        """One ``TracesData`` as a JSON line (newline included)."""
        scope_spans = b",".join(
            self._scope(scope) + b",".join(spans) + b"]}" for scope, spans in by_scope(records, self.span).items()
        )
        return self._resource + b',"scopeSpans":[' + scope_spans + b"]}]}\n"


_SPAN = (
    b'{"traceId":"%032x","spanId":"%016x","name":%s,"kind":%d,'
    b'"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[%s]%s}'
)


def _rare_fields(record: SpanRecord) -> bytes:
    """Events, links and status, in that order, each with its leading comma: few spans have
    any, so they go through a dict for orjson."""
    fields: dict[str, Any] = {}
    if record.events:
        fields["events"] = [
            {"timeUnixNano": str(event.time), "name": event.name, "attributes": key_values(event.attributes)}
            for event in record.events
        ]
    if record.links:
        fields["links"] = [_link(link) for link in record.links]
    if record.status:
        status: dict[str, Any] = {"code": record.status}
        if record.status_message:
            status["message"] = record.status_message
        fields["status"] = status
    return b"," + orjson.dumps(fields)[1:-1]


def _link(link: Link) -> dict[str, Any]:
    encoded: dict[str, Any] = {"traceId": f"{link.trace_id:032x}", "spanId": f"{link.span_id:016x}"}
    if link.attributes:
        encoded["attributes"] = key_values(link.attributes)
    return encoded
