"""The plugin's own span record: plain ids, timestamps and attributes.

An SDK span costs 20-35 µs to start and end; a record costs about one object
allocation. Records are turned into OTLP (JSON for the store, protobuf for the
collector) in batches, off the per-test path. SDK spans (database, application)
are converted into the same record form as they end, so there is one encoder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

AttributeValue = str | bool | int | float | Sequence[str]
Attributes = Mapping[str, AttributeValue]

STATUS_UNSET = 0
STATUS_OK = 1
STATUS_ERROR = 2

KIND_INTERNAL = 1
KIND_CLIENT = 3

PLUGIN_SCOPE = "otel_pytest"


class SharedAttributes(dict[str, AttributeValue]):
    """Attributes shared by many spans (a fixture's, a statement's, an empty set), never
    mutated once built. The encoders keep their encoded forms on them, one per encoding
    function (:meth:`otel_pytest.encode.shape.ExportShape.encoded_attributes`), so a
    fixture used by 2,000 tests is encoded once, not 2,000 times."""

    __slots__ = ("forms",)

    def __init__(self, *args: Attributes, **kwargs: AttributeValue) -> None:
        super().__init__(*args, **kwargs)
        self.forms: dict[Callable[[Attributes], bytes], bytes] = {}


NO_ATTRIBUTES = SharedAttributes()
_NO_GC = (0, 0)


class Event:
    """A timestamped event on a span, such as ``exception``."""

    __slots__ = ("attributes", "name", "time")

    def __init__(self, name: str, time: int, attributes: Attributes) -> None:
        self.name = name
        self.time = time
        self.attributes = attributes


class Link:
    """A link to a span in another trace: a test trace points at its session span. The
    plugin's own links have no attributes; an application's may."""

    __slots__ = ("attributes", "span_id", "trace_id")

    def __init__(self, trace_id: int, span_id: int, attributes: Attributes = NO_ATTRIBUTES) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.attributes = attributes


class SpanRecord:
    """One finished (or, while on the recorder's stack, running) span.

    Attribute dicts may be shared between records (a fixture's static attributes are
    built once per fixture definition), so they are never mutated once a record is
    handed over: per-span values go in ``extra``.
    """

    __slots__ = (
        "attributes",
        "end",
        "events",
        "extra",
        "gc_mark",
        "kind",
        "links",
        "name",
        "parent_id",
        "scope",
        "span_id",
        "start",
        "status",
        "status_message",
        "trace_id",
    )

    def __init__(
        self,
        name: str,
        trace_id: int,
        span_id: int,
        parent_id: int,
        start: int,
        attributes: Attributes,
        *,
        scope: str = PLUGIN_SCOPE,
        kind: int = KIND_INTERNAL,
    ) -> None:
        self.name = name
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.start = start
        self.end = start
        self.attributes = attributes
        self.extra: dict[str, AttributeValue] | None = None
        self.events: list[Event] | None = None
        self.links: list[Link] | None = None
        self.status = STATUS_UNSET
        self.status_message = ""
        self.scope = scope
        self.kind = kind
        # The recorder's garbage-collection tally when the span started: (pause ns, count).
        self.gc_mark = _NO_GC

    def set(self, key: str, value: AttributeValue) -> None:
        """Set a per-span attribute without touching the (possibly shared) static ones."""
        if self.extra is None:
            self.extra = {}
        self.extra[key] = value

    def add_event(self, event: Event) -> None:
        if self.events is None:
            self.events = []
        self.events.append(event)

    def all_attributes(self) -> dict[str, AttributeValue]:
        merged = dict(self.attributes)
        if self.extra:
            merged.update(self.extra)
        return merged

    def __repr__(self) -> str:
        return f"<SpanRecord {self.name!r} {self.span_id:016x} parent={self.parent_id:016x}>"
