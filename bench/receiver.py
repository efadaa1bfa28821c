"""A tiny OTLP/HTTP trace receiver for the overhead benchmark, meant to run in its own process.

``--mode ok`` accepts ``POST /v1/traces``, decodes the ``ExportTraceServiceRequest`` (protobuf,
or OTLP JSON when the content type is ``application/json``; gzip or not), counts its spans
and answers 200 with an ``ExportTraceServiceResponse`` in the same encoding.
``GET /stats`` answers the counts as JSON; ``POST /reset`` sets them to zero.

``--mode blackhole`` accepts TCP connections and never reads or answers: a collector that
hangs. It has no stats endpoint.

Either way the first line on stdout is ``READY <port>`` once the socket listens, so the
benchmark can start it on port 0 and read where it went.
"""

from __future__ import annotations

import argparse
import gzip
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

TRACES_PATH = "/v1/traces"


class Counts:
    """What the receiver has accepted so far; shared by the handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.spans = 0
        self.bytes = 0
        self.errors = 0

    def as_dict(self) -> dict[str, int]:
        with self.lock:
            return {
                "requests": self.requests,
                "spans": self.spans,
                "bytes": self.bytes,
                "errors": self.errors,
            }

    def reset(self) -> None:
        with self.lock:
            self.requests = self.spans = self.bytes = self.errors = 0


def count_spans(body: bytes) -> int:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


def count_json_spans(body: bytes) -> int:
    """OTLP/HTTP with JSON encoding (``http/json``): the same request, as OTLP JSON."""
    request = json.loads(body)
    return sum(
        len(scope.get("spans", ()))
        for resource in request.get("resourceSpans", ())
        for scope in resource.get("scopeSpans", ())
    )


class Handler(BaseHTTPRequestHandler):
    counts = Counts()
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return None

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/stats":
            self._answer(200, json.dumps(self.counts.as_dict()).encode(), "application/json")
        else:
            self._answer(404, b"", "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path == "/reset":
            self.counts.reset()
            self._answer(200, b"", "text/plain")
            return
        if self.path != TRACES_PATH:
            self._answer(404, b"", "text/plain")
            return
        try:
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            is_json = self.headers.get("Content-Type", "").startswith("application/json")
            spans = count_json_spans(body) if is_json else count_spans(body)
        except Exception:
            with self.counts.lock:
                self.counts.errors += 1
            self._answer(400, b"", "text/plain")
            return
        with self.counts.lock:
            self.counts.requests += 1
            self.counts.spans += spans
            self.counts.bytes += length
        if is_json:
            self._answer(200, b"{}", "application/json")
        else:
            answer = ExportTraceServiceResponse().SerializeToString()
            self._answer(200, answer, "application/x-protobuf")


def serve_ok(host: str, port: int) -> None:
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


def serve_blackhole(host: str, port: int) -> None:
    listener = socket.create_server((host, port), backlog=128)
    held: list[socket.socket] = []
    print(f"READY {listener.getsockname()[1]}", flush=True)
    while True:
        connection, _ = listener.accept()
        held.append(connection)  # never read, never answered, never closed
        if len(held) > 10_000:
            time.sleep(3600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", choices=("ok", "blackhole"), default="ok")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    args = parser.parse_args(argv)
    try:
        if args.mode == "ok":
            serve_ok(args.host, args.port)
        else:
            serve_blackhole(args.host, args.port)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
