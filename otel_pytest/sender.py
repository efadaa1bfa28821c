"""The OTLP sender: a helper process that does the network half of the export.

``python -m otel_pytest.sender`` is started, detached (it is no child of the pytest
process, see ``export._DETACH``), by :class:`otel_pytest.export.BackgroundExporter` when a
run exports. The pytest process encodes each batch as an OTLP protobuf request
(:mod:`otel_pytest.encode.otlp_proto`, the SDK's metrics encoder) and writes it down a pipe; this
process sends it through the OpenTelemetry SDK's own OTLP exporters (headers,
compression, TLS, retries all from the standard ``OTEL_EXPORTER_OTLP_*`` variables).
``otel-pytest push`` sends through the same transports (:func:`open_sender`) in its own
process: a command line has no tests to hide them from.

Why a process and not a thread in the pytest process: everything an exporter does there
is observable by the code under test, and some of it broke users' runs. Importing
``requests`` and ``grpc`` adds modules, loggers and warnings (urllib3's SOCKS module warns
when it is imported, and under ``filterwarnings = error`` that warning killed the export);
capturing the exporters' log messages means adding handlers and turning ``propagate`` off
on loggers the user's tests can inspect; gRPC's C core writes straight to file
descriptor 2, into pytest's progress output, and no Python-level setting in the pytest
process can stop that without changing it for the user's code too. Here the warnings
filter, the loggers and file descriptor 2 (``/dev/null``) are this process's own. The
sending also stops competing with the tests for the pytest process's GIL.

Traces and metrics are separate signals with a thread each: a collector that refuses one
(Jaeger answers 404 on ``/v1/metrics``) never stops the other. Each signal stops after
its first failed request (whatever was not sent is in the local store), which is what
bounds the wait on a collector that is down or never answers.

The pipe carries frames (:data:`FRAME`: kind, item count, length, then the bytes): one
``CONFIG`` frame, any number of ``SPANS`` and ``METRICS`` requests, then ``CLOSE`` with the
seconds left to finish. On its standard output this process writes :data:`READY` once
its span exporter is built (the imports take ~0.15-0.7 s, in parallel with the tests: a
run shorter than that waits for them at its end, as it used to at its start; the metrics
exporter is built for the first metrics request, if one comes), then, at the
end, one JSON report (per signal: items delivered and rejected, the collector's message,
the problem), and ends, with or without the requests still in flight.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import queue
import re
import struct
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import IO, Any, NamedTuple

FRAME = struct.Struct("!BII")  # kind, items (spans or metric data points), payload length
CONFIG, SPANS, METRICS, CLOSE = range(4)
SIGNALS = {SPANS: "spans", METRICS: "metrics"}
READY = "R"  # written once the exporters are built, before the JSON report
_MAX_WAITING = 256  # batches queued per signal before it is given up as "fell behind"


def frame(kind: int, items: int, payload: bytes) -> bytes:
    return FRAME.pack(kind, items, len(payload)) + payload


def _read_frame(stream: IO[bytes]) -> tuple[int, int, bytes] | None:
    header = stream.read(FRAME.size)
    if len(header) < FRAME.size:
        return None
    kind, items, length = FRAME.unpack(header)
    payload = stream.read(length)
    return (kind, items, payload) if len(payload) == length else None


@dataclass
class SignalOutcome:
    """What became of one signal's requests; the JSON report holds one per signal."""

    delivered: int = 0
    rejected: int = 0
    rejection: str = ""  # the collector's partial_success message
    problem: str | None = None
    unsupported: bool = False  # the endpoint does not take this signal (404, UNIMPLEMENTED)


class Answer(NamedTuple):
    """One request's result, from whichever transport sent it; ``attempts`` counts the
    times the exporter sent it (its own retries included)."""

    ok: bool
    rejected: int = 0
    message: str = ""
    unsupported: bool = False
    attempts: int = 1
    problem: str = ""  # why it failed, from the last attempt's answer or error


class LastMessages(logging.Handler):
    """Keeps each thread's last warning or error: the SDK exporters say why an export
    failed only in their log."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._messages: dict[int | None, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self._messages[record.thread] = (record.getMessage().splitlines() or [""])[0]

    def of_this_thread(self) -> str | None:
        return self._messages.get(threading.get_ident())

    def forget_this_thread(self) -> None:
        """Before a request: its failure must not be explained by an earlier message."""
        self._messages.pop(threading.get_ident(), None)


def _error_text(error: BaseException | None) -> str:
    """The useful end of a transport error: ``[Errno 111] Connection refused`` rather than
    the pool's whole ``Max retries exceeded with url: ...`` story."""
    if error is None:
        return "no answer"
    text = str(error)
    found = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    return found.group(0).strip() if found else f"{type(error).__name__}: {text}"


def _partial_success(response: Any, field: str) -> Answer:
    partial = response.partial_success
    return Answer(True, int(getattr(partial, field)), partial.error_message)


class _KeptResult:
    """Wraps the SDK's HTTP transport to keep the last response, whose body (the
    ``partial_success``) the SDK's client drops, and to count the attempts."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.last: Any = None
        self.attempts = 0

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self.attempts += 1
        self.last = self._inner.request(*args, **kwargs)
        return self.last

    def is_connection_error(self, error: Exception | None) -> bool:
        return bool(self._inner.is_connection_error(error))

    def close(self) -> None:
        self._inner.close()


class _Kind(NamedTuple):
    """Where the SDK keeps one signal's exporter and messages."""

    exporter_module: str  # {} is the transport: http or grpc
    exporter: str
    messages_module: str
    messages: str  # the prefix of ...ServiceRequest and ...ServiceResponse
    rejected: str  # the partial_success field counting what was refused


_KINDS = {
    "spans": _Kind(
        "opentelemetry.exporter.otlp.proto.{}.trace_exporter",
        "OTLPSpanExporter",
        "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        "ExportTrace",
        "rejected_spans",
    ),
    "metrics": _Kind(
        "opentelemetry.exporter.otlp.proto.{}.metric_exporter",
        "OTLPMetricExporter",
        "opentelemetry.proto.collector.metrics.v1.metrics_service_pb2",
        "ExportMetrics",
        "rejected_data_points",
    ),
}


def _load(signal: str, transport: str) -> tuple[Any, Any, Any, str]:
    """The SDK exporter class, request and response classes, and rejected-count field."""
    kind = _KINDS[signal]
    exporter = getattr(importlib.import_module(kind.exporter_module.format(transport)), kind.exporter)
    messages = importlib.import_module(kind.messages_module)
    return (
        exporter,
        getattr(messages, f"{kind.messages}ServiceRequest"),
        getattr(messages, f"{kind.messages}ServiceResponse"),
        kind.rejected,
    )


Sender = tuple[Callable[[bytes, int], Answer], Callable[[], None]]


def _http_sender(signal: str, url: str, timeout: float) -> Sender:
    """Sends through the SDK exporter's HTTP client (its retries, headers, compression)."""
    exporter_type, _request, response_type, field = _load(signal, "http")
    exporter = exporter_type(endpoint=url, timeout=timeout)
    client = exporter._client
    kept = client._transport = _KeptResult(client._transport)

    def send(data: bytes, items: int) -> Answer:
        kept.attempts = 0
        result = client.export(data)
        if not result.success:
            status = result.status_code
            problem = f"HTTP {status} {result.reason or ''}".strip() if status else _error_text(result.error)
            return Answer(False, unsupported=status == 404, attempts=kept.attempts, problem=problem)
        try:
            answer = _partial_success(response_type.FromString(kept.last.content()), field)
        except Exception:  # an empty or non-protobuf body: nothing was reported rejected
            answer = Answer(True)
        return answer._replace(attempts=kept.attempts)

    return send, exporter.shutdown


class EncodedBatch(NamedTuple):
    data: bytes
    items: int


def _grpc_sender(signal: str, url: str, timeout: float) -> Sender:
    """Sends through the SDK's gRPC exporter (its channel, credentials, retries), keeping
    the response message the SDK drops and the status code of the last failure."""
    import grpc  # type: ignore[import-untyped]

    exporter_type, request_type, _response, field = _load(signal, "grpc")
    answers: dict[str, Any] = {}

    class KeptStub:
        def __init__(self, stub: Any) -> None:
            self._stub = stub

        def Export(self, *args: Any, **kwargs: Any) -> Any:  # the stub's method name
            answers["attempts"] = answers.get("attempts", 0) + 1
            try:
                answers["response"] = self._stub.Export(*args, **kwargs)
            except grpc.RpcError as error:
                answers["code"] = error.code()
                answers["problem"] = f"{error.code().name}: {error.details()}"
                raise
            return answers["response"]

    class EncodedExporter(exporter_type):  # type: ignore[misc, valid-type]
        def _translate_data(self, data: EncodedBatch) -> Any:
            return request_type.FromString(data.data)

        def _count_data(self, data: EncodedBatch) -> int:
            return data.items

        def _initialize_channel_and_stub(self) -> None:
            super()._initialize_channel_and_stub()
            self._client = KeptStub(self._client)  # type: ignore[has-type]

    exporter = EncodedExporter(endpoint=url, insecure=url.startswith("http://"), timeout=timeout)

    def send(data: bytes, items: int) -> Answer:
        answers.clear()
        if exporter.export(EncodedBatch(data, items)).name != "SUCCESS":
            unsupported = answers.get("code") == grpc.StatusCode.UNIMPLEMENTED
            problem = answers.get("problem", "")
            return Answer(False, unsupported=unsupported, attempts=answers.get("attempts", 1), problem=problem)
        return _partial_success(answers["response"], field)._replace(attempts=answers["attempts"])

    return send, exporter.shutdown


def open_sender(signal: str, protocol: str, url: str, timeout: float) -> Sender:
    """``(send, shutdown)`` for one signal through the SDK's exporter of ``protocol``; one
    ``send`` takes at most ``timeout`` seconds, the exporter's retries included."""
    build = _grpc_sender if protocol == "grpc" else _http_sender
    return build(signal, url, timeout)


class _Signal:
    """One signal's queue and thread; the thread builds its exporter (the imports happen
    there, while the main thread already drains the pipe). A ``lazy`` signal builds it
    for its first batch only: a run without database metrics never imports the SDK's
    metrics exporter (~30-60 ms of the helper's start-up)."""

    def __init__(self, signal: str, target: dict[str, str], timeout: float, log: LastMessages, *, lazy: bool) -> None:
        self.outcome = SignalOutcome()
        self._signal = signal
        self._target = target
        self._timeout = timeout
        self._log = log
        self._lazy = lazy
        self._queue: queue.Queue[tuple[bytes, int] | None] = queue.Queue()
        self.ready = threading.Event()  # the exporter is built (or failed to be), or waits for a first batch
        self.built = threading.Event()  # the thread has its exporter, or will never build one
        self._thread = threading.Thread(target=self._run, name=f"otel-pytest-{signal}", daemon=True)
        self._thread.start()

    def put(self, data: bytes, items: int) -> None:
        if self.outcome.problem is not None or self.outcome.unsupported:
            return
        if self._queue.qsize() >= _MAX_WAITING:
            self.outcome.problem = f"the collector fell behind (more than {_MAX_WAITING} batches waiting)"
            return
        self._queue.put((data, items))

    def _open(self) -> Sender | None:
        try:
            return open_sender(self._signal, self._target["protocol"], self._target["url"], self._timeout)
        except Exception as error:
            self.outcome.problem = f"cannot set up the exporter ({type(error).__name__}: {error})"
            return None
        finally:
            self.built.set()

    def _run(self) -> None:
        outcome = self.outcome
        sender = None if self._lazy else self._open()
        self.ready.set()
        while (item := self._queue.get()) is not None:
            if sender is None and not self.built.is_set():
                sender = self._open()
            if sender is None or outcome.problem is not None or outcome.unsupported:
                continue
            data, items = item
            self._log.forget_this_thread()
            try:
                answer = sender[0](data, items)
            except Exception as error:  # an exporter bug must not end the signal silently
                outcome.problem = f"{type(error).__name__}: {error}"
                continue
            if answer.unsupported:
                outcome.unsupported = True
            if not answer.ok:
                outcome.problem = self._log.of_this_thread() or f"the {self._signal} export failed"
                continue
            outcome.delivered += items - answer.rejected
            outcome.rejected += answer.rejected
            outcome.rejection = answer.message[:200] or outcome.rejection
        self.built.set()  # a lazy signal that got no batch
        if sender is not None and outcome.problem is None:
            sender[1]()

    def end_of_input(self) -> None:
        """No more batches: the thread sends what is queued, then ends."""
        self._queue.put(None)

    def finish(self, deadline: float, timeout: float) -> None:
        """Wait for the requests queued before ``deadline``; what is still in flight then
        is not delivered."""
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self.outcome.problem = self.outcome.problem or f"no answer within {timeout:g} s"


def scrub(message: str, url: str) -> str:
    """The message without the URL's userinfo, query and fragment, in whatever form the
    exporter quoted it (the whole URL; ``user:password@host:port`` for gRPC; the path and
    its query for requests)."""
    from otel_pytest.identity import strip_credentials

    scheme, sep, rest = url.partition("//")
    userinfo = (rest if sep else scheme).split("/", 1)[0].rpartition("@")[0]
    query = url.partition("?")[2].partition("#")[0]
    fragment = url.partition("#")[2]
    message = message.replace(url, strip_credentials(url))
    for quoted, kept in ((userinfo + "@", ""), ("?" + query, ""), ("#" + fragment, "")):
        if len(quoted) > 1:
            message = message.replace(quoted, kept)
    # Any other copy of a secret: only ones long enough not to be parts of ordinary words.
    values = [userinfo, userinfo.partition(":")[2], fragment, *(v.partition("=")[2] for v in query.split("&"))]
    for secret in sorted((value for value in values if len(value) >= 6), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def main() -> int:
    # This process's own warnings: the exporters' imports warn (urllib3 without PySocks),
    # and nobody reads them.
    warnings.simplefilter("ignore")
    report = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # a library's print must not corrupt the report
    stdin = sys.stdin.buffer
    first = _read_frame(stdin)
    if first is None or first[0] != CONFIG:
        return 2
    config = json.loads(first[2])
    timeout = float(config["timeout"])
    log = LastMessages()
    logging.getLogger().addHandler(log)
    # Spans come all along the run; metrics (database runs only) at its end, if at all.
    signals = {
        kind: _Signal(name, config[name], timeout, log, lazy=kind == METRICS)
        for kind, name in SIGNALS.items()
        if config.get(name)
    }

    def announce() -> None:
        for signal in signals.values():
            signal.ready.wait()
        with contextlib.suppress(OSError):
            report.write(READY)
            report.flush()

    announcer = threading.Thread(target=announce, name="otel-pytest-ready", daemon=True)
    announcer.start()
    budget = 0.0
    while (item := _read_frame(stdin)) is not None:
        kind, items, payload = item
        if kind == CLOSE:
            budget = float(json.loads(payload)["budget"])
            break
        if kind in signals:
            signals[kind].put(payload, items)
    # The budget is the collector's: it starts once the exporters are built (a lazy one
    # for the batches it was given).
    announcer.join()
    for signal in signals.values():
        signal.end_of_input()
    for signal in signals.values():
        signal.built.wait()
    deadline = time.monotonic() + budget
    for signal in signals.values():
        signal.finish(deadline, timeout)
    outcomes = {}
    for kind, signal in signals.items():
        outcome = signal.outcome
        if outcome.problem is not None:
            outcome.problem = scrub(outcome.problem, config[SIGNALS[kind]]["url"])[:200]
        outcomes[SIGNALS[kind]] = asdict(outcome)
    with contextlib.suppress(OSError):  # the pytest process gave up on the report
        report.write(json.dumps(outcomes))
        report.flush()
    # Requests still in flight (a collector that never answers) must not hold the exit.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
