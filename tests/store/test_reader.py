"""Reading OTLP JSON Lines back: our own run files and a collector's file exporter output."""

from __future__ import annotations

from pathlib import Path

import orjson

from otel_pytest.encode.otlp_json import OtlpJsonEncoder
from otel_pytest.encode.shape import ExportShape
from otel_pytest.records import AttributeValue, SpanRecord
from otel_pytest.store.reader import read_spans

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
    spans = list(read_spans(path))
    assert [(span.span.name, span.span.span_id, span.span.parent_span_id) for span in spans] == [
        ("session", bytes.fromhex("0000000000000001"), b""),
        ("test", bytes.fromhex("0000000000000002"), bytes.fromhex("0000000000000001")),
        ("SELECT", bytes.fromhex("0000000000000003"), bytes.fromhex("0000000000000002")),
    ]
    assert spans[0].attributes == {
        "flag": True,
        "ratio": 0.5,
        "markers": ["a", "b"],
        "pytest.run.id": "5f2b0c9d1e3a4b6c",
    }
    assert spans[1].attributes == {"count": 3, "pytest.run.id": "5f2b0c9d1e3a4b6c"}
    assert all(span.resource == {"service.name": "shop", "host.cpu.count": 8} for span in spans)
    assert all(span.scope == "otel_pytest" for span in spans)


def test_a_truncated_last_line_is_reported_and_the_rest_is_still_read(tmp_path: Path) -> None:
    path = run_file(tmp_path, [record(1, "session")], [record(2, "test", parent=1)])
    last = lines([record(3, "cut off", parent=1)])
    with path.open("ab") as handle:
        handle.write(last[: len(last) // 2])
    problems: list[str] = []
    names = [span.span.name for span in read_spans(path, problems)]
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
    assert [span.span.name for span in read_spans(path, problems)] == ["first", "second"]
    assert [problem.split(" (", 1)[0] for problem in problems] == [
        f"{path}:3: skipped an unreadable line",
        f"{path}:4: skipped an unreadable line",
    ]


def test_without_a_problem_list_bad_lines_are_skipped_silently(tmp_path: Path) -> None:
    path = run_file(tmp_path, [record(1, "first")])
    with path.open("ab") as handle:
        handle.write(b"{not json")
    assert [span.span.name for span in read_spans(path)] == ["first"]


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
            {"scopeSpans": [{"scope": {"name": "other"}, "spans": [{"name": "bare"}]}]},
        ]
    }
    path = tmp_path / "collector.jsonl"
    path.write_bytes(orjson.dumps(line) + b"\n")
    problems: list[str] = []
    spans = list(read_spans(path, problems))
    assert problems == []
    assert [(span.span.name, span.scope, span.resource) for span in spans] == [
        ("GET /orders", "", {}),
        ("bare", "other", {}),
    ]
    assert spans[0].attributes == {
        "http.response.status_code": 200,
        "blob": b"hi",
        "map": {"inner": "x"},
        "empty": None,
    }
    assert (spans[0].span.start_time_unix_nano, spans[0].span.end_time_unix_nano) == (
        1_700_000_000_000_000_000,
        1_700_000_000_000_000_100,
    )
