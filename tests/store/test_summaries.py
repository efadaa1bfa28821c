"""The summary cache, with a toy codec: it keeps whatever the analyzer gives it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson

from otel_pytest.store.summaries import SummaryCache, SummaryCodec, prune, store_of, summary_path


class Codec:
    """Summaries are the lines of a file; ``builds`` counts the files summarised."""

    def __init__(self, schema: str = "7") -> None:
        self.builds: list[str] = []
        self.codec = SummaryCodec(schema, self.build, self.encode, self.decode)

    def build(self, path: Path) -> tuple[list[str], list[str]]:
        self.builds.append(path.name)
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
