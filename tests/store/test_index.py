"""The run index: one self-describing line per run, read oldest first, and retention."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
import pytest

from otel_pytest.store.compression import ZSTD
from otel_pytest.store.index import (
    INDEX_SCHEMA_VERSION,
    RunEntry,
    RunIndex,
    is_run_file,
    run_file_name,
    run_id_of,
    worker_part_name,
)
from otel_pytest.store.lock import LOCK_NAME

BASE = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z


def entry(number: int, **changes: object) -> RunEntry:
    """The ``number``-th run: started ``number`` seconds after BASE."""
    start = BASE + number * 1_000_000_000
    run_id = f"{number:016x}"
    fields: dict[str, object] = {
        "run_id": run_id,
        "file": run_file_name(start, run_id),
        "start_time_unix_nano": start,
        "end_time_unix_nano": start + 500_000_000,
        "service_name": "shop",
        "exit_status": 0,
        "tests": 10 + number,
        "spans": 100 + number,
        "environment": {"python": "3.11.7", "cpu_count": 8, "fingerprint": "1c73d99587fa"},
        "vcs": {"vcs.ref.head.revision": "0123456789abcdef", "vcs.ref.head.name": "main"},
        "ci": {},
        **changes,
    }
    return RunEntry(**fields)  # type: ignore[arg-type]


def store_with(tmp_path: Path, *entries: RunEntry) -> RunIndex:
    index = RunIndex(tmp_path / "store")
    for item in entries:
        index.append(item)
        (index.runs_dir).mkdir(parents=True, exist_ok=True)
        (index.runs_dir / item.file).write_text("{}\n")
    return index


@pytest.mark.parametrize("end", [".zst", ".gz", ""])
def test_a_run_file_of_any_format_is_one_and_names_its_run(end: str) -> None:
    name = f"20231114T221320Z_5f2b0c9d1e3a4b6c.otlp.jsonl{end}"
    assert (is_run_file(name), run_id_of(name)) == (True, "5f2b0c9d1e3a4b6c")
    assert not is_run_file(f"{name}.gw0.part")


def test_run_file_names_start_with_the_utc_start_time() -> None:
    name = "20231114T221320Z_5f2b0c9d1e3a4b6c.otlp.jsonl"
    assert run_file_name(BASE + 123_456_789, "5f2b0c9d1e3a4b6c") == f"{name}.gz"
    assert run_file_name(BASE + 123_456_789, "5f2b0c9d1e3a4b6c", ZSTD) == f"{name}.zst"
    assert run_file_name(BASE + 123_456_789, "5f2b0c9d1e3a4b6c", None) == name
    assert worker_part_name("20231114T221320Z_x.otlp.jsonl", "gw3") == "20231114T221320Z_x.otlp.jsonl.gw3.part"


def test_an_entry_is_one_json_line_and_reads_back_equal() -> None:
    original = entry(1, ci={"cicd.system": "github_actions"})
    line = original.to_json()
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert orjson.loads(line) == {
        "run_id": "0000000000000001",
        "file": "20231114T221321Z_0000000000000001.otlp.jsonl.gz",
        "start_time_unix_nano": BASE + 1_000_000_000,
        "end_time_unix_nano": BASE + 1_500_000_000,
        "service_name": "shop",
        "exit_status": 0,
        "tests": 11,
        "spans": 101,
        "environment": {"python": "3.11.7", "cpu_count": 8, "fingerprint": "1c73d99587fa"},
        "vcs": {"vcs.ref.head.revision": "0123456789abcdef", "vcs.ref.head.name": "main"},
        "ci": {"cicd.system": "github_actions"},
        "schema": INDEX_SCHEMA_VERSION,
        "complete": True,
    }
    assert RunEntry.from_json(orjson.loads(line)) == original


def test_keys_a_newer_writer_added_are_ignored_and_missing_optional_ones_default() -> None:
    data = orjson.loads(entry(1).to_json())
    del data["vcs"], data["ci"], data["schema"]
    data["written_by_the_future"] = True
    assert RunEntry.from_json(data) == entry(1, vcs={}, ci={})


def test_outcome_counts_read_back_and_a_line_written_before_them_has_none() -> None:
    counted = entry(1, outcomes={"passed": 9, "failed": 2})
    assert RunEntry.from_json(orjson.loads(counted.to_json())) == counted
    older = orjson.loads(entry(1).to_json())
    assert "outcomes" not in older  # unknown is left out, never written as null
    assert RunEntry.from_json(older).outcomes is None


def test_a_missing_index_is_an_empty_list_without_problems(tmp_path: Path) -> None:
    assert RunIndex(tmp_path / "nowhere").entries() == ([], [])


def test_entries_are_sorted_oldest_first_whatever_the_order_of_the_lines(tmp_path: Path) -> None:
    index = store_with(tmp_path, entry(3), entry(1), entry(2))
    entries, problems = index.entries()
    assert [item.run_id for item in entries] == [
        "0000000000000001",
        "0000000000000002",
        "0000000000000003",
    ]
    assert problems == []


def test_unreadable_lines_are_skipped_and_named_by_file_and_line(tmp_path: Path) -> None:
    index = store_with(tmp_path, entry(1))
    with index.path.open("ab") as handle:
        handle.write(b"\n")  # blank lines are not problems
        handle.write(b"[1, 2]\n")
        handle.write(entry(2).to_json().replace(b'"tests":12', b'"tests":"twelve"'))
        handle.write(entry(3).to_json())
        handle.write(b'{"run_id": "ab')  # a run cut off mid-write
    entries, problems = index.entries()
    assert [item.run_id for item in entries] == ["0000000000000001", "0000000000000003"]
    assert problems == [
        f"{index.path}:3: skipped an unreadable index line (expected an object, found list)",
        f"{index.path}:4: skipped an unreadable index line (tests is str, expected int)",
        f"{index.path}:6: skipped an unreadable index line (unexpected end of data: line 1 column 15 (char 14))",
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"start_time_unix_nano": "soon"}, "start_time_unix_nano is str, expected int"),
        ({"exit_status": True}, "exit_status is bool, expected int"),
        ({"environment": None}, "environment is NoneType, expected dict"),
        ({"vcs": {"vcs.ref.head.revision": 12}}, "vcs has a value that is not a string"),
        ({"run_id": 7}, "run_id is int, expected str"),
        ({"outcomes": {"passed": "3"}}, "outcomes has a count that is not a whole number"),
        ({"outcomes": {"passed": True}}, "outcomes has a count that is not a whole number"),
        ({"outcomes": None}, "outcomes is NoneType, expected dict"),
    ],
)
def test_a_value_of_the_wrong_type_makes_the_line_unreadable(change: dict[str, object], problem: str) -> None:
    data = {**orjson.loads(entry(1).to_json()), **change}
    with pytest.raises(TypeError) as raised:
        RunEntry.from_json(data)
    assert str(raised.value) == problem


def test_a_line_without_a_required_key_is_skipped(tmp_path: Path) -> None:
    index = RunIndex(tmp_path)
    data = orjson.loads(entry(1).to_json())
    del data["tests"]
    index.path.write_bytes(orjson.dumps(data) + b"\n")
    entries, problems = index.entries()
    assert entries == []
    assert len(problems) == 1
    assert problems[0].startswith(f"{index.path}:1: skipped an unreadable index line (")
    assert "'tests'" in problems[0]


def test_append_creates_the_store_folder(tmp_path: Path) -> None:
    index = RunIndex(tmp_path / "a" / "b")
    index.append(entry(1))
    assert index.path.read_bytes() == entry(1).to_json()


def test_retention_keeps_the_newest_runs_and_deletes_the_files_of_the_others(
    tmp_path: Path,
) -> None:
    index = store_with(tmp_path, entry(2), entry(4), entry(1), entry(3), entry(5))
    removed = index.retain(2)
    assert removed == [entry(1), entry(2), entry(3)]
    assert index.entries() == ([entry(4), entry(5)], [])
    assert sorted(path.name for path in index.runs_dir.iterdir()) == [entry(4).file, entry(5).file]
    assert sorted(path.name for path in index.store.iterdir()) == [LOCK_NAME, "index.jsonl", "runs"]


def test_retention_below_the_limit_changes_nothing(tmp_path: Path) -> None:
    index = store_with(tmp_path, entry(2), entry(1))
    before = index.path.read_bytes()
    assert index.retain(2) == []
    assert index.path.read_bytes() == before
    assert len(list(index.runs_dir.iterdir())) == 2


def test_retention_of_zero_runs_is_refused(tmp_path: Path) -> None:
    index = store_with(tmp_path, entry(1))
    with pytest.raises(ValueError, match=r"^keep=0: a store keeps at least one run$"):
        index.retain(0)
    assert index.entries() == ([entry(1)], [])


def test_retention_tolerates_a_run_file_already_gone(tmp_path: Path) -> None:
    index = store_with(tmp_path, entry(1), entry(2))
    (index.runs_dir / entry(1).file).unlink()
    assert index.retain(1) == [entry(1)]
    assert index.entries() == ([entry(2)], [])


def test_retention_never_deletes_outside_the_runs_folder(tmp_path: Path) -> None:
    index = store_with(tmp_path, entry(2))
    precious = index.store / "precious.otlp.jsonl"
    precious.write_text("keep me")
    index.append(entry(1, file="../precious.otlp.jsonl"))
    assert index.retain(1) == [entry(1, file="../precious.otlp.jsonl")]
    assert precious.read_text() == "keep me"


def test_the_rewritten_index_keeps_the_file_mode(tmp_path: Path) -> None:
    index = store_with(tmp_path, entry(1), entry(2))
    os.chmod(index.path, 0o644)
    index.retain(1)
    assert stat.S_IMODE(index.path.stat().st_mode) == 0o644


def test_a_failed_rewrite_leaves_the_old_index_whole_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = store_with(tmp_path, entry(1), entry(2), entry(3))
    before = index.path.read_bytes()

    def disk_full(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        index.retain(1)
    assert index.path.read_bytes() == before
    assert sorted(path.name for path in index.store.iterdir()) == [LOCK_NAME, "index.jsonl", "runs"]


def test_the_index_is_replaced_whole_not_rewritten_in_place(tmp_path: Path) -> None:
    index = store_with(tmp_path, entry(1), entry(2), entry(3))
    before = index.path.stat().st_ino
    index.retain(2)
    # os.replace puts a new file in place: a reader that opened the old one still sees it whole.
    assert index.path.stat().st_ino != before
    assert index.path.read_bytes() == entry(2).to_json() + entry(3).to_json()


def test_retention_also_deletes_the_metrics_and_the_cached_summary_of_a_removed_run(tmp_path: Path) -> None:
    index = store_with(tmp_path, entry(1), entry(2))
    for run in (entry(1), entry(2)):
        (index.store / "metrics").mkdir(exist_ok=True)
        (index.store / "summaries").mkdir(exist_ok=True)
        (index.store / "metrics" / run.file).write_text("{}")
        (index.store / "summaries" / f"{run.file}.json").write_text("{}")
    index.retain(1)
    assert [path.name for path in (index.store / "metrics").iterdir()] == [entry(2).file]
    assert [path.name for path in (index.store / "summaries").iterdir()] == [f"{entry(2).file}.json"]


def test_an_update_keeps_the_bytes_of_the_lines_it_keeps_and_the_lines_it_cannot_read(tmp_path: Path) -> None:
    index = store_with(tmp_path, entry(1))
    from_the_future = orjson.dumps({**orjson.loads(entry(2).to_json()), "written_by_the_future": [1, 2]})
    with index.path.open("ab") as handle:
        handle.write(from_the_future + b"\n" + b"{damaged\n\n" + entry(3).to_json().rstrip(b"\n"))  # no final newline
    (index.runs_dir / entry(2).file).write_text("{}\n")
    (index.runs_dir / entry(3).file).write_text("{}\n")
    assert index.retain(2) == [entry(1)]
    assert index.path.read_bytes() == from_the_future + b"\n{damaged\n" + entry(3).to_json()


def test_an_entry_appended_after_a_line_without_its_newline_stays_a_line_of_its_own(tmp_path: Path) -> None:
    index = store_with(tmp_path, entry(1))
    index.path.write_bytes(entry(1).to_json().rstrip(b"\n"))  # a writer cut off before its newline
    index.append(entry(2))
    assert index.entries() == ([entry(1), entry(2)], [])


def test_an_entry_without_the_complete_key_is_complete() -> None:
    data = orjson.loads(entry(1).to_json())
    del data["complete"]
    assert RunEntry.from_json(data).complete is True
    assert RunEntry.from_json({**data, "complete": False}).complete is False


def test_a_new_entry_replaces_the_older_entry_of_its_run_file(tmp_path: Path) -> None:
    index = store_with(tmp_path, entry(1), entry(2, complete=False, exit_status=-1))
    index.append(entry(2))
    assert index.entries() == ([entry(1), entry(2)], [])


def sized_store(tmp_path: Path, sizes: dict[int, int]) -> RunIndex:
    """Runs numbered as ``sizes`` says, each run file that many bytes."""
    index = store_with(tmp_path, *(entry(number) for number in sizes))
    for number, size in sizes.items():
        (index.runs_dir / entry(number).file).write_bytes(b"x" * size)
    return index


def test_retention_by_size_removes_the_oldest_runs_until_the_rest_fit(tmp_path: Path) -> None:
    index = sized_store(tmp_path, {1: 400, 2: 300, 3: 200, 4: 100})
    assert index.retain(100, 300) == [entry(1), entry(2)]
    assert index.entries() == ([entry(3), entry(4)], [])
    assert sorted(path.name for path in index.runs_dir.iterdir()) == [entry(3).file, entry(4).file]


def test_retention_by_size_never_removes_the_newest_run(tmp_path: Path) -> None:
    index = sized_store(tmp_path, {1: 10, 2: 5_000})
    assert index.retain(100, 1_000) == [entry(1)]
    assert index.entries() == ([entry(2)], [])


def test_retention_by_size_counts_a_runs_metrics_and_cached_summary(tmp_path: Path) -> None:
    index = sized_store(tmp_path, {1: 100, 2: 100})
    (index.store / "metrics").mkdir()
    (index.store / "summaries").mkdir()
    (index.store / "metrics" / entry(2).file).write_bytes(b"m" * 50)
    (index.store / "summaries" / f"{entry(2).file}.json").write_bytes(b"s" * 50)
    assert index.retain(100, 299) == [entry(1)]  # 100 + 200 bytes: one too many
    assert index.retain(100, 200) == []


def test_retention_by_count_comes_first_then_by_size(tmp_path: Path) -> None:
    index = sized_store(tmp_path, {1: 10, 2: 10, 3: 100, 4: 100})
    assert index.retain(3, 150) == [entry(1), entry(2), entry(3)]
    assert index.entries() == ([entry(4)], [])
