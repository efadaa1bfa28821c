"""Compressed run files: a gzip or zstd stream flushed per line, read whole by gzip and zstd
themselves, and read back after a crash with every complete line kept and one warning."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from otel_pytest.store import compression
from otel_pytest.store.compression import (
    CODECS,
    GZIP,
    ZSTD,
    Codec,
    Decoded,
    GzipLines,
    MissingExtra,
    ZstdLines,
    available,
    codec_of_name,
    member,
    read_decoded,
    seal,
)
from otel_pytest.store.reader import read_otlp
from tests.analyze.test_sources import run_lines

LINES = [b'{"test": %d, "padding": "%s"}\n' % (number, b"x" * (number % 50)) for number in range(300)]
NO_ZSTANDARD = "its data is zstd, and reading it needs the zstandard package: pip install 'otel-pytest[zstd]'"


def stops_short(codec: Codec) -> str:
    return f"its {codec.name} stream stops short (the run was cut off, or is still being written)"


def decompressed(codec: Codec, data: bytes) -> bytes:
    """What the format's own library makes of ``data`` (every member or frame)."""
    if codec is GZIP:
        return gzip.decompress(data)
    return bytes(zstandard.ZstdDecompressor().decompressobj(read_across_frames=True).decompress(data))


@pytest.fixture(params=CODECS, ids=[codec.name for codec in CODECS])
def codec(request: pytest.FixtureRequest) -> Codec:
    chosen: Codec = request.param
    return chosen


def written(path: Path, lines: list[bytes], codec: Codec, *, finish: bool = True) -> list[int]:
    """Write ``lines`` as the plugin does; the file's size after each line."""
    compressor = codec.compressor()
    sizes = []
    with path.open("wb") as out:
        for line in lines:
            out.write(compressor.compress(line))
            out.flush()
            sizes.append(out.tell())
        if finish:
            out.write(compressor.finish())
    return sizes


def decoded(path: Path) -> tuple[bytes, str | None]:
    with Decoded(path) as opened:
        return opened.handle.read(), opened.problem


def run_file(tmp_path: Path, codec: Codec, name: str = "run") -> Path:
    return tmp_path / f"{name}.otlp.jsonl{codec.suffix}"


def test_a_finished_stream_is_exactly_its_lines_to_its_library_and_to_the_reader(tmp_path: Path, codec: Codec) -> None:
    path = run_file(tmp_path, codec)
    written(path, LINES, codec)
    assert decompressed(codec, path.read_bytes()) == b"".join(LINES)
    assert decoded(path) == (b"".join(LINES), None)


@pytest.mark.skipif(shutil.which("gzip") is None, reason="no gzip command")
def test_the_gzip_command_reads_a_run_file_and_its_appended_members(tmp_path: Path) -> None:
    path = run_file(tmp_path, GZIP)
    written(path, LINES[:10], GZIP)
    with path.open("ab") as out:
        out.write(member(LINES[10]))
    result = subprocess.run(["gzip", "-dc", str(path)], capture_output=True, check=True)
    assert result.stdout == b"".join(LINES[:11])


@pytest.mark.skipif(shutil.which("zstd") is None, reason="no zstd command (apt install zstd)")
def test_the_zstd_command_reads_a_run_file_its_appended_frames_and_checks_them(tmp_path: Path) -> None:
    path = run_file(tmp_path, ZSTD)
    written(path, LINES[:10], ZSTD)
    with path.open("ab") as out:
        out.write(member(LINES[10], ZSTD))
    result = subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True)
    assert result.stdout == b"".join(LINES[:11])
    test = subprocess.run(["zstd", "-t", str(path)], capture_output=True)
    assert test.returncode == 0, test.stderr
    # And a file the command wrote reads as one the plugin wrote.
    made = tmp_path / "made.otlp.jsonl.zst"
    subprocess.run(["zstd", "-q", "-o", str(made)], input=b"".join(LINES), check=True)
    assert decoded(made) == (b"".join(LINES), None)


def test_every_line_is_readable_as_soon_as_it_is_written(tmp_path: Path, codec: Codec) -> None:
    path = run_file(tmp_path, codec)
    written(path, LINES, codec, finish=False)  # the process died before the stream's end
    data, problem = decoded(path)
    assert data == b"".join(LINES)
    assert problem == f"{path}: {stops_short(codec)}; read every complete line before that"


def test_a_stream_cut_inside_a_line_keeps_every_complete_line_and_says_what_it_left_out(
    tmp_path: Path, codec: Codec
) -> None:
    path = run_file(tmp_path, codec)
    sizes = written(path, LINES, codec, finish=False)
    cut = (sizes[199] + sizes[200]) // 2  # inside what line 201 wrote
    path.write_bytes(path.read_bytes()[:cut])
    data, problem = decoded(path)
    assert data == b"".join(LINES[:200])
    said = f"{path}: {stops_short(codec)}; read every complete line before that"
    if codec is ZSTD:  # zstd decodes a block (a line, up to 128 KiB) whole or not at all
        assert problem == said
    else:
        assert problem is not None
        assert problem.startswith(f"{said}: ")
        assert problem.endswith(" bytes of a line after the last complete one left out")


def test_damaged_data_ends_the_file_at_the_last_complete_line_before_it(tmp_path: Path, codec: Codec) -> None:
    path = run_file(tmp_path, codec)
    sizes = written(path, LINES, codec)
    damaged = bytearray(path.read_bytes())
    damaged[sizes[100] : sizes[100] + 64] = b"\xff" * 64
    path.write_bytes(bytes(damaged))
    data, problem = decoded(path)
    kept = data.splitlines(keepends=True)
    assert kept == LINES[: len(kept)]  # whole lines only, in order
    # The damage is in what line 101 wrote: the last few before it may go too, those of the
    # last 64 bytes gzip is fed at a time when salvaging, of the last step zstd is fed.
    step = 64 if codec is GZIP else compression._ZSTD_STEP
    assert sum(size <= sizes[100] - step for size in sizes) <= len(kept) <= 100
    assert problem is not None
    assert problem.startswith(f"{path}: its {codec.name} data is damaged (")


def test_members_one_after_the_other_read_as_one_stream(tmp_path: Path, codec: Codec) -> None:
    path = run_file(tmp_path, codec)
    written(path, LINES[:5], codec)
    with path.open("ab") as out:
        out.write(member(LINES[5], codec) + member(LINES[6], codec))
    assert decoded(path) == (b"".join(LINES[:7]), None)


def test_a_file_may_mix_gzip_members_and_zstd_frames(tmp_path: Path) -> None:
    path = tmp_path / "mixed.otlp.jsonl.zst"
    path.write_bytes(member(LINES[0], ZSTD) + member(LINES[1], GZIP) + member(LINES[2], ZSTD))
    assert decoded(path) == (b"".join(LINES[:3]), None)


def test_members_split_anywhere_across_reads_are_read_whole(
    tmp_path: Path, codec: Codec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compression, "_CHUNK", 7)  # reads end inside headers and magic bytes
    path = run_file(tmp_path, codec)
    path.write_bytes(b"".join(member(line, codec) for line in LINES[:20]))
    assert decoded(path) == (b"".join(LINES[:20]), None)


def test_plain_and_empty_files_are_read_as_they_are(tmp_path: Path, codec: Codec) -> None:
    plain = run_file(tmp_path, codec)  # the content decides, not the name
    plain.write_bytes(b"".join(LINES))
    empty = run_file(tmp_path, codec, "empty")
    empty.write_bytes(b"")
    assert decoded(plain) == (b"".join(LINES), None)
    assert decoded(empty) == (b"", None)


def test_a_line_is_never_held_whole_when_the_data_has_no_end_of_line(tmp_path: Path, codec: Codec) -> None:
    path = run_file(tmp_path, codec)
    path.write_bytes(member(b"x" * (3 * 2**20), codec))  # no newline at all, and whole
    assert decoded(path) == (b"x" * (3 * 2**20), None)


def test_sealing_makes_a_cut_stream_whole_with_its_complete_lines(tmp_path: Path, codec: Codec) -> None:
    path = run_file(tmp_path, codec)
    sizes = written(path, LINES, codec, finish=False)
    path.write_bytes(path.read_bytes()[: sizes[49] + 3])
    problem = seal(path)
    assert problem is not None
    assert problem.startswith(f"{path}: {stops_short(codec)}")
    assert decompressed(codec, path.read_bytes()) == b"".join(LINES[:50])
    assert path.read_bytes().startswith(codec.magic)  # in its own format
    assert seal(path) is None  # whole now
    assert [item.name for item in tmp_path.iterdir()] == [path.name]


def test_sealing_leaves_whole_and_plain_files_untouched(tmp_path: Path, codec: Codec) -> None:
    whole = run_file(tmp_path, codec, "whole")
    written(whole, LINES, codec)
    plain = tmp_path / "plain.otlp.jsonl"
    plain.write_bytes(b"".join(LINES[:3])[:-5])  # even cut off: plain files are read as they are
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in (whole, plain)}
    assert (seal(whole), seal(plain)) == (None, None)
    assert {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in (whole, plain)} == before


def test_a_crashed_compressed_run_file_yields_every_complete_test_and_one_problem(tmp_path: Path, codec: Codec) -> None:
    lines = run_lines("00000000000000aa", tests=3, session=False)
    path = run_file(tmp_path, codec)
    sizes = written(path, lines, codec, finish=False)
    path.write_bytes(path.read_bytes()[: sizes[1] + 10])
    problems: list[str] = []
    tests = [span.name for _resource, spans in read_otlp(path, problems) for span in spans if "::" in span.name]
    assert tests == ["test_hand.py::test_0", "test_hand.py::test_1"]
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: {stops_short(codec)}; read every complete line before that")


def test_read_decoded_is_the_whole_decompressed_file(tmp_path: Path, codec: Codec) -> None:
    path = run_file(tmp_path, codec)
    written(path, LINES[:3], codec)
    assert read_decoded(path) == b"".join(LINES[:3])


def test_a_codec_is_told_by_the_file_name_it_writes() -> None:
    names = [codec_of_name(f"20260101T000000Z_00000000000000aa.otlp.jsonl{end}") for end in (".zst", ".gz", "")]
    assert names == [ZSTD, GZIP, None]


def test_the_line_compressors_take_a_level(tmp_path: Path) -> None:
    """Higher levels write fewer bytes (bench/store_size.py measures them)."""
    data = b"".join(LINES)
    for fast, slow in ((GzipLines(1), GzipLines(9)), (ZstdLines(1), ZstdLines(19))):
        assert len(slow.compress(data) + slow.finish()) < len(fast.compress(data) + fast.finish())


# --- without the zstandard package -------------------------------------------------------


@pytest.fixture
def no_zstandard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zstandard", None)  # what an import then finds: none


def test_available_says_whether_zstandard_is_installed_without_importing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (available(GZIP), available(ZSTD)) == (True, True)
    monkeypatch.setitem(sys.modules, "zstandard", None)
    assert (available(GZIP), available(ZSTD)) == (True, False)


@pytest.mark.usefixtures("no_zstandard")
def test_writing_zstd_without_zstandard_says_the_pip_command() -> None:
    with pytest.raises(MissingExtra) as error:
        ZSTD.compressor()
    assert str(error.value) == "needs the zstandard package: pip install 'otel-pytest[zstd]'"


def test_a_zstd_file_read_without_zstandard_is_one_problem_with_the_pip_command_and_stays_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = run_file(tmp_path, ZSTD)
    written(path, LINES[:5], ZSTD, finish=False)  # cut off: sealing it would rewrite it
    before = path.read_bytes()
    monkeypatch.setitem(sys.modules, "zstandard", None)
    assert decoded(path) == (b"", f"{path}: {NO_ZSTANDARD}")
    assert seal(path) == f"{path}: {NO_ZSTANDARD}"
    assert path.read_bytes() == before
    problems: list[str] = []
    assert list(read_otlp(path, problems)) == []
    assert problems == [f"{path}: {NO_ZSTANDARD}"]


def test_a_gzip_member_before_a_zstd_frame_is_read_without_zstandard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mixed.otlp.jsonl.gz"
    path.write_bytes(member(LINES[0], GZIP) + member(LINES[1], ZSTD))
    monkeypatch.setitem(sys.modules, "zstandard", None)
    assert decoded(path) == (LINES[0], f"{path}: {NO_ZSTANDARD}")
