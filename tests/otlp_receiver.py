"""In-process OTLP receivers for the export tests and the benchmarks: real protobuf in,
real answers out.

Every receiver listens on 127.0.0.1 on a port the kernel picks, is a context manager,
and stops its threads and closes its sockets on exit. What a receiver got is kept as
decoded ``ExportTraceServiceRequest`` messages with the headers (HTTP) or invocation
metadata (gRPC) they came with, so tests compare spans field by field.

Failure modes a collector can show an exporter:

* :class:`HttpReceiver` with ``status=500``: answers every export with an error;
* :class:`HttpReceiver` with ``metrics_status=404``, :class:`GrpcReceiver` with
  ``metrics=False``: takes traces but no metrics, as Jaeger does (404, UNIMPLEMENTED);
* either with ``partial="message"``: keeps every request but answers ``partial_success``
  rejecting half of its spans (rounded down) with that message;
* :class:`HttpReceiver` with ``busy=[503, 503]``, :class:`GrpcReceiver` with ``busy=2``:
  answers the first trace requests 503 (or whichever status) or UNAVAILABLE, with a
  zero retry delay (``Retry-After: 0``, gRPC's ``RetryInfo``), then as usual;
* :class:`BlackHole`: accepts connections, never reads, never answers;
* :class:`DownPort`: a port nobody listens on (connections are refused).

The benchmarks (``python -m bench.overhead`` from the repository root) import this module
too, so that the spans they count are decoded by the same code the tests trust.
"""

from __future__ import annotations

import gzip
import http.server
import selectors
import socket
import threading
import zlib
from collections.abc import Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import grpc  # type: ignore[import-untyped]
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo  # type: ignore[import-untyped]
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span

if TYPE_CHECKING:
    from typing_extensions import Self

HOST = "127.0.0.1"
# gRPC's "retry after this long" detail: zero, so a test of retries does not wait.
_NO_DELAY = RetryInfo(retry_delay=Duration(seconds=0)).SerializeToString()
TRACES_PATH = "/v1/traces"
METRICS_PATH = "/v1/metrics"


@dataclass(frozen=True)
class Received:
    """One export request as the receiver decoded it; header names are lower case."""

    headers: dict[str, str]
    request: ExportTraceServiceRequest


class _Recording:
    """What a receiver got, shared between its server threads and the test."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._metrics: list[ExportMetricsServiceRequest] = []
        self.refused = 0  # trace requests answered busy

    def take_busy(self, busy: list[int]) -> int | None:
        """The busy answer owed to the next trace request, if any."""
        with self._lock:
            if not busy:
                return None
            self.refused += 1
            return busy.pop(0)

    def record_metrics(self, request: ExportMetricsServiceRequest) -> None:
        with self._lock:
            self._metrics.append(request)

    def metric_names(self) -> list[str]:
        """The names of every metric received, in arrival order."""
        with self._lock:
            requests = list(self._metrics)
        return [
            metric.name
            for request in requests
            for resource_metrics in request.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
        ]

    def record(self, headers: dict[str, str], request: ExportTraceServiceRequest) -> None:
        with self._lock:
            self._received.append(Received(headers, request))

    def clear(self) -> None:
        """Forget what came so far (a benchmark counts each run's spans apart)."""
        with self._lock:
            self._received.clear()
            self._metrics.clear()

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def spans(self) -> list[Span]:
        """Every span of every request, in arrival order."""
        return [
            span
            for item in self.received
            for resource_spans in item.request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]

    def resource_spans(self) -> Iterator[ResourceSpans]:
        for item in self.received:
            yield from item.request.resource_spans


def _decode_body(encoding: str, body: bytes) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding in ("", "identity"):
        return body
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


def _trace_answer(request: ExportTraceServiceRequest, partial: str | None) -> ExportTraceServiceResponse:
    """Success, or ``partial_success`` rejecting half of the request's spans."""
    if partial is None:
        return ExportTraceServiceResponse()
    spans = sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
    return ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(rejected_spans=spans // 2, error_message=partial)
    )


class _HttpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        path = urlsplit(self.path).path  # a query string (?api_key=) is the sender's business
        if path not in (TRACES_PATH, METRICS_PATH):
            self._answer(404, b"", "text/plain")
            return
        if self.server.status != 200:
            self._answer(self.server.status, b"collector failure", "text/plain")
            return
        busy = self.server.recording.take_busy(self.server.busy) if path == TRACES_PATH else None
        if busy is not None:
            self._answer(busy, b"busy", "text/plain", retry_after=True)
            return
        if path == METRICS_PATH:
            if self.server.metrics_status != 200:
                self._answer(self.server.metrics_status, b"no metrics here", "text/plain")
                return
            metrics = ExportMetricsServiceRequest.FromString(
                _decode_body(self.headers.get("Content-Encoding", ""), body)
            )
            self.server.recording.record_metrics(metrics)
            self._answer(200, ExportMetricsServiceResponse().SerializeToString(), "application/x-protobuf")
            return
        try:
            request = ExportTraceServiceRequest.FromString(_decode_body(self.headers.get("Content-Encoding", ""), body))
        except ValueError as error:  # protobuf's DecodeError is a ValueError, so is ours
            self._answer(400, str(error).encode(), "text/plain")
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.recording.record(headers, request)
        answer = _trace_answer(request, self.server.partial).SerializeToString()
        self._answer(200, answer, "application/x-protobuf")

    def _answer(self, status: int, body: bytes, content_type: str, *, retry_after: bool = False) -> None:
        self.send_response(status)
        if retry_after:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is what is under test."""


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, status: int, metrics_status: int, partial: str | None, busy: list[int], recording: _Recording
    ) -> None:
        super().__init__((HOST, 0), _HttpHandler)
        self.status = status
        self.busy = busy
        self.metrics_status = metrics_status
        self.partial = partial
        self.recording = recording


class ServedInThread:
    """An ``http.server`` serving from a thread for the length of a ``with``: set
    ``_server`` (not yet serving) in ``__init__``; ``__exit__`` stops it and closes its socket."""

    _server: http.server.HTTPServer

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, name=type(self).__name__)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()  # returns once serve_forever has returned
        self._thread.join()
        self._server.server_close()


class HttpReceiver(_Recording, ServedInThread):
    """OTLP/HTTP (``POST /v1/traces``, ``/v1/metrics``, binary protobuf) answering ``status``.

    With 200 it decodes and records each request and answers with a serialized
    ``ExportTraceServiceResponse``; with anything else it records nothing.
    ``metrics_status`` is the answer to ``/v1/metrics`` when ``status`` is 200; ``busy``
    the statuses the first trace requests get instead (with ``Retry-After: 0``).
    """

    def __init__(
        self,
        status: int = 200,
        *,
        metrics_status: int = 200,
        partial: str | None = None,
        busy: Sequence[int] = (),
    ) -> None:
        super().__init__()
        self._server = _HttpServer(status, metrics_status, partial, list(busy), self)
        self.port = int(self._server.server_address[1])
        self.endpoint = f"http://{HOST}:{self.port}"


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, recording: _Recording, partial: str | None, busy: list[int]) -> None:
        self._recording = recording
        self._partial = partial
        self._busy = busy

    def Export(  # the generated servicer's method name
        self, request: ExportTraceServiceRequest, context: Any
    ) -> ExportTraceServiceResponse:
        if self._recording.take_busy(self._busy) is not None:
            context.set_trailing_metadata((("google.rpc.retryinfo-bin", _NO_DELAY),))
            context.abort(grpc.StatusCode.UNAVAILABLE, "busy")
        metadata = {str(key).lower(): str(value) for key, value in context.invocation_metadata()}
        self._recording.record(metadata, request)
        return _trace_answer(request, self._partial)


class _MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, recording: _Recording) -> None:
        self._recording = recording

    def Export(  # the generated servicer's method name
        self, request: ExportMetricsServiceRequest, context: Any
    ) -> ExportMetricsServiceResponse:
        self._recording.record_metrics(request)
        return ExportMetricsServiceResponse()


class GrpcReceiver(_Recording):
    """OTLP/gRPC ``TraceService/Export`` on a plain-text port; records requests and metadata.

    With ``metrics=False`` it has no ``MetricsService``, so gRPC answers UNIMPLEMENTED;
    the first ``busy`` trace requests are answered UNAVAILABLE, retry at once.
    """

    def __init__(self, *, metrics: bool = True, partial: str | None = None, busy: int = 0) -> None:
        super().__init__()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _TraceService(self, partial, [grpc.StatusCode.UNAVAILABLE.value[0]] * busy), self._server
        )
        if metrics:
            metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(  # type: ignore[no-untyped-call]
                _MetricsService(self), self._server
            )
        self.port = int(self._server.add_insecure_port(f"{HOST}:0"))
        self.endpoint = f"http://{HOST}:{self.port}"

    def __enter__(self) -> Self:
        self._server.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.stop(grace=None).wait()


class BlackHole:
    """A TCP listener that accepts every connection and then neither reads nor answers.

    The accepted sockets are held open until exit, so the peer sees an established
    connection that never makes progress (for HTTP: no response; for gRPC: no HTTP/2
    settings frame). ``accepted`` counts the connections, as proof something came.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server((HOST, 0))
        self._listener.setblocking(False)
        self.port = int(self._listener.getsockname()[1])
        self.endpoint = f"http://{HOST}:{self.port}"
        self._wake_read, self._wake_write = socket.socketpair()
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, name="otlp-black-hole")

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self._connections)

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while True:
                for key, _events in selector.select():
                    if key.fileobj is self._wake_read:
                        return
                    try:
                        connection, _address = self._listener.accept()
                    except BlockingIOError:  # the peer gave up between select and accept
                        continue
                    with self._lock:
                        self._connections.append(connection)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._wake_write.send(b"x")
        self._thread.join()
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        for sock in (self._listener, self._wake_read, self._wake_write):
            sock.close()


class DownPort:
    """A port with nothing listening: the socket is bound (so no one else gets the port)
    but never listens, so every connection attempt is refused."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((HOST, 0))
        self.port = int(self._socket.getsockname()[1])
        self.endpoint = f"http://{HOST}:{self.port}"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._socket.close()
