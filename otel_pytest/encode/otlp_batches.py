"""OTLP JSON Lines (a stored run, a collector's file) into OTLP protobuf export requests
within size limits: what ``otel-pytest push`` sends.

The plugin's encoders turn its own span records into OTLP; a run file read back holds OTLP
JSON that may come from anyone (a collector's file exporter, another SDK) and carries
fields our records never have (``kvlistValue``, trace state, flags, dropped counts, a
schema URL). So each line becomes a protobuf message through protobuf's own JSON parser,
after its hex ids are turned into the base64 that the proto3 JSON mapping expects (the
OTLP JSON spec writes them in hex): every field is carried over as it is, for traces and
metrics alike. The lines themselves are read, and bad ones reported, by
:func:`otel_pytest.store.reader.read_lines`.

**Limits** (:class:`~otel_pytest.encode.limits.Limits`). A request holds at most
``items`` spans (or metrics) and ``bytes`` serialised bytes. A run is split by span: the
resource and scope around its spans are repeated in every request they reach. A single
span bigger than the byte limit is sent alone.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_pytest.encode.limits import Limits
from otel_pytest.encode.otlp_proto import length_delimited
from otel_pytest.store.reader import read_lines

SPANS, METRICS = "spans", "metrics"
# Both export requests nest alike: resource_{spans,metrics} = 1, in it resource = 1 and
# scope_{spans,metrics} = 2, in that scope = 1 and {spans,metrics} = 2.
_OUTER, _INNER = 1, 2
# What a length-delimited field adds around its payload, at most: a one-byte tag and a
# length of up to five bytes (payloads under 4 GiB).
_FRAMING = 6
_IDS = frozenset(("traceId", "spanId", "parentSpanId"))
# A signal's JSON key, its request class and the names of its nested fields.
_SIGNALS: dict[str, tuple[str, Any, str, str, str]] = {
    "resourceSpans": (SPANS, ExportTraceServiceRequest, "resource_spans", "scope_spans", "spans"),
    "resourceMetrics": (METRICS, ExportMetricsServiceRequest, "resource_metrics", "scope_metrics", "metrics"),
}


@dataclass(frozen=True)
class Request:
    """One serialised export request; ``items`` counts its spans, or its metric data points
    (what a collector's ``partial_success`` counts)."""

    signal: str
    data: bytes
    items: int


def _hex_ids_as_base64(value: Any) -> None:
    """Turn every hex trace and span id (spans, links, exemplars) into base64, in place."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _IDS and isinstance(item, str):
                value[key] = base64.b64encode(bytes.fromhex(item)).decode()
            else:
                _hex_ids_as_base64(item)
    elif isinstance(value, list):
        for item in value:
            _hex_ids_as_base64(item)


def _message(data: dict[str, Any]) -> tuple[str, Any] | None:
    """A line's signal and its request message; ``None`` for another signal (logs).
    ``ValueError`` for a line that is not OTLP JSON."""
    for key, (signal, request_type, *_names) in _SIGNALS.items():
        if key in data:
            _hex_ids_as_base64(data)
            try:
                return signal, json_format.ParseDict(data, request_type(), ignore_unknown_fields=True)
            except json_format.ParseError as error:
                raise ValueError(str(error).splitlines()[0]) from None
    return None


def _points(metric: Any) -> int:
    kind = metric.WhichOneof("data")
    return len(getattr(metric, kind).data_points) if kind else 0


class _Packer:
    """Fills one signal's requests up to the limits, keeping resources and scopes in the
    order they come."""

    def __init__(self, signal: str, limits: Limits) -> None:
        self._signal = signal
        self._limits = limits
        self._groups: dict[bytes, dict[bytes, list[bytes]]] = {}
        self._size = 0
        self._items = 0
        self._points = 0

    def add(self, resource: bytes, scope: bytes, item: bytes, points: int) -> Request | None:
        """Add one span or metric; the full request it did not fit in, if any."""
        full = None
        growth = self._growth(resource, scope, item)
        if self._items and (self._items >= self._limits.items or self._size + growth > self._limits.bytes):
            full = self.flush()
            growth = self._growth(resource, scope, item)
        self._size += growth
        self._groups.setdefault(resource, {}).setdefault(scope, []).append(item)
        self._items += 1
        self._points += points
        return full

    def _growth(self, resource: bytes, scope: bytes, item: bytes) -> int:
        scopes = self._groups.get(resource)
        growth = len(item)
        if scopes is None:
            growth += len(resource) + _FRAMING
        if scopes is None or scope not in scopes:
            growth += len(scope) + _FRAMING
        return growth

    def flush(self) -> Request | None:
        """The request filled so far, if any; the packer starts empty again."""
        if not self._items:
            return None
        data = b"".join(
            length_delimited(
                _OUTER,
                resource
                + b"".join(length_delimited(_INNER, scope + b"".join(items)) for scope, items in scopes.items()),
            )
            for resource, scopes in self._groups.items()
        )
        request = Request(self._signal, data, self._points)
        self._groups, self._size, self._items, self._points = {}, 0, 0, 0
        return request


def _pieces(signal: str, message: Any) -> Iterator[tuple[bytes, bytes, bytes, int]]:
    """``(resource, scope, item, points)`` per span or metric of a request message: the
    resource and scope as their serialised messages without what they contain, the item as
    a serialised field of its scope."""
    _key, _type, outer_name, inner_name, item_name = next(entry for entry in _SIGNALS.values() if entry[0] == signal)
    for outer in getattr(message, outer_name):
        inners = list(getattr(outer, inner_name))
        outer.ClearField(inner_name)
        resource = outer.SerializeToString()
        for inner in inners:
            items = list(getattr(inner, item_name))
            inner.ClearField(item_name)
            scope = inner.SerializeToString()
            for item in items:
                points = _points(item) if signal == METRICS else 1
                yield resource, scope, length_delimited(_INNER, item.SerializeToString()), points


def requests_of(messages: Iterable[tuple[str, Any]], limits: Limits) -> Iterator[Request]:
    """The messages' spans and metrics regrouped into requests within ``limits``, each
    signal's in the order they came (a request holds one signal)."""
    packers = {signal: _Packer(signal, limits) for signal in (SPANS, METRICS)}
    for signal, message in messages:
        for resource, scope, item, points in _pieces(signal, message):
            full = packers[signal].add(resource, scope, item, points)
            if full is not None:
                yield full
    for packer in packers.values():
        last = packer.flush()
        if last is not None:
            yield last


def read_requests(paths: Iterable[Path], limits: Limits, problems: list[str]) -> Iterator[Request]:
    """The export requests of OTLP JSON Lines files (a run's spans, then its metrics);
    unreadable lines are skipped and named in ``problems`` as ``file:line``."""

    def messages() -> Iterator[tuple[str, Any]]:
        for path in paths:
            yield from read_lines(path, problems, _message, "trace or metric data", "logs?")

    return requests_of(messages(), limits)
