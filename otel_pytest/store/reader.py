"""Reading OTLP JSON Lines back: a run file of ours or a collector's file exporter output.

Readers make no judgements: they yield what is there and name what they had to skip.
Lines are parsed with ``opentelemetry-proto-json``, the OTel project's own OTLP JSON
classes, so anything a spec-following writer produced is read the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.proto_json.common.v1.common import AnyValue, KeyValue
from opentelemetry.proto_json.trace.v1.trace import Span, TracesData


@dataclass(frozen=True)
class ReadSpan:
    """A span as read from a file, with its resource and scope flattened in."""

    span: Span
    resource: dict[str, object]
    scope: str

    @property
    def attributes(self) -> dict[str, object]:
        return attribute_dict(self.span.attributes)


def _plain(value: AnyValue | None) -> object:
    """The Python value of an ``AnyValue``: str, bool, int, float, bytes, list or dict."""
    if value is None:
        return None
    for item in (value.string_value, value.bool_value, value.int_value, value.double_value, value.bytes_value):
        if item is not None:
            return item
    if value.array_value is not None:
        return [_plain(item) for item in value.array_value.values]
    if value.kvlist_value is not None:
        return attribute_dict(value.kvlist_value.values)
    return None


def attribute_dict(key_values: Sequence[KeyValue]) -> dict[str, object]:
    return {kv.key or "": _plain(kv.value) for kv in key_values}


def read_spans(path: Path, problems: list[str] | None = None) -> Iterator[ReadSpan]:
    """Yield every span in an OTLP JSON Lines file.

    A line that does not parse (a run cut off mid-write, a corrupt copy) is skipped and
    described in ``problems`` when given, so callers can say what they left out.
    """
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                data = TracesData.from_json(line)
            except (ValueError, TypeError) as error:
                if problems is not None:
                    problems.append(f"{path}:{number}: skipped an unreadable line ({error})")
                continue
            for resource_spans in data.resource_spans:
                resource = attribute_dict(resource_spans.resource.attributes) if resource_spans.resource else {}
                for scope_spans in resource_spans.scope_spans:
                    scope = (scope_spans.scope.name or "") if scope_spans.scope else ""
                    for span in scope_spans.spans:
                        yield ReadSpan(span, resource, scope)
