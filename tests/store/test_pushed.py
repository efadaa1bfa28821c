"""The store's record of pushes: appended, read back as keys, damaged lines ignored."""

from __future__ import annotations

from pathlib import Path

from otel_pytest.store.layout import PUSHED
from otel_pytest.store.pushed import Pushed, PushLog


def test_pushes_are_appended_and_read_back_as_run_endpoint_and_protocol(tmp_path: Path) -> None:
    log = PushLog(tmp_path / "store")
    assert log.keys() == set()
    log.add(Pushed("a.otlp.jsonl", "a", "http://c:4318/v1/traces", "http/protobuf", 1, 10))
    log.add(Pushed("a.otlp.jsonl", "a", "http://c:4317", "grpc", 2, 10))
    assert log.keys() == {
        ("a.otlp.jsonl", "http://c:4318/v1/traces", "http/protobuf"),
        ("a.otlp.jsonl", "http://c:4317", "grpc"),
    }


def test_a_damaged_line_is_ignored_and_the_others_still_count(tmp_path: Path) -> None:
    log = PushLog(tmp_path)
    log.add(Pushed("a.otlp.jsonl", "a", "http://c/v1/traces", "http/protobuf", 1, 10))
    with (tmp_path / PUSHED).open("ab") as out:
        out.write(b'{"file": "b.otlp.jsonl"\n[1, 2]\n{"file": "c", "unknown": 1}\n')
    assert log.keys() == {("a.otlp.jsonl", "http://c/v1/traces", "http/protobuf")}


def test_a_log_that_is_not_a_file_holds_no_pushes(tmp_path: Path) -> None:
    (tmp_path / PUSHED).mkdir()
    assert PushLog(tmp_path).keys() == set()
