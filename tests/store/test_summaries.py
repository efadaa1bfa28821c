"""The summary cache, with a toy codec: it keeps whatever the analyzer gives it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from otel_pytest.store import summaries
from otel_pytest.store.summaries import SummaryCache, SummaryCodec, prune, store_of, summary_path


class Codec:
    """Summaries are the lines of a file; ``builds`` counts the files summarised."""

    def __init__(self, schema: str = "7") -> None:
        self.builds: list[str] = []
        self.codec = SummaryCodec(schema, self.build, self.encode, self.decode)

    def build(self, path: Path) -> tuple[list[str], list[str]]:
        self.builds.append(path.name)
        if path.name.startswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return path.read_text().split(), [f"{path.name}: read"]

    @staticmethod
    def encode(items: Sequence[str]) -> bytes:
        return orjson.dumps(list(items))

    @staticmethod
    def decode(plain: object, source: str) -> str:
        return f"{plain}@{Path(source).name}"


def run_file(store: Path, name: str = "a.otlp.jsonl", text: str = "one two") -> Path:
    (store / "runs").mkdir(parents=True, exist_ok=True)
    (store / "index.jsonl").touch()
    path = store / "runs" / name
    path.write_text(text)
    return path


def test_a_run_file_is_summarised_once_then_read_from_the_cache(tmp_path: Path) -> None:
    path = run_file(tmp_path)
    codec = Codec()
    cache = summary_path(tmp_path, path)
    first = SummaryCache(codec.codec, [])
    assert first.load(path, cache) == (["one", "two"], ["a.otlp.jsonl: read"])
    assert cache == tmp_path / "summaries" / "a.otlp.jsonl.json"
    stat = path.stat()
    assert orjson.loads(cache.read_bytes()) == {
        "schema": "7",
        "source": {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
        "problems": ["a.otlp.jsonl: read"],
        "runs": ["one", "two"],
    }
    again = SummaryCache(codec.codec, [])
    assert again.load(path, cache) == (["one@a.otlp.jsonl", "two@a.otlp.jsonl"], ["a.otlp.jsonl: read"])
    assert (first.built, again.built, codec.builds) == (1, 0, ["a.otlp.jsonl"])


def test_each_file_s_stamp_is_the_one_its_summaries_were_built_or_read_under(tmp_path: Path) -> None:
    path = run_file(tmp_path)
    missing = tmp_path / "runs" / "gone.otlp.jsonl"
    stat = path.stat()
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    built, read, prefetched = (SummaryCache(Codec().codec, []) for _ in range(3))

    built.load(path, summary_path(tmp_path, path))
    read.load(path, summary_path(tmp_path, path))
    prefetched.prefetch([(path, summary_path(tmp_path, path))])
    prefetched.load(path, summary_path(tmp_path, path))
    built.load(missing, None)

    assert built.stamps == read.stamps == prefetched.stamps == {str(path): stamp}


def test_a_cache_of_another_schema_is_rebuilt(tmp_path: Path) -> None:
    path = run_file(tmp_path)
    cache = summary_path(tmp_path, path)
    SummaryCache(Codec("7").codec, []).load(path, cache)
    newer = Codec("8")
    assert SummaryCache(newer.codec, []).load(path, cache) == (["one", "two"], ["a.otlp.jsonl: read"])
    assert newer.builds == ["a.otlp.jsonl"]
    assert orjson.loads(cache.read_bytes())["schema"] == "8"


def test_a_cache_that_cannot_be_written_is_one_problem_and_tried_once(tmp_path: Path) -> None:
    paths = [run_file(tmp_path, name) for name in ("a.otlp.jsonl", "b.otlp.jsonl")]
    (tmp_path / "summaries").write_text("a file where the cache folder should be")
    problems: list[str] = []
    cache = SummaryCache(Codec().codec, problems)
    for path in paths:
        assert cache.load(path, summary_path(tmp_path, path))[0] == ["one", "two"]
    assert cache.cache_failed
    assert len(problems) == 1
    assert problems[0].startswith(f"cannot write run summaries to {tmp_path / 'summaries'} (")


def parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers for any history: forked although pytest-rerunfailures keeps a thread (an idle
    server socket's, which a fork cannot deadlock on)."""
    monkeypatch.setattr(summaries, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(summaries, "_may_fork", lambda: True)


FORK_WITH_THREADS = "ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"  # Python >= 3.12


@pytest.mark.filterwarnings(FORK_WITH_THREADS)
def test_prefetched_summaries_are_built_in_worker_processes_and_cached_by_load_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parallel(monkeypatch)
    paths = [run_file(tmp_path, f"{name}.otlp.jsonl", f"{name}1 {name}2") for name in "abc"]
    codec = Codec()
    SummaryCache(codec.codec, []).load(paths[1], summary_path(tmp_path, paths[1]))  # b is cached
    cache = SummaryCache(codec.codec, [])
    cache.prefetch([(path, summary_path(tmp_path, path)) for path in paths], workers=2)
    assert codec.builds == ["b.otlp.jsonl"]  # a and c were built in the workers
    assert not summary_path(tmp_path, paths[0]).exists()  # written by load, not before
    assert [cache.load(path, summary_path(tmp_path, path)) for path in paths] == [
        (["a1", "a2"], ["a.otlp.jsonl: read"]),
        (["b1@b.otlp.jsonl", "b2@b.otlp.jsonl"], ["b.otlp.jsonl: read"]),
        (["c1", "c2"], ["c.otlp.jsonl: read"]),
    ]
    assert (cache.built, codec.builds) == (2, ["b.otlp.jsonl"])
    assert orjson.loads(summary_path(tmp_path, paths[2]).read_bytes())["runs"] == ["c1", "c2"]


def test_a_history_smaller_than_a_worker_is_worth_is_built_by_load_in_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summaries, "_may_fork", lambda: True)
    paths = [run_file(tmp_path, name) for name in ("a.otlp.jsonl", "b.otlp.jsonl")]
    codec = Codec()
    cache = SummaryCache(codec.codec, [])
    cache.prefetch([(path, None) for path in paths], workers=2)
    assert codec.builds == []
    assert [cache.load(path, None)[0] for path in paths] == [["one", "two"], ["one", "two"]]
    assert codec.builds == ["a.otlp.jsonl", "b.otlp.jsonl"]


@pytest.mark.filterwarnings(FORK_WITH_THREADS)
def test_files_that_cannot_be_read_say_the_same_after_a_prefetch_as_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parallel(monkeypatch)
    paths = [run_file(tmp_path), run_file(tmp_path, "locked.otlp.jsonl"), tmp_path / "runs" / "x.otlp.jsonl"]
    paths[2].mkdir()
    alone = SummaryCache(Codec().codec, [])
    expected = [alone.load(path, None) for path in paths]
    assert expected[1] == ([], [f"{paths[1]}: cannot read it (Permission denied)"])
    codec = Codec()
    cache = SummaryCache(codec.codec, [])
    cache.prefetch([(path, None) for path in paths], workers=2)
    assert [cache.load(path, None) for path in paths] == expected
    assert (cache.built, codec.builds) == (alone.built, [])


def test_what_is_not_a_regular_file_is_not_summarised(tmp_path: Path) -> None:
    codec = Codec()
    folder = tmp_path / "runs" / "x.otlp.jsonl"
    folder.mkdir(parents=True)
    assert SummaryCache(codec.codec, []).load(folder, None) == (
        [],
        [f"{folder}: cannot read it (a folder, not a regular file)"],
    )
    assert codec.builds == []


def test_only_the_summaries_of_runs_no_longer_in_the_store_are_pruned(tmp_path: Path) -> None:
    folder = tmp_path / "summaries"
    folder.mkdir()
    for name in ("kept.otlp.jsonl.json", "gone.otlp.jsonl.json", "notes.txt"):
        (folder / name).write_text("{}")
    prune(tmp_path, {"kept.otlp.jsonl"})
    assert sorted(path.name for path in folder.iterdir()) == ["kept.otlp.jsonl.json", "notes.txt"]


def test_a_run_file_knows_its_store_only_inside_one(tmp_path: Path) -> None:
    inside = run_file(tmp_path / "store")
    outside = tmp_path / "elsewhere" / "runs" / "a.otlp.jsonl"  # a runs/ folder, but no index beside it
    outside.parent.mkdir(parents=True)
    outside.write_text("")
    assert (store_of(inside), store_of(outside)) == (tmp_path / "store", None)
