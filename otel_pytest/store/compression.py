"""Compressed run files: one gzip stream, flushed after every line, and a reader that keeps
every line a crash left whole.

**Writing.** A run file ``<start>_<run id>.otlp.jsonl.gz`` is OTLP JSON Lines inside a gzip
stream (``zcat``, ``gzip -dc`` and any gzip library read it). The writer deflates each line
(a test's spans) into the stream and ends it with a *sync flush*, which pushes every byte
of that line to the file, aligned, without ending the stream: a process that dies between
two tests leaves a file whose every complete line decodes, today's guarantee for plain
files. A gzip member per line would do as much, but loses the redundancy between lines:
125 bytes a span against 52 on the trivial suite (``bench/store_size.py``). The stream is ended (its CRC and
length) when the run's writer closes; xdist parts and metrics lines are whole gzip members
of their own, which the format allows one after the other (``gzip -dc`` reads them as one
stream).

**Reading.** :class:`Decoded` opens any run file, plain or gzip (told apart by the gzip
magic bytes, not by the name), and yields its decompressed bytes. A gzip stream that stops
short (a crashed run, a run still being written) or is damaged ends the data at the last
complete line before it, and :attr:`Decoded.problem` says what was left out, so callers warn
and keep every complete record. Output is produced in chunks of at most :data:`_CHUNK`, so
a small file that inflates to gigabytes never sits in memory whole.

:func:`seal` rewrites a stream that stops short as a whole one, so that gzip parts can be
appended to it (an orphan run's file, a crashed xdist worker's part).

Light on purpose (``io``, ``os`` and ``zlib``): the writer runs inside the code under test's
process, the CLI before the analyzer loads.
"""

from __future__ import annotations

import io
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from otel_pytest.store import files

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

GZIP_SUFFIX = ".gz"
# zlib level 3: 52 bytes a span on the trivial suite (94 on the demo's database suite) at
# 23 us a test; level 1 costs as much for 57 (106), level 6 twice as much for 45 (75)
# (bench/store_size.py, docs/benchmarks.md).
LEVEL = 3
_GZIP = 16 + zlib.MAX_WBITS  # zlib's window bits for a gzip header and trailer
_MAGIC = b"\x1f\x8b"
_CHUNK = 2**20
_SALVAGE_STEP = 64


class LineCompressor:
    """A gzip stream that every :meth:`compress` leaves decodable up to its last byte; a
    :meth:`compress` after :meth:`finish` starts a new member."""

    def __init__(self, level: int = LEVEL) -> None:
        self._level = level
        self._stream: zlib._Compress | None = None

    def compress(self, data: bytes) -> bytes:
        if self._stream is None:
            self._stream = zlib.compressobj(self._level, zlib.DEFLATED, _GZIP)
        return self._stream.compress(data) + self._stream.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        """The stream's end (its last block, CRC and length); nothing when none was begun."""
        stream, self._stream = self._stream, None
        return b"" if stream is None else stream.flush(zlib.Z_FINISH)


def member(data: bytes, level: int = LEVEL) -> bytes:
    """``data`` as one whole gzip member."""
    compressor = LineCompressor(level)
    return compressor.compress(data) + compressor.finish()


class _Inflating(io.RawIOBase):
    """The decompressed bytes of one or more gzip members, cut at the last complete line
    when the data stops short or is damaged (``problem`` then says why)."""

    def __init__(self, source: BinaryIO, path: Path | str) -> None:
        self._source = source
        self._path = path
        self._stream = zlib.decompressobj(_GZIP)
        self._begun = False  # whether the current member has had any input
        self._out = b""
        self._at = 0
        self._tail = b""  # decompressed bytes after the last newline: held back until it ends
        self._ended = False
        self.problem: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while self._at >= len(self._out) and not self._ended:
            self._fill()
        view = memoryview(buffer).cast("B")
        size = min(len(view), len(self._out) - self._at)
        view[:size] = self._out[self._at : self._at + size]
        self._at += size
        return size

    def _fill(self) -> None:
        stream = self._stream
        if stream.eof:  # a member ended: another may follow
            data = stream.unused_data or self._source.read(_CHUNK)
            if not data:
                self._end(self._tail)
                return
            stream = self._stream = zlib.decompressobj(_GZIP)
            self._begun = False
        else:
            data = stream.unconsumed_tail or self._source.read(_CHUNK)
        saved = stream.copy()
        try:
            if data:
                self._begun = True
                self._emit(stream.decompress(data, _CHUNK))
                return
            pending = stream.flush()
        except zlib.error as error:
            self._emit(_salvaged(saved, data))
            self._stop(f"its gzip data is damaged ({error})")
            return
        if pending:
            self._emit(pending)
        elif self._begun:
            self._stop("its gzip stream stops short (the run was cut off, or is still being written)")
        else:  # an empty file: no lines
            self._end(self._tail)

    def _emit(self, data: bytes) -> None:
        cut = data.rfind(b"\n") + 1
        if cut:
            self._out, self._tail = self._tail + data[:cut], data[cut:]
        else:
            self._out, self._tail = b"", self._tail + data
            if len(self._tail) > files.MAX_LINE_BYTES:  # too long to be a line: the reader skips it
                self._out, self._tail = self._tail, b""
        self._at = 0

    def _stop(self, why: str) -> None:
        left_out = f": {len(self._tail)} bytes of a line after the last complete one left out" if self._tail else ""
        self.problem = f"{self._path}: {why}; read every complete line before that{left_out}"
        self._end(self._out[self._at :])

    def _end(self, rest: bytes) -> None:
        self._out, self._at, self._tail, self._ended = rest, 0, b"", True


def _salvaged(stream: zlib._Decompress, data: bytes) -> bytes:
    """What ``stream`` makes of ``data`` up to the damage in it, fed a little at a time (a
    whole chunk with damage in it yields nothing but the error)."""
    out = []
    for start in range(0, len(data), _SALVAGE_STEP):
        try:
            out.append(stream.decompress(data[start : start + _SALVAGE_STEP]))
        except zlib.error:
            break
    return b"".join(out)


class Decoded:
    """A run file (or any OTLP JSON Lines file) open for reading its lines, decompressed
    when it is gzip; a context manager. ``problem`` is complete once it has been read."""

    def __init__(self, path: Path | str) -> None:
        raw = files.open_regular(path)
        try:
            magic = raw.read(len(_MAGIC))
            raw.seek(0)
        except BaseException:
            raw.close()
            raise
        self._inflating = _Inflating(raw, path) if magic == _MAGIC else None
        self.handle: BinaryIO = (
            raw if self._inflating is None else cast(BinaryIO, io.BufferedReader(self._inflating, _CHUNK))
        )
        self._raw = raw

    @property
    def compressed(self) -> bool:
        return self._inflating is not None

    @property
    def problem(self) -> str | None:
        return None if self._inflating is None else self._inflating.problem

    def close(self) -> None:
        self.handle.close()
        self._raw.close()

    def __enter__(self) -> Decoded:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def seal(path: Path) -> str | None:
    """Make a gzip file that stops short (or is damaged) whole again, keeping its complete
    lines; a plain or whole file is left as it is. Returns the problem :class:`Decoded`
    found, which the file no longer has."""
    with Decoded(path) as decoded:
        if not decoded.compressed:
            return None
        while decoded.handle.read(_CHUNK):
            pass
        problem = decoded.problem
    if problem is None:
        return None
    compressor = LineCompressor()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.seal")
    try:
        with Decoded(path) as decoded, temporary.open("wb") as out:
            while chunk := decoded.handle.read(_CHUNK):
                out.write(compressor.compress(chunk))
            out.write(compressor.finish())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return problem


def read_decoded(path: Path) -> bytes:
    """The whole of a run file, decompressed when it is gzip (for the tests and benchmarks,
    which look at the lines as written)."""
    with Decoded(path) as decoded:
        return decoded.handle.read()
