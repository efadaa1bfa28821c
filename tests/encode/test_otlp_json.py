"""Records to OTLP JSON Lines, checked as raw JSON and through the OTel project's own parser."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from opentelemetry.proto_json.trace.v1.trace import Span, Status, TracesData

from otel_pytest.encode.otlp_json import OtlpJsonEncoder, any_value, key_values
from otel_pytest.encode.shape import ExportShape
from otel_pytest.records import (
    KIND_CLIENT,
    STATUS_ERROR,
    STATUS_OK,
    AttributeValue,
    Event,
    Link,
    SharedAttributes,
    SpanRecord,
)

RUN_ID = "5f2b0c9d1e3a4b6c"
TRACE = 0x0AF7651916CD43DD8448EB211C80319C
SESSION_TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
START = 1_700_000_000_123_456_789
RESOURCE: dict[str, AttributeValue] = {"service.name": "shop", "host.cpu.count": 8}
SHAPE = ExportShape(RESOURCE, RUN_ID, "1.2.3")
RUN_ID_ATTRIBUTE = {"key": "pytest.run.id", "value": {"stringValue": RUN_ID}}


def encoder() -> OtlpJsonEncoder:
    return OtlpJsonEncoder(SHAPE)


def a_failed_test() -> SpanRecord:
    """A root test span with every optional part: shared and extra attributes, an event,
    links (the plugin's own, without attributes, and an application's, with) and an error
    status."""
    shared: dict[str, AttributeValue] = {
        "test.case.name": "tests/test_shop.py::test_buy",
        "pytest.retry": False,
        "code.line.number": 12,
        "db.summary.query_seconds": 0.25,
        "pytest.markers": ["slow", "db"],
    }
    record = SpanRecord("tests/test_shop.py::test_buy", TRACE, 0xB7AD6B7169203331, 0, START, shared)
    record.end = START + 1_500_000
    record.set("pytest.outcome", "failed")
    record.add_event(Event("exception", START + 1_000_000, {"exception.type": "AssertionError"}))
    record.links = [Link(SESSION_TRACE, 0x00F067AA0BA902B7), Link(TRACE, 0x1111111111111111, {"why": "retry"})]
    record.status = STATUS_ERROR
    record.status_message = "AssertionError: assert 1 == 2"
    return record


def a_phase(parent: SpanRecord) -> SpanRecord:
    record = SpanRecord("call", TRACE, 0x53995C3F42CD8AD8, parent.span_id, START + 10, {})
    record.end = START + 20
    record.status = STATUS_OK
    return record


def test_a_span_is_written_as_otlp_json_with_hex_ids_and_decimal_string_times() -> None:
    test = a_failed_test()
    phase = a_phase(test)
    line = encoder().line([test, phase])
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert orjson.loads(line) == {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "shop"}},
                        {"key": "host.cpu.count", "value": {"intValue": "8"}},
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "otel_pytest", "version": "1.2.3"},
                        "spans": [
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                                "name": "tests/test_shop.py::test_buy",
                                "kind": 1,
                                "startTimeUnixNano": "1700000000123456789",
                                "endTimeUnixNano": "1700000000124956789",
                                "attributes": [
                                    {
                                        "key": "test.case.name",
                                        "value": {"stringValue": "tests/test_shop.py::test_buy"},
                                    },
                                    {"key": "pytest.retry", "value": {"boolValue": False}},
                                    {"key": "code.line.number", "value": {"intValue": "12"}},
                                    {
                                        "key": "db.summary.query_seconds",
                                        "value": {"doubleValue": 0.25},
                                    },
                                    {
                                        "key": "pytest.markers",
                                        "value": {
                                            "arrayValue": {
                                                "values": [
                                                    {"stringValue": "slow"},
                                                    {"stringValue": "db"},
                                                ]
                                            }
                                        },
                                    },
                                    {"key": "pytest.outcome", "value": {"stringValue": "failed"}},
                                    RUN_ID_ATTRIBUTE,
                                ],
                                "events": [
                                    {
                                        "timeUnixNano": "1700000000124456789",
                                        "name": "exception",
                                        "attributes": [
                                            {
                                                "key": "exception.type",
                                                "value": {"stringValue": "AssertionError"},
                                            }
                                        ],
                                    }
                                ],
                                "links": [
                                    {
                                        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
                                        "spanId": "00f067aa0ba902b7",
                                    },
                                    {
                                        "traceId": "0af7651916cd43dd8448eb211c80319c",
                                        "spanId": "1111111111111111",
                                        "attributes": [{"key": "why", "value": {"stringValue": "retry"}}],
                                    },
                                ],
                                "status": {"code": 2, "message": "AssertionError: assert 1 == 2"},
                            },
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "53995c3f42cd8ad8",
                                "parentSpanId": "b7ad6b7169203331",
                                "name": "call",
                                "kind": 1,
                                "startTimeUnixNano": "1700000000123456799",
                                "endTimeUnixNano": "1700000000123456809",
                                "attributes": [RUN_ID_ATTRIBUTE],
                                "status": {"code": 1},
                            },
                        ],
                    }
                ],
            }
        ],
    }


def test_the_otel_parser_reads_every_field_back_exactly() -> None:
    test = a_failed_test()
    phase = a_phase(test)
    data = TracesData.from_json(encoder().line([test, phase]))
    (resource_spans,) = data.resource_spans
    assert resource_spans.resource is not None
    assert [(kv.key, kv.value) for kv in resource_spans.resource.attributes] == [
        ("service.name", any_value_of(string_value="shop")),
        ("host.cpu.count", any_value_of(int_value=8)),
    ]
    (scope_spans,) = resource_spans.scope_spans
    assert scope_spans.scope is not None
    assert (scope_spans.scope.name, scope_spans.scope.version) == ("otel_pytest", "1.2.3")
    root, call = scope_spans.spans

    assert root.trace_id == bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    assert root.span_id == bytes.fromhex("b7ad6b7169203331")
    assert root.parent_span_id == b""
    assert root.name == "tests/test_shop.py::test_buy"
    assert root.kind == Span.SpanKind.SPAN_KIND_INTERNAL
    assert (root.start_time_unix_nano, root.end_time_unix_nano) == (START, START + 1_500_000)
    assert [(kv.key, kv.value) for kv in root.attributes] == [
        ("test.case.name", any_value_of(string_value="tests/test_shop.py::test_buy")),
        ("pytest.retry", any_value_of(bool_value=False)),
        ("code.line.number", any_value_of(int_value=12)),
        ("db.summary.query_seconds", any_value_of(double_value=0.25)),
        ("pytest.markers", any_value_of(array=["slow", "db"])),
        ("pytest.outcome", any_value_of(string_value="failed")),
        ("pytest.run.id", any_value_of(string_value=RUN_ID)),
    ]
    (event,) = root.events
    assert (event.time_unix_nano, event.name) == (START + 1_000_000, "exception")
    assert [(kv.key, kv.value) for kv in event.attributes] == [
        ("exception.type", any_value_of(string_value="AssertionError"))
    ]
    assert [(link.trace_id, link.span_id, [(kv.key, kv.value) for kv in link.attributes]) for link in root.links] == [
        (bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736"), bytes.fromhex("00f067aa0ba902b7"), []),
        (
            bytes.fromhex("0af7651916cd43dd8448eb211c80319c"),
            bytes.fromhex("1111111111111111"),
            [("why", any_value_of(string_value="retry"))],
        ),
    ]
    assert root.status == Status.from_dict({"code": 2, "message": "AssertionError: assert 1 == 2"})
    assert root.status is not None
    assert root.status.code == Status.StatusCode.STATUS_CODE_ERROR

    assert call.parent_span_id == root.span_id
    assert call.trace_id == root.trace_id
    assert call.status is not None
    assert (call.status.code, call.status.message) == (Status.StatusCode.STATUS_CODE_OK, "")
    assert (call.events, call.links) == ([], [])


def any_value_of(
    *,
    string_value: str | None = None,
    bool_value: bool | None = None,
    int_value: int | None = None,
    double_value: float | None = None,
    array: list[str] | None = None,
) -> Any:
    """The ``AnyValue`` the OTel parser should produce, built from its JSON form."""
    from opentelemetry.proto_json.common.v1.common import AnyValue

    if array is not None:
        return AnyValue.from_dict({"arrayValue": {"values": [{"stringValue": item} for item in array]}})
    for key, value in (
        ("stringValue", string_value),
        ("boolValue", bool_value),
        ("intValue", int_value),
        ("doubleValue", double_value),
    ):
        if value is not None:
            return AnyValue.from_dict({key: value})
    raise AssertionError("no value given")


def test_the_parsed_line_encodes_back_to_the_same_json() -> None:
    line = encoder().line([a_failed_test()])
    assert TracesData.from_json(line).to_dict() == orjson.loads(line)


def test_an_unset_status_and_a_root_span_leave_their_fields_out() -> None:
    record = SpanRecord("pytest session", TRACE, 1, 0, START, {})
    span = orjson.loads(encoder().span(record))
    assert span == {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "0000000000000001",
        "name": "pytest session",
        "kind": 1,
        "startTimeUnixNano": "1700000000123456789",
        "endTimeUnixNano": "1700000000123456789",
        "attributes": [RUN_ID_ATTRIBUTE],
    }


def test_spans_of_other_scopes_get_their_own_scope_without_our_version() -> None:
    ours = SpanRecord("setup", TRACE, 1, 0, START, {})
    query = SpanRecord(
        "SELECT",
        TRACE,
        2,
        1,
        START,
        {"db.system.name": "postgresql"},
        scope="opentelemetry.instrumentation.sqlalchemy",
        kind=KIND_CLIENT,
    )
    second_query = SpanRecord(
        "INSERT",
        TRACE,
        3,
        1,
        START,
        {},
        scope="opentelemetry.instrumentation.sqlalchemy",
        kind=KIND_CLIENT,
    )
    data = orjson.loads(encoder().line([query, ours, second_query]))
    scopes = data["resourceSpans"][0]["scopeSpans"]
    assert [(scope["scope"], [span["name"] for span in scope["spans"]]) for scope in scopes] == [
        ({"name": "opentelemetry.instrumentation.sqlalchemy"}, ["SELECT", "INSERT"]),
        ({"name": "otel_pytest", "version": "1.2.3"}, ["setup"]),
    ]
    assert scopes[0]["spans"][0]["kind"] == 3
    parsed = TracesData.from_json(encoder().line([query]))
    assert parsed.resource_spans[0].scope_spans[0].spans[0].kind == Span.SpanKind.SPAN_KIND_CLIENT


def test_the_run_id_is_the_last_attribute_of_every_span() -> None:
    records = [SpanRecord(f"span {n}", TRACE, n, 0, START, {"n": n}) for n in range(1, 4)]
    spans = orjson.loads(encoder().line(records))["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert [span["attributes"][-1] for span in spans] == [RUN_ID_ATTRIBUTE] * 3


def test_a_per_span_value_replaces_a_shared_one_instead_of_repeating_the_key() -> None:
    shared: dict[str, AttributeValue] = {"pytest.outcome": "passed", "test.case.name": "t"}
    record = SpanRecord("t", TRACE, 1, 0, START, shared)
    record.set("pytest.outcome", "failed")
    attributes = orjson.loads(encoder().span(record))["attributes"]
    assert attributes == [
        {"key": "pytest.outcome", "value": {"stringValue": "failed"}},
        {"key": "test.case.name", "value": {"stringValue": "t"}},
        RUN_ID_ATTRIBUTE,
    ]
    assert shared == {"pytest.outcome": "passed", "test.case.name": "t"}


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("text", {"stringValue": "text"}),
        ("", {"stringValue": ""}),
        (True, {"boolValue": True}),
        (0, {"intValue": "0"}),
        (-(2**63), {"intValue": "-9223372036854775808"}),
        (1.0, {"doubleValue": 1.0}),
        (math.nan, {"doubleValue": "NaN"}),
        (math.inf, {"doubleValue": "Infinity"}),
        (-math.inf, {"doubleValue": "-Infinity"}),
        ((), {"arrayValue": {"values": []}}),
        (("a",), {"arrayValue": {"values": [{"stringValue": "a"}]}}),
    ],
)
def test_each_attribute_type_has_its_any_value_form(value: AttributeValue, encoded: dict[str, Any]) -> None:
    assert any_value(value) == encoded


def test_non_finite_doubles_survive_the_round_trip() -> None:
    record = SpanRecord("t", TRACE, 1, 0, START, {"nan": math.nan, "inf": math.inf, "ninf": -math.inf})
    span = TracesData.from_json(encoder().line([record])).resource_spans[0].scope_spans[0].spans[0]
    values = {kv.key: kv.value.double_value for kv in span.attributes if kv.value is not None}
    assert math.isnan(values["nan"])  # type: ignore[arg-type]
    assert (values["inf"], values["ninf"]) == (math.inf, -math.inf)


def test_key_values_keep_the_mapping_order() -> None:
    assert key_values({"b": 1, "a": "x"}) == [
        {"key": "b", "value": {"intValue": "1"}},
        {"key": "a", "value": {"stringValue": "x"}},
    ]


def test_newlines_inside_values_stay_escaped_on_one_line() -> None:
    record = SpanRecord("t", TRACE, 1, 0, START, {"exception.stacktrace": "line 1\nline 2\r\n"})
    line = encoder().line([record])
    assert line.count(b"\n") == 1
    assert orjson.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"][0] == {
        "key": "exception.stacktrace",
        "value": {"stringValue": "line 1\nline 2\r\n"},
    }


def test_the_span_template_writes_the_bytes_orjson_writes_for_the_same_json() -> None:
    """The template is filled with bytes orjson made: names that need escaping come out
    exactly as orjson writes them, with no whitespace, in every optional part."""
    awkward = SpanRecord('tests/t.py::test_x["a\\b\n☃"]', TRACE, 1, 2, START, {"k": 'q"uote'})
    # A shared set's span: its name is kept encoded, and the second line writes it from there.
    shared = SpanRecord('fixture "db"\t', SESSION_TRACE, 3, 1, START, SharedAttributes({"k": "v"}))
    writer = encoder()
    for line in (writer.line([awkward, a_failed_test(), a_phase(awkward), shared]), writer.line([shared])):
        assert orjson.dumps(orjson.loads(line), option=orjson.OPT_APPEND_NEWLINE) == line


def test_spans_of_alternating_traces_each_carry_their_own_trace_id() -> None:
    """The encoder keeps the last trace id's hex: a span of another trace must not get it."""
    records = [SpanRecord("a", TRACE, 1, 0, START, {}), SpanRecord("b", SESSION_TRACE, 2, 0, START, {})]
    spans = orjson.loads(encoder().line([*records, records[0]]))["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert [span["traceId"] for span in spans] == [f"{TRACE:032x}", f"{SESSION_TRACE:032x}", f"{TRACE:032x}"]
