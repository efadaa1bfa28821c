"""SDK spans (database, application) in the plugin's record form.

Spans made through the OpenTelemetry API, on the run's own provider or, with
``--otel-capture-app``, on the application's, end in an SDK ``ReadableSpan``; the provider's
span processor (:class:`otel_pytest.provider.RecordingProcessor`) turns each into a
:class:`~otel_pytest.records.SpanRecord` as it ends, so the store and the exporter encode
one form of span.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from otel_pytest.records import AttributeValue, Event, Link, SpanRecord

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan


def event_from_sdk(event: Any) -> Event:
    return Event(event.name, event.timestamp, dict(event.attributes or {}))


def record_from_sdk(span: ReadableSpan) -> SpanRecord:
    """An SDK span in the plugin's record form (an SDK span kind is one less than OTLP's)."""
    context = span.context
    parent = span.parent
    record = SpanRecord(
        span.name,
        context.trace_id if context else 0,
        context.span_id if context else 0,
        parent.span_id if parent else 0,
        span.start_time or 0,
        cast("dict[str, AttributeValue]", dict(span.attributes or {})),
        scope=span.instrumentation_scope.name if span.instrumentation_scope else "unknown",
        kind=span.kind.value + 1,
    )
    record.end = span.end_time or record.start
    record.status = span.status.status_code.value
    record.status_message = span.status.description or ""
    if span.events:
        record.events = [event_from_sdk(event) for event in span.events]
    if span.links:
        record.links = [
            Link(
                link.context.trace_id,
                link.context.span_id,
                cast("dict[str, AttributeValue]", dict(link.attributes or {})),
            )
            for link in span.links
        ]
    return record
