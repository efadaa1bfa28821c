"""The spans an OTLP receiver decoded (protobuf ``ExportTraceServiceRequest`` messages) in the
form :mod:`tests.jaeger_traces` compares (trace id -> span id -> fields), so a push is
checked against the store exactly as the Jaeger end-to-end tests check an export; read
field by field from protobuf, independently of the OTLP JSON reader."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.jaeger_traces import Traces


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def _attributes(items: Iterable[KeyValue]) -> dict[str, object]:
    return {item.key: _value(item.value) for item in items}


def request_traces(requests: Iterable[Any]) -> Traces:
    """Every span of the requests, regrouped by trace; a span that came twice fails (a push
    must deliver each span once)."""
    traces: Traces = {}
    for request in requests:
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    trace = traces.setdefault(span.trace_id.hex(), {})
                    assert span.span_id.hex() not in trace, f"span {span.span_id.hex()} arrived twice"
                    trace[span.span_id.hex()] = {
                        "parent_span_id": span.parent_span_id.hex(),
                        "name": span.name,
                        "kind": span.kind,
                        "start_time_unix_nano": span.start_time_unix_nano,
                        "end_time_unix_nano": span.end_time_unix_nano,
                        "status": (span.status.code, span.status.message),
                        "attributes": _attributes(span.attributes),
                        "events": [(e.name, e.time_unix_nano, _attributes(e.attributes)) for e in span.events],
                        "links": [
                            (link.trace_id.hex(), link.span_id.hex(), _attributes(link.attributes))
                            for link in span.links
                        ],
                        "trace_state": span.trace_state,
                        "scope": scope_spans.scope.name,
                        "dropped": (
                            span.dropped_attributes_count,
                            span.dropped_events_count,
                            span.dropped_links_count,
                        ),
                        "resource": resource,
                    }
    return traces
