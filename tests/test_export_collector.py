"""Export through a real OpenTelemetry Collector running ``deploy/collector.yaml``: the run
reaches Jaeger and the collector's OTLP JSON Lines file exactly as the local store holds it,
and ``otel-pytest analyze`` reads that file as it reads the store."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import orjson
import pytest

from otel_pytest.store.reader import read_spans
from tests.collector_server import CollectorServer
from tests.jaeger_server import JaegerServer
from tests.jaeger_traces import assert_same_traces, jaeger_traces, traces_of
from tests.test_export_jaeger import PROTOCOLS, endpoint_of, export_run


def analyze(*args: str) -> dict[str, Any]:
    """``otel-pytest analyze --format json`` as a user runs it."""
    command = [sys.executable, "-m", "otel_pytest.cli", "analyze", "--format", "json", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = orjson.loads(done.stdout)
    return report


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_run_through_the_collector_reaches_jaeger_and_its_file_exactly_as_stored(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    collector: CollectorServer,
    jaeger: JaegerServer,
    protocol: str,
) -> None:
    service, start_ns, stored = export_run(pytester, monkeypatch, protocol, endpoint_of(collector, protocol))
    collector.stop()  # a graceful stop flushes its batches to Jaeger and to the file

    assert_same_traces(stored, traces_of(read_spans(collector.traces_file)))
    assert_same_traces(stored, jaeger_traces(jaeger, service, start_ns, stored))
    store = pytester.path / ".otel-pytest"
    from_file = analyze(str(collector.traces_file))
    assert from_file == analyze("--store", str(store))
    (run_id,) = {span["attributes"]["pytest.run.id"] for trace in stored.values() for span in trace.values()}
    assert (from_file["current_run"], from_file["runs_analyzed"], from_file["notes"]) == (run_id, 1, [])
    assert from_file["waterfall"]["run"] == run_id
