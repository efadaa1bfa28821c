"""Span records to an OTLP ``ExportTraceServiceRequest`` in protobuf: the export path's encoder.

Going through the SDK (records to ``ReadableSpan``, then the SDK's encoder) costs ~35 µs
per span here, which made exporting cost more than running the tests. Building each span
as a message of the OTel protobuf classes and serialising it cost 4.3-5.9 µs a span (and
protobuf's runtime, ~15 ms to import, in the pytest process); this encoder writes the
protobuf wire format itself, as protobuf would serialise the same message (fields in
number order, proto3 defaults left out, a ``oneof`` member always written), which
``tests/encode/test_otlp_proto.py`` checks byte for byte against the protobuf classes. It
serialises each shared attribute set once (a fixture's, a statement's) and joins
serialised messages: protobuf defines concatenating two serialised messages as merging
them (repeated fields append), and a repeated sub-message on the wire is its tag, its
length and its bytes.

Only what a record holds is written: a record has no trace state, flags or dropped counts.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping

from otel_pytest.encode.shape import ExportShape, by_scope
from otel_pytest.records import Attributes, AttributeValue, Event, Link, SpanRecord

_RESOURCE_SPANS = 1  # ExportTraceServiceRequest.resource_spans
_RESOURCE = 1  # ResourceSpans.resource
_SCOPE_SPANS = 2  # ResourceSpans.scope_spans
_SCOPE = 1  # ScopeSpans.scope
_SPANS = 2  # ScopeSpans.spans
_ATTRIBUTES = 9  # Span.attributes (Resource.attributes is 1, Event's 3, Link's 4)
_INT64 = 1 << 64


def _varint(value: int) -> bytes:
    if value < 0x80:  # every tag, and the length of a span without attributes of its own
        return _ONE_BYTE[value]
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_ONE_BYTE = [bytes((value,)) for value in range(0x80)]
# The tag of a length-delimited field, by field number (computed once: several per span).
_TAGS = {number: _varint(number << 3 | 2) for number in range(1, 16)}
_FIXED64 = struct.Struct("<Q")
_DOUBLE = struct.Struct("<d")
# Span.start_time_unix_nano (7) and end_time_unix_nano (8), fixed64 each, tags and values.
_TIMES = struct.Struct("<BQBQ")  # both set: the usual case, one pack
_TRACE_ID, _SPAN_ID, _PARENT_ID = b"\x0a\x10", b"\x12\x08", b"\x22\x08"  # Span fields 1, 2, 4
_NAME = 5  # Span.name
_KIND = b"\x30"  # Span.kind, a varint
_EVENT_TIME = b"\x09"  # Span.Event.time_unix_nano (1), fixed64
_EVENTS, _LINKS, _STATUS = 11, 13, 15  # Span
_STATUS_CODE = b"\x18"  # Status.code (3), a varint; Status.message is 2
# AnyValue's oneof: string 1, bool 2, int 3 (varints), double 4 (fixed64), array 5.
_BOOL = {True: b"\x10\x01", False: b"\x10\x00"}
_INT, _DOUBLE_TAG = b"\x18", b"\x21"


def length_delimited(number: int, payload: bytes) -> bytes:
    """One length-delimited field: tag, length, payload."""
    return _TAGS[number] + _varint(len(payload)) + payload


def _string(number: int, text: str) -> bytes:
    """A proto3 string field: left out when empty."""
    return length_delimited(number, text.encode()) if text else b""


def any_value(value: AttributeValue) -> bytes:
    """A serialised ``AnyValue``."""
    if isinstance(value, str):
        return length_delimited(1, value.encode())
    if isinstance(value, bool):
        return _BOOL[value]
    if isinstance(value, int):
        if not -(1 << 63) <= value < 1 << 63:
            raise ValueError(f"{value} does not fit an OTLP int_value (int64)")
        return _INT + _varint(value % _INT64)
    if isinstance(value, float):
        return _DOUBLE_TAG + _DOUBLE.pack(value)
    return length_delimited(5, b"".join(length_delimited(1, any_value(item)) for item in value))


def key_values(number: int, attributes: Mapping[str, AttributeValue]) -> bytes:
    """The attributes as repeated ``KeyValue`` field ``number`` of the message holding them."""
    return b"".join(
        length_delimited(number, _string(1, key) + length_delimited(2, any_value(value)))
        for key, value in attributes.items()
    )


def _attribute_field(attributes: Attributes) -> bytes:
    """The attributes as the serialised ``attributes`` field of a Span (to be joined)."""
    return key_values(_ATTRIBUTES, attributes)


def _fixed64(tag: bytes, value: int) -> bytes:
    """A proto3 fixed64 field (a time): left out when zero."""
    return tag + _FIXED64.pack(value) if value else b""


def _event(event: Event) -> bytes:
    fields = _fixed64(_EVENT_TIME, event.time) + _string(2, event.name) + key_values(3, event.attributes)
    return length_delimited(_EVENTS, fields)


def _link(link: Link) -> bytes:
    ids = _TRACE_ID + link.trace_id.to_bytes(16, "big") + _SPAN_ID + link.span_id.to_bytes(8, "big")
    return length_delimited(_LINKS, ids + key_values(4, link.attributes))


class OtlpProtoEncoder:
    """Encodes export requests for one process, in the shape fixed at construction."""

    def __init__(self, shape: ExportShape) -> None:
        self._shape = shape
        self._resource = length_delimited(_RESOURCE, key_values(1, shape.resource))
        self._scopes: dict[str, bytes] = {}

    def _scope(self, name: str) -> bytes:
        scope = self._scopes.get(name)
        if scope is None:
            version = self._shape.scope_version(name)
            scope = self._scopes[name] = length_delimited(_SCOPE, _string(1, name) + _string(2, version))
        return scope

    def span(self, record: SpanRecord) -> bytes:
        """The record as a serialised span, framed as one of ``ScopeSpans.spans``."""
        parts = [
            _TRACE_ID + record.trace_id.to_bytes(16, "big") + _SPAN_ID + record.span_id.to_bytes(8, "big"),
        ]
        if record.parent_id:
            parts.append(_PARENT_ID + record.parent_id.to_bytes(8, "big"))
        if record.name:
            parts.append(length_delimited(_NAME, record.name.encode()))
        if record.kind:
            parts.append(_KIND + _varint(record.kind))
        if record.start and record.end:
            parts.append(_TIMES.pack(0x39, record.start, 0x41, record.end))
        else:
            parts.append(_fixed64(b"\x39", record.start) + _fixed64(b"\x41", record.end))
        if record.events:
            parts.extend(_event(event) for event in record.events)
        if record.links:
            parts.extend(_link(link) for link in record.links)
        if record.status:
            status = _string(2, record.status_message) + _STATUS_CODE + _varint(record.status)
            parts.append(length_delimited(_STATUS, status))
        parts.extend(self._shape.encoded_attributes(record, _attribute_field))
        return length_delimited(_SPANS, b"".join(parts))

    def request(self, records: Iterable[SpanRecord]) -> bytes:
        """A serialised ``ExportTraceServiceRequest`` holding every record."""
        spans = by_scope(records, self.span)
        scope_spans = b"".join(
            length_delimited(_SCOPE_SPANS, self._scope(scope) + b"".join(group)) for scope, group in spans.items()
        )
        return length_delimited(_RESOURCE_SPANS, self._resource + scope_spans)
