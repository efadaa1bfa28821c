"""Sending a plan's runs: requests through the plugin's own OTLP transports, in this process.

:func:`otel_pytest.sender.open_sender` gives the same exporters the plugin's helper uses
(the SDK's HTTP client and gRPC exporter: headers, compression and TLS from the standard
variables; retries with exponential backoff on 429, 502, 503, 504, UNAVAILABLE and refused
connections, up to the timeout). A command line has no tests to hide them from, so they
run here; their log messages are kept (not printed) to say why a request failed.

The spans decide: a span request that fails after its retries ends the push (the endpoint
is down or refuses us; the runs are still in the store, and the ones delivered so far are
recorded). Metrics are extra: an endpoint that takes none (Jaeger answers 404 on
``/v1/metrics``) or fails them is one line, and the spans still go.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from otel_pytest.encode.otlp_batches import METRICS, SPANS, Request, read_requests
from otel_pytest.plural import plural
from otel_pytest.push.display import Display
from otel_pytest.push.plan import Item, Plan, PushError, Target
from otel_pytest.sender import Answer, LastMessages, Sender, open_sender, scrub
from otel_pytest.store.pushed import Pushed, PushLog


@dataclass
class Summary:
    """What a push did, for its last line."""

    runs: int = 0
    spans: int = 0
    rejected: int = 0  # spans the endpoint refused in a partial_success answer
    points: int = 0  # metric data points delivered
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0


@contextlib.contextmanager
def _kept_messages() -> Iterator[LastMessages]:
    """The exporters' log messages kept, not printed, while the push runs."""
    log = LastMessages()
    root = logging.getLogger()
    root.addHandler(log)
    try:
        yield log
    finally:
        root.removeHandler(log)


class _Signal:
    """One signal's transport, opened at its first request."""

    def __init__(self, name: str, target: Target, timeout: float) -> None:
        self.name = name
        self.target = target
        self._timeout = timeout
        self._sender: Sender | None = None

    def send(self, request: Request) -> Answer:
        if self._sender is None:
            self._sender = open_sender(self.name, self.target.protocol, self.target.url, self._timeout)
        return self._sender[0](request.data, request.items)

    def close(self) -> None:
        if self._sender is not None:
            self._sender[1]()


class _Push:
    """One push: its two signals, the store's push log, and the running summary."""

    def __init__(self, plan: Plan, display: Display, log: LastMessages) -> None:
        self._plan = plan
        self._display = display
        self._log = log
        self._spans = _Signal(SPANS, plan.traces, plan.timeout)
        self._metrics = _Signal(METRICS, plan.metrics, plan.timeout) if plan.metrics else None
        self._metrics_refused = False
        self._pushed = PushLog(plan.store)
        self.summary = Summary()

    def _why(self, signal: _Signal, answer: Answer) -> str:
        message = answer.problem or self._log.of_this_thread() or f"the {signal.name} export failed"
        return scrub(message, signal.target.url)[:300]

    def _send(self, signal: _Signal, request: Request) -> Answer:
        self._log.forget_this_thread()
        answer = signal.send(request)
        self.summary.requests += 1
        self.summary.retries += answer.attempts - 1
        return answer

    def _warn(self, problems: list[str]) -> None:
        for problem in problems:
            self._display.line(f"otel-pytest: warning: {problem}")
        problems.clear()

    def item(self, item: Item) -> None:
        """Send one run (or file): its spans, then its metrics; record it when all its spans went."""
        problems: list[str] = []
        self._display.start(item.name, item.entry.spans if item.entry is not None else None)
        spans = 0
        try:
            for request in read_requests(item.paths, self._plan.limits, problems):
                self._warn(problems)  # as soon as the line is passed
                if request.signal == SPANS:
                    spans += self._spans_request(item, request)
                else:
                    self._metrics_request(request)
        except OSError as error:  # a run file gone or unreadable: the other runs still go
            self._warn(problems)
            where = error.filename or item.paths[0]
            self._display.line(f"otel-pytest: warning: {where}: cannot read it ({error.strerror or error}); not pushed")
            return
        self._warn(problems)
        self.summary.runs += 1
        if item.entry is not None:
            target = self._plan.traces
            self._pushed.add(
                Pushed(item.entry.file, item.entry.run_id, target.shown, target.protocol, time.time_ns(), spans)
            )

    def _spans_request(self, item: Item, request: Request) -> int:
        answer = self._send(self._spans, request)
        if not answer.ok:
            done = self.summary.runs
            raise PushError(
                f"cannot push to {self._spans.target.shown}: {self._why(self._spans, answer)} "
                f"({plural(answer.attempts, 'attempt')}); {plural(done, 'run')} pushed before {item.name}; "
                "the rest are still in the store: push them again once the endpoint answers"
            )
        delivered = request.items - answer.rejected
        self.summary.spans += delivered
        self.summary.rejected += answer.rejected
        if answer.rejected:
            self._display.line(
                f"otel-pytest: warning: {self._spans.target.shown} refused {answer.rejected} of "
                f"{request.items} spans of {item.name}: {answer.message or 'no reason given'}"
            )
        self._display.advance(request.items)
        return delivered

    def _metrics_request(self, request: Request) -> None:
        signal = self._metrics
        if signal is None or self._metrics_refused:
            return
        answer = self._send(signal, request)
        if answer.ok:
            self.summary.points += request.items - answer.rejected
            return
        self._metrics_refused = True  # one line, then no more metrics for this push
        if answer.unsupported:
            self._display.line(
                f"otel-pytest: note: {signal.target.shown} takes no metrics: the runs' metrics were not pushed"
            )
        else:
            self._display.line(
                f"otel-pytest: warning: metrics not pushed to {signal.target.shown}: {self._why(signal, answer)}"
            )

    def close(self) -> None:
        self._spans.close()
        if self._metrics is not None:
            self._metrics.close()


def push(plan: Plan, display: Display) -> Summary:
    """Push every item of the plan in order; :class:`PushError` when the spans cannot go."""
    start = time.monotonic()
    with _kept_messages() as log, display:
        run = _Push(plan, display, log)
        try:
            for item in plan.items:
                run.item(item)
        finally:
            run.close()
    run.summary.seconds = time.monotonic() - start
    return run.summary
