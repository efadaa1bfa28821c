"""Export over OTLP: what a collector receives, and what a run costs when it cannot receive.

Each test runs a small generated suite in a subprocess (the exporter is a background
thread, and its settings come from the environment) against an in-process receiver from
:mod:`tests.otlp_receiver`, then compares what came over the wire with the local store.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otel_pytest.store.compression import read_decoded
from otel_pytest.store.reader import Event, Link, Span, SpanDetail, read_spans
from tests.otlp_receiver import BlackHole, DownPort, GrpcReceiver, HttpReceiver

SUITE = """
import pytest


@pytest.fixture(scope="module")
def database():
    yield {"rows": 1}


@pytest.fixture
def row(database):
    yield database["rows"]


def test_reads_a_row(row):
    assert row == 1


@pytest.mark.parametrize("limit", [1, 2])
def test_compares(row, limit):
    assert row <= limit


def test_fails(row):
    assert row == 2
"""
ROOTS = [
    "pytest session",
    "test_suite.py::test_compares[1]",
    "test_suite.py::test_compares[2]",
    "test_suite.py::test_fails",
    "test_suite.py::test_reads_a_row",
]
# pytest-asyncio, when installed, adds session fixtures of its own: keep the span set fixed.
ARGS = ("--otel", "-p", "no:asyncio", "-p", "no:cacheprovider")
SECRET = "s3cr3t-token"
ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
TRACES_PROTOCOL = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
# The one timing bound these tests allow themselves, against the same suite without an
# endpoint: the default export budget (1.0 s) plus importing the exporter, with room for a
# machine busy with other work (2.0 s failed there now and then). It still proves the budget:
# without it the SDK waits out its own 10 s timeout for a collector that never answers.
MAX_EXTRA_SECONDS = 4.0
SUBPROCESS_TIMEOUT = 60.0


@dataclass(frozen=True)
class Outcome:
    result: pytest.RunResult
    seconds: float

    @property
    def otel_lines(self) -> list[str]:
        return [line for line in self.result.outlines if line.startswith("otel:")]


NEXT = "otel: next: otel-pytest analyze"  # the closing hint of every run here


def run_suite(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str], *args: str, suite: str = SUITE
) -> Outcome:
    pytester.makepyfile(test_suite=suite)
    with monkeypatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        start = time.monotonic()
        result = pytester.runpytest_subprocess(*ARGS, *args, timeout=SUBPROCESS_TIMEOUT)
        seconds = time.monotonic() - start
    return Outcome(result, seconds)


def run_file(store: Path) -> Path:
    files = sorted((store / "runs").glob("*.otlp.jsonl.zst"))
    assert len(files) == 1, files
    return files[0]


# --- one comparable form for a span read from the store (OTLP JSON) or the wire (protobuf)


def _wire_value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_wire_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: _wire_value(item.value) for item in value.kvlist_value.values}
    return None if kind is None else getattr(value, kind)


def _wire_attributes(items: Iterable[KeyValue]) -> dict[str, object]:
    return {item.key: _wire_value(item.value) for item in items}


def _from_wire(span: Any, scope: str) -> Span:
    """A span received over OTLP protobuf, as the store's reader reads one in detail."""
    status = span.status

    def hex_of(value: bytes) -> str:
        return bytes(value).hex()

    return Span(
        hex_of(span.trace_id),
        hex_of(span.span_id),
        hex_of(span.parent_span_id),
        span.name,
        int(span.start_time_unix_nano),
        int(span.end_time_unix_nano),
        _wire_attributes(span.attributes),
        int(status.code),
        SpanDetail(
            scope=scope,
            kind=int(span.kind),
            trace_state=span.trace_state,
            status_message=status.message,
            events=tuple(
                Event(event.name, int(event.time_unix_nano), _wire_attributes(event.attributes))
                for event in span.events
            ),
            links=tuple(
                Link(hex_of(link.trace_id), hex_of(link.span_id), _wire_attributes(link.attributes))
                for link in span.links
            ),
            dropped_attributes=int(span.dropped_attributes_count),
            dropped_events=int(span.dropped_events_count),
            dropped_links=int(span.dropped_links_count),
        ),
    )


def _view(resource: dict[str, object], span: Span) -> dict[str, object]:
    """Every field of a span. ``flags`` is left out: the SDK's encoder sets its "has
    is_remote" bit on the wire and the store does not write the field."""
    assert span.detail is not None
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_id,
        "name": span.name,
        "start_time_unix_nano": span.start,
        "end_time_unix_nano": span.end,
        "attributes": span.attributes,
        "status": span.status,
        "detail": span.detail,
        "resource": resource,
    }


def stored_views(store: Path) -> list[dict[str, object]]:
    return [_view(resource, span) for resource, span in read_spans(run_file(store))]


def wire_views(receiver: HttpReceiver | GrpcReceiver) -> list[dict[str, object]]:
    return [
        _view(_wire_attributes(resource_spans.resource.attributes), _from_wire(span, scope_spans.scope.name))
        for resource_spans in receiver.resource_spans()
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]


def by_span_id(views: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    indexed = {view["span_id"]: view for view in views}
    assert len(indexed) == len(views), "a span id appears twice"
    return indexed


def run_id_of(store: Path) -> str:
    name = run_file(store).name
    match = re.fullmatch(r"\d{8}T\d{6}Z_([0-9a-f]{16})\.otlp\.jsonl\.zst", name)
    assert match is not None, name
    return match.group(1)


def assert_suite_outcome(outcome: Outcome) -> None:
    assert outcome.result.ret == pytest.ExitCode.TESTS_FAILED
    outcome.result.assert_outcomes(passed=3, failed=1)


def assert_delivered_exactly(
    outcome: Outcome, store: Path, receiver: HttpReceiver | GrpcReceiver, shown_endpoint: str
) -> None:
    """The receiver got the store's spans, field for field, each once; the line says so."""
    assert_suite_outcome(outcome)
    assert outcome.result.errlines == []
    stored = stored_views(store)
    wire = wire_views(receiver)
    assert len(wire) == len(stored)
    assert by_span_id(wire) == by_span_id(stored)
    run_id = run_id_of(store)
    run_ids = {
        str(view["attributes"]["pytest.run.id"])  # type: ignore[index]
        for view in stored
    }
    assert run_ids == {run_id}
    span_ids = {view["span_id"] for view in stored}
    roots = [str(view["name"]) for view in stored if view["parent_span_id"] not in span_ids]
    assert sorted(roots) == ROOTS
    assert outcome.otel_lines == [
        f"otel: run {run_id}: 4 tests, {len(stored)} spans in .otel-pytest, exported to {shown_endpoint}",
        NEXT,
    ]


# --- delivery


@pytest.mark.parametrize(
    ("variables", "flags", "shown_path", "content_encoding"),
    [
        pytest.param({ENDPOINT: "{url}"}, (), "", None, id="endpoint-variable"),
        pytest.param({TRACES_ENDPOINT: "{url}/v1/traces"}, (), "/v1/traces", None, id="traces-endpoint-variable"),
        pytest.param({}, ("--otel-endpoint={url}",), "", None, id="endpoint-flag"),
        pytest.param({ENDPOINT: "{url}", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}, (), "", "gzip", id="gzip"),
    ],
)
def test_an_http_collector_receives_exactly_the_spans_of_the_store(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    flags: tuple[str, ...],
    shown_path: str,
    content_encoding: str | None,
) -> None:
    with HttpReceiver() as receiver:
        env = {name: value.format(url=receiver.endpoint) for name, value in variables.items()}
        args = [flag.format(url=receiver.endpoint) for flag in flags]
        outcome = run_suite(pytester, monkeypatch, env, *args)
    assert_delivered_exactly(outcome, pytester.path / ".otel-pytest", receiver, receiver.endpoint + shown_path)
    assert [(item.headers["content-type"], item.headers.get("content-encoding")) for item in receiver.received] == [
        ("application/x-protobuf", content_encoding)
    ]


def test_a_grpc_collector_receives_exactly_the_spans_of_the_store(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    with GrpcReceiver() as receiver:
        env = {ENDPOINT: receiver.endpoint, PROTOCOL: "grpc"}
        outcome = run_suite(pytester, monkeypatch, env)
    assert_delivered_exactly(outcome, pytester.path / ".otel-pytest", receiver, receiver.endpoint)
    assert len(receiver.received) == 1


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_headers_reach_the_collector_and_the_secret_is_written_nowhere(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    receiver_type = GrpcReceiver if protocol == "grpc" else HttpReceiver
    with receiver_type() as receiver:
        env = {
            ENDPOINT: receiver.endpoint,
            PROTOCOL: protocol,
            "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer {SECRET}",
        }
        outcome = run_suite(pytester, monkeypatch, env)
    store = pytester.path / ".otel-pytest"
    assert_delivered_exactly(outcome, store, receiver, receiver.endpoint)
    assert [item.headers["authorization"] for item in receiver.received] == [f"Bearer {SECRET}"]
    assert SECRET not in "\n".join(outcome.result.outlines + outcome.result.errlines)
    written = sorted(path for path in store.rglob("*") if path.is_file())
    assert {"index.jsonl", "runs"} <= {path.relative_to(store).parts[0] for path in written}
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path


def test_credentials_in_the_endpoint_url_are_used_but_never_shown(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HttpReceiver() as receiver:
        url = receiver.endpoint.replace("http://", f"http://ci:{SECRET}@")
        outcome = run_suite(pytester, monkeypatch, {ENDPOINT: url})
    assert_delivered_exactly(outcome, pytester.path / ".otel-pytest", receiver, receiver.endpoint)
    # requests sends URL credentials as basic auth: "ci:s3cr3t-token" in base64.
    assert [item.headers["authorization"] for item in receiver.received] == ["Basic Y2k6czNjcjN0LXRva2Vu"]
    assert SECRET not in "\n".join(outcome.result.outlines + outcome.result.errlines)


# --- a collector that cannot take the spans


@dataclass(frozen=True)
class Failure:
    protocol: str
    collector: Callable[[], AbstractContextManager[HttpReceiver | BlackHole | DownPort]]
    # What the parenthesis of the warning says; a black hole races the exporter's own
    # timeout against the end-of-run budget (both 1.0 s), so either may be the one named.
    problem: str


FAILURES = {
    "http-down": Failure(
        "http/protobuf",
        DownPort,
        # The SDK retries a refused connection after a 0.8-1.2 s backoff when that still
        # fits its own 1 s timeout: on a busy machine the run's 1 s budget may end first.
        r"Failed to export spans batch due to timeout, max retries or shutdown\.|no answer within 1 s",
    ),
    "http-black-hole": Failure(
        "http/protobuf",
        BlackHole,
        r"no answer within 1 s|Failed to export spans batch .*(timeout|timed out).*",
    ),
    "http-500": Failure(
        "http/protobuf",
        lambda: HttpReceiver(status=500),
        r"Failed to export spans batch code: 500, reason: Internal Server Error",
    ),
    "grpc-down": Failure(
        "grpc",
        DownPort,
        r"Failed to export traces to 127\.0\.0\.1:\d+, error code: StatusCode\.UNAVAILABLE, .*",
    ),
    "grpc-black-hole": Failure(
        "grpc",
        BlackHole,
        r"no answer within 1 s|Failed to export traces to 127\.0\.0\.1:\d+, "
        r"error code: StatusCode\.DEADLINE_EXCEEDED, .*",
    ),
}


@pytest.mark.parametrize("failure", list(FAILURES.values()), ids=list(FAILURES))
def test_a_collector_that_cannot_take_the_spans_costs_one_warning_and_a_bounded_wait(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, failure: Failure
) -> None:
    baseline = run_suite(pytester, monkeypatch, {}, "--otel-store=baseline")
    with failure.collector() as collector:
        env = {ENDPOINT: collector.endpoint, PROTOCOL: failure.protocol}
        outcome = run_suite(pytester, monkeypatch, env)
        extra = outcome.seconds - baseline.seconds
        if extra > MAX_EXTRA_SECONDS:
            # The budget leaves ~0.5 s for everything else, and another process on a busy
            # machine can take that from one run; a run that really waits too long (the
            # exporter sitting out its retries) is too slow both times.
            again = run_suite(pytester, monkeypatch, env, "--otel-store=again")
            again_baseline = run_suite(pytester, monkeypatch, {}, "--otel-store=baseline-again")
            extra = min(extra, again.seconds - again_baseline.seconds)
        # The HTTP exporter connects at once (and may retry); gRPC connects lazily, and on a
        # busy machine the run's budget can end before its channel has dialled.
        reached = isinstance(collector, BlackHole) and collector.accepted >= 1
        if isinstance(collector, HttpReceiver):
            assert collector.received == []

    assert_suite_outcome(baseline)
    assert_suite_outcome(outcome)
    assert extra <= MAX_EXTRA_SECONDS, (outcome, baseline)

    store = pytester.path / ".otel-pytest"
    names = Counter(span.name for _resource, span in read_spans(run_file(store)))
    baseline_store = pytester.path / "baseline"
    assert names == Counter(span.name for _resource, span in read_spans(run_file(baseline_store)))
    spans = sum(names.values())
    run_id = run_id_of(store)
    summary, warning, hint = outcome.otel_lines
    assert (summary, hint) == (f"otel: run {run_id}: 4 tests, {spans} spans in .otel-pytest", NEXT)
    match = re.fullmatch(
        rf"otel: warning: {spans} of {spans} spans not delivered to "
        rf"{re.escape(collector.endpoint)} "
        rf"\((?P<problem>.+)\); they are in \.otel-pytest/runs/{re.escape(run_file(store).name)}",
        warning,
    )
    assert match is not None, warning
    assert re.fullmatch(failure.problem, match.group("problem")), match.group("problem")
    if isinstance(collector, BlackHole):
        # Either the black hole was dialled and never answered, or the budget ran out first:
        # never another cause (a wrong port would be refused, not silent).
        assert reached or match.group("problem") == "no answer within 1 s", match.group("problem")
    # Nothing from the exporter leaks out around the one warning line.
    assert outcome.result.errlines == []


ABANDONED_EXPORT = """
import sys

from otel_pytest import clock
from otel_pytest.encode.otlp_proto import OtlpProtoEncoder
from otel_pytest.encode.shape import ExportShape
from otel_pytest.export import BackgroundExporter
from otel_pytest.endpoint import Endpoint
from otel_pytest.records import SpanRecord

url, protocol = sys.argv[1:]
encoder = OtlpProtoEncoder(ExportShape({"service.name": "suite"}, "0123456789abcdef", "0"))
exporter = BackgroundExporter(Endpoint(url, protocol, signal_specific=False), None, 0.3, encoder)
record = SpanRecord("span", 1, 2, 0, clock.now_ns(), {})
record.end = record.start + 1
exporter.submit([record])
print(exporter.close().spans, flush=True)
"""


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_an_export_abandoned_at_close_holds_nothing_and_prints_nothing(
    pytester: pytest.Pytester, protocol: str
) -> None:
    """The request in flight when the budget runs out is the helper's, which reports and
    ends at its deadline: nothing holds the process, and nothing prints later."""
    script = pytester.makepyfile(abandoned_export=ABANDONED_EXPORT)
    with BlackHole() as hole:
        # A stuck process runs into this timeout (an error).
        result = pytester.run(sys.executable, str(script), hole.endpoint, protocol, timeout=15)
        assert hole.accepted >= 1
    assert result.ret == 0
    (report,) = result.outlines
    # The exporter's own timeout is the budget too: either may be the one that ran out.
    assert re.fullmatch(
        rf"SignalReport\(endpoint='{re.escape(hole.endpoint)}', sent=1, delivered=0, rejected=0, rejection='', "
        r"problem='(no answer within 0\.3 s|Failed to export .*(timeout|timed out|DEADLINE_EXCEEDED).*)', "
        r"unsupported=False\)",
        report,
    ), report
    assert result.errlines == []


# --- settings the exporter cannot use


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        pytest.param(
            {ENDPOINT: "http://127.0.0.1:4318", PROTOCOL: "http/json"},
            f"{PROTOCOL}='http/json' is not supported: use one of http/protobuf, grpc",
            id="protocol",
        ),
        pytest.param(
            {ENDPOINT: "http://127.0.0.1:4318", TRACES_PROTOCOL: "json"},
            f"{TRACES_PROTOCOL}='json' is not supported: use one of http/protobuf, grpc",
            id="traces-protocol",
        ),
        pytest.param(
            {ENDPOINT: "127.0.0.1:4318"},
            "OTEL_EXPORTER_OTLP_ENDPOINT='127.0.0.1:4318' is not an OTLP endpoint: "
            "expected http://host:port or https://host:port",
            id="endpoint-without-scheme",
        ),
        pytest.param(
            {TRACES_ENDPOINT: "http://127.0.0.1:99999/v1/traces"},
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT='http://127.0.0.1:99999/v1/traces' is not an OTLP "
            "endpoint: expected http://host:port or https://host:port",
            id="traces-endpoint-port-out-of-range",
        ),
    ],
)
def test_an_unusable_export_setting_is_one_usage_error_line(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    message: str,
) -> None:
    outcome = run_suite(pytester, monkeypatch, variables)
    assert outcome.result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in outcome.result.errlines if line.strip()] == [f"ERROR: {message}"]
    assert outcome.result.outlines == []
    assert not (pytester.path / ".otel-pytest").exists()


def test_an_unusable_endpoint_flag_is_rejected_as_pytest_rejects_any_flag(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = run_suite(pytester, monkeypatch, {}, "--otel-endpoint=localhost:4318")
    assert outcome.result.ret == pytest.ExitCode.USAGE_ERROR
    errors = "\n".join(outcome.result.errlines)
    assert errors.startswith("ERROR: usage: ")
    assert (
        "error: argument --otel-endpoint: 'localhost:4318' is not an OTLP endpoint: "
        "expected http://host:port or https://host:port"
    ) in errors
    assert "Traceback" not in errors


# --- traces and metrics are separate signals

# Database work on SQLite gives the run metrics (db.client.*) beside its spans, and enough
# spans for several export requests.
DB_SUITE = """
import pytest
import sqlalchemy


@pytest.fixture(scope="module")
def engine():
    engine = sqlalchemy.create_engine("sqlite://")
    yield engine
    engine.dispose()


@pytest.mark.parametrize("n", range(100))
def test_query(engine, n):
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("select :n"), {"n": n}).scalar() == n
"""


def stored_metric_names(store: Path) -> list[str]:
    (path,) = (store / "metrics").glob("*.otlp.jsonl.zst")
    return sorted(
        metric["name"]
        for line in read_decoded(path).splitlines()
        for resource in json.loads(line)["resourceMetrics"]
        for scope in resource["scopeMetrics"]
        for metric in scope["metrics"]
    )


def exported_line(store: Path, spans: int, endpoint: str) -> str:
    return f"otel: run {run_id_of(store)}: 100 tests, {spans} spans in .otel-pytest, exported to {endpoint}"


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_collector_that_takes_no_metrics_gets_every_span_and_the_run_one_note(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    receiver = GrpcReceiver(metrics=False) if protocol == "grpc" else HttpReceiver(metrics_status=404)
    with receiver:
        outcome = run_suite(pytester, monkeypatch, {ENDPOINT: receiver.endpoint, PROTOCOL: protocol}, suite=DB_SUITE)
    outcome.result.assert_outcomes(passed=100)
    store = pytester.path / ".otel-pytest"
    stored = stored_views(store)
    assert len(receiver.received) > 1  # the spans took several requests, sent before and after the metrics
    assert by_span_id(wire_views(receiver)) == by_span_id(stored)
    assert receiver.metric_names() == []
    assert stored_metric_names(store)  # there were metrics to send
    metrics_url = receiver.endpoint if protocol == "grpc" else receiver.endpoint + "/v1/metrics"
    assert outcome.otel_lines == [
        exported_line(store, len(stored), receiver.endpoint),
        f"otel: note: the endpoint takes no metrics ({metrics_url})",
        NEXT,
    ]
    assert outcome.result.errlines == []


@pytest.mark.parametrize(
    ("variables", "spans_to", "metrics_to"),
    [
        pytest.param({ENDPOINT: "{a}"}, "a", "a", id="one-endpoint"),
        pytest.param({ENDPOINT: "{a}", "OTEL_METRICS_EXPORTER": "none"}, "a", None, id="metrics-exporter-none"),
        pytest.param({ENDPOINT: "{a}", "OTEL_TRACES_EXPORTER": "none"}, None, "a", id="traces-exporter-none"),
        pytest.param({ENDPOINT: "{a}", "OTEL_SDK_DISABLED": "true"}, None, None, id="sdk-disabled"),
        pytest.param({TRACES_ENDPOINT: "{a}/v1/traces"}, "a", None, id="traces-endpoint-only"),
        pytest.param(
            {TRACES_ENDPOINT: "{a}/v1/traces", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "{b}/v1/metrics"},
            "a",
            "b",
            id="metrics-endpoint",
        ),
    ],
)
def test_each_signal_goes_where_the_standard_variables_send_it(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    spans_to: str | None,
    metrics_to: str | None,
) -> None:
    with HttpReceiver() as a, HttpReceiver() as b:
        receivers = {"a": a, "b": b}
        env = {name: value.format(a=a.endpoint, b=b.endpoint) for name, value in variables.items()}
        outcome = run_suite(pytester, monkeypatch, env, suite=DB_SUITE)
    outcome.result.assert_outcomes(passed=100)
    store = pytester.path / ".otel-pytest"
    stored = stored_views(store)
    for name, receiver in receivers.items():
        assert len(wire_views(receiver)) == (len(stored) if name == spans_to else 0), name
        assert sorted(receiver.metric_names()) == (stored_metric_names(store) if name == metrics_to else []), name
    shown = a.endpoint + "/v1/traces" if TRACES_ENDPOINT in variables else a.endpoint
    summary = exported_line(store, len(stored), shown)
    assert outcome.otel_lines == [summary if spans_to else summary.split(", exported")[0], NEXT]
    assert outcome.result.errlines == []


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_spans_a_collector_rejects_in_partial_success_are_counted_in_the_warning(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    receiver = (GrpcReceiver if protocol == "grpc" else HttpReceiver)(partial="over quota")
    with receiver:
        outcome = run_suite(pytester, monkeypatch, {ENDPOINT: receiver.endpoint, PROTOCOL: protocol})
    assert_suite_outcome(outcome)
    store = pytester.path / ".otel-pytest"
    spans = len(stored_views(store))
    assert len(wire_views(receiver)) == spans  # the receiver kept them all, and said otherwise
    rejected = (
        sum(
            len(scope.spans)
            for item in receiver.received
            for resource in item.request.resource_spans
            for scope in resource.scope_spans
        )
        // 2
    )
    assert len(receiver.received) == 1
    assert outcome.otel_lines == [
        f"otel: run {run_id_of(store)}: 4 tests, {spans} spans in .otel-pytest",
        f"otel: warning: {rejected} of {spans} spans not delivered to {receiver.endpoint} "
        f"(the collector rejected {rejected}: over quota); they are in .otel-pytest/runs/{run_file(store).name}",
        NEXT,
    ]


# --- credentials in URLs


def test_an_endpoint_query_string_is_used_but_never_shown(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HttpReceiver() as receiver:
        outcome = run_suite(pytester, monkeypatch, {ENDPOINT: f"{receiver.endpoint}?api_key={SECRET}"})
    assert_delivered_exactly(outcome, pytester.path / ".otel-pytest", receiver, receiver.endpoint)
    assert SECRET not in "\n".join(outcome.result.outlines + outcome.result.errlines)


@pytest.mark.parametrize(
    ("protocol", "collector", "url"),
    [
        pytest.param("grpc", GrpcReceiver, "http://ci:{secret}@{host}", id="grpc-userinfo"),
        pytest.param("grpc", DownPort, "http://ci:{secret}@{host}", id="grpc-userinfo-down"),
        pytest.param(
            "http/protobuf", lambda: HttpReceiver(status=500), "http://{host}?api_key={secret}", id="http-500-query"
        ),
        pytest.param(
            "http/protobuf",
            DownPort,
            "http://ci:{secret}@{host}/?api_key={secret}#{secret}",
            id="http-down-userinfo-query-fragment",
        ),
    ],
)
def test_a_warning_about_an_endpoint_never_shows_its_credentials(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    protocol: str,
    collector: Callable[[], AbstractContextManager[GrpcReceiver | HttpReceiver | DownPort]],
    url: str,
) -> None:
    with collector() as down:
        host = down.endpoint.removeprefix("http://")
        endpoint = url.format(secret=SECRET, host=host)
        outcome = run_suite(pytester, monkeypatch, {ENDPOINT: endpoint, PROTOCOL: protocol})
    assert_suite_outcome(outcome)
    output = "\n".join(outcome.result.outlines + outcome.result.errlines)
    assert SECRET not in output
    summary, warning, hint = outcome.otel_lines
    assert (summary, hint) == (
        f"otel: run {run_id_of(pytester.path / '.otel-pytest')}: 4 tests, 30 spans in .otel-pytest",
        NEXT,
    )
    shown = f"http://{host}" + ("/" if url.endswith("#{secret}") else "")
    assert warning.startswith(f"otel: warning: 30 of 30 spans not delivered to {shown} ("), warning


JENKINS = {
    "JENKINS_URL": "https://ci.example.com/",
    "JOB_NAME": "shop",
    "BUILD_ID": "31",
    "BUILD_URL": f"https://admin:{SECRET}@ci.example.com/job/shop/31/?token={SECRET}",
    "GIT_URL": f"https://jenkins:{SECRET}@git.example.com/shop.git",
}


def test_ci_urls_lose_their_credentials_in_every_span_the_index_the_metrics_and_the_collector(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HttpReceiver() as receiver:
        outcome = run_suite(pytester, monkeypatch, {**JENKINS, ENDPOINT: receiver.endpoint}, suite=DB_SUITE)
    outcome.result.assert_outcomes(passed=100)
    store = pytester.path / ".otel-pytest"
    urls = {
        "cicd.pipeline.run.url.full": "https://ci.example.com/job/shop/31/",
        "vcs.repository.url.full": "https://git.example.com/shop.git",
    }
    stored = stored_views(store)
    wire = wire_views(receiver)
    assert len(wire) == len(stored)
    for view in stored + wire:
        resource = view["resource"]
        assert isinstance(resource, dict)
        assert {key: resource[key] for key in urls} == urls
    (entry,) = [json.loads(line) for line in (store / "index.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {key: entry["ci"][key] for key in urls if key in entry["ci"]} | {
        key: entry["vcs"][key] for key in urls if key in entry["vcs"]
    } == urls
    assert receiver.metric_names()
    for path in store.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert all(SECRET.encode() not in item.request.SerializeToString() for item in receiver.received)
    assert SECRET not in "\n".join(outcome.result.outlines + outcome.result.errlines)


# --- nothing of the export surfaces in the user's run

PROBE_SUITE = """
import json
import logging
import os
import sys
import warnings


def describe(logger):
    handlers = [f"{type(handler).__module__}.{type(handler).__qualname__}:{handler.level}"
                for handler in logger.handlers]
    return [logger.level, logger.propagate, logger.disabled, handlers]


def children():
    try:
        os.waitpid(-1, os.WNOHANG)  # reaps nothing; raises when this process has no child
    except ChildProcessError:
        return "none"
    return "some"


def test_probe():
    loggers = {name: describe(logger) for name, logger in sorted(logging.Logger.manager.loggerDict.items())
               if isinstance(logger, logging.Logger)}
    probe = {
        "root": describe(logging.root),
        "loggers": loggers,
        "warnings": [repr(entry) for entry in warnings.filters],
        "children": children(),
        "network modules": sorted(name for name in ("requests", "urllib3", "grpc") if name in sys.modules),
    }
    with open(os.environ["PROBE_FILE"], "w", encoding="utf-8") as out:
        json.dump(probe, out, indent=1, sort_keys=True)
"""


def probe(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> object:
    path = pytester.path / "probe.json"
    outcome = run_suite(pytester, monkeypatch, {**env, "PROBE_FILE": str(path)}, suite=PROBE_SUITE)
    outcome.result.assert_outcomes(passed=1)
    assert len(outcome.otel_lines) == 2, outcome.otel_lines  # the run, the hint: no warning
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_loggers_warning_filters_and_children_are_the_same_during_a_test_with_and_without_an_endpoint(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    without = probe(pytester, monkeypatch, {})
    with (GrpcReceiver if protocol == "grpc" else HttpReceiver)() as receiver:
        with_endpoint = probe(pytester, monkeypatch, {ENDPOINT: receiver.endpoint, PROTOCOL: protocol})
    assert len(receiver.spans()) > 0
    assert with_endpoint == without


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_with_filterwarnings_error_every_export_arrives_and_no_warning_is_reported(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    pytester.makeini("[pytest]\nfilterwarnings =\n    error\n")
    store = pytester.path / ".otel-pytest"
    for _attempt in range(5):
        with (GrpcReceiver if protocol == "grpc" else HttpReceiver)() as receiver:
            outcome = run_suite(pytester, monkeypatch, {ENDPOINT: receiver.endpoint, PROTOCOL: protocol})
        assert not any("warnings summary" in line for line in outcome.result.outlines), outcome.result.outlines
        assert_delivered_exactly(outcome, store, receiver, receiver.endpoint)
        shutil.rmtree(store)


def test_grpc_over_tls_to_a_plain_port_is_one_warning_and_no_grpc_log_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HttpReceiver() as plain:
        endpoint = plain.endpoint.replace("http://", "https://")
        outcome = run_suite(pytester, monkeypatch, {ENDPOINT: endpoint, PROTOCOL: "grpc"})
    assert_suite_outcome(outcome)
    # gRPC's C core logs as "E0000 00:00:1712345678.123456 ... ssl_transport_security.cc:...".
    assert outcome.result.errlines == []
    assert not [line for line in outcome.result.outlines if re.match(r"[EWID]\d{4} ", line)]
    summary, warning, hint = outcome.otel_lines
    assert (summary, hint) == (
        f"otel: run {run_id_of(pytester.path / '.otel-pytest')}: 4 tests, 30 spans in .otel-pytest",
        NEXT,
    )
    assert warning.startswith(f"otel: warning: 30 of 30 spans not delivered to {endpoint} ("), warning


# --- one export budget for a whole xdist run


def test_with_xdist_a_black_hole_costs_one_export_timeout_for_the_whole_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Long enough that waiting twice (each worker, then the controller) cannot pass for
    # noise: 2 x 4 s is over the bound of 4 s + 3 s.
    timeout = 4.0
    args = ("-n", "2", f"--otel-export-timeout={timeout:g}")
    baseline = run_suite(pytester, monkeypatch, {}, *args, "--otel-store=baseline")
    with BlackHole() as hole:
        outcome = run_suite(pytester, monkeypatch, {ENDPOINT: hole.endpoint}, *args)
        assert hole.accepted >= 1
    assert_suite_outcome(baseline)
    assert_suite_outcome(outcome)
    assert outcome.seconds - baseline.seconds < timeout + 3.0, (outcome.seconds, baseline.seconds)
    store = pytester.path / ".otel-pytest"
    spans = len(stored_views(store))
    summary, warning, hint = outcome.otel_lines
    assert (summary, hint) == (f"otel: run {run_id_of(store)}: 4 tests, {spans} spans in .otel-pytest", NEXT)
    assert re.fullmatch(
        rf"otel: warning: {spans} of {spans} spans not delivered to {re.escape(hole.endpoint)} \(.+\); "
        rf"they are in \.otel-pytest/runs/{re.escape(run_file(store).name)}",
        warning,
    ), warning
