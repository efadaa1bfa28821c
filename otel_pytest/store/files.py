"""Looking at and reading run files and other input so that every shape gets an answer.

A store or a folder of artifacts can hold anything under a run file's name: a named pipe
(opening one blocks until a writer comes, which may be never), a socket, a device (an
endless stream), a folder, a symbolic link to itself, a file without a single newline.
The store's reader reads only regular files, opens them without blocking, and reads lines of
at most :data:`MAX_LINE_BYTES`; everything else is an :class:`OSError` whose message says
what the path is. Nothing here judges or reports: callers turn the errors into notes.

Light on purpose (``os`` and ``stat`` only): the CLI uses it before the analyzer loads.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

# A collector's file exporter writes one export request per line (the SDKs send at most
# 512 spans per request by default, a few MB), the plugin a test per line: a longer
# line is damage (a binary file, a file without newlines), and parsing it would take
# memory without bound.
MAX_LINE_BYTES = 64 * 2**20
_CHUNK = 2**20
_KINDS = (
    (stat.S_ISREG, "a file"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


class NotAFileError(OSError):
    """The path is there but is not a regular file; ``strerror`` says what it is."""


def what_is(mode: int) -> str:
    """``a file``, ``a folder``, ``a named pipe (FIFO)``, …, or ``not a regular file``
    for the rest."""
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def reason(error: OSError) -> str:
    """An error's message without the path, which the caller names itself."""
    return error.strerror or str(error)


def regular(path: Path | str) -> os.stat_result:
    """``os.stat`` of a regular file (symbolic links followed); :class:`NotAFileError`
    for anything else, ``OSError`` when it cannot be looked at."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise NotAFileError(0, f"{what_is(info.st_mode)}, not a regular file", str(path))
    return info


def open_regular(path: Path | str) -> BinaryIO:
    """A regular file opened for reading. The open never blocks (``O_NONBLOCK``: a named
    pipe put there after the check opens at once) and the check is repeated on the open
    file, so what is read is what was checked."""
    regular(path)
    descriptor = os.open(path, _OPEN_FLAGS)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise NotAFileError(0, f"{what_is(info.st_mode)}, not a regular file", str(path))
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_regular(path: Path | str) -> bytes:
    """The whole of a regular file (see :func:`open_regular`)."""
    with open_regular(path) as handle:
        return handle.read()


def replace_whole(path: Path, data: bytes) -> None:
    """Write ``data`` as ``path`` through a temporary file beside it and ``os.replace``: a
    reader never sees half of it, and a failed write leaves no temporary file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def lines(handle: BinaryIO, limit: int | None = None) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, line)`` for each line; ``None`` for a line longer than ``limit``
    bytes (default :data:`MAX_LINE_BYTES`), which is skipped in chunks, never held whole."""
    limit = MAX_LINE_BYTES if limit is None else limit
    number = 0
    while line := handle.readline(limit + 1):
        number += 1
        if len(line) <= limit or line.endswith(b"\n"):
            yield number, line
            continue
        while (rest := handle.readline(_CHUNK)) and not rest.endswith(b"\n"):
            pass
        yield number, None


def look(path: Path | str) -> tuple[int | None, str | None]:
    """``(st_mode, None)`` for something there, ``(None, None)`` for nothing there, and
    ``(None, reason)`` when it cannot be looked at (no permission, a name too long, a
    symbolic link loop)."""
    try:
        return os.stat(path).st_mode, None
    except FileNotFoundError:
        return None, None
    except OSError as error:
        return None, reason(error)
