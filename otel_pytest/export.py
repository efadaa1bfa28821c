"""The collector side of a run: OTLP export of its spans and metrics.

The local store is written first and always (:mod:`otel_pytest.store.writer`); this module
encodes the same batches as OTLP protobuf requests and hands them, down a pipe, to a
helper process (:mod:`otel_pytest.sender`, whose docstring says why it is a process) that
sends them through the OpenTelemetry SDK's own exporters. No exporter, ``requests``,
``grpc`` or protobuf is imported here for the spans (only the SDK's metrics encoder, once
the tests are over, for a database run's metrics), and no logger or warning filter is
touched.

A collector that is down, never answers, or answers 500 costs at most ``export_timeout``
seconds at the end of the run, for the whole run: the helper stops a signal after its
first failed request (the spans are all in the store), the final wait is bounded, and an
xdist controller only waits for what its workers did not already wait for.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import selectors
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import urlsplit, urlunsplit

from otel_pytest import clock
from otel_pytest.endpoint import Endpoint
from otel_pytest.identity import strip_credentials
from otel_pytest.records import SpanRecord
from otel_pytest.sender import CLOSE, CONFIG, METRICS, READY, SPANS, frame

if TYPE_CHECKING:
    from otel_pytest.db.metrics import DbMetrics
    from otel_pytest.encode.otlp_proto import OtlpProtoEncoder

# Spans per export request: the store is written after every test, a collector wants fewer,
# bigger requests.
BATCH_SIZE = 512
# How long the helper may take, past its deadline, to write its report before it is given up on.
_REPORT_GRACE = 0.5
# The longest wait for the helper's exporters to be built (imports), at the end of a short run.
_READY_LIMIT = 5.0


class ExportSetupError(ValueError):
    """The exporter cannot be built (a missing extra); the message is the line to show."""


def check_exporter(endpoints: Iterable[Endpoint | None]) -> None:
    """A missing gRPC extra is a start-up error, found without importing the exporter."""
    grpc = any(endpoint is not None and endpoint.protocol == "grpc" for endpoint in endpoints)
    if grpc and importlib.util.find_spec("opentelemetry.exporter.otlp.proto.grpc") is None:
        raise ExportSetupError("OTLP protocol 'grpc' needs the gRPC exporter: pip install 'otel-pytest[grpc]'")


def signal_url(endpoint: Endpoint, signal: str) -> str:
    """The URL one signal is sent to: OTLP/HTTP appends ``/v1/<signal>`` to a base URL;
    a signal's own URL, and any gRPC one, are used as they are."""
    if endpoint.protocol == "grpc" or endpoint.signal_specific:
        return endpoint.url
    parts = urlsplit(endpoint.url)  # the path goes before a query (``?api_key=``)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + f"/v1/{signal}"))


@dataclass(frozen=True)
class SignalReport:
    """How one signal fared with the collector. ``sent`` and ``delivered`` count spans, or
    metric data points; ``rejected`` ones were refused in a ``partial_success`` answer."""

    endpoint: str  # as the terminal shows it: no userinfo, no query
    sent: int
    delivered: int = 0
    rejected: int = 0
    rejection: str = ""
    problem: str | None = None
    unsupported: bool = False  # the endpoint does not take this signal (HTTP 404, UNIMPLEMENTED)


@dataclass(frozen=True)
class DeliveryReport:
    """One process's export, for the summary line and the warnings; ``waited`` is how
    long its end waited for the collector (an xdist controller subtracts its workers')."""

    spans: SignalReport | None
    metrics: SignalReport | None
    waited: float = 0.0

    def plain(self) -> dict[str, Any]:
        """Plain values, for xdist's ``workeroutput``."""
        return asdict(self)

    @classmethod
    def from_plain(cls, data: Mapping[str, Any]) -> DeliveryReport:
        def signal(value: Mapping[str, Any] | None) -> SignalReport | None:
            return SignalReport(**value) if value else None

        return cls(signal(data["spans"]), signal(data["metrics"]), float(data["waited"]))


def _data_points(request: Any) -> int:
    return sum(
        len(getattr(metric, str(metric.WhichOneof("data"))).data_points)
        for resource_metrics in request.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


# The helper is started through a shell that puts it in the background and exits at once:
# the helper is then nobody's child, so a test's os.wait() or waitpid(-1) neither reaps it
# nor blocks on it. A background command's standard input is /dev/null unless redirected:
# fd 3 carries the pipe across.
_DETACH = 'exec 3<&0; "$@" <&3 3<&- &'


def _start_helper() -> tuple[BinaryIO, int]:
    """Start ``python -m otel_pytest.sender`` detached; the pipes to and from it."""
    to_helper, for_helper = os.pipe()
    from_helper, for_us = os.pipe()
    try:
        launcher = subprocess.Popen(
            # -W: PYTHONWARNINGS=error, meant for the user's code, must not stop the helper.
            ["/bin/sh", "-c", _DETACH, "sh", sys.executable, "-W", "ignore", "-m", "otel_pytest.sender"],
            stdin=to_helper,
            stdout=for_us,
            stderr=subprocess.DEVNULL,
            # Not the current folder first on the helper's path (Python 3.11+).
            env={**os.environ, "PYTHONSAFEPATH": "1"},
        )
        launcher.wait()  # the shell only forks and exits
    except OSError:
        os.close(for_helper)
        os.close(from_helper)
        raise
    finally:
        os.close(to_helper)
        os.close(for_us)
    return os.fdopen(for_helper, "wb"), from_helper


def _read_answer(fd: int, budget: float) -> tuple[bytes, bool]:
    """What the helper writes until it ends (READY, then the report), and whether it did:
    up to :data:`_READY_LIMIT` for READY, then ``budget`` (plus a grace) for the report."""
    answer = b""
    deadline = clock.monotonic() + _READY_LIMIT
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while selector.select(max(0.0, deadline - clock.monotonic())):
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return answer, True
            if not answer and chunk.startswith(READY.encode()):
                deadline = clock.monotonic() + budget + _REPORT_GRACE
            answer += chunk
    return answer, False


class BackgroundExporter:
    """Encodes batches and writes them to the sender process; reads its report at close.

    The helper drains the pipe as it comes (it queues what it has not sent yet), so a
    write here blocks only for as long as the helper takes to read it.
    """

    def __init__(
        self, spans: Endpoint | None, metrics: Endpoint | None, timeout: float, encoder: OtlpProtoEncoder
    ) -> None:
        self._encoder = encoder
        self._timeout = timeout
        self._targets = {
            name: {"url": signal_url(endpoint, path), "protocol": endpoint.protocol}
            for name, path, endpoint in (("spans", "traces", spans), ("metrics", "metrics", metrics))
            if endpoint is not None
        }
        self._shown = {
            "spans": strip_credentials(spans.url) if spans else "",
            "metrics": strip_credentials(self._targets["metrics"]["url"]) if metrics else "",
        }
        self._sent = {"spans": 0, "metrics": 0}
        self._batch: list[SpanRecord] = []
        self._waited_elsewhere = 0.0
        self._problem: str | None = None
        # Application threads may end spans, and so flush the store, while the main thread does.
        self._lock = threading.Lock()
        self._to_helper: BinaryIO | None = None
        self._from_helper: int | None = None
        try:
            self._to_helper, self._from_helper = _start_helper()
        except OSError as error:
            self._problem = f"cannot start the export helper ({error.strerror or error})"
        config = {"timeout": timeout, **self._targets}
        self._write(CONFIG, 0, json.dumps(config).encode())

    def _write(self, kind: int, items: int, payload: bytes) -> None:
        if self._to_helper is None or self._problem is not None:
            return
        try:
            self._to_helper.write(frame(kind, items, payload))
            self._to_helper.flush()
        except OSError as error:  # the helper is gone
            self._problem = f"the export helper stopped ({error.strerror or error})"

    def submit(self, records: list[SpanRecord]) -> None:
        if "spans" not in self._targets:
            return
        with self._lock:
            self._sent["spans"] += len(records)
            self._batch.extend(records)
            if len(self._batch) >= BATCH_SIZE:
                self._send_batch()

    def _send_batch(self) -> None:
        batch, self._batch = self._batch, []
        if batch and self._problem is None:
            self._write(SPANS, len(batch), self._encoder.request(batch))

    def submit_metrics(self, metrics: DbMetrics) -> None:
        """The run's metrics, encoded by the SDK's own OTLP metrics encoder."""
        if "metrics" not in self._targets:
            return
        from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

        request = encode_metrics(metrics.metrics_data())
        points = _data_points(request)
        with self._lock:
            self._sent["metrics"] += points
            self._write(METRICS, points, request.SerializeToString())

    def already_waited(self, seconds: float) -> None:
        """Other processes of this run (xdist workers) already waited this long for the
        collector: the export budget is for the whole run."""
        self._waited_elsewhere = max(self._waited_elsewhere, seconds)

    def close(self) -> DeliveryReport:
        start = clock.monotonic()
        budget = max(0.0, self._timeout - self._waited_elsewhere)
        with self._lock:
            self._send_batch()
            self._write(CLOSE, 0, json.dumps({"budget": budget}).encode())
        outcomes = self._report(budget)
        return DeliveryReport(
            self._signal("spans", outcomes), self._signal("metrics", outcomes), clock.monotonic() - start
        )

    def _report(self, budget: float) -> dict[str, dict[str, Any]]:
        """The helper's JSON report; on a helper that is not ready within
        :data:`_READY_LIMIT` or does not report within the budget, the reason why not."""
        if self._from_helper is None or self._to_helper is None:
            return {}
        answer, ended = _read_answer(self._from_helper, budget)
        # A helper given up on finds its pipes closed, and ends.
        os.close(self._from_helper)
        with contextlib.suppress(OSError):
            self._to_helper.close()
        ready = answer.startswith(READY.encode())
        if not ended:
            self._problem = self._problem or (
                f"no answer within {self._timeout:g} s"
                if ready
                else f"the export helper was not ready within {_READY_LIMIT:g} s"
            )
            return {}
        try:
            return cast("dict[str, dict[str, Any]]", json.loads(answer[1:] if ready else b""))
        except ValueError:
            self._problem = self._problem or "the export helper ended without a report"
            return {}

    def _signal(self, name: str, outcomes: Mapping[str, Mapping[str, Any]]) -> SignalReport | None:
        if name not in self._targets:
            return None
        if not self._sent[name]:  # nothing to deliver, nothing lost (a run without metrics)
            return SignalReport(self._shown[name], 0)
        outcome = dict(outcomes.get(name) or {"problem": "the export helper did not report"})
        outcome["problem"] = self._problem or outcome["problem"]
        return SignalReport(self._shown[name], self._sent[name], **outcome)
