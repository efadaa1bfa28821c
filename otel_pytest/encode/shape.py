"""What a span record exports as, whichever the encoding.

The store's OTLP JSON, the collector's OTLP protobuf and the SDK's ``ReadableSpan`` (the
way ``bench/export_encoding.py`` compares them with) all put the same things around a
record's own fields: the process's resource, a scope per instrumentation that names the
plugin's version on the plugin's own scopes, the run id on every span, and a record's
attributes as its shared set followed by its per-span values. They are written here once,
so an encoder only spells them in its format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from otel_pytest.records import PLUGIN_SCOPE, Attributes, AttributeValue, SharedAttributes, SpanRecord
from otel_pytest.semconv import attributes as attr

_Span = TypeVar("_Span")


@dataclass(frozen=True)
class ExportShape:
    """One process's export: its resource, run id and the plugin's version, fixed for the run."""

    resource: Mapping[str, AttributeValue]
    run_id: str
    version: str
    # Shared, so every encoding encodes the run id once for the whole run.
    run_attributes: SharedAttributes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_attributes", SharedAttributes({attr.RUN_ID: self.run_id}))

    def scope_version(self, scope: str) -> str:
        """The plugin's own scopes carry its version; an application's scope is named only ("")."""
        return self.version if scope.startswith(PLUGIN_SCOPE) else ""

    def attribute_sets(self, record: SpanRecord) -> tuple[Attributes, ...]:
        """A span's attributes as the sets to encode one after the other: the record's static
        (often shared) set, its per-span values, the run id last. OTLP keys must be unique,
        so a per-span value that replaces a static one merges the two into one set."""
        extra = record.extra
        if not extra:
            return record.attributes, self.run_attributes
        if extra.keys() & record.attributes.keys():
            return record.all_attributes(), self.run_attributes
        return record.attributes, extra, self.run_attributes

    def encoded_attributes(self, record: SpanRecord, encode: Callable[[Attributes], bytes]) -> list[bytes]:
        """The :meth:`attribute_sets` of a span through ``encode``, empty sets left out. A
        shared set is encoded once per encoding and kept on it (a fixture used by 2,000
        tests is encoded once, not 2,000 times); one loop here, as this runs for every span."""
        parts = []
        for attributes in self.attribute_sets(record):
            if isinstance(attributes, SharedAttributes):
                form = attributes.forms.get(encode)
                if form is None:
                    form = attributes.forms[encode] = encode(attributes)
                if form:
                    parts.append(form)
            elif attributes:
                parts.append(encode(attributes))
        return parts


def by_scope(records: Iterable[SpanRecord], encode: Callable[[SpanRecord], _Span]) -> dict[str, list[_Span]]:
    """The encoded spans grouped by instrumentation scope, in the order scopes first appear."""
    groups: dict[str, list[_Span]] = {}
    for record in records:
        spans = groups.get(record.scope)
        if spans is None:
            spans = groups[record.scope] = []
        spans.append(encode(record))
    return groups
