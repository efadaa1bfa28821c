"""The plugin's span record: defaults, per-span values beside shared ones, events."""

from __future__ import annotations

from otel_pytest.records import (
    KIND_INTERNAL,
    PLUGIN_SCOPE,
    STATUS_UNSET,
    AttributeValue,
    Event,
    SpanRecord,
)


def test_a_new_record_is_an_unfinished_internal_span_of_the_plugin() -> None:
    record = SpanRecord("setup", 1, 2, 3, 1000, {})
    assert (record.name, record.trace_id, record.span_id, record.parent_id) == ("setup", 1, 2, 3)
    assert (record.start, record.end) == (1000, 1000)
    assert (record.extra, record.events, record.links) == (None, None, None)
    assert (record.status, record.status_message) == (STATUS_UNSET, "")
    assert (record.scope, record.kind) == (PLUGIN_SCOPE, KIND_INTERNAL) == ("otel_pytest", 1)


def test_set_never_touches_the_shared_attributes() -> None:
    shared: dict[str, AttributeValue] = {
        "pytest.fixture.name": "db",
        "pytest.fixture.scope": "function",
    }
    first = SpanRecord("fixture db", 1, 2, 0, 0, shared)
    second = SpanRecord("fixture db", 1, 3, 0, 0, shared)
    first.set("pytest.fixture.param", "sqlite")
    first.set("pytest.fixture.scope", "session")
    assert shared == {"pytest.fixture.name": "db", "pytest.fixture.scope": "function"}
    assert first.all_attributes() == {
        "pytest.fixture.name": "db",
        "pytest.fixture.scope": "session",
        "pytest.fixture.param": "sqlite",
    }
    assert second.all_attributes() == shared
    assert second.all_attributes() is not shared


def test_events_are_kept_in_the_order_they_were_added() -> None:
    record = SpanRecord("call", 1, 2, 0, 0, {})
    record.add_event(Event("first", 5, {}))
    record.add_event(Event("exception", 7, {"exception.type": "ValueError"}))
    assert record.events is not None
    assert [(event.name, event.time, event.attributes) for event in record.events] == [
        ("first", 5, {}),
        ("exception", 7, {"exception.type": "ValueError"}),
    ]


def test_repr_shows_name_and_ids_in_hex() -> None:
    assert (
        repr(SpanRecord("call", 1, 0xAB, 0xCD, 0, {})) == "<SpanRecord 'call' 00000000000000ab parent=00000000000000cd>"
    )
