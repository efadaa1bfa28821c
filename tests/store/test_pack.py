"""The store's history as one pack: what goes in, how it merges back, and what is refused."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import io
import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from otel_pytest.analyze.sources import StoreSource
from otel_pytest.store import compression
from otel_pytest.store import pack as pack_module
from otel_pytest.store.compression import GZIP, ZSTD
from otel_pytest.store.index import RunEntry, RunIndex, run_file_name
from otel_pytest.store.layout import INDEX, METRICS, RUNS, SUMMARIES
from otel_pytest.store.pack import MANIFEST, PackError, pack, unpack
from tests.analyze.test_sources import START, run_lines
from tests.analyze.test_sources import entry as source_entry

KEEP = 100


def entry(number: int, *, complete: bool = True) -> RunEntry:
    start = START + number * 60 * 10**9
    run_id = f"{number:016x}"
    return dataclasses.replace(source_entry(run_id, run_file_name(start, run_id), start), complete=complete)


def add_run(store: Path, number: int, *, complete: bool = True, metrics: bool = False) -> RunEntry:
    """A run as the plugin leaves it: its file (and metrics), then its index line."""
    item = entry(number, complete=complete)
    (store / RUNS).mkdir(parents=True, exist_ok=True)
    (store / RUNS / item.file).write_bytes(b"".join(run_lines(item.run_id)))
    if metrics:
        (store / METRICS).mkdir(exist_ok=True)
        (store / METRICS / item.file).write_bytes(b'{"resourceMetrics": []}\n')
    RunIndex(store).append(item)
    return item


def store_with(folder: Path, *numbers: int) -> Path:
    store = folder / ".otel-pytest"
    for number in numbers:
        add_run(store, number)
    return store


def run_ids(store: Path) -> list[str]:
    entries, problems = RunIndex(store).entries()
    assert problems == []
    return [item.run_id for item in entries]


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (the lock file aside) and its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != ".lock"
    }


def test_a_pack_unpacked_into_a_fresh_folder_gives_the_same_runs_byte_for_byte(tmp_path: Path) -> None:
    store = tmp_path / "job1" / ".otel-pytest"
    for number in (1, 2):
        add_run(store, number, metrics=True)
    archive = tmp_path / "history.tar.gz"

    packed = pack(store, archive)
    fresh = tmp_path / "job2" / ".otel-pytest"
    unpacked = unpack(archive, fresh, KEEP)

    assert (packed.runs, packed.left_out) == (2, ())
    assert packed.size == archive.stat().st_size
    assert unpacked == pack_module.Unpacked(runs=2, added=2, present=0, removed=0)
    assert tree(fresh) == tree(store)
    assert sorted(path.name for path in fresh.iterdir()) == [".lock", INDEX, METRICS, RUNS]  # no staging left


def test_a_store_of_plain_gzip_and_zstd_run_files_packs_and_unpacks_all_three(tmp_path: Path) -> None:
    store = tmp_path / "job1" / ".otel-pytest"
    for number, codec in enumerate((None, GZIP, ZSTD), start=1):
        start = START + number * 60 * 10**9
        item = dataclasses.replace(entry(number), file=run_file_name(start, f"{number:016x}", codec))
        (store / RUNS).mkdir(parents=True, exist_ok=True)
        data = b"".join(run_lines(item.run_id))
        (store / RUNS / item.file).write_bytes(data if codec is None else compression.member(data, codec))
        RunIndex(store).append(item)
    archive = tmp_path / "history.tar.gz"
    assert pack(store, archive).runs == 3
    fresh = tmp_path / "job2" / ".otel-pytest"
    assert unpack(archive, fresh, KEEP).added == 3
    assert tree(fresh) == tree(store)
    ends = sorted(path.name.rpartition(".otlp")[2] for path in (fresh / RUNS).iterdir())
    assert ends == [".jsonl", ".jsonl.gz", ".jsonl.zst"]


def test_the_summaries_travel_with_their_runs_and_are_not_built_again(tmp_path: Path) -> None:
    store = store_with(tmp_path / "job1", 1, 2, 3)
    first = StoreSource(store)
    list(first.runs())
    assert first.built == 3
    pack(store, tmp_path / "history.tar.gz")

    fresh = tmp_path / "job2" / ".otel-pytest"
    unpack(tmp_path / "history.tar.gz", fresh, KEEP)
    again = StoreSource(fresh)
    runs = list(again.runs())

    assert again.built == 0
    assert [run.run_id for run in runs] == run_ids(store)
    assert sorted(path.name for path in (fresh / SUMMARIES).iterdir()) == sorted(
        path.name for path in (store / SUMMARIES).iterdir()
    )


def test_only_complete_runs_are_packed_and_the_others_are_named(tmp_path: Path) -> None:
    store = tmp_path / ".otel-pytest"
    add_run(store, 1)
    orphan = add_run(store, 2, complete=False)
    gone = add_run(store, 3)
    (store / RUNS / gone.file).unlink()

    packed = pack(store, tmp_path / "history.tar.gz")
    fresh = tmp_path / "fresh"
    unpack(tmp_path / "history.tar.gz", fresh, KEEP)

    assert packed.runs == 1
    assert packed.left_out == (
        f"run {orphan.run_id}: not packed: it is incomplete (its process ended before the run did)",
        f"run {gone.run_id}: not packed: its file {store / RUNS / gone.file} is gone",
    )
    assert run_ids(fresh) == [entry(1).run_id]


def test_unpacking_merges_without_duplicating_the_runs_the_store_has(tmp_path: Path) -> None:
    archive = tmp_path / "history.tar.gz"
    pack(store_with(tmp_path / "main", 1, 2, 3), archive)
    store = store_with(tmp_path / "feature", 3, 4)

    first = unpack(archive, store, KEEP)
    second = unpack(archive, store, KEEP)

    assert first == pack_module.Unpacked(runs=3, added=2, present=1, removed=0)
    assert second == pack_module.Unpacked(runs=3, added=0, present=3, removed=0)
    assert run_ids(store) == [entry(number).run_id for number in (1, 2, 3, 4)]
    assert sorted(path.name for path in (store / RUNS).iterdir()) == sorted(entry(n).file for n in (1, 2, 3, 4))


def test_unpacking_keeps_the_newest_runs_as_retention_does(tmp_path: Path) -> None:
    archive = tmp_path / "history.tar.gz"
    pack(store_with(tmp_path / "old", 1, 2, 5), archive)
    store = store_with(tmp_path / "store", 3, 4)

    done = unpack(archive, store, 3)

    assert done == pack_module.Unpacked(runs=3, added=1, present=0, removed=2)
    assert run_ids(store) == [entry(number).run_id for number in (3, 4, 5)]
    assert sorted(path.name for path in (store / RUNS).iterdir()) == sorted(entry(n).file for n in (3, 4, 5))


def test_a_run_file_being_written_is_never_replaced_by_a_packed_one(tmp_path: Path) -> None:
    archive = tmp_path / "history.tar.gz"
    pack(store_with(tmp_path / "old", 1), archive)
    store = tmp_path / "store"
    (store / RUNS).mkdir(parents=True)
    live = store / RUNS / entry(1).file
    live.write_bytes(b"the live writer's spans\n")  # not in the index yet: a run still running

    done = unpack(archive, store, KEEP)

    assert done == pack_module.Unpacked(runs=1, added=0, present=1, removed=0)
    assert live.read_bytes() == b"the live writer's spans\n"
    assert run_ids(store) == []


def test_the_new_runs_are_moved_in_and_indexed_under_the_store_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "history.tar.gz"
    pack(store_with(tmp_path / "old", 1), archive)
    store = tmp_path / "store"
    events: list[str] = []
    real_replace = os.replace
    real_update = RunIndex.update

    @contextlib.contextmanager
    def lock(path: Path) -> Iterator[None]:
        events.append(f"lock {path.name}")
        yield
        events.append("unlock")

    def replace(source: str | Path, target: str | Path) -> None:
        events.append(f"move {Path(target).relative_to(store)}")
        real_replace(source, target)

    def update(self: RunIndex, new: list[RunEntry], keep: int | None, keep_size: int | None) -> list[RunEntry]:
        events.append(f"index {[item.run_id for item in new]} keep {keep}")
        return real_update(self, new, keep, keep_size)

    monkeypatch.setattr(pack_module, "store_lock", lock)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(RunIndex, "update", update)
    unpack(archive, store, KEEP)

    assert events == [
        "lock store",
        f"move {RUNS}/{entry(1).file}",
        f"index ['{entry(1).run_id}'] keep {KEEP}",
        f"move {INDEX}",
        "unlock",
    ]


# -- what is refused ----------------------------------------------------------------------


def tar_gz(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb") as zipped, tarfile.open(fileobj=zipped, mode="w|") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def members_of(archive: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return [(info, tar.extractfile(info).read()) for info in tar.getmembers()]  # type: ignore[union-attr]


@pytest.fixture
def good(tmp_path: Path) -> bytes:
    """A real pack of two runs."""
    pack(store_with(tmp_path / "source", 1, 2), tmp_path / "good.tar.gz")
    return (tmp_path / "good.tar.gz").read_bytes()


def refused(tmp_path: Path, data: bytes) -> str:
    """Unpack ``data`` into a store holding one run: the one-line reason, the store unchanged
    and nothing written anywhere else."""
    store = store_with(tmp_path / "target", 9)
    archive = tmp_path / "suspect.tar.gz"
    archive.write_bytes(data)
    before = tree(tmp_path)
    with pytest.raises(PackError) as error:
        unpack(archive, store, KEEP)
    assert tree(tmp_path) == before
    assert sorted(path.name for path in store.iterdir()) == [".lock", INDEX, RUNS]
    assert "\n" not in str(error.value)
    return str(error.value)


def test_a_truncated_pack_is_refused(tmp_path: Path, good: bytes) -> None:
    message = refused(tmp_path, good[: len(good) - 20])
    assert message.startswith(f"{tmp_path / 'suspect.tar.gz'}: not a readable otel-pytest pack (")


@pytest.mark.parametrize("where", [0.1, 0.25, 0.5, 0.75, 0.9, -9, -1])
def test_a_pack_with_any_byte_changed_is_refused(tmp_path: Path, good: bytes, where: float) -> None:
    """Wherever the damage is (deflate data, a tar header, the manifest, the gzip trailer's
    CRC or length), the pack is refused; which check sees it first depends on where."""
    damaged = bytearray(good)
    damaged[int(len(damaged) * where) if where > 0 else int(where)] ^= 0xFF
    message = refused(tmp_path, bytes(damaged))
    assert re.match(
        rf"{re.escape(str(tmp_path / 'suspect.tar.gz'))}: (refused: |not a readable otel-pytest pack \()", message
    )


def test_a_run_file_that_differs_from_the_manifest_is_refused(tmp_path: Path, good: bytes) -> None:
    members = members_of(good)
    info, data = members[0]
    members[0] = (info, data.replace(b"test_0", b"test_9"))
    message = refused(tmp_path, tar_gz(members))
    assert message == (
        f"{tmp_path / 'suspect.tar.gz'}: refused: a damaged manifest "
        f"(ValueError: {info.name} is missing or differs from the manifest)"
    )


def test_a_member_the_manifest_does_not_list_is_refused(tmp_path: Path, good: bytes) -> None:
    members = members_of(good)
    members.insert(0, (member(f"{RUNS}/{entry(7).file}"), b"{}\n"))
    message = refused(tmp_path, tar_gz(members))
    assert (
        message
        == f"{tmp_path / 'suspect.tar.gz'}: refused: damaged ({RUNS}/{entry(7).file} is in no run of the manifest)"
    )


def test_a_pack_of_another_version_is_refused(tmp_path: Path, good: bytes) -> None:
    members = members_of(good)
    info, data = members[-1]
    manifest = orjson.loads(data)
    manifest["version"] = 2
    members[-1] = (info, orjson.dumps(manifest))
    message = refused(tmp_path, tar_gz(members))
    assert message == f"{tmp_path / 'suspect.tar.gz'}: refused: pack version 2; this otel-pytest reads version 1"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not a readable otel-pytest pack (empty file)"),
        (b"runs/x.otlp.jsonl\n", "not a readable otel-pytest pack (Not a gzipped file (b'ru'))"),
        (gzip.compress(b"just text, not a tar"), "not a readable otel-pytest pack ("),
        (
            tar_gz([(member("notes.txt"), b"hello")]),
            "refused: not an otel-pytest pack: it holds a file 'notes.txt', which no store holds",
        ),
        (
            tar_gz([(member(MANIFEST), b'{"format": "something else", "version": 1}')]),
            f"refused: not an otel-pytest pack (its {MANIFEST} is another format)",
        ),
        (tar_gz([]), f"refused: not an otel-pytest pack (no {MANIFEST} in it)"),
    ],
    ids=["empty", "not gzip", "gzip but not tar", "foreign member", "foreign manifest", "no manifest"],
)
def test_what_is_not_a_pack_is_refused_in_one_line(tmp_path: Path, data: bytes, reason: str) -> None:
    assert refused(tmp_path, data).startswith(f"{tmp_path / 'suspect.tar.gz'}: {reason}")


@pytest.mark.parametrize(
    ("info", "what"),
    [
        (member("../escaped.otlp.jsonl"), "a file '../escaped.otlp.jsonl'"),
        (member(f"{RUNS}/../../escaped.otlp.jsonl"), f"a file '{RUNS}/../../escaped.otlp.jsonl'"),
        (member("/tmp/escaped.otlp.jsonl"), "a file '/tmp/escaped.otlp.jsonl'"),
        (member(f"{RUNS}/.hidden.otlp.jsonl"), f"a file '{RUNS}/.hidden.otlp.jsonl'"),
        (member(f"{RUNS}/a/b.otlp.jsonl"), f"a file '{RUNS}/a/b.otlp.jsonl'"),
        (member(f"{RUNS}/x.otlp.jsonl", tarfile.SYMTYPE, "../../escaped"), f"a link '{RUNS}/x.otlp.jsonl'"),
        (member(f"{RUNS}/x.otlp.jsonl", tarfile.LNKTYPE, "/etc/passwd"), f"a link '{RUNS}/x.otlp.jsonl'"),
        (member(RUNS, tarfile.DIRTYPE), f"a folder '{RUNS}'"),
        (member(f"{RUNS}/x.otlp.jsonl", tarfile.FIFOTYPE), f"a special file '{RUNS}/x.otlp.jsonl'"),
    ],
    ids=["parent", "parent inside runs", "absolute", "hidden", "nested", "symlink", "hard link", "folder", "fifo"],
)
def test_a_member_that_could_write_outside_the_store_refuses_the_pack(
    tmp_path: Path, good: bytes, info: tarfile.TarInfo, what: str
) -> None:
    message = refused(tmp_path, tar_gz([(info, b"evil\n"), *members_of(good)]))
    assert (
        message
        == f"{tmp_path / 'suspect.tar.gz'}: refused: not an otel-pytest pack: it holds {what}, which no store holds"
    )
    assert not (tmp_path / "escaped.otlp.jsonl").exists()


def test_a_missing_pack_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(PackError) as error:
        unpack(tmp_path / "nothing.tar.gz", tmp_path / "store", KEEP)
    assert str(error.value) == f"{tmp_path / 'nothing.tar.gz'}: cannot read it: No such file or directory"
    assert not (tmp_path / "store").exists()


def test_a_pack_that_cannot_be_written_leaves_nothing_behind(tmp_path: Path) -> None:
    store = store_with(tmp_path, 1)
    with pytest.raises(PackError) as error:
        pack(store, tmp_path / "missing" / "history.tar.gz")
    assert str(error.value) == f"{tmp_path / 'missing' / 'history.tar.gz'}: cannot write it: No such file or directory"
    assert sorted(path.name for path in tmp_path.iterdir()) == [".otel-pytest"]
