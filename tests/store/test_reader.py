"""Reading OTLP JSON Lines back: our own run files and a collector's file exporter output,
read as the OTel project's own OTLP JSON classes read them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson
import pytest
from opentelemetry.proto_json.common.v1.common import AnyValue, KeyValue
from opentelemetry.proto_json.trace.v1.trace import Span as OtelSpan
from opentelemetry.proto_json.trace.v1.trace import TracesData

from otel_pytest.encode.otlp_json import OtlpJsonEncoder
from otel_pytest.encode.shape import ExportShape
from otel_pytest.records import AttributeValue, SpanRecord
from otel_pytest.store.compression import read_decoded
from otel_pytest.store.reader import Event, Link, SpanDetail, read_otlp, read_spans
from tests.analyze.test_summarize import run_suite

TRACE = 0x0AF7651916CD43DD8448EB211C80319C
START = 1_700_000_000_000_000_000
RESOURCE: dict[str, AttributeValue] = {"service.name": "shop", "host.cpu.count": 8}


def lines(*batches: list[SpanRecord]) -> bytes:
    encoder = OtlpJsonEncoder(ExportShape(RESOURCE, "5f2b0c9d1e3a4b6c", "1.2.3"))
    return b"".join(encoder.line(batch) for batch in batches)


def run_file(tmp_path: Path, *batches: list[SpanRecord]) -> Path:
    path = tmp_path / "run.otlp.jsonl"
    path.write_bytes(lines(*batches))
    return path


def record(span_id: int, name: str, parent: int = 0, **attributes: AttributeValue) -> SpanRecord:
    return SpanRecord(name, TRACE, span_id, parent, START + span_id, attributes)


def test_every_span_of_every_line_is_read_with_its_resource_and_scope(tmp_path: Path) -> None:
    path = run_file(
        tmp_path,
        [record(1, "session", flag=True, ratio=0.5, markers=["a", "b"])],
        [record(2, "test", parent=1, count=3), record(3, "SELECT", parent=2)],
    )
    read = list(read_spans(path))
    spans = [span for _resource, span in read]
    assert [(span.name, span.span_id, span.parent_id) for span in spans] == [
        ("session", "0000000000000001", ""),
        ("test", "0000000000000002", "0000000000000001"),
        ("SELECT", "0000000000000003", "0000000000000002"),
    ]
    assert spans[0].attributes == {
        "flag": True,
        "ratio": 0.5,
        "markers": ["a", "b"],
        "pytest.run.id": "5f2b0c9d1e3a4b6c",
    }
    assert spans[1].attributes == {"count": 3, "pytest.run.id": "5f2b0c9d1e3a4b6c"}
    assert all(resource == {"service.name": "shop", "host.cpu.count": 8} for resource, _span in read)
    assert all(span.detail is not None and span.detail.scope == "otel_pytest" for span in spans)


def test_a_truncated_last_line_is_reported_and_the_rest_is_still_read(tmp_path: Path) -> None:
    path = run_file(tmp_path, [record(1, "session")], [record(2, "test", parent=1)])
    last = lines([record(3, "cut off", parent=1)])
    with path.open("ab") as handle:
        handle.write(last[: len(last) // 2])
    problems: list[str] = []
    names = [span.name for _resource, span in read_spans(path, problems)]
    assert names == ["session", "test"]
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:3: skipped an unreadable line (")


def test_a_bad_line_in_the_middle_does_not_stop_the_lines_after_it(tmp_path: Path) -> None:
    path = run_file(tmp_path, [record(1, "first")])
    with path.open("ab") as handle:
        handle.write(b"\n")
        handle.write(b'{"resourceSpans": 5}\n')
        handle.write(b"\xff\xfe not utf-8\n")
    with path.open("ab") as handle:
        handle.write(lines([record(2, "second")]))
    problems: list[str] = []
    assert [span.name for _resource, span in read_spans(path, problems)] == ["first", "second"]
    assert [problem.split(" (", 1)[0] for problem in problems] == [
        f"{path}:3: skipped an unreadable line",
        f"{path}:4: skipped an unreadable line",
    ]


def test_without_a_problem_list_bad_lines_are_skipped_silently(tmp_path: Path) -> None:
    path = run_file(tmp_path, [record(1, "first")])
    with path.open("ab") as handle:
        handle.write(b"{not json")
    assert [span.name for _resource, span in read_spans(path)] == ["first"]


def test_a_collector_file_exporter_line_is_read_too(tmp_path: Path) -> None:
    # Written by hand the way the collector's file exporter writes it: integer values as
    # strings, a kvlist and bytes value, a scope without a name, a resource without attributes.
    line = {
        "resourceSpans": [
            {
                "resource": {},
                "scopeSpans": [
                    {
                        "scope": {},
                        "spans": [
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "00f067aa0ba902b7",
                                "name": "GET /orders",
                                "kind": 2,
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000000000000100",
                                "attributes": [
                                    {
                                        "key": "http.response.status_code",
                                        "value": {"intValue": "200"},
                                    },
                                    {"key": "blob", "value": {"bytesValue": "aGk="}},
                                    {
                                        "key": "map",
                                        "value": {
                                            "kvlistValue": {"values": [{"key": "inner", "value": {"stringValue": "x"}}]}
                                        },
                                    },
                                    {"key": "empty", "value": {}},
                                ],
                            }
                        ],
                    }
                ],
            },
            {
                "scopeSpans": [
                    {
                        "scope": {"name": "other"},
                        "spans": [
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                                "name": "bare",
                            }
                        ],
                    }
                ]
            },
        ]
    }
    path = tmp_path / "collector.jsonl"
    path.write_bytes(orjson.dumps(line) + b"\n")
    problems: list[str] = []
    read = list(read_spans(path, problems))
    assert problems == []
    assert [(span.name, span.detail.scope if span.detail else None, resource) for resource, span in read] == [
        ("GET /orders", "", {}),
        ("bare", "other", {}),
    ]
    spans = [span for _resource, span in read]
    assert spans[0].attributes == {
        "http.response.status_code": 200,
        "blob": b"hi",
        "map": {"inner": "x"},
        "empty": None,
    }
    assert (spans[0].start, spans[0].end) == (
        1_700_000_000_000_000_000,
        1_700_000_000_000_000_100,
    )


# -- the OTel project's own OTLP JSON classes, as a second opinion -----------------------


def otel_value(value: AnyValue | None) -> object:
    """The Python value of an ``AnyValue`` as ``opentelemetry-proto-json`` reads it."""
    if value is None:
        return None
    for item in (value.string_value, value.bool_value, value.int_value, value.double_value, value.bytes_value):
        if item is not None:
            return item
    if value.array_value is not None:
        return [otel_value(item) for item in value.array_value.values]
    if value.kvlist_value is not None:
        return otel_attributes(value.kvlist_value.values)
    return None


def otel_attributes(key_values: Sequence[KeyValue]) -> dict[str, object]:
    return {kv.key or "": otel_value(kv.value) for kv in key_values}


def otel_read_spans(path: Path) -> Iterator[tuple[OtelSpan, dict[str, object]]]:
    for line in read_decoded(path).splitlines():
        for resource_spans in TracesData.from_json(line).resource_spans:
            resource = otel_attributes(resource_spans.resource.attributes) if resource_spans.resource else {}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    yield span, resource


# -- the fast reader against the OTel project's classes ---------------------------------------


def test_the_fast_parser_reads_a_real_run_file_exactly_as_the_otel_reader_does(pytester: pytest.Pytester) -> None:
    path = run_suite(pytester)
    special = tmp_line(pytester.path)
    for file in (path, special):
        fast = [(resource, span) for resource, spans in read_otlp(file, []) for span in spans]
        reference = list(otel_read_spans(file))
        assert len(fast) == len(reference) > 0
        for (resource, span), (otel, otel_resource) in zip(fast, reference, strict=True):
            assert (span.trace_id, span.span_id, span.parent_id) == (
                (otel.trace_id or b"").hex(),
                (otel.span_id or b"").hex(),
                (otel.parent_span_id or b"").hex(),
            )
            assert (span.name, span.start, span.end) == (
                otel.name,
                otel.start_time_unix_nano,
                otel.end_time_unix_nano or otel.start_time_unix_nano,
            )
            assert span.status == int(otel.status.code or 0 if otel.status is not None else 0)
            ours, theirs = dict(span.attributes), otel_attributes(otel.attributes)
            if "nan" in theirs:  # NaN equals nothing, itself included
                assert str(ours.pop("nan")) == str(theirs.pop("nan")) == "nan"
            assert ours == theirs
            assert resource == otel_resource


def tmp_line(folder: Path) -> Path:
    """Every attribute value type, a status, a span without a parent or an end."""
    value_types = [
        {"key": "s", "value": {"stringValue": "text"}},
        {"key": "i", "value": {"intValue": "-42"}},
        {"key": "d", "value": {"doubleValue": 0.25}},
        {"key": "nan", "value": {"doubleValue": "NaN"}},
        {"key": "b", "value": {"boolValue": True}},
        {"key": "bytes", "value": {"bytesValue": "AAEC"}},
        {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "x"}, {"intValue": "1"}]}}},
        {"key": "kv", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": False}}]}}},
        {"key": "empty", "value": {}},
    ]
    data = {
        "resourceSpans": [
            {
                "resource": {"attributes": value_types[:2]},
                "scopeSpans": [
                    {
                        "scope": {"name": "x"},
                        "spans": [
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                                "name": "n",
                                "kind": 1,
                                "startTimeUnixNano": "5",
                                "attributes": value_types,
                                "status": {"code": 2},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    path = folder / "types.jsonl"
    path.write_bytes(orjson.dumps(data) + b"\n")
    return path


def test_not_a_number_survives_the_parser(tmp_path: Path) -> None:
    ((_, (span,)),) = list(read_otlp(tmp_line(tmp_path), []))
    nan = span.attributes.pop("nan")
    assert isinstance(nan, float)
    assert nan != nan
    assert span.attributes["bytes"] == b"\x00\x01\x02"


def test_the_details_of_a_span_are_read_when_asked_for(tmp_path: Path) -> None:
    # Enums by name, as some writers put them; an event, a link, a trace state, dropped counts.
    span = {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "b7ad6b7169203331",
        "name": "GET /orders",
        "kind": "SPAN_KIND_SERVER",
        "traceState": "vendor=1",
        "startTimeUnixNano": "10",
        "endTimeUnixNano": "20",
        "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
        "events": [
            {
                "name": "exception",
                "timeUnixNano": "15",
                "attributes": [{"key": "exception.type", "value": {"stringValue": "ValueError"}}],
            }
        ],
        "links": [{"traceId": "00000000000000000000000000000001", "spanId": "0000000000000002"}],
        "droppedAttributesCount": 1,
        "droppedEventsCount": 2,
        "droppedLinksCount": 3,
    }
    path = tmp_path / "detail.jsonl"
    data = {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "shop"}, "spans": [span]}]}]}
    path.write_bytes(orjson.dumps(data) + b"\n")
    ((_, (fast,)),) = list(read_otlp(path, []))
    ((_, detailed),) = list(read_spans(path))
    assert (fast.status, fast.detail, detailed.status) == (2, None, 2)
    assert detailed.detail == SpanDetail(
        scope="shop",
        kind=2,
        trace_state="vendor=1",
        status_message="boom",
        events=(Event("exception", 15, {"exception.type": "ValueError"}),),
        links=(Link("00000000000000000000000000000001", "0000000000000002", {}),),
        dropped_attributes=1,
        dropped_events=2,
        dropped_links=3,
    )
