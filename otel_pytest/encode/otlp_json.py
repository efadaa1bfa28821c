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
    them with a dict encoding).

    Per span, the template's integer conversions are most of the cost, so what repeats is
    converted once: the trace id's hex, shared by a test's spans, is kept from the last
    span; the names of spans with a shared attribute set (phases, fixtures, statements: a
    bounded set of names, unlike test names) are kept encoded."""

    def __init__(self, shape: ExportShape) -> None:
        self._shape = shape
        self._resource = b'{"resourceSpans":[{"resource":' + orjson.dumps({"attributes": key_values(shape.resource)})
        self._scopes: dict[str, bytes] = {}
        # The run id's key-value, alone and after a shared set's (see span).
        self._run_only = shape.run_attributes.forms.get(_members) or _members(shape.run_attributes)
        self._after_shared = b"," + self._run_only
        # The last trace id and its hex, one tuple: replaced whole, never half-updated.
        self._trace: tuple[int, bytes] = (-1, b"")
        self._names: dict[str, bytes] = {}

    def span(self, record: SpanRecord) -> bytes:
        """One ``Span`` object, its keys in the order OTLP's JSON examples give them."""
        trace_id, trace = self._trace
        if record.trace_id != trace_id:
            trace = b"%032x" % record.trace_id
            self._trace = (record.trace_id, trace)
        static = record.attributes
        # Same members as ExportShape.encoded_attributes gives, by shorter paths where they
        # exist: a span with only a shared set whose form is made (a phase, a fixture, most
        # queries) joins that form to the run id's; a span whose set is its own (a test)
        # has it merged with its per-span values and encoded in one call.
        if type(static) is SharedAttributes:
            name = self._names.get(record.name)
            if name is None:
                name = orjson.dumps(record.name)
                if len(self._names) < _MAX_NAMES:
                    self._names[record.name] = name
            form = None if record.extra else static.forms.get(_members)
            if form is None:
                attributes = b",".join(self._shape.encoded_attributes(record, _members))
            else:
                attributes = form + self._after_shared if form else self._run_only
        else:
            name = orjson.dumps(record.name)
            own = _members(record.all_attributes() if record.extra else static)
            attributes = own + self._after_shared if own else self._run_only
        rare = _rare_fields(record) if record.events or record.links or record.status else b""
        if record.parent_id:
            return _CHILD % (
                trace,
                record.span_id,
                name,
                record.kind,
                record.start,
                record.end,
                attributes,
                record.parent_id,
                rare,
            )
        return _ROOT % (trace, record.span_id, name, record.kind, record.start, record.end, attributes, rare)

    def _scope(self, name: str) -> bytes:
        """A ``ScopeSpans`` opening, up to its spans' array, made once per scope."""
        scope = self._scopes.get(name)
        if scope is None:
            version = self._shape.scope_version(name)
            fields = {"name": name, "version": version} if version else {"name": name}
            scope = self._scopes[name] = b'{"scope":' + orjson.dumps(fields) + b',"spans":['
        return scope

    def line(self, records: Iterable[SpanRecord]) -> bytes:
        """One ``TracesData`` as a JSON line (newline included), joined once: a database
        test's line is tens of kB, and each ``+`` would copy all of it again."""
        parts = [self._resource, b',"scopeSpans":[']
        for scope, spans in by_scope(records, self.span).items():
            parts += (b"," if len(parts) > 2 else b"", self._scope(scope), b",".join(spans), b"]}")
        parts.append(b"]}]}\n")
        return b"".join(parts)


# Statement spans past the database code's cache of statements still have shared sets:
# their names are kept up to this many.
_MAX_NAMES = 1024
_FIELDS = (
    b'{"traceId":"%s","spanId":"%016x","name":%s,"kind":%d,'
    b'"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[%s]'
)
_ROOT = _FIELDS + b"%s}"
_CHILD = _FIELDS + b',"parentSpanId":"%016x"%s}'
_LINK = b'{"traceId":"%032x","spanId":"%016x"%s}'


def _rare_fields(record: SpanRecord) -> bytes:
    """Events, links and status, in that order, each with its leading comma: few spans have
    any. Links (a test span's link to its session) are written from a template too;
    events and status go through orjson."""
    fields = b""
    if record.events:
        events = [
            {"timeUnixNano": str(event.time), "name": event.name, "attributes": key_values(event.attributes)}
            for event in record.events
        ]
        fields = b',"events":' + orjson.dumps(events)
    if record.links:
        fields += b',"links":[' + b",".join([_link(link) for link in record.links]) + b"]"
    if record.status:
        status: dict[str, Any] = {"code": record.status}
        if record.status_message:
            status["message"] = record.status_message
        fields += b',"status":' + orjson.dumps(status)
    return fields


def _link(link: Link) -> bytes:
    attributes = b',"attributes":[' + _members(link.attributes) + b"]" if link.attributes else b""
    return _LINK % (link.trace_id, link.span_id, attributes)
