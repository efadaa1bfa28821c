"""Compressed run files: one gzip or zstd stream, flushed after every line, and a reader that
keeps every line a crash left whole.

**Writing.** A run file ``<start>_<run id>.otlp.jsonl.gz`` (or ``.otlp.jsonl.zst``) is OTLP
JSON Lines inside a gzip stream (``zcat``, ``gzip -dc``) or a zstd frame (``zstdcat``,
``zstd -dc``). The writer compresses each line (a test's spans) into the stream and ends it
with a flush (zlib's *sync flush*, zstd's *block flush*) that pushes every byte of that line
to the file without ending the stream: a process that dies between two tests leaves a file
whose every complete line decodes, today's guarantee for plain files, and the next line is
still compressed against the ones before. A member or frame per line would do as much, but
loses the redundancy between lines: 125 bytes a span against 52 on the trivial suite
(``bench/store_size.py``). The stream is ended (gzip's CRC and length, zstd's last block and
checksum) when the run's writer closes; xdist parts and metrics lines are whole members of
their own, which both formats allow one after the other (``gzip -dc`` and ``zstd -dc`` read
them as one stream).

**Which.** zstd keeps a larger window than deflate's 32 KB, so a database suite's lines of
SQL-heavy spans, which repeat further apart, cost half as many bytes, for a sixth of the CPU
gzip adds to writing; it needs the ``zstandard`` package (``pip install 'otel-pytest[zstd]'``),
imported only when a zstd file is written or read. :func:`available` says whether it is
installed without importing it.

**Reading.** :class:`Decoded` opens any run file, plain, gzip or zstd (told apart by their
magic bytes, member by member, not by the name), and yields its decompressed bytes. A stream
that stops short (a crashed run, a run still being written) or is damaged ends the data at
the last complete line before it, and :attr:`Decoded.problem` says what was left out, so
callers warn and keep every complete record; a zstd file read without ``zstandard`` yields
nothing and a problem with the pip command. Output is produced in chunks of about
:data:`_CHUNK`, so a small file that inflates to gigabytes never sits in memory whole.

:func:`seal` rewrites a stream that stops short as a whole one, so that parts can be appended
to it (an orphan run's file, a crashed xdist worker's part).

Light on purpose (``io``, ``os`` and ``zlib``): the writer runs inside the code under test's
process, the CLI before the analyzer loads.
"""

from __future__ import annotations

import importlib.util
import io
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast

from otel_pytest.store import files

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

# zlib level 3: 52 bytes a span on the trivial suite (94 on the demo's database suite) at
# 23 us a test; level 1 costs as much for 57 (106), level 6 twice as much for 45 (75)
# (bench/store_size.py, docs/benchmarks.md).
LEVEL = 3
# zstd level 1: 39 bytes a span on the trivial suite, 47 on the demo's database suite, for
# +2.5-4.2 us a test to write against gzip level 3's +18.5-23.9; level 3 is larger here
# (45, 51), level 9 takes 4-5 times the CPU for 39 and 39 (bench/store_size.py,
# docs/benchmarks.md).
ZSTD_LEVEL = 1
ZSTD_INSTALL = "pip install 'otel-pytest[zstd]'"
_GZIP = 16 + zlib.MAX_WBITS  # zlib's window bits for a gzip header and trailer
_MAGIC_BYTES = 4  # the longest magic: zstd's
_CHUNK = 2**20
_SALVAGE_STEP = 64
# zstandard's decompressor has no output bound, so it is fed this much at a time: at most
# 128 KiB (a block) for every 4 bytes of input, 32 MiB in the worst case, ~70 KiB for a run
# file; and what a damaged step held before the damage is lost with it.
_ZSTD_STEP = 2**10


_Input = bytes | memoryview  # compressed data given to a decompressor


class MissingExtra(ImportError):
    """zstd asked for or met without the ``zstandard`` package; the message says the pip command."""


class LineCompressor(Protocol):
    """A stream that every :meth:`compress` leaves decodable up to its last byte; a
    :meth:`compress` after :meth:`finish` starts a new member."""

    def compress(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes:
        """The stream's end; nothing when none was begun."""
        ...


class _Frame(Protocol):
    """The decompression of one gzip member or zstd frame, as zlib's ``decompressobj``:
    ``decompress`` raises :class:`_Damaged`."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def unconsumed_tail(self) -> _Input: ...

    def decompress(self, data: _Input, max_length: int) -> bytes: ...

    def flush(self) -> bytes: ...

    def salvaged(self, data: _Input) -> bytes:
        """What the last :meth:`decompress`, which raised, made of ``data`` before the damage."""
        ...


class _Damaged(Exception):
    pass


@dataclass(frozen=True)
class Codec:
    """A compressed format a run file may be in."""

    name: str
    suffix: str  # after .otlp.jsonl
    magic: bytes
    compressor: Callable[[], LineCompressor]
    frame: Callable[[], _Frame]  # raises MissingExtra


class GzipLines:
    """A :class:`LineCompressor` for gzip."""

    def __init__(self, level: int = LEVEL) -> None:
        self._level = level
        self._stream: zlib._Compress | None = None

    def compress(self, data: bytes) -> bytes:
        if self._stream is None:
            self._stream = zlib.compressobj(self._level, zlib.DEFLATED, _GZIP)
        return self._stream.compress(data) + self._stream.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        stream, self._stream = self._stream, None
        return b"" if stream is None else stream.flush(zlib.Z_FINISH)


class _GzipFrame:
    def __init__(self) -> None:
        self._stream = zlib.decompressobj(_GZIP)
        self._saved = self._stream

    @property
    def eof(self) -> bool:
        return self._stream.eof

    @property
    def unused_data(self) -> bytes:
        return self._stream.unused_data

    @property
    def unconsumed_tail(self) -> _Input:
        return self._stream.unconsumed_tail

    def decompress(self, data: _Input, max_length: int) -> bytes:
        self._saved = self._stream.copy()
        try:
            return self._stream.decompress(data, max_length)
        except zlib.error as error:
            raise _Damaged(str(error)) from None

    def flush(self) -> bytes:
        try:
            return self._stream.flush()
        except zlib.error as error:
            raise _Damaged(str(error)) from None

    def salvaged(self, data: _Input) -> bytes:
        """Fed a little at a time: a whole chunk with damage in it yields nothing but the error."""
        out = []
        for start in range(0, len(data), _SALVAGE_STEP):
            try:
                out.append(self._saved.decompress(data[start : start + _SALVAGE_STEP]))
            except zlib.error:
                break
        return b"".join(out)


def _zstandard() -> Any:
    """The ``zstandard`` module (no type hints of its own); :class:`MissingExtra` without it."""
    try:
        import zstandard
    except ImportError:
        raise MissingExtra(f"needs the zstandard package: {ZSTD_INSTALL}") from None
    return zstandard


class ZstdLines:
    """A :class:`LineCompressor` for zstd; :class:`MissingExtra` without ``zstandard``."""

    def __init__(self, level: int = ZSTD_LEVEL) -> None:
        self._zstd = _zstandard()
        # The checksum lets `zstd -dc` (and this reader) tell a damaged frame at its end.
        self._compressor = self._zstd.ZstdCompressor(level=level, write_checksum=True)
        self._stream: Any = None

    def compress(self, data: bytes) -> bytes:
        if self._stream is None:
            self._stream = self._compressor.compressobj()
        return bytes(self._stream.compress(data) + self._stream.flush(self._zstd.COMPRESSOBJ_FLUSH_BLOCK))

    def finish(self) -> bytes:
        stream, self._stream = self._stream, None
        return b"" if stream is None else bytes(stream.flush(self._zstd.COMPRESSOBJ_FLUSH_FINISH))


class _ZstdFrame:
    def __init__(self) -> None:
        zstd = _zstandard()
        # One frame (its end, eof, tells a whole frame from a cut one), whatever later
        # versions make the default; the argument came in zstandard 0.22, the extra's bound.
        self._stream = zstd.ZstdDecompressor().decompressobj(read_across_frames=False)
        self._error: type[Exception] = zstd.ZstdError
        self._before_damage = b""
        self._rest: _Input = b""  # input not yet fed: after the frame's end once it has ended

    @property
    def eof(self) -> bool:
        return bool(self._stream.eof)

    @property
    def unused_data(self) -> bytes:
        return bytes(self._stream.unused_data) + bytes(self._rest) if self.eof else b""

    @property
    def unconsumed_tail(self) -> _Input:
        return b"" if self.eof else self._rest

    def decompress(self, data: _Input, max_length: int) -> bytes:
        out: list[bytes] = []
        size = at = 0
        view = memoryview(data)
        while at < len(view) and size < max_length and not self._stream.eof:
            try:
                piece = self._stream.decompress(view[at : at + _ZSTD_STEP])
            except self._error as error:
                self._before_damage = b"".join(out)
                raise _Damaged(str(error)) from None
            at += _ZSTD_STEP
            out.append(piece)
            size += len(piece)
        self._rest = view[at:]  # a view: a megabyte of input is not copied at every step
        return b"".join(out)

    def flush(self) -> bytes:
        return b""  # everything decodable was given out: a frame without its end stops short

    def salvaged(self, data: _Input) -> bytes:
        return self._before_damage


GZIP = Codec("gzip", ".gz", b"\x1f\x8b", GzipLines, _GzipFrame)
ZSTD = Codec("zstd", ".zst", b"\x28\xb5\x2f\xfd", ZstdLines, _ZstdFrame)
CODECS = (ZSTD, GZIP)


def available(codec: Codec) -> bool:
    """Whether ``codec`` can be written and read here, without importing anything."""
    return codec is not ZSTD or importlib.util.find_spec("zstandard") is not None


def codec_named(name: str) -> Codec:
    return next(codec for codec in CODECS if codec.name == name)


def codec_of_name(file_name: str) -> Codec | None:
    """The codec a run file's name says it was written with; None: plain."""
    return next((codec for codec in CODECS if file_name.endswith(codec.suffix)), None)


def _codec_of(data: bytes) -> Codec | None:
    return next((codec for codec in CODECS if data.startswith(codec.magic)), None)


def member(data: bytes, codec: Codec = GZIP) -> bytes:
    """``data`` as one whole gzip member or zstd frame."""
    compressor = codec.compressor()
    return compressor.compress(data) + compressor.finish()


class _Decompressing(io.RawIOBase):
    """The decompressed bytes of one or more gzip members and zstd frames, cut at the last
    complete line when the data stops short or is damaged (``problem`` then says why)."""

    def __init__(self, source: BinaryIO, path: Path | str, codec: Codec) -> None:
        self._source = source
        self._path = path
        self._codec = codec
        self._stream: _Frame | None = None  # None: the next member has not begun
        self._out = b""
        self._at = 0
        self._tail = b""  # decompressed bytes after the last newline: held back until it ends
        self._ended = False
        self.problem: str | None = None
        self.unavailable = False  # a zstd member and no zstandard: nothing could be read

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
        data: _Input
        if stream is None or stream.eof:  # a member ended (or none began): another may follow
            head = b"" if stream is None else stream.unused_data
            while len(head) < _MAGIC_BYTES and (more := self._source.read(_CHUNK)):
                head += more
            if not head:
                self._end(self._tail)
                return
            data = head
            self._codec = _codec_of(head) or self._codec  # anything else: the damage says what
            try:
                stream = self._stream = self._codec.frame()
            except MissingExtra as error:
                self.unavailable = True
                self.problem = f"{self._path}: its data is zstd, and reading it {error}"
                self._end(self._tail)
                return
        else:
            data = stream.unconsumed_tail or self._source.read(_CHUNK)
        try:
            if data:
                self._emit(stream.decompress(data, _CHUNK))
                return
            pending = stream.flush()
        except _Damaged as error:
            self._emit(stream.salvaged(data))
            self._stop(f"its {self._codec.name} data is damaged ({error})")
            return
        if pending:
            self._emit(pending)
        else:
            self._stop(f"its {self._codec.name} stream stops short (the run was cut off, or is still being written)")

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


class Decoded:
    """A run file (or any OTLP JSON Lines file) open for reading its lines, decompressed
    when it is gzip or zstd; a context manager. ``problem`` is complete once it has been read."""

    def __init__(self, path: Path | str) -> None:
        raw = files.open_regular(path)
        try:
            magic = raw.read(_MAGIC_BYTES)
            raw.seek(0)
        except BaseException:
            raw.close()
            raise
        self.codec = _codec_of(magic)
        self._decompressing = None if self.codec is None else _Decompressing(raw, path, self.codec)
        self.handle: BinaryIO = (
            raw if self._decompressing is None else cast(BinaryIO, io.BufferedReader(self._decompressing, _CHUNK))
        )
        self._raw = raw

    @property
    def problem(self) -> str | None:
        return None if self._decompressing is None else self._decompressing.problem

    @property
    def unavailable(self) -> bool:
        """Whether a member could not be read at all for want of ``zstandard``."""
        return self._decompressing is not None and self._decompressing.unavailable

    def close(self) -> None:
        self.handle.close()
        self._raw.close()

    def __enter__(self) -> Decoded:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def seal(path: Path) -> str | None:
    """Make a compressed file that stops short (or is damaged) whole again, in its own
    format, keeping its complete lines; a plain or whole file is left as it is, and so is
    one this process cannot read (zstd without ``zstandard``). Returns the problem
    :class:`Decoded` found."""
    with Decoded(path) as decoded:
        if decoded.codec is None:
            return None
        while decoded.handle.read(_CHUNK):
            pass
        problem = decoded.problem
        if problem is None or decoded.unavailable:
            return problem
        compressor = decoded.codec.compressor()
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
    """The whole of a run file, decompressed (for the tests and benchmarks, which look at
    the lines as written)."""
    with Decoded(path) as decoded:
        return decoded.handle.read()
