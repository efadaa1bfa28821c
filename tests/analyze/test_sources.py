"""Reading runs: the local store and OTLP JSON Lines files, the summary cache, and bad input."""

from __future__ import annotations

import dataclasses
import gzip
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext
from pathlib import Path

import orjson
import pytest

from otel_pytest.analyze import sources
from otel_pytest.analyze.model import SUMMARY_SCHEMA_VERSION, RunSummary, to_plain
from otel_pytest.analyze.sources import (
    OtlpFileSource,
    Source,
    StoreSource,
    encode_runs,
    file_run_id,
    open_sources,
    summarize_file,
)
from otel_pytest.encode.otlp_json import OtlpJsonEncoder
from otel_pytest.encode.shape import ExportShape
from otel_pytest.records import AttributeValue, SpanRecord
from otel_pytest.store import files, summaries
from otel_pytest.store.compression import ZSTD, member
from otel_pytest.store.index import RunEntry, RunIndex
from tests.analyze.test_summarize import NO_ASYNC, run_suite
from tests.bounded import within

START = 1_790_000_000_000_000_000
RESOURCE: dict[str, AttributeValue] = {
    "service.name": "shop",
    "pytest.env.fingerprint": "env0000000a",
    "vcs.ref.head.revision": "abc123",
    "vcs.ref.head.name": "main",
}


# -- hand-made run files -----------------------------------------------------------------


def record(
    name: str, trace: int, span_id: int, parent: int, start: int, end: int, **attributes: AttributeValue
) -> SpanRecord:
    span = SpanRecord(name, trace, span_id, parent, START + start, attributes)
    span.end = START + end
    return span


def run_lines(run_id: str, tests: int = 2, session: bool = True) -> list[bytes]:
    """A run as the plugin writes it: a line per test (root and phases), then the session."""
    encoder = OtlpJsonEncoder(ExportShape(RESOURCE, run_id, "0.1.0"))
    lines = []
    for number in range(tests):
        trace, root, offset = 100 + number, 10 * number + 10, 1_000 * number
        nodeid = f"test_hand.py::test_{number}"
        lines.append(
            encoder.line(
                [
                    record("setup", trace, root + 1, root, offset + 10, offset + 20),
                    record("call", trace, root + 2, root, offset + 20, offset + 120),
                    record("teardown", trace, root + 3, root, offset + 120, offset + 130),
                    record(
                        nodeid,
                        trace,
                        root,
                        0,
                        offset,
                        offset + 140,
                        **{"test.case.name": nodeid, "pytest.outcome": "passed"},
                    ),
                ]
            )
        )
    if session:
        lines.append(encoder.line([record("pytest session", 1, 1, 0, -5, 1_000 * tests + 5)]))
    return lines


def write(path: Path, lines: list[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(lines))
    return path


def consume(source: Source) -> list[RunSummary]:
    return list(source.runs())


def comparable(run: RunSummary) -> dict[str, object]:
    """A summary without where it was read from and when (the store's index and the
    session span give start times a few milliseconds apart)."""
    plain = to_plain(run)
    del plain["source"], plain["start_time"]
    return dict(plain)


# -- the cache ---------------------------------------------------------------------------


def test_the_cache_encoding_is_to_plain_written_by_orjson(pytester: pytest.Pytester) -> None:
    runs, _ = summarize_file(run_suite(pytester))
    assert encode_runs(runs) == orjson.dumps([to_plain(run) for run in runs])


# -- the local store ---------------------------------------------------------------------


def test_the_store_is_read_through_its_index_and_each_summary_is_cached(pytester: pytest.Pytester) -> None:
    path = run_suite(pytester)
    store = pytester.path / ".otel-pytest"
    (entry,), _ = RunIndex(store).entries()
    source = StoreSource(store)
    (run,) = consume(source)
    assert (source.problems, source.built) == ([], 1)
    (direct,), _ = summarize_file(path)
    assert run.start_time == entry.start_time_unix_nano * 1e-9
    assert run.environment == entry.environment["fingerprint"]
    assert run.service == entry.service_name
    assert to_plain(run) == {**to_plain(direct), "start_time": run.start_time}
    assert len(run.tests) == 5

    cache = store / "summaries" / f"{path.name}.json"
    data = orjson.loads(cache.read_bytes())
    stat = path.stat()
    assert (data["schema"], data["source"]) == (
        SUMMARY_SCHEMA_VERSION,
        {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
    )

    again = StoreSource(store)
    (cached,) = consume(again)
    assert again.built == 0
    assert to_plain(cached) == to_plain(run)


def test_an_unchanged_run_is_never_parsed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    write(store / "runs" / "a.otlp.jsonl", run_lines("00000000000000aa"))
    RunIndex(store).append(entry("00000000000000aa", "a.otlp.jsonl"))
    (first,) = consume(StoreSource(store))

    def no_parsing(path: Path, problems: list[str]) -> None:
        raise AssertionError(f"{path} parsed again")

    monkeypatch.setattr(sources, "read_otlp", no_parsing)
    (second,) = consume(StoreSource(store))
    assert to_plain(second) == to_plain(first)


def test_a_store_s_runs_are_stamped_by_their_source_as_their_summaries_were_read(tmp_path: Path) -> None:
    store = tmp_path / "store"
    path = write(store / "runs" / "a.otlp.jsonl", run_lines("00000000000000aa"))
    RunIndex(store).append(entry("00000000000000aa", "a.otlp.jsonl"))
    stat = path.stat()

    for _ in range(2):  # summarised, then read from the cache
        source = StoreSource(store)
        (run,) = consume(source)
        assert source.stamps == {run.source: {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}}


def entry(run_id: str, file: str, start: int = START, fingerprint: str = "env0000000a") -> RunEntry:
    return RunEntry(
        run_id=run_id,
        file=file,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 10**9,
        service_name="shop",
        exit_status=0,
        tests=2,
        spans=9,
        environment={"fingerprint": fingerprint},
        vcs={"vcs.ref.head.revision": "abc123"},
    )


@pytest.mark.parametrize("change", ["run file touched", "run file grew", "cache of another schema", "cache damaged"])
def test_a_summary_is_rebuilt_when_its_run_file_or_the_cache_schema_changes(tmp_path: Path, change: str) -> None:
    store = tmp_path / "store"
    path = write(store / "runs" / "a.otlp.jsonl", run_lines("00000000000000aa"))
    RunIndex(store).append(entry("00000000000000aa", "a.otlp.jsonl"))
    consume(StoreSource(store))
    cache = store / "summaries" / "a.otlp.jsonl.json"
    if change == "run file touched":
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    elif change == "run file grew":
        with path.open("ab") as handle:
            handle.write(run_lines("00000000000000aa", tests=3, session=False)[2])
    elif change == "cache of another schema":
        data = orjson.loads(cache.read_bytes())
        cache.write_bytes(orjson.dumps({**data, "schema": "0.0"}))
    else:
        cache.write_bytes(cache.read_bytes()[:100])
    source = StoreSource(store)
    (run,) = consume(source)
    assert source.built == 1
    assert len(run.tests) == (3 if change == "run file grew" else 2)
    assert orjson.loads(cache.read_bytes())["schema"] == SUMMARY_SCHEMA_VERSION


def test_summaries_of_runs_the_store_no_longer_holds_are_deleted(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write(store / "runs" / "a.otlp.jsonl", run_lines("00000000000000aa"))
    RunIndex(store).append(entry("00000000000000aa", "a.otlp.jsonl"))
    stale = write(store / "summaries" / "gone.otlp.jsonl.json", [b"{}"])
    other = write(store / "summaries" / "notes.txt", [b"mine"])
    consume(StoreSource(store))
    assert sorted(path.name for path in (store / "summaries").iterdir()) == ["a.otlp.jsonl.json", "notes.txt"]
    assert not stale.exists()
    assert other.exists()


def test_the_same_runs_come_from_the_store_and_from_copies_of_its_files(pytester: pytest.Pytester) -> None:
    run_suite(pytester)
    pytester.runpytest_subprocess("--otel", *NO_ASYNC)
    store = pytester.path / ".otel-pytest"
    from_store = consume(StoreSource(store))
    assert len(from_store) == 2
    copies = pytester.path / "artifact"
    copies.mkdir()
    for path in (store / "runs").iterdir():
        shutil.copy2(path, copies / path.name)
    by_folder = OtlpFileSource([copies])
    from_folder = consume(by_folder)
    from_files = consume(OtlpFileSource(sorted(copies.iterdir())))
    assert by_folder.problems == []
    assert by_folder.built == 2  # outside a store, nothing is cached
    assert not (copies / "summaries").exists()
    expected = {run.run_id: run for run in from_store}
    for copy in (from_folder, from_files):
        # Files come in name order, the store's runs in index order: two runs started in
        # the same second can come in either order, so compare them by run id.
        assert {run.run_id: comparable(run) for run in copy} == {key: comparable(run) for key, run in expected.items()}
        for run in copy:
            assert run.start_time == pytest.approx(expected[run.run_id].start_time, abs=0.5)
            assert Path(run.source).parent == copies


def test_a_run_file_given_as_a_path_inside_a_store_uses_the_stores_cache(pytester: pytest.Pytester) -> None:
    path = run_suite(pytester)
    consume(StoreSource(pytester.path / ".otel-pytest"))
    source = OtlpFileSource([path])
    (run,) = consume(source)
    assert source.built == 0
    assert run.source == str(path)


def test_open_sources_reads_the_store_by_default_and_paths_by_what_they_are(tmp_path: Path) -> None:
    store = tmp_path / ".otel-pytest"
    (store / "runs").mkdir(parents=True)
    file = write(tmp_path / "traces.jsonl", run_lines("00000000000000aa"))
    (default,) = open_sources([], store)
    assert isinstance(default, StoreSource)
    assert default.store == store
    given_store, given_files = open_sources([store, file], tmp_path / "unused")
    assert isinstance(given_store, StoreSource)
    assert isinstance(given_files, OtlpFileSource)
    assert given_files.paths == [file]


# -- OTLP JSON Lines files ---------------------------------------------------------------


def test_spans_are_grouped_into_runs_by_run_id_and_metadata_comes_from_the_resource(tmp_path: Path) -> None:
    first, second = run_lines("00000000000000aa"), run_lines("00000000000000bb", tests=3)
    mixed = write(
        tmp_path / "collector.jsonl", [first[0], second[0], first[1], second[1], second[2], first[2], second[3]]
    )
    cache_dir = tmp_path / "cache"
    source = OtlpFileSource([mixed], cache_dir=cache_dir)
    runs = consume(source)
    assert [(run.run_id, len(run.tests)) for run in runs] == [("00000000000000aa", 2), ("00000000000000bb", 3)]
    for run in runs:
        assert (run.environment, run.revision, run.branch, run.service) == ("env0000000a", "abc123", "main", "shop")
        assert run.start_time == (START - 5) * 1e-9
        assert run.problems == ()
        assert run.source == str(mixed)
    assert len(list(cache_dir.iterdir())) == 1
    again = OtlpFileSource([mixed], cache_dir=cache_dir)
    assert [to_plain(run) for run in consume(again)] == [to_plain(run) for run in runs]
    assert again.built == 0


def test_a_run_spread_over_several_files_is_read_as_one(tmp_path: Path) -> None:
    lines = run_lines("00000000000000aa", tests=3)
    whole = write(tmp_path / "whole" / "run.jsonl", lines)
    write(tmp_path / "parts" / "1.jsonl", lines[:2])
    write(tmp_path / "parts" / "2.jsonl", lines[2:])
    (expected,) = consume(OtlpFileSource([whole]))
    source = OtlpFileSource([tmp_path / "parts"])
    (run,) = consume(source)
    assert (run.tests, run.wall_time, run.start_time) == (expected.tests, expected.wall_time, expected.start_time)
    parts = tmp_path / "parts"
    assert run.problems == (
        f"the run's spans are spread over 2 files, read together: {parts / '1.jsonl'}, {parts / '2.jsonl'}",
    )


def test_spans_from_another_tool_are_grouped_by_file_and_said_to_be(tmp_path: Path) -> None:
    span = {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "b7ad6b7169203331",
        "name": "GET /items",
        "startTimeUnixNano": "1000",
        "endTimeUnixNano": "3000",
    }
    data = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
                "scopeSpans": [{"spans": [span, {**span, "spanId": "00000000000000c1"}]}],
            }
        ]
    }
    path = write(tmp_path / "other.jsonl", [orjson.dumps(data) + b"\n"])
    (run,) = consume(OtlpFileSource([path]))
    assert (run.run_id, run.grouped_by_file, run.service, run.tests) == (file_run_id(path), True, "api", {})
    assert run.problems == (
        "2 spans carry no pytest.run.id (another tool's?): grouped into one run by their file, other.jsonl",
        "no 'pytest session' span: the run did not finish or its file is incomplete; the wall time is that of the "
        "spans found",
        "no test spans (spans with test.case.name) in this run: nothing to analyze",
    )


def test_truncated_and_corrupt_lines_are_skipped_and_named_by_file_and_line(tmp_path: Path) -> None:
    lines = run_lines("00000000000000aa", tests=3)
    cut = lines[3][: len(lines[3]) // 2]
    path = write(
        tmp_path / "run.jsonl",
        [
            lines[0],
            b"not json\n",
            lines[1],
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "x"}]}]}]}\n',
            lines[2],
            cut,
        ],
    )
    source = OtlpFileSource([path])
    (run,) = consume(source)
    assert source.problems == []
    assert list(run.tests) == [f"test_hand.py::test_{number}" for number in range(3)]
    # orjson words its own messages: only what we add is checked word for word.
    assert [problem.split(" (not ")[0] for problem in run.problems[:3]] == [
        f"{path}:{number}: skipped an unreadable line" for number in (2, 4, 6)
    ]
    assert run.problems[0].startswith(f"{path}:2: skipped an unreadable line (not JSON: ")
    assert run.problems[1] == f"{path}:4: skipped an unreadable line (not OTLP trace data: no 'traceId')"
    assert run.problems[2].startswith(f"{path}:6: skipped an unreadable line (not JSON: ")
    assert run.problems[3].startswith("no 'pytest session' span")  # it was on the cut line


def test_a_flood_of_bad_lines_is_reported_in_a_few_lines_and_metrics_lines_in_one(tmp_path: Path) -> None:
    path = write(
        tmp_path / "run.jsonl",
        [
            *run_lines("00000000000000aa"),
            *[b"garbage\n"] * 8,
            b'{"resourceMetrics": []}\n',
            b'{"resourceMetrics": []}\n',
        ],
    )
    (run,) = consume(OtlpFileSource([path]))
    assert [problem.split(" (")[0] for problem in run.problems] == [
        *(f"{path}:{number}: skipped an unreadable line" for number in range(4, 9)),
        f"{path}: skipped 3 more unreadable lines",
        f"{path}: skipped 2 line(s) without trace data",
    ]


def test_missing_paths_empty_folders_and_empty_files_are_one_problem_each(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "nothing.jsonl").write_bytes(b"")
    source = OtlpFileSource([tmp_path / "nope.jsonl", tmp_path / "empty", tmp_path / "nothing.jsonl"])
    assert consume(source) == []
    assert source.problems == [
        f"{tmp_path / 'nope.jsonl'}: no such file or folder",
        f"{tmp_path / 'empty'}: no OTLP JSON Lines files "
        "(.jsonl, .json, .jsonl.gz, .json.gz, .jsonl.zst, .json.zst) in this folder",
        f"{tmp_path / 'nothing.jsonl'}: no spans in this file",
    ]


def test_a_missing_or_empty_store_is_one_problem(tmp_path: Path) -> None:
    missing = StoreSource(tmp_path / "missing")
    assert consume(missing) == []
    assert missing.problems == [
        f"{tmp_path / 'missing'}: the trace store does not exist; run `pytest --otel` first, "
        "or give the store or run files as paths"
    ]
    (tmp_path / "empty").mkdir()
    empty = StoreSource(tmp_path / "empty")
    assert consume(empty) == []
    assert empty.problems == [f"{tmp_path / 'empty'}: the store has no runs yet; run `pytest --otel` first"]


def test_a_run_without_tests_is_read_and_says_it_has_none(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="")
    pytester.runpytest_subprocess("--otel", *NO_ASYNC)
    (run,) = consume(StoreSource(pytester.path / ".otel-pytest"))
    assert run.tests == {}
    assert run.problems == ("no test spans (spans with test.case.name) in this run: nothing to analyze",)


def test_a_run_the_store_adopted_after_its_process_died_says_it_was_interrupted(tmp_path: Path) -> None:
    """The writer indexes an orphan run file (its process was killed) with ``complete``
    false; the analyzer reads it, and says its spans may be incomplete."""
    store = tmp_path / "store"
    write(store / "runs" / "a.otlp.jsonl", run_lines("00000000000000aa"))
    write(store / "runs" / "b.otlp.jsonl", run_lines("00000000000000bb"))
    index = RunIndex(store)
    index.append(entry("00000000000000aa", "a.otlp.jsonl"))
    index.append(dataclasses.replace(entry("00000000000000bb", "b.otlp.jsonl", start=START + 1), complete=False))
    runs = consume(StoreSource(store))
    assert [(run.run_id, run.problems) for run in runs] == [
        ("00000000000000aa", ()),
        (
            "00000000000000bb",
            (
                "the run was interrupted (its process ended before the run did: killed or crashed), "
                "so its spans may be incomplete",
            ),
        ),
    ]


def test_index_and_run_files_that_disagree_are_named(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write(store / "runs" / "a.otlp.jsonl", run_lines("00000000000000aa"))
    write(store / "runs" / "b.otlp.jsonl", run_lines("00000000000000bb"))
    write(store / "runs" / "c.otlp.jsonl", run_lines("00000000000000cc"))
    index = RunIndex(store)
    index.append(entry("00000000000000aa", "a.otlp.jsonl"))
    index.append(entry("00000000000000dd", "d.otlp.jsonl", start=START + 1))
    index.append(entry("00000000000000ee", "../../etc/x.otlp.jsonl", start=START + 2))
    index.append(entry("00000000000000ff", "c.otlp.jsonl", start=START + 3))
    with index.path.open("ab") as handle:
        handle.write(b"{broken\n")
    source = StoreSource(store)
    runs = consume(source)
    assert [run.run_id for run in runs] == ["00000000000000aa", "00000000000000bb"]
    assert runs[1].problems == (
        "not in the store's index: the run was interrupted or is still running, so its spans may be incomplete",
    )
    assert [problem.split(" (")[0] for problem in source.problems] == [
        f"{index.path}:5: skipped an unreadable index line",
        f"{store / 'runs' / 'd.otlp.jsonl'}: the index lists run 00000000000000dd but its file is missing: skipped",
        f"{index.path}: run 00000000000000ee names '../../etc/x.otlp.jsonl', not a run file in "
        f"{store / 'runs'}: skipped",
        f"{store / 'runs' / 'c.otlp.jsonl'}: holds no spans of run 00000000000000ff, which the index says it holds: "
        "skipped",
    ]


def test_a_store_whose_summaries_cannot_be_written_is_still_read(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write(store / "runs" / "a.otlp.jsonl", run_lines("00000000000000aa"))
    write(store / "runs" / "b.otlp.jsonl", run_lines("00000000000000bb"))
    RunIndex(store).append(entry("00000000000000aa", "a.otlp.jsonl"))
    RunIndex(store).append(entry("00000000000000bb", "b.otlp.jsonl", start=START + 1))
    (store / "summaries").write_text("a file where the cache folder should be")
    source = StoreSource(store)
    assert len(consume(source)) == 2
    assert len(source.problems) == 1
    assert source.problems[0].startswith(f"cannot write run summaries to {store / 'summaries'} (")
    assert source.problems[0].endswith("): they will be rebuilt from the spans next time")


def test_a_store_whose_index_cannot_be_read_is_read_from_its_run_files(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write(store / "runs" / "a.otlp.jsonl", run_lines("00000000000000aa"))
    (store / "index.jsonl").mkdir()
    source = StoreSource(store)
    (run,) = consume(source)
    assert run.problems == ("read without the store's index: metadata from its spans",)
    assert len(source.problems) == 1
    assert source.problems[0].startswith(f"{store / 'index.jsonl'}: cannot read the index (")


def test_lines_that_are_json_but_not_objects_are_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "run.jsonl", [b"[1, 2]\n", *run_lines("00000000000000aa")])
    (run,) = consume(OtlpFileSource([path]))
    assert run.problems == (f"{path}:1: skipped an unreadable line (not OTLP trace data: a JSON list, not an object)",)


def test_a_folder_is_searched_for_span_files_but_not_for_a_stores_index_metrics_or_summaries(
    pytester: pytest.Pytester,
) -> None:
    run_suite(pytester)
    consume(StoreSource(pytester.path / ".otel-pytest"))
    artifact = pytester.path / "artifact"
    shutil.copytree(pytester.path / ".otel-pytest", artifact / "ci" / ".otel-pytest")
    write(artifact / "collector" / "traces.json", run_lines("00000000000000aa"))
    cache = artifact / "cache"
    source = OtlpFileSource([artifact], cache_dir=cache)
    runs = consume(source)
    assert source.problems == []
    assert sorted(Path(run.source).parent.name for run in runs) == ["collector", "runs"]
    assert source.built == 1  # the copied store's run came from the summary copied with it
    (cached,) = cache.iterdir()
    assert cached.name.endswith("-traces.json.json")
    assert len(consume(OtlpFileSource([artifact], cache_dir=cache))) == 2


# -- input of every shape: an answer, never a hang or a traceback ----------------------------


def odd_paths(folder: Path) -> dict[str, str]:
    """Things named like run files in ``folder`` that are not regular files, and what
    reading says of each."""
    folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / "fifo.otlp.jsonl")
    (folder / "folder.otlp.jsonl").mkdir()
    (folder / "loop.otlp.jsonl").symlink_to("loop.otlp.jsonl")
    (folder / "device.otlp.jsonl").symlink_to("/dev/zero")  # an endless stream
    (folder / "broken.otlp.jsonl").symlink_to("gone")
    return {
        "broken.otlp.jsonl": "No such file or directory",
        "device.otlp.jsonl": "a character device, not a regular file",
        "fifo.otlp.jsonl": "a named pipe (FIFO), not a regular file",
        "folder.otlp.jsonl": "a folder, not a regular file",
        "loop.otlp.jsonl": "Too many levels of symbolic links",
    }


def test_things_in_a_stores_runs_folder_that_are_not_files_are_named_and_never_block(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write(store / "runs" / "a.otlp.jsonl", run_lines("00000000000000aa"))
    RunIndex(store).append(entry("00000000000000aa", "a.otlp.jsonl"))
    odd = odd_paths(store / "runs")
    source = StoreSource(store)
    with within(30):
        (run,) = consume(source)
    assert (run.run_id, len(run.tests)) == ("00000000000000aa", 2)
    assert source.problems == [f"{store / 'runs' / name}: cannot read it ({why})" for name, why in sorted(odd.items())]


def test_a_named_pipe_as_the_index_or_as_a_cached_summary_is_not_read(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write(store / "runs" / "a.otlp.jsonl", run_lines("00000000000000aa"))
    os.mkfifo(store / "index.jsonl")
    (store / "summaries").mkdir()
    os.mkfifo(store / "summaries" / "a.otlp.jsonl.json")
    source = StoreSource(store)
    with within(30):
        (run,) = consume(source)
    assert source.problems == [
        f"{store / 'index.jsonl'}: cannot read the index (a named pipe (FIFO), not a regular "
        "file): reading the run files without it"
    ]
    assert run.problems == ("read without the store's index: metadata from its spans",)
    assert (store / "summaries" / "a.otlp.jsonl.json").is_file()  # the cache was rebuilt over it


def not_a_folder(path: Path, shape: str) -> Path:
    """A file, or a symbolic link to itself, where a folder should be."""
    if shape == "file":
        path.write_text("a file where a folder should be")
    else:
        path.symlink_to(path.name)
    return path


@pytest.mark.parametrize(
    ("shape", "problem"),
    [
        ("file", "{runs}: cannot list the run files (Not a directory)"),
        ("loop", "{runs}: cannot list the run files (Too many levels of symbolic links)"),
    ],
)
def test_a_runs_folder_that_cannot_be_listed_is_named_not_called_empty(
    tmp_path: Path, shape: str, problem: str
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    runs = not_a_folder(store / "runs", shape)
    source = StoreSource(store)
    assert consume(source) == []
    assert source.problems == [problem.format(runs=runs)]


@pytest.mark.parametrize(
    ("shape", "what"),
    [
        ("file", "is a file, not a folder"),
        ("loop", "cannot be opened (Too many levels of symbolic links)"),
    ],
)
def test_a_store_path_that_is_no_folder_is_one_problem(tmp_path: Path, shape: str, what: str) -> None:
    store = not_a_folder(tmp_path / "store", shape)
    source = StoreSource(store)
    assert consume(source) == []
    assert source.problems == [
        f"{store}: the trace store {what}; run `pytest --otel` first, or give the store or run files as paths"
    ]


def test_things_in_a_folder_that_are_not_files_are_named_and_the_files_read(tmp_path: Path) -> None:
    artifact = tmp_path / "artifact"
    write(artifact / "nested" / "a.jsonl", run_lines("00000000000000aa"))
    odd = odd_paths(artifact / "nested")
    (artifact / "up").symlink_to(".")  # a folder loop: not followed
    source = OtlpFileSource([artifact])
    with within(30):
        (run,) = consume(source)
    assert run.run_id == "00000000000000aa"
    assert source.problems == [
        f"{artifact / 'nested' / name}: cannot read it ({why})"
        for name, why in sorted(odd.items())
        if name != "folder.otlp.jsonl"
    ]


def test_a_path_given_that_is_not_a_file_is_named(tmp_path: Path) -> None:
    odd = odd_paths(tmp_path)
    paths = [tmp_path / name for name in sorted(odd) if name != "folder.otlp.jsonl"]
    source = OtlpFileSource(paths)
    with within(30):
        assert consume(source) == []
    assert source.problems == [
        f"{tmp_path / 'broken.otlp.jsonl'}: no such file or folder",
        f"{tmp_path / 'loop.otlp.jsonl'}: cannot look at it (Too many levels of symbolic links)",
        f"{tmp_path / 'device.otlp.jsonl'}: cannot read it (a character device, not a regular file)",
        f"{tmp_path / 'fifo.otlp.jsonl'}: cannot read it (a named pipe (FIFO), not a regular file)",
    ]


def test_a_line_of_invalid_utf_8_is_skipped_and_named(tmp_path: Path) -> None:
    lines = run_lines("00000000000000aa", tests=2)
    path = write(tmp_path / "run.jsonl", [lines[0], lines[1].replace(b"test_1", b"test_\xff\xfe"), lines[2]])
    (run,) = consume(OtlpFileSource([path]))
    assert list(run.tests) == ["test_hand.py::test_0"]
    assert run.problems == (
        f"{path}:2: skipped an unreadable line (not JSON: str is not valid UTF-8: surrogates not "
        "allowed: line 1 column 1 (char 0))",
    )


def test_a_line_longer_than_the_limit_is_skipped_without_being_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "MAX_LINE_BYTES", 2**20)
    lines = run_lines("00000000000000aa", tests=2)
    huge = b'{"resourceSpans": [], "padding": "' + b"x" * 2**20 + b'"}\n'
    path = write(tmp_path / "run.jsonl", [lines[0], huge, *lines[1:]])
    (run,) = consume(OtlpFileSource([path]))
    assert len(run.tests) == 2
    assert run.problems == (f"{path}:2: skipped a line longer than 1 MiB (not a run file's line)",)


def test_a_compressed_file_cut_in_half_is_read_up_to_its_last_complete_line_with_one_problem(
    tmp_path: Path,
) -> None:
    packed = gzip.compress(b"".join(run_lines("00000000000000aa", tests=200)))
    path = write(tmp_path / "run.jsonl.gz", [packed[: len(packed) // 2]])
    source = OtlpFileSource([path])
    (run,) = consume(source)
    assert 50 < len(run.tests) < 200
    cut = [problem for problem in run.problems if problem.startswith(f"{path}: its gzip stream stops short")]
    assert len(cut) == 1


def test_a_store_of_plain_gzip_and_zstd_run_files_reads_all_three(tmp_path: Path) -> None:
    store = tmp_path / "store"
    old = write(store / "runs" / "old.otlp.jsonl", run_lines("00000000000000aa"))
    new = write(store / "runs" / "new.otlp.jsonl.gz", [gzip.compress(b"".join(run_lines("00000000000000bb")))])
    newest = write(store / "runs" / "newest.otlp.jsonl.zst", [member(b"".join(run_lines("00000000000000cc")), ZSTD)])
    index = RunIndex(store)
    index.append(entry("00000000000000aa", old.name))
    index.append(entry("00000000000000bb", new.name, start=START + 10**10))
    index.append(entry("00000000000000cc", newest.name, start=START + 2 * 10**10))
    source = StoreSource(store)
    runs = consume(source)
    assert [(run.run_id, Path(run.source).name, len(run.tests)) for run in runs] == [
        ("00000000000000aa", "old.otlp.jsonl", 2),
        ("00000000000000bb", "new.otlp.jsonl.gz", 2),
        ("00000000000000cc", "newest.otlp.jsonl.zst", 2),
    ]
    assert source.problems == []
    assert sorted(path.name for path in (store / "summaries").iterdir()) == [
        "new.otlp.jsonl.gz.json",
        "newest.otlp.jsonl.zst.json",
        "old.otlp.jsonl.json",
    ]


def test_a_folder_of_zstd_files_is_read_like_any_other(tmp_path: Path) -> None:
    write(tmp_path / "artifacts" / "run.jsonl.zst", [member(b"".join(run_lines("00000000000000aa")), ZSTD)])
    (run,) = consume(OtlpFileSource([tmp_path / "artifacts"]))
    assert (run.run_id, len(run.tests), run.problems) == ("00000000000000aa", 2, ())


WRONG: tuple[object, ...] = (None, True, -1, 1.5, "x", "", [], [1], {}, {"a": 1})


def leaves(data: object, at: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """The path to every value inside ``data``, containers included."""
    if at:
        yield at
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(value, (*at, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from leaves(value, (*at, index))


def replaced(data: object, at: tuple[str | int, ...], value: object) -> object:
    copy = orjson.loads(orjson.dumps(data))
    inner = copy
    for step in at[:-1]:
        inner = inner[step]
    inner[at[-1]] = value
    return copy


def test_every_value_of_the_wrong_type_anywhere_is_read_or_named_never_a_crash(tmp_path: Path) -> None:
    """Each value of a real test line (ids, times, names, attributes, status, the nesting
    itself) replaced by each JSON type in turn: the line is read or skipped with a note,
    and what is read has the types the model declares."""
    lines = run_lines("00000000000000aa", tests=1)
    test_line = orjson.loads(lines[0])
    path = tmp_path / "run.jsonl"
    tried = 0
    for at in leaves(test_line):
        for value in WRONG:
            path.write_bytes(orjson.dumps(replaced(test_line, at, value)) + b"\n" + lines[1])
            runs = consume(OtlpFileSource([path]))
            tried += 1
            for run in runs:
                for sample in run.tests.values():
                    assert isinstance(sample.test_id, str), (at, value)
                    assert isinstance(sample.nodeid, str), (at, value)
                    assert all(
                        isinstance(number, float)
                        for number in (
                            sample.duration,
                            sample.setup,
                            sample.call,
                            sample.teardown,
                            sample.shared_fixture_time,
                        )
                    )
                    assert all(isinstance(amount, int | float) for amount in sample.db.values()), (at, value)
                assert all(isinstance(problem, str) for problem in run.problems)
    assert tried > 500


def test_a_run_file_whose_name_is_not_utf_8_is_read_and_said_not_to_be_cached(tmp_path: Path) -> None:
    store = tmp_path / "store"
    runs = os.fsencode(store / "runs")
    os.makedirs(runs)
    with open(runs + b"/bad\xff.otlp.jsonl", "wb") as handle:
        handle.write(b"".join(run_lines("00000000000000aa")))
    source = StoreSource(store)
    (run,) = consume(source)
    name = os.fsdecode(runs + b"/bad\xff.otlp.jsonl")
    assert (run.source, len(run.tests)) == (name, 2)
    assert source.problems == [
        f"{name}: its name is not UTF-8, so its summary is not cached: it is rebuilt from the spans each time"
    ]


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")
def test_runs_summarised_on_several_processes_are_the_runs_summarised_in_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    for number, run_id in enumerate(("00000000000000aa", "00000000000000bb", "00000000000000cc")):
        write(store / "runs" / f"{run_id}.otlp.jsonl", run_lines(run_id, tests=3))
        RunIndex(store).append(entry(run_id, f"{run_id}.otlp.jsonl", start=START + number))
    write(store / "runs" / "00000000000000dd.otlp.jsonl", run_lines("00000000000000dd"))  # not indexed
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    files_copy = tmp_path / "files"
    shutil.copytree(store / "runs", files_copy)

    def read() -> list[tuple[list[dict[str, object]], list[str]]]:
        shutil.rmtree(store / "summaries", ignore_errors=True)
        shutil.rmtree(copy / "summaries", ignore_errors=True)
        read_sources: list[Source] = [StoreSource(store), OtlpFileSource([files_copy]), OtlpFileSource([copy / "runs"])]
        return [([to_plain(run) for run in consume(source)], list(source.problems)) for source in read_sources]

    alone = read()
    pools: list[int] = []

    class Pool(ProcessPoolExecutor):
        def __init__(self, workers: int, mp_context: BaseContext) -> None:
            pools.append(workers)
            super().__init__(workers, mp_context=mp_context)

    monkeypatch.setattr(summaries, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(summaries, "_may_fork", lambda: True)
    monkeypatch.setattr(summaries, "cpus", lambda: 2)
    monkeypatch.setattr(summaries, "ProcessPoolExecutor", Pool)
    assert read() == alone
    assert pools == [2, 2, 2]
    assert [len(runs) for runs, _ in alone] == [4, 4, 4]
