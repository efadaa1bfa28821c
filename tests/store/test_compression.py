"""Compressed run files: a gzip stream sync-flushed per line, read whole by gzip itself, and
read back after a crash with every complete line kept and one warning."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from otel_pytest.store.compression import Decoded, LineCompressor, member, read_decoded, seal
from otel_pytest.store.reader import read_otlp
from tests.analyze.test_sources import run_lines

LINES = [b'{"test": %d, "padding": "%s"}\n' % (number, b"x" * (number % 50)) for number in range(300)]
STOPS_SHORT = "its gzip stream stops short (the run was cut off, or is still being written)"


def written(path: Path, lines: list[bytes], *, finish: bool = True) -> list[int]:
    """Write ``lines`` as the plugin does; the file's size after each line."""
    compressor = LineCompressor()
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


def test_a_finished_stream_is_exactly_its_lines_to_gzip_and_to_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "run.otlp.jsonl.gz"
    written(path, LINES)
    assert gzip.decompress(path.read_bytes()) == b"".join(LINES)
    assert decoded(path) == (b"".join(LINES), None)


@pytest.mark.skipif(shutil.which("gzip") is None, reason="no gzip command")
def test_the_gzip_command_reads_a_run_file_and_its_appended_members(tmp_path: Path) -> None:
    path = tmp_path / "run.otlp.jsonl.gz"
    written(path, LINES[:10])
    with path.open("ab") as out:
        out.write(member(LINES[10]))
    result = subprocess.run(["gzip", "-dc", str(path)], capture_output=True, check=True)
    assert result.stdout == b"".join(LINES[:11])


def test_every_line_is_readable_as_soon_as_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "run.otlp.jsonl.gz"
    written(path, LINES, finish=False)  # the process died before the stream's end
    data, problem = decoded(path)
    assert data == b"".join(LINES)
    assert problem == f"{path}: {STOPS_SHORT}; read every complete line before that"


def test_a_stream_cut_inside_a_line_keeps_every_complete_line_and_says_what_it_left_out(tmp_path: Path) -> None:
    path = tmp_path / "run.otlp.jsonl.gz"
    sizes = written(path, LINES, finish=False)
    cut = (sizes[199] + sizes[200]) // 2  # inside what line 201 wrote
    path.write_bytes(path.read_bytes()[:cut])
    data, problem = decoded(path)
    assert data == b"".join(LINES[:200])
    assert problem is not None
    assert problem.startswith(f"{path}: {STOPS_SHORT}; read every complete line before that: ")
    assert problem.endswith(" bytes of a line after the last complete one left out")


def test_damaged_data_ends_the_file_at_the_last_complete_line_before_it(tmp_path: Path) -> None:
    path = tmp_path / "run.otlp.jsonl.gz"
    sizes = written(path, LINES)
    damaged = bytearray(path.read_bytes())
    damaged[sizes[100] : sizes[100] + 64] = b"\xff" * 64
    path.write_bytes(bytes(damaged))
    data, problem = decoded(path)
    kept = data.splitlines(keepends=True)
    assert kept == LINES[: len(kept)]  # whole lines only, in order
    assert 95 <= len(kept) <= 100  # the damage is in what line 101 wrote: the last few before it may go too
    assert problem is not None
    assert problem.startswith(f"{path}: its gzip data is damaged (")


def test_members_one_after_the_other_read_as_one_stream(tmp_path: Path) -> None:
    path = tmp_path / "run.otlp.jsonl.gz"
    written(path, LINES[:5])
    with path.open("ab") as out:
        out.write(member(LINES[5]) + member(LINES[6]))
    assert decoded(path) == (b"".join(LINES[:7]), None)


def test_plain_and_empty_files_are_read_as_they_are(tmp_path: Path) -> None:
    plain = tmp_path / "run.otlp.jsonl.gz"  # the content decides, not the name
    plain.write_bytes(b"".join(LINES))
    empty = tmp_path / "empty.otlp.jsonl.gz"
    empty.write_bytes(b"")
    assert decoded(plain) == (b"".join(LINES), None)
    assert decoded(empty) == (b"", None)


def test_a_line_is_never_held_whole_when_the_data_has_no_end_of_line(tmp_path: Path) -> None:
    path = tmp_path / "run.otlp.jsonl.gz"
    path.write_bytes(member(b"x" * (3 * 2**20)))  # no newline at all, and whole
    assert decoded(path) == (b"x" * (3 * 2**20), None)


def test_sealing_makes_a_cut_stream_whole_with_its_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "run.otlp.jsonl.gz"
    sizes = written(path, LINES, finish=False)
    path.write_bytes(path.read_bytes()[: sizes[49] + 3])
    problem = seal(path)
    assert problem is not None
    assert problem.startswith(f"{path}: {STOPS_SHORT}")
    assert gzip.decompress(path.read_bytes()) == b"".join(LINES[:50])
    assert seal(path) is None  # whole now
    assert [item.name for item in tmp_path.iterdir()] == [path.name]


def test_sealing_leaves_whole_and_plain_files_untouched(tmp_path: Path) -> None:
    whole = tmp_path / "whole.otlp.jsonl.gz"
    written(whole, LINES)
    plain = tmp_path / "plain.otlp.jsonl"
    plain.write_bytes(b"".join(LINES[:3])[:-5])  # even cut off: plain files are read as they are
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in (whole, plain)}
    assert (seal(whole), seal(plain)) == (None, None)
    assert {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in (whole, plain)} == before


def test_a_crashed_compressed_run_file_yields_every_complete_test_and_one_problem(tmp_path: Path) -> None:
    lines = run_lines("00000000000000aa", tests=3, session=False)
    path = tmp_path / "run.otlp.jsonl.gz"
    sizes = written(path, lines, finish=False)
    path.write_bytes(path.read_bytes()[: sizes[1] + 10])
    problems: list[str] = []
    tests = [span.name for _resource, spans in read_otlp(path, problems) for span in spans if "::" in span.name]
    assert tests == ["test_hand.py::test_0", "test_hand.py::test_1"]
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: {STOPS_SHORT}; read every complete line before that")


def test_read_decoded_is_the_whole_decompressed_file(tmp_path: Path) -> None:
    path = tmp_path / "run.otlp.jsonl.gz"
    written(path, LINES[:3])
    assert read_decoded(path) == b"".join(LINES[:3])
