"""Spans compared exactly, whatever carried them: the local store's OTLP JSON, Jaeger's API
v3 answers (OTLP JSON too) and the protobuf requests an OTLP receiver decoded.

Each span becomes a plain :class:`SpanView` keyed by span id: ids, parent, name, kind,
times, attributes, status, events, links, scope and resource. Attribute order is not
compared (Jaeger sorts attributes by key), nor is how the spans were grouped into
resources and scopes (Jaeger merges traces, a push splits runs into requests).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otel_pytest.store.reader import Span, read_spans, spans_of_traces_data


@dataclass(frozen=True)
class SpanView:
    """Everything of a span that a backend must keep, as plain values."""

    trace_id: str
    parent_id: str
    name: str
    kind: int
    start: int
    end: int
    attributes: Mapping[str, object]
    status: tuple[int, str]
    events: tuple[tuple[str, int, Mapping[str, object]], ...]
    links: tuple[tuple[str, str, Mapping[str, object]], ...]
    scope: str
    resource: Mapping[str, object]


def _view(resource: Mapping[str, object], span: Span) -> SpanView:
    detail = span.detail
    assert detail is not None, "read in detail"
    return SpanView(
        span.trace_id,
        span.parent_id,
        span.name,
        detail.kind,
        span.start,
        span.end,
        dict(span.attributes),
        (span.status, detail.status_message),
        tuple((event.name, event.time, event.attributes) for event in detail.events),
        tuple((link.trace_id, link.span_id, link.attributes) for link in detail.links),
        detail.scope,
        dict(resource),
    )


def _keyed(views: Iterable[tuple[str, SpanView]]) -> dict[str, SpanView]:
    found: dict[str, SpanView] = {}
    for span_id, view in views:
        assert span_id not in found, f"span {span_id} is there twice"
        found[span_id] = view
    return found


def from_store(run_file: Path) -> dict[str, SpanView]:
    """The spans of a run file, by span id."""
    return _keyed((span.span_id, _view(resource, span)) for resource, span in read_spans(run_file))


def from_otlp_json(data: Mapping[str, Any]) -> dict[str, SpanView]:
    """The spans of an OTLP JSON ``TracesData`` (a Jaeger API v3 ``result``), by span id."""
    return _keyed(
        (span.span_id, _view(resource, span))
        for resource, spans in spans_of_traces_data(data, detail=True)
        for span in spans
    )


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def _attributes(items: Iterable[KeyValue]) -> dict[str, object]:
    return {item.key: _value(item.value) for item in items}


def from_requests(requests: Iterable[Any]) -> dict[str, SpanView]:
    """The spans of decoded ``ExportTraceServiceRequest`` messages, by span id; a span that
    came twice fails the assertion (a push must deliver each span once)."""

    def views() -> Iterable[tuple[str, SpanView]]:
        for request in requests:
            for resource_spans in request.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        yield (
                            span.span_id.hex(),
                            SpanView(
                                span.trace_id.hex(),
                                span.parent_span_id.hex(),
                                span.name,
                                span.kind,
                                span.start_time_unix_nano,
                                span.end_time_unix_nano,
                                _attributes(span.attributes),
                                (span.status.code, span.status.message),
                                tuple((e.name, e.time_unix_nano, _attributes(e.attributes)) for e in span.events),
                                tuple(
                                    (link.trace_id.hex(), link.span_id.hex(), _attributes(link.attributes))
                                    for link in span.links
                                ),
                                scope_spans.scope.name,
                                resource,
                            ),
                        )

    return _keyed(views())


def differences(expected: Mapping[str, SpanView], actual: Mapping[str, SpanView], limit: int = 5) -> list[str]:
    """What differs, span by span (at most ``limit`` lines): empty when both hold the same spans."""
    lines = [f"missing span {span_id}: {expected[span_id].name}" for span_id in expected.keys() - actual.keys()]
    lines += [f"extra span {span_id}: {actual[span_id].name}" for span_id in actual.keys() - expected.keys()]
    for span_id in sorted(expected.keys() & actual.keys()):
        if expected[span_id] != actual[span_id]:
            want, got = vars(expected[span_id]), vars(actual[span_id])
            fields = [f"{key}: {want[key]!r} != {got[key]!r}" for key in want if want[key] != got[key]]
            lines.append(f"span {span_id} ({want['name']}): {'; '.join(fields)}")
    return lines[:limit]
