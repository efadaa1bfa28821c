"""Reading input files: only regular files, never a blocking open, lines of bounded length."""

from __future__ import annotations

import io
import os
import socket
from pathlib import Path

import pytest

from otel_pytest.store import files
from otel_pytest.store.files import NotAFileError, look, open_regular, read_regular
from tests.bounded import within


def test_lines_longer_than_the_limit_are_skipped_whole_and_numbered() -> None:
    data = b"12345\n" + b"x" * 50 + b"\n123456\n" + b"y" * 20 + b"\nlast"
    assert list(files.lines(io.BytesIO(data), limit=6)) == [
        (1, b"12345\n"),
        (2, None),
        (3, b"123456\n"),
        (4, None),
        (5, b"last"),
    ]


def test_a_line_without_a_newline_as_long_as_the_file_is_skipped_without_holding_it() -> None:
    assert list(files.lines(io.BytesIO(b"z" * (3 * 2**20 + 7)), limit=100)) == [(1, None)]


@pytest.fixture
def odd(tmp_path: Path) -> dict[str, Path]:
    """Paths named like run files that are not regular files."""
    fifo = tmp_path / "fifo.otlp.jsonl"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.otlp.jsonl"
    folder.mkdir()
    loop = tmp_path / "loop.otlp.jsonl"
    loop.symlink_to(loop.name)
    device = tmp_path / "device.otlp.jsonl"
    device.symlink_to("/dev/null")
    return {"fifo": fifo, "folder": folder, "loop": loop, "device": device}


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ("fifo", "a named pipe (FIFO), not a regular file"),
        ("folder", "a folder, not a regular file"),
        ("device", "a character device, not a regular file"),
        ("loop", "Too many levels of symbolic links"),
    ],
)
def test_only_regular_files_are_opened_and_the_error_says_what_the_path_is(
    odd: dict[str, Path], shape: str, message: str
) -> None:
    with within(10), pytest.raises(OSError, match=message.replace("(", r"\(").replace(")", r"\)")) as raised:
        open_regular(odd[shape])
    assert files.reason(raised.value) == message
    assert isinstance(raised.value, NotAFileError) == (shape != "loop")


def test_a_socket_is_not_opened(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(NotAFileError) as raised:
            read_regular(path)
    assert files.reason(raised.value) == "a socket, not a regular file"


def test_a_regular_file_is_read_through_a_symbolic_link(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"data\n")
    (tmp_path / "link.jsonl").symlink_to("real")
    assert read_regular(tmp_path / "link.jsonl") == b"data\n"


def test_looking_tells_nothing_there_from_cannot_look(tmp_path: Path, odd: dict[str, Path]) -> None:
    assert look(tmp_path / "missing") == (None, None)
    assert look(odd["loop"]) == (None, "Too many levels of symbolic links")
    assert look(tmp_path / ("n" * 300)) == (None, "File name too long")
    (tmp_path / "file").write_text("")
    assert look(tmp_path / "file" / "below") == (None, "Not a directory")
    mode, problem = look(odd["fifo"])
    assert (files.what_is(mode or 0), problem) == ("a named pipe (FIFO)", None)


def test_replace_whole_writes_the_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "state.bin"

    files.replace_whole(target, b"first")
    files.replace_whole(target, b"second")

    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.bin"]


def test_replace_whole_that_cannot_replace_raises_and_leaves_the_old_contents_alone(tmp_path: Path) -> None:
    target = tmp_path / "state.bin"
    target.mkdir()  # a folder where the file should be: os.replace fails

    with pytest.raises(IsADirectoryError):
        files.replace_whole(target, b"data")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.bin"]
    assert target.is_dir()
