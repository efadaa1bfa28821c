"""For the tests of reading Jaeger: hand-made traces sent to the real Jaeger (``jaeger``
fixture) over OTLP/HTTP JSON; :class:`FixedAnswer`, a query API that answers every request
with the same status and body (garbage, an error) and remembers the headers;
:class:`CountingProxy`, which forwards to Jaeger and remembers what was asked; and real
runs of a small suite exported to Jaeger (:func:`run_suite`, :func:`wait_for_runs`)."""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from otel_pytest.store.jaeger import rfc3339
from otel_pytest.store.reader import spans_of_traces_data
from tests.jaeger_server import JaegerServer
from tests.otlp_receiver import ServedInThread

if TYPE_CHECKING:
    pass

HOST = "127.0.0.1"


def _values(attributes: Mapping[str, str]) -> list[dict[str, object]]:
    return [{"key": key, "value": {"stringValue": value}} for key, value in attributes.items()]


def span(
    trace_id: str, span_id: str, name: str, start_ns: int, *, parent: str = "", **attributes: str
) -> dict[str, object]:
    """One OTLP JSON span of 1 ms (attribute names with dots: pass them as ``**{...}``)."""
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + 1_000_000),
        "attributes": _values(attributes),
    }


def send(jaeger: JaegerServer, service: str, spans: Sequence[dict[str, object]], **resource: str) -> None:
    """Export ``spans`` to Jaeger as one OTLP/HTTP JSON request from ``service``."""
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": _values({"service.name": service, **resource})},
                "scopeSpans": [{"scope": {"name": "tests"}, "spans": list(spans)}],
            }
        ]
    }
    request = urllib.request.Request(
        jaeger.otlp_http + "/v1/traces", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers with :meth:`answer`; logs nothing (the test's output stays the test's)."""

    def answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


class _LoopbackHttp(ServedInThread):
    """An HTTP server on loopback; its ``url``."""

    def _serve(self, handler: type[_Handler]) -> None:
        self._server = http.server.ThreadingHTTPServer((HOST, 0), handler)
        self.url = f"http://{HOST}:{self._server.server_address[1]}"


class FixedAnswer(_LoopbackHttp):
    """An HTTP server on loopback answering every GET with ``status`` and ``body``;
    ``headers`` holds each request's headers."""

    def __init__(self, status: int, body: bytes) -> None:
        owner = self
        self.headers: list[dict[str, str]] = []

        class Handler(_Handler):
            def do_GET(self) -> None:
                owner.headers.append(dict(self.headers.items()))
                self.answer(status, body)

        self._serve(Handler)


class CountingProxy(_LoopbackHttp):
    """Forwards every GET to ``target`` and answers what it answered; ``paths`` holds
    each request's path and query."""

    def __init__(self, target: str) -> None:
        owner = self
        self.paths: list[str] = []

        class Handler(_Handler):
            def do_GET(self) -> None:
                owner.paths.append(self.path)
                try:
                    with urllib.request.urlopen(target + self.path, timeout=30) as answer:
                        self.answer(answer.status, answer.read())
                except urllib.error.HTTPError as error:
                    self.answer(error.code, error.read())

        self._serve(Handler)


# -- real runs exported to Jaeger ---------------------------------------------------------

SUITE = """
import os
import time

import pytest


@pytest.fixture
def slow_fixture():
    time.sleep(0.02)
    yield


def test_slow(slow_fixture):
    time.sleep(0.3 if os.environ.get("INJECT_REGRESSION") else 0.03)


@pytest.mark.parametrize("n", range(4))
def test_quick(n):
    pass
"""
_EXPORTED = re.compile(r"otel: run ([0-9a-f]{16}): \d+ tests, (\d+) spans in .*, exported to ")


@dataclass(frozen=True)
class ExportedRun:
    run_id: str
    spans: int


def run_suite(folder: Path, jaeger: JaegerServer, service: str, *, branch: str, regression: bool) -> ExportedRun:
    """Run :data:`SUITE` in ``folder`` with ``pytest --otel`` (its store there) exporting
    to Jaeger as ``service`` on ``branch``; ``regression`` makes ``test_slow`` 10x slower."""
    (folder / "test_suite.py").write_text(SUITE)
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OTEL_", "TRACEPARENT", "TRACESTATE", "PYTEST_", "INJECT_"))
    }
    environment.update(OTEL_SERVICE_NAME=service, OTEL_RESOURCE_ATTRIBUTES=f"vcs.ref.head.name={branch}")
    if regression:
        environment["INJECT_REGRESSION"] = "1"
    command = [sys.executable, "-m", "pytest", "--otel", "--otel-endpoint", jaeger.otlp_http, "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*command, "-p", "no:asyncio", "-p", "no:anyio", "-q", "test_suite.py"],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    found = _EXPORTED.search(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert found is not None, done.stdout
    return ExportedRun(found[1], int(found[2]))


def wait_for_runs(jaeger: JaegerServer, service: str, runs: Sequence[ExportedRun]) -> None:
    """Wait until Jaeger holds every span each run exported (it stores after a flush)."""
    now = time.time_ns()
    path = (
        f"/api/v3/traces?query.service_name={service}&query.start_time_min={rfc3339(now - 3600 * 10**9)}"
        f"&query.start_time_max={rfc3339(now)}&query.num_traces=1000"
    )
    expected = {run.run_id: run.spans for run in runs}

    def ready(answer: dict[str, object]) -> bool:
        counts: dict[str, int] = {}
        for _resource, spans in spans_of_traces_data(answer["result"]):  # type: ignore[arg-type]
            for one in spans:
                run_id = str(one.attributes.get("pytest.run.id"))
                counts[run_id] = counts.get(run_id, 0) + 1
        return counts == expected

    jaeger.poll(path, ready)
