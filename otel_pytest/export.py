"""Where records go: the run file in the local store and, when configured, an OTLP collector.

The store is written first and always; the collector gets the same batches from a
background thread through the OpenTelemetry SDK's own OTLP exporters. A collector that
is down, never answers, or answers 500 costs at most ``export_timeout`` seconds at the
end of the run: after the first failed batch nothing more is sent (the spans are all in
the store), and the final wait is bounded.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from otel_pytest import clock
from otel_pytest.options import Endpoint
from otel_pytest.records import AttributeValue, Event, Link, SpanRecord

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricExporter
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

    from otel_pytest.db.metrics import DbMetrics
    from otel_pytest.otlp_proto import OtlpProtoEncoder

_QUEUE_BATCHES = 256
_EXPORTER_LOGGERS = ("opentelemetry.exporter.otlp", "opentelemetry.exporter.otlp.proto")


class ExportSetupError(ValueError):
    """The exporter cannot be built (a missing extra); the message is the line to show."""


def import_exporter(endpoint: Endpoint) -> None:
    """Import the exporter's modules at start-up, in the main thread.

    Not in the export thread: imports there run while the tests run under the user's
    warning filters (``filterwarnings = error`` turned urllib3's optional-dependency
    warning into a failed exporter). A missing gRPC extra is a start-up error.
    """
    if endpoint.protocol == "grpc":
        if importlib.util.find_spec("opentelemetry.exporter.otlp.proto.grpc") is None:
            raise ExportSetupError("OTLP protocol 'grpc' needs the gRPC exporter: pip install 'otel-pytest[grpc]'")
        importlib.import_module("opentelemetry.exporter.otlp.proto.grpc.trace_exporter")
        importlib.import_module("opentelemetry.exporter.otlp.proto.grpc.metric_exporter")
    else:
        importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        importlib.import_module("opentelemetry.exporter.otlp.proto.http.metric_exporter")
    importlib.import_module("otel_pytest.otlp_proto")
    importlib.import_module("opentelemetry.sdk.metrics.export")


class EncodedBatch(NamedTuple):
    """Records already encoded as an ``ExportTraceServiceRequest`` by our encoder."""

    data: bytes
    spans: int


def build_exporter(endpoint: Endpoint, timeout: float) -> SpanExporter:
    """The SDK's OTLP exporter for the endpoint; headers come from the standard variables.

    The exporter reads ``OTEL_EXPORTER_OTLP_[TRACES_]HEADERS`` itself; otel-pytest never
    reads, stores or prints them. The gRPC one also takes an :class:`EncodedBatch`
    through its request-translation hook, so it sends our encoder's bytes.
    """
    if endpoint.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        class EncodedGrpcExporter(GrpcExporter):
            def _translate_data(self, data: Any) -> ExportTraceServiceRequest:
                if isinstance(data, EncodedBatch):
                    return cast(ExportTraceServiceRequest, ExportTraceServiceRequest.FromString(data.data))
                return super()._translate_data(data)

            def _count_data(self, data: Any) -> int:
                return data.spans if isinstance(data, EncodedBatch) else int(super()._count_data(data))

        insecure = endpoint.url.startswith("http://")
        return EncodedGrpcExporter(endpoint=endpoint.url, insecure=insecure, timeout=timeout)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    url = endpoint.url if endpoint.signal_specific else endpoint.url.rstrip("/") + "/v1/traces"
    return OTLPSpanExporter(endpoint=url, timeout=timeout)


class SpanSender:
    """One export call per batch of records, through the SDK exporter's own transport
    (retries, headers, compression, TLS) with the request encoded by :class:`OtlpProtoEncoder`
    (~4 µs a span instead of ~35 through ``ReadableSpan`` and the SDK's encoder).

    The HTTP exporter has no public entry for encoded bytes: its client's ``export`` is
    used when present, and an exporter without one (another SDK version) gets
    ``ReadableSpan``s through its public ``export``.
    """

    def __init__(self, exporter: SpanExporter, encoder: OtlpProtoEncoder,
                 converter: Callable[[], ReadableSpans]) -> None:
        self.exporter = exporter
        self._encoder = encoder
        self._make_converter = converter
        self._converter: ReadableSpans | None = None
        client_export = getattr(getattr(exporter, "_client", None), "export", None)
        self._http_send = client_export if callable(client_export) and hasattr(exporter, "_endpoint") else None
        self._grpc = hasattr(exporter, "_translate_data") and type(exporter).__name__ == "EncodedGrpcExporter"

    def send(self, records: list[SpanRecord]) -> bool:
        from opentelemetry.sdk.trace.export import SpanExportResult

        if self._http_send is not None:
            return bool(getattr(self._http_send(self._encoder.request(records)), "success", False))
        if self._grpc:
            batch = EncodedBatch(self._encoder.request(records), len(records))
            return self.exporter.export(batch) is SpanExportResult.SUCCESS  # type: ignore[arg-type]
        if self._converter is None:
            self._converter = self._make_converter()
        return self.exporter.export([self._converter.convert(r) for r in records]) is SpanExportResult.SUCCESS


def build_metric_exporter(endpoint: Endpoint, timeout: float) -> MetricExporter:
    """The SDK's OTLP metric exporter for the same collector as the spans."""
    if endpoint.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        return GrpcMetricExporter(endpoint=endpoint.url, insecure=endpoint.url.startswith("http://"),
                                  timeout=timeout)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    base = endpoint.url.rstrip("/")
    url = base.removesuffix("/v1/traces") + "/v1/metrics" if endpoint.signal_specific else base + "/v1/metrics"
    return OTLPMetricExporter(endpoint=url, timeout=timeout)


class _LastMessage(logging.Handler):
    """Keeps the exporter's last complaint for the one warning line, instead of letting
    the SDK print it (and pytest attach it to whichever test happens to be running)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.message: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.message = record.getMessage().splitlines()[0][:200]


class ReadableSpans:
    """Converts records into the SDK's ``ReadableSpan`` for its exporters (export path only)."""

    def __init__(self, resource: Mapping[str, AttributeValue], run_id: str, version: str) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

        self._readable = ReadableSpan
        self._context = SpanContext
        self._kind = SpanKind
        self._status = Status
        self._code = StatusCode
        self._flags = TraceFlags(TraceFlags.SAMPLED)
        self._resource = Resource(dict(resource))
        self._scope_type = InstrumentationScope
        self._scopes: dict[str, Any] = {}
        self._run_id = run_id
        self._version = version

    def _scope(self, name: str) -> Any:
        scope = self._scopes.get(name)
        if scope is None:
            version = self._version if name.startswith("otel_pytest") else None
            scope = self._scopes[name] = self._scope_type(name, version)
        return scope

    def convert(self, record: SpanRecord) -> ReadableSpan:
        from opentelemetry.sdk.trace import Event as SdkEvent
        from opentelemetry.trace import Link as SdkLink

        attributes = record.all_attributes()
        attributes["pytest.run.id"] = self._run_id
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


@dataclass(frozen=True)
class DeliveryReport:
    """How the collector fared, for the summary line and the warning."""

    endpoint: str
    sent: int
    delivered: int
    problem: str | None


class BackgroundExporter:
    """Sends batches from a daemon thread; gives up on the first failure.

    A daemon thread is what keeps a black-hole collector from holding the process at
    exit: the final wait is bounded by ``timeout`` and whatever is still in flight then
    is counted as not delivered.
    """

    def __init__(self, make_sender: Callable[[], SpanSender], endpoint: str, timeout: float,
                 metric_exporter: Callable[[], MetricExporter] | None = None) -> None:
        # Built in the thread (its modules were imported at start-up: see import_exporter).
        self._make_sender = make_sender
        self._exporter: SpanExporter | None = None
        self._metric_exporter = metric_exporter
        self._endpoint = endpoint
        self._timeout = timeout
        self._queue: queue.Queue[list[SpanRecord] | DbMetrics | None] = queue.Queue(_QUEUE_BATCHES)
        self._sent = 0
        self._delivered = 0
        self._problem: str | None = None
        self._log = _LastMessage()
        self._loggers = [logging.getLogger(name) for name in _EXPORTER_LOGGERS]
        self._saved = [(logger.propagate, logger.level) for logger in self._loggers]
        for logger in self._loggers:
            logger.addHandler(self._log)
            logger.propagate = False
        # Who puts the loggers back: close(), or the thread itself when close() gave up on it.
        self._loggers_lock = threading.Lock()
        self._finished = False
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, name="otel-pytest-export", daemon=True)
        self._thread.start()

    def submit(self, records: list[SpanRecord]) -> None:
        self._sent += len(records)
        if self._problem is not None:
            return
        try:
            self._queue.put_nowait(records)
        except queue.Full:
            self._problem = f"the collector fell behind (more than {_QUEUE_BATCHES} batches waiting)"

    def _run(self) -> None:
        try:
            self._export_batches()
        finally:
            with self._loggers_lock:
                self._finished = True
                if self._abandoned:
                    self._restore_loggers()

    def _restore_loggers(self) -> None:
        for logger, (propagate, _level) in zip(self._loggers, self._saved, strict=True):
            logger.removeHandler(self._log)
            logger.propagate = propagate

    def submit_metrics(self, metrics: DbMetrics) -> None:
        if self._problem is None and self._metric_exporter is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(metrics)

    def _export_metrics(self, metrics: DbMetrics) -> None:
        from opentelemetry.sdk.metrics.export import MetricExportResult

        assert self._metric_exporter is not None
        exporter = self._metric_exporter()
        try:
            data = metrics.metrics_data()
            if exporter.export(data, timeout_millis=self._timeout * 1000) is not MetricExportResult.SUCCESS:
                self._problem = self._log.message or "the metrics export failed"
        finally:
            exporter.shutdown()

    def _export_batches(self) -> None:

        sender: SpanSender | None = None
        try:
            sender = self._make_sender()
            self._exporter = sender.exporter
        except Exception as error:
            self._problem = f"cannot set up the exporter ({type(error).__name__}: {error})"[:200]
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if self._problem is not None or sender is None:
                continue
            if not isinstance(batch, list):
                try:
                    self._export_metrics(batch)
                except Exception as error:
                    self._problem = f"{type(error).__name__}: {error}"[:200]
                continue
            try:
                delivered = sender.send(batch)
            except Exception as error:  # an exporter bug must not kill the thread silently
                self._problem = f"{type(error).__name__}: {error}"[:200]
                continue
            if delivered:
                self._delivered += len(batch)
            else:
                self._problem = self._log.message or "the export failed"

    def close(self) -> DeliveryReport:
        deadline = clock.monotonic() + self._timeout
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=self._timeout)
        self._thread.join(max(0.0, deadline - clock.monotonic()))
        with self._loggers_lock:
            if self._finished:
                self._restore_loggers()
            else:
                # The request still in flight will log its own failure when it times out,
                # after the summary: the loggers stay captured until the thread ends.
                self._abandoned = True
                self._problem = self._problem or f"no answer within {self._timeout:g} s"
        if not self._abandoned and self._exporter is not None:
            self._exporter.shutdown()
        return DeliveryReport(self._endpoint, self._sent, self._delivered, self._problem)


def event_from_sdk(event: Any) -> Event:
    return Event(event.name, event.timestamp, dict(event.attributes or {}))


def record_from_sdk(span: ReadableSpan) -> SpanRecord:
    """An SDK span (database, application) in the plugin's record form."""
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
        record.links = [Link(link.context.trace_id, link.context.span_id) for link in span.links]
    return record
