"""Per-span cost of turning otel-pytest's records into an OTLP request body, three ways.

* ``sdk``: what the OTLP export did first: ``ReadableSpans.convert`` to the SDK's
  ``ReadableSpan``, then the SDK's ``encode_spans`` and ``SerializeToString``;
* ``direct``: records straight into the generated (upb) protobuf messages, the key-values
  of shared attribute sets built once (the sketch that suggested the change);
* ``plugin``: the plugin's own ``otlp_proto.OtlpProtoEncoder`` where it exists (since
  45923e0, the export path encodes with it instead of going through the SDK);
* ``json``: the store's OTLP JSON line, which the run computes anyway; an OTLP/HTTP JSON
  export (``Content-Type: application/json``) could post those very bytes.

The records mimic a trivial test with two function-scoped fixtures (root, 3 phases, 4
fixture spans). Best of ``--repeat``; run with the project's virtualenv::

    .venv/bin/python bench/export_encoding.py
"""

from __future__ import annotations

import argparse
import importlib
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.sdk.trace import ReadableSpan

from otel_pytest.encode.otlp_json import OtlpJsonEncoder
from otel_pytest.encode.otlp_proto import any_value
from otel_pytest.encode.shape import ExportShape
from otel_pytest.records import PLUGIN_SCOPE, AttributeValue, SharedAttributes, SpanRecord

RUN_ID = "0123456789abcdef"
VERSION = "0.1.0"
RESOURCE: dict[str, AttributeValue] = {
    "service.name": "suite",
    "telemetry.sdk.language": "python",
    "telemetry.distro.name": "otel-pytest",
    "telemetry.distro.version": VERSION,
    "host.arch": "x86_64",
    "process.runtime.version": "3.11.7",
}
SHAPE = ExportShape(RESOURCE, RUN_ID, VERSION)


class ReadableSpans:
    """Converts records into the SDK's ``ReadableSpan`` (what the export did before it
    encoded records itself; kept here as the ``sdk`` way)."""

    def __init__(self, shape: ExportShape) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

        self._readable = ReadableSpan
        self._context = SpanContext
        self._kind = SpanKind
        self._status = Status
        self._code = StatusCode
        self._flags = TraceFlags(TraceFlags.SAMPLED)
        self._shape = shape
        self._resource = Resource(dict(shape.resource))
        self._scope_type = InstrumentationScope
        self._scopes: dict[str, Any] = {}

    def _scope(self, name: str) -> Any:
        scope = self._scopes.get(name)
        if scope is None:
            scope = self._scopes[name] = self._scope_type(name, self._shape.scope_version(name) or None)
        return scope

    def convert(self, record: SpanRecord) -> ReadableSpan:
        from opentelemetry.sdk.trace import Event as SdkEvent
        from opentelemetry.trace import Link as SdkLink

        attributes: dict[str, AttributeValue] = {}
        for part in self._shape.attribute_sets(record):
            attributes.update(part)
        ctx = self._context
        return self._readable(
            name=record.name,
            context=ctx(record.trace_id, record.span_id, False, self._flags),
            parent=ctx(record.trace_id, record.parent_id, False, self._flags) if record.parent_id else None,
            resource=self._resource,
            attributes=attributes,
            events=[SdkEvent(e.name, dict(e.attributes), e.time) for e in record.events or ()],
            links=[SdkLink(ctx(link.trace_id, link.span_id, False, self._flags)) for link in record.links or ()],
            kind=self._kind(record.kind - 1),
            status=self._status(self._code(record.status), record.status_message or None),
            start_time=record.start,
            end_time=record.end,
            instrumentation_scope=self._scope(record.scope),
        )


def make_records(tests: int, seed: int = 0) -> list[SpanRecord]:
    rng = random.Random(seed)
    fixture = SharedAttributes(
        {
            "pytest.fixture.name": "first",
            "pytest.fixture.scope": "function",
            "code.function.name": "first",
            "code.file.path": "conftest.py",
            "code.line.number": 4,
        }
    )
    empty = SharedAttributes()
    records = []
    for number in range(tests):
        trace_id, now = rng.getrandbits(128), time.time_ns()
        nodeid = f"test_mod_000.py::test_{number:04d}"
        root = SpanRecord(
            nodeid,
            trace_id,
            rng.getrandbits(64),
            0,
            now,
            {
                "test.case.name": nodeid,
                "test.suite.name": "test_mod_000.py",
                "pytest.test.id": nodeid,
                "code.file.path": "test_mod_000.py",
                "code.line.number": 3,
                "code.function.name": f"test_{number:04d}",
            },
        )
        root.set("pytest.outcome", "passed")
        root.set("test.case.result.status", "pass")
        records.append(root)
        for phase in ("setup", "call", "teardown"):
            records.append(SpanRecord(phase, trace_id, rng.getrandbits(64), root.span_id, now, empty))
        for _ in range(4):
            records.append(SpanRecord("fixture first", trace_id, rng.getrandbits(64), root.span_id, now, fixture))
    return records


class DirectEncoder:
    """Records to ``ExportTraceServiceRequest`` bytes without the SDK's span objects (plugin
    spans only: events, links and status are left out of this sketch)."""

    def __init__(self, shape: ExportShape) -> None:
        self._shape = shape
        self._resource = [KeyValue(key=k, value=any_value(v)) for k, v in shape.resource.items()]
        self._shared: dict[int, tuple[Mapping[str, AttributeValue], list[KeyValue]]] = {}

    def _key_values(self, attributes: Mapping[str, AttributeValue]) -> list[KeyValue]:
        if not isinstance(attributes, SharedAttributes):
            return [KeyValue(key=k, value=any_value(v)) for k, v in attributes.items()]
        hit = self._shared.get(id(attributes))
        if hit is None or hit[0] is not attributes:
            hit = (attributes, [KeyValue(key=k, value=any_value(v)) for k, v in attributes.items()])
            self._shared[id(attributes)] = hit
        return hit[1]

    def body(self, records: Sequence[SpanRecord]) -> bytes:
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(self._resource)
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = PLUGIN_SCOPE
        scope_spans.scope.version = self._shape.scope_version(PLUGIN_SCOPE)
        for record in records:
            span = scope_spans.spans.add(
                trace_id=record.trace_id.to_bytes(16, "big"),
                span_id=record.span_id.to_bytes(8, "big"),
                name=record.name,
                kind=record.kind,
                start_time_unix_nano=record.start,
                end_time_unix_nano=record.end,
            )
            if record.parent_id:
                span.parent_span_id = record.parent_id.to_bytes(8, "big")
            for part in self._shape.attribute_sets(record):
                span.attributes.extend(self._key_values(part))
        body: bytes = request.SerializeToString()
        return body


def best(
    batches: Sequence[Sequence[SpanRecord]], encode: Callable[[Any], bytes | list[Any]], repeat: int
) -> tuple[float, int]:
    """Best wall time over ``repeat`` passes, and the bytes of one pass."""
    fastest, size = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        size = sum(len(encode(batch)) for batch in batches)
        fastest = min(fastest, time.perf_counter() - start)
    return fastest, size


def plugin_encoder() -> list[tuple[str, Callable[[Any], bytes | list[Any]]]]:
    try:
        module = importlib.import_module("otel_pytest.encode.otlp_proto")
    except ImportError:
        return []
    encoder = module.OtlpProtoEncoder(SHAPE)
    return [("plugin: otlp_proto.OtlpProtoEncoder.request", encoder.request)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000, help="tests (8 spans each)")
    parser.add_argument("--batch", type=int, default=512, help="spans per request")
    parser.add_argument("--repeat", type=int, default=5, help="passes; the best is shown")
    args = parser.parse_args(argv)
    records = make_records(args.tests)
    batches = [records[i : i + args.batch] for i in range(0, len(records), args.batch)]
    converter = ReadableSpans(SHAPE)
    direct = DirectEncoder(SHAPE)
    store = OtlpJsonEncoder(SHAPE)
    ways: list[tuple[str, Callable[[Any], bytes | list[Any]]]] = [
        (
            "sdk: ReadableSpans.convert + encode_spans + serialize",
            lambda b: encode_spans([converter.convert(r) for r in b]).SerializeToString(),
        ),
        ("  of which ReadableSpans.convert alone", lambda b: [converter.convert(r) for r in b]),
        ("direct: records -> protobuf messages", direct.body),
        *plugin_encoder(),
        ("json: the store's OTLP JSON line (already paid for)", store.line),
    ]
    print(f"{len(records):,} spans in {len(batches)} batches, best of {args.repeat}")
    print("| way | ms | µs per span | µs per test | MB |\n|---|---:|---:|---:|---:|")
    for name, encode in ways:
        seconds, size = best(batches, encode, args.repeat)
        print(
            f"| {name} | {seconds * 1e3:.1f} | {seconds / len(records) * 1e6:.2f} "
            f"| {seconds / args.tests * 1e6:.1f} | {size / 1e6:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
