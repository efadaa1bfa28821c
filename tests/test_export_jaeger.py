"""Export to a real Jaeger v2: a run exported over OTLP (http/protobuf and gRPC, with and
without xdist) reads back through Jaeger's query API v3 exactly as the local store holds it.

Each test runs a generated suite in a subprocess under its own service name (one Jaeger
serves the session), then compares the two sides with :mod:`tests.jaeger_traces`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from otel_pytest.store.compression import read_decoded
from otel_pytest.store.reader import attributes_of
from tests.go_service import GoService
from tests.jaeger_server import JaegerServer
from tests.jaeger_traces import (
    JAEGER_WARNINGS,
    SpanFields,
    Traces,
    assert_same_traces,
    differences,
    jaeger_answer,
    jaeger_traces,
    raw_traces,
    span_count,
    spurious_warnings,
    stored_traces,
    unique_service,
    without_parent_warnings,
)

# Application spans (another scope, other kinds) carry every attribute value type OTel has.
APP_VALUES = {
    "app.flag": True,
    "app.count": 2**62,
    "app.ratio": 0.5,
    "app.whole": 2.0,
    "app.empty": "",
    "app.names": ["a", ""],
    "app.numbers": [1, -2],
    "app.ratios": [0.25, 3.0],
    "app.flags": [True, False],
    "app.none": [],
}
SUITE = f"""
import pytest
from opentelemetry import trace

VALUES = {APP_VALUES!r}
"""
SUITE += """

@pytest.fixture(scope="module")
def database():
    yield {"rows": 1}


@pytest.fixture(params=["small", "large"])
def size(request):
    return request.param


@pytest.fixture
def row(database, size):
    yield database["rows"]


def test_reads_a_row(row):
    assert row == 1


@pytest.mark.parametrize("limit", [1, 2.5, True])
def test_compares(row, limit):
    assert row <= limit


def test_fails(row):
    assert row == 2


@pytest.fixture
def broken():
    raise RuntimeError("no such table")


def test_errors_in_setup(broken):
    pass


SKIP = pytest.mark.skip(reason="not on this platform")
XFAIL = pytest.mark.xfail(reason="known bug")


@pytest.mark.parametrize("mark", [pytest.param("skip", marks=SKIP), pytest.param("xfail", marks=XFAIL)])
def test_marked(mark):
    assert False


def test_handles_a_request():
    tracer = trace.get_tracer("shop.app", "2.0")
    with tracer.start_as_current_span("handle request", kind=trace.SpanKind.SERVER, attributes=VALUES) as span:
        span.add_event("cache miss", {"cache.key": "customer:1", "cache.size": 3})
        retry = trace.Link(span.get_span_context(), {"why": "retry"})
        with tracer.start_as_current_span("GET", kind=trace.SpanKind.CLIENT, links=[retry]):
            pass
        span.set_status(trace.Status(trace.StatusCode.OK))
"""
SIZES = ("small", "large")
TEST_IDS = sorted(
    [
        *(f"test_suite.py::test_{name}[{size}]" for name in ("reads_a_row", "fails") for size in SIZES),
        *(f"test_suite.py::test_compares[{size}-{limit}]" for size in SIZES for limit in ("1", "2.5", "True")),
        "test_suite.py::test_errors_in_setup",
        "test_suite.py::test_marked[skip]",
        "test_suite.py::test_marked[xfail]",
        "test_suite.py::test_handles_a_request",
    ]
)
OUTCOMES = {"passed": 9, "failed": 2, "errors": 1, "skipped": 1, "xfailed": 1}
# pytest-asyncio, when installed, adds session fixtures of its own: keep the span set fixed.
# These tests are about what arrives, not the end-of-run budget (1 s by default, tested in
# tests/test_export.py): a busy machine must not make them lose spans.
EXPORT_BUDGET = "--otel-export-timeout=30"
ARGS = ("--otel", EXPORT_BUDGET, "-p", "no:asyncio", "-p", "no:cacheprovider")
PROTOCOLS = ("http/protobuf", "grpc")


def endpoint_of(server: GoService, protocol: str) -> str:
    return server.otlp_grpc if protocol == "grpc" else server.otlp_http


def export_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, protocol: str, endpoint: str, *args: str
) -> tuple[str, int, Traces]:
    """Run SUITE exporting to ``endpoint``; return its service name, when it started and the
    store's traces, once the run said it exported them all."""
    pytester.makepyfile(test_suite=SUITE)
    service = unique_service("e2e")
    monkeypatch.setenv("OTEL_SERVICE_NAME", service)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    start_ns = time.time_ns()
    result = pytester.runpytest_subprocess(*ARGS, *args, timeout=120)
    result.assert_outcomes(**OUTCOMES)
    stored = stored_traces(pytester.path / ".otel-pytest")
    (run_id,) = {span["attributes"]["pytest.run.id"] for trace in stored.values() for span in trace.values()}
    tests = sum(OUTCOMES.values())
    summary = f"otel: run {run_id}: {tests} tests, {span_count(stored)} spans in .otel-pytest, exported to {endpoint}"
    assert summary in result.outlines
    return service, start_ns, stored


def roots(traces: Traces) -> dict[str, tuple[str, SpanFields]]:
    """Each trace's root span by name, with its span id."""
    found = {}
    for trace in traces.values():
        ((span_id, root),) = [(span_id, span) for span_id, span in trace.items() if span["parent_span_id"] not in trace]
        found[root["name"]] = (span_id, root)
    return found


def named(traces: Traces, name: str) -> list[tuple[str, str, SpanFields]]:
    """``(trace id, span id, fields)`` of the spans called ``name``."""
    return [
        (trace_id, span_id, span)
        for trace_id, trace in traces.items()
        for span_id, span in trace.items()
        if span["name"] == name
    ]


def every_span(traces: Traces) -> list[SpanFields]:
    return [span for trace in traces.values() for span in trace.values()]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_run_exported_to_jaeger_reads_back_exactly_as_stored(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, jaeger: JaegerServer, protocol: str
) -> None:
    service, start_ns, stored = export_run(pytester, monkeypatch, protocol, endpoint_of(jaeger, protocol))

    assert_same_traces(stored, jaeger_traces(jaeger, service, start_ns, stored))
    # What the comparison covered: a trace per test and the session's; the tests' attributes
    # and links to the session span; fixtures of two scopes with their parameters; errors with
    # their exception events; application spans of another scope with every value type.
    found = roots(stored)
    session_id, _session = found.pop("pytest session")
    assert sorted(found) == TEST_IDS
    for name, (_span_id, test) in found.items():
        assert test["attributes"]["test.case.name"] == name
        assert [link[1] for link in test["links"]] == [session_id]
    spans = every_span(stored)
    (run_id,) = {span["attributes"]["pytest.run.id"] for span in spans}
    assert {span["resource"]["service.name"] for span in spans} == {service}
    fixtures = {
        (span["name"], span["attributes"]["pytest.fixture.scope"], span["attributes"].get("pytest.fixture.param"))
        for span in spans
        if "pytest.fixture.name" in span["attributes"]
    }
    assert {("fixture database", "module", None), *(("fixture size", "function", size) for size in SIZES)} <= fixtures
    # The setup that waited for the module fixture holds a span for the wait, linking to it.
    ((database_trace, database_id, _database),) = named(stored, "fixture database")
    ((_, _, wait),) = named(stored, "module fixture database")
    assert wait["links"] == [(database_trace, database_id, {})]
    failed_test_id = found["test_suite.py::test_fails[small]"][0]
    (failed_call,) = [span for span in spans if span["name"] == "call" and span["parent_span_id"] == failed_test_id]
    assert failed_call["status"] == (2, "AssertionError: assert 1 == 2")
    assert [event[0] for event in failed_call["events"]] == ["exception"]
    ((trace_id, request_id, request),) = named(stored, "handle request")
    assert (request["scope"], request["kind"], request["status"]) == ("shop.app", 2, (1, ""))
    assert request["attributes"] == {**APP_VALUES, "pytest.run.id": run_id}
    assert request["events"] == [("cache miss", request["events"][0][1], {"cache.key": "customer:1", "cache.size": 3})]
    ((_, _, get),) = named(stored, "GET")
    assert (get["parent_span_id"], get["kind"]) == (request_id, 3)
    assert get["links"] == [(trace_id, request_id, {"why": "retry"})]


def test_with_xdist_every_workers_spans_reach_jaeger_exactly(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, jaeger: JaegerServer
) -> None:
    service, start_ns, stored = export_run(pytester, monkeypatch, "http/protobuf", jaeger.otlp_http, "-n", "2")

    assert_same_traces(stored, jaeger_traces(jaeger, service, start_ns, stored))
    spans = every_span(stored)
    workers = {span["attributes"].get("pytest.xdist.worker") for span in spans if span["name"] == "pytest session"}
    assert workers == {None, "gw0", "gw1"}  # the controller's session span and each worker's
    assert sorted(name for name in roots(stored) if name != "pytest session") == TEST_IDS


def as_jaeger_writes(value: dict[str, Any]) -> dict[str, Any]:
    """An OTLP JSON ``AnyValue`` as Jaeger writes it: an integral double without its fraction
    (``2`` for ``2.0``; the ``doubleValue`` key keeps the type), an empty array without its
    ``values``."""
    double = value.get("doubleValue")
    if isinstance(double, float) and double.is_integer():
        return {"doubleValue": int(double)}
    if "arrayValue" in value:
        items = [as_jaeger_writes(item) for item in value["arrayValue"].get("values") or ()]
        return {"arrayValue": {"values": items} if items else {}}
    return value


def sorted_attributes(attributes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attributes sorted by key, their values as Jaeger writes them."""
    items = [{"key": item["key"], "value": as_jaeger_writes(item["value"])} for item in attributes]
    return sorted(items, key=lambda item: item["key"])


def with_sorted_attributes(part: dict[str, Any]) -> dict[str, Any]:
    return {**part, "attributes": sorted_attributes(part["attributes"])} if "attributes" in part else dict(part)


def as_jaeger_returns(written: Traces) -> Traces:
    """The store's raw spans with what Jaeger v2 (memory storage, API v3) changes, and only
    that: every attribute list (resource, span, event, link) comes back sorted by key, with
    integral doubles and empty arrays written as :func:`as_jaeger_writes` says, and a span
    whose status is unset gets an empty ``status`` object. None of it changes a value: the
    reader decodes both forms alike (attributes into a dict, no status as status 0), which is
    why the other tests need no normalisation at all."""
    changed: Traces = {}
    for trace_id, trace in written.items():
        for span_id, view in trace.items():
            span = with_sorted_attributes(view["span"])
            for part in ("events", "links"):
                if part in span:
                    span[part] = [with_sorted_attributes(item) for item in span[part]]
            span.setdefault("status", {})
            resource = with_sorted_attributes(view["resource"])
            changed.setdefault(trace_id, {})[span_id] = {**view, "span": span, "resource": resource}
    return changed


def without_raw_parent_warnings(returned: Traces) -> Traces:
    """:func:`~tests.jaeger_traces.without_parent_warnings` on raw spans."""
    for trace in returned.values():
        for view in trace.values():
            attributes = view["span"]["attributes"]
            warnings = attributes_of(item for item in attributes if item["key"] == JAEGER_WARNINGS)
            if spurious_warnings(warnings.get(JAEGER_WARNINGS), trace):
                view["span"]["attributes"] = [item for item in attributes if item["key"] != JAEGER_WARNINGS]
    return returned


def test_jaeger_changes_the_form_of_the_json_never_a_value(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, jaeger: JaegerServer
) -> None:
    service, start_ns, stored = export_run(pytester, monkeypatch, "http/protobuf", jaeger.otlp_http)
    files = sorted((pytester.path / ".otel-pytest" / "runs").glob("*.otlp.jsonl.zst"))
    written = raw_traces(orjson.loads(line) for path in files for line in read_decoded(path).splitlines())
    answer = jaeger_answer(jaeger, service, start_ns, span_count(stored), len(stored))
    returned = without_raw_parent_warnings(raw_traces([answer]))

    assert differences(written, returned) != []  # not byte for byte: Jaeger changes something
    assert_same_traces(as_jaeger_returns(written), returned)


def test_the_comparison_names_each_difference_and_tells_types_apart() -> None:
    span = {"name": "call", "parent_span_id": "01", "attributes": {"pytest.retry": True, "db.summary.queries": 2}}
    expected: Traces = {"t1": {"s1": span, "s2": {**span, "name": "setup"}}, "t2": {"s3": span}}
    actual: Traces = {
        "t1": {"s1": {**span, "attributes": {"pytest.retry": 1, "db.summary.queries": 2.0}}, "s4": span},
        "t3": {"s5": span},
    }

    found = differences(expected, actual)

    assert found[:4] == [
        "trace t2 missing (1 spans)",
        "trace t3 surplus (1 spans)",
        "span s2 (setup) of trace t1 missing",
        "span s4 (call) of trace t1 surplus",
    ]
    assert found[4:] == [
        "span s1 (call) of trace t1 differs:",
        "--- expected",
        "+++ actual",
        "@@ -1 +1 @@",
        "-{'attributes': {'db.summary.queries': 2, 'pytest.retry': True}, 'name': 'call', 'parent_span_id': '01'}",
        "+{'attributes': {'db.summary.queries': 2.0, 'pytest.retry': 1}, 'name': 'call', 'parent_span_id': '01'}",
    ]
    assert differences(expected, expected) == []


def test_only_jaegers_warning_of_a_parent_that_is_there_is_dropped() -> None:
    def span(parent: str, *warnings: str) -> SpanFields:
        attributes: dict[str, object] = {"pytest.run.id": "r"}
        if warnings:
            attributes[JAEGER_WARNINGS] = list(warnings)
        return {"name": "s", "parent_span_id": parent, "attributes": attributes}

    def missing(parent: str) -> str:
        return f"parent span ID={parent} is not in the trace; skipping clock skew adjustment"

    session, worker, lost = "a" * 16, "b" * 16, "c" * 16
    answer: Traces = {
        "t": {
            session: span(""),
            worker: span(session, missing(session)),  # the parent is there: dropped
            "d" * 16: span(lost, missing(lost)),  # the parent is not: kept
            "e" * 16: span(session, missing(session), "duplicate span IDs; skipping clock skew adjustment"),
        }
    }

    cleaned = without_parent_warnings(answer)["t"]

    assert cleaned[worker] == span(session)
    assert cleaned["d" * 16] == answer["t"]["d" * 16]
    assert cleaned["e" * 16] == answer["t"]["e" * 16]
