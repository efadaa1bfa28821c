"""A run recorded while the collector was down reaches a real Jaeger later, through
``otel-pytest push``, and reads back identical through API v3."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from otel_pytest.cli import EXIT_OK
from otel_pytest.store.index import RunEntry
from otel_pytest.store.reader import read_spans, spans_of_traces_data
from tests.jaeger_server import JaegerServer
from tests.jaeger_traces import Traces, assert_same_traces, jaeger_traces, traces_of, without_parent_warnings
from tests.otlp_receiver import DownPort
from tests.push.conftest import entries, push, record, run_files


def _rfc3339(unix_nano: int) -> str:
    seconds, nanos = divmod(unix_nano, 10**9)
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def traces_path(service: str, run: RunEntry) -> str:
    """API v3's search for the service's traces around the run (both bounds are required)."""
    minute = 60 * 10**9
    start, end = _rfc3339(run.start_time_unix_nano - minute), _rfc3339(run.end_time_unix_nano + minute)
    return (
        f"/api/v3/traces?query.service_name={service}&query.start_time_min={start}"
        f"&query.start_time_max={end}&query.num_traces=1000"
    )


def result(answer: Mapping[str, object]) -> dict[str, Any]:
    """An API v3 answer's OTLP JSON ``TracesData``."""
    data = answer["result"]
    assert isinstance(data, dict), answer
    return data


def span_count(answer: Mapping[str, object]) -> int:
    return sum(
        len(scope.get("spans") or ())
        for resource in result(answer)["resourceSpans"]
        for scope in resource.get("scopeSpans") or ()
    )


def answer_traces(answer: Mapping[str, object]) -> Traces:
    """An API v3 answer in the form the Jaeger end-to-end tests compare."""
    spans = (
        (resource, span) for resource, group in spans_of_traces_data(result(answer), detail=True) for span in group
    )
    return without_parent_warnings(traces_of(spans))


def recorded_while_down(folder: Path, service: str) -> tuple[Path, RunEntry]:
    """A store holding one run whose export failed (nothing listened on the endpoint)."""
    with DownPort() as down:
        done = record(folder, 1, {"OTEL_EXPORTER_OTLP_ENDPOINT": down.endpoint, "OTEL_SERVICE_NAME": service})
    assert "spans not delivered to" in done.stdout
    store = folder / ".otel-pytest"
    (run,) = entries(store)
    return store, run


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_run_recorded_while_the_collector_was_down_reaches_jaeger_later_and_reads_back_identical(
    jaeger: JaegerServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], protocol: str
) -> None:
    service = f"push-{uuid.uuid4().hex[:12]}"
    store, run = recorded_while_down(tmp_path, service)
    endpoint = jaeger.otlp_grpc if protocol == "grpc" else jaeger.otlp_http
    code, _out, err = push(capsys, run.run_id, "--store", str(store), "--endpoint", endpoint, "--protocol", protocol)
    metrics_url = endpoint if protocol == "grpc" else f"{endpoint}/v1/metrics"
    assert code == EXIT_OK
    assert err == [f"otel-pytest: note: {metrics_url} takes no metrics: the runs' metrics were not pushed"]
    expected = traces_of(read_spans(run_files(store, [run])[0]))
    assert sum(map(len, expected.values())) == run.spans
    assert_same_traces(expected, jaeger_traces(jaeger, service, run.start_time_unix_nano, expected))


def test_a_run_forced_to_jaeger_twice_is_stored_twice_and_read_back_once(
    jaeger: JaegerServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What Jaeger v2 (memory storage) does with a duplicate push: it keeps both copies,
    and API v3 deduplicates spans with the same ids and content, so each span comes back
    once; the copy's resource comes back with empty scopes."""
    service = f"push-{uuid.uuid4().hex[:12]}"
    store, run = recorded_while_down(tmp_path, service)
    argv = (run.run_id, "--store", str(store), "--endpoint", jaeger.otlp_http)
    assert push(capsys, *argv)[0] == EXIT_OK
    path = traces_path(service, run)
    once = jaeger.poll(path, lambda answer: span_count(answer) >= run.spans)
    assert push(capsys, *argv, "--force")[0] == EXIT_OK
    resources = len(result(once)["resourceSpans"])
    twice = jaeger.poll(path, lambda answer: len(result(answer)["resourceSpans"]) >= 2 * resources)
    assert_same_traces(traces_of(read_spans(run_files(store, [run])[0])), answer_traces(twice))
    assert span_count(twice) == run.spans
    empty = [
        scope
        for resource in result(twice)["resourceSpans"]
        for scope in resource["scopeSpans"]
        if not scope.get("spans")
    ]
    assert len(empty) == resources
