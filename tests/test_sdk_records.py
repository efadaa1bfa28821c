"""An SDK span in the plugin's record form: ids, times, kind, status, events and links
(with their attributes) kept."""

from __future__ import annotations

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

from otel_pytest.records import KIND_CLIENT, STATUS_ERROR, STATUS_UNSET
from otel_pytest.sdk_records import record_from_sdk

TRACE = 0x0AF7651916CD43DD8448EB211C80319C


def context(span_id: int, trace_id: int = TRACE) -> SpanContext:
    return SpanContext(trace_id, span_id, False)


def test_an_ended_sdk_span_becomes_a_record_with_every_field() -> None:
    span = ReadableSpan(
        "SELECT",
        context=context(0x1111),
        parent=context(0x2222),
        attributes={"db.system.name": "postgresql"},
        events=[Event("exception", {"exception.type": "ValueError"}, 1_500)],
        links=[Link(context(0x3333, trace_id=7)), Link(context(0x4444), {"why": "retry"})],
        kind=SpanKind.CLIENT,
        status=Status(StatusCode.ERROR, "boom"),
        start_time=1_000,
        end_time=2_000,
        instrumentation_scope=InstrumentationScope("opentelemetry.instrumentation.sqlalchemy"),
    )
    record = record_from_sdk(span)
    assert (record.name, record.trace_id, record.span_id, record.parent_id) == ("SELECT", TRACE, 0x1111, 0x2222)
    assert (record.start, record.end, record.kind) == (1_000, 2_000, KIND_CLIENT)
    assert (record.scope, record.status, record.status_message) == (
        "opentelemetry.instrumentation.sqlalchemy",
        STATUS_ERROR,
        "boom",
    )
    assert record.attributes == {"db.system.name": "postgresql"}
    assert record.events is not None
    assert [(event.name, event.time, event.attributes) for event in record.events] == [
        ("exception", 1_500, {"exception.type": "ValueError"})
    ]
    assert record.links is not None
    assert [(link.trace_id, link.span_id, link.attributes) for link in record.links] == [
        (7, 0x3333, {}),
        (TRACE, 0x4444, {"why": "retry"}),
    ]


def test_a_bare_root_span_without_scope_or_end_is_a_root_record_ending_where_it_starts() -> None:
    record = record_from_sdk(ReadableSpan("work", context=context(0x1111), start_time=1_000))
    assert (record.parent_id, record.start, record.end, record.scope) == (0, 1_000, 1_000, "unknown")
    assert (record.kind, record.status, record.status_message) == (1, STATUS_UNSET, "")
    assert (record.attributes, record.events, record.links) == ({}, None, None)
