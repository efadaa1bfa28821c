"""The store's history as one file, to carry it where the store cannot go: from one CI job
to the next (every job starts on a fresh runner with an empty store), or between machines.

**The pack** is a gzip-compressed tar (the standard library's, so nothing to install) of
each complete run in the index: ``runs/<file>``, ``metrics/<file>`` and the analyzer's
cached summaries ``summaries/<file>.json`` when they exist (so the next job need not
summarise the runs again), then a manifest, :data:`MANIFEST`: the format and its version,
each run's index entry, and the size, SHA-256 and modification time of each of its files.
Runs the store adopted as orphans (``complete: false``) stay behind: their spans may stop
mid-run, and a history should not grow from them job after job.

**Packing takes no lock**, as no reader does: an indexed complete run's files never change,
and a file is opened before it is read, so retention removing a run meanwhile (another run
finishing) only leaves that run out. The pack is written beside its name and renamed, so
the name never holds half a pack (which a CI cache would keep).

**Unpacking merges** into the store (made if missing): runs it already holds, by run id or
by file, are skipped, so unpacking twice adds nothing; then retention keeps the newest
``keep`` runs that fit in ``keep_size`` bytes, as the plugin does at the end of a run. The
pack is read member by member into a staging folder inside the store (never extracted by
``tarfile``): only regular files
named like a run's files in ``runs/``, ``metrics/`` or ``summaries/`` are taken, anything
else (``../``, an absolute path, a link, a device, another file) refuses the whole pack, so
nothing can be written outside the store. Each file must match the manifest, and the gzip
stream its checksum, before anything in the store changes. The new runs' files are then
moved in and indexed in one step under the store lock: a run finishing meanwhile waits for
the lock, and never sees a run file outside the index (which it would adopt as an orphan).
A process killed between the move and the index leaves run files that the next run adopts.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

import orjson

from otel_pytest.store import files
from otel_pytest.store.index import RUN_SUFFIXES, RunEntry, RunIndex
from otel_pytest.store.layout import METRICS, RUNS, SUMMARIES
from otel_pytest.store.lock import store_lock

FORMAT = "otel-pytest store pack"
VERSION = 1  # of the manifest and the layout of the members; another is refused
MANIFEST = "otel-pytest-pack.json"
MAX_MANIFEST_BYTES = 64 * 2**20
_CHUNK = 2**20
_RUN_FILE = r"[0-9A-Za-z][0-9A-Za-z._-]*(?:" + "|".join(map(re.escape, RUN_SUFFIXES)) + ")"
# The only members a pack holds besides the manifest: a run's files, by store-relative name.
_MEMBER = re.compile(rf"(?:{RUNS}|{METRICS})/{_RUN_FILE}|{SUMMARIES}/{_RUN_FILE}\.json")


class PackError(Exception):
    """The pack cannot be written or used; the message is one line naming the file and why."""


@dataclass(frozen=True)
class Packed:
    runs: int
    size: int  # bytes of the pack
    left_out: tuple[str, ...]  # one line per run or index line not packed, and why


@dataclass(frozen=True)
class Unpacked:
    runs: int  # runs in the pack
    added: int  # of them, now in the store
    present: int  # of them, already in the store
    removed: int  # runs retention removed afterwards (new ones older than the kept ones included)


def run_members(entry: RunEntry) -> tuple[str, str, str]:
    """A run's files, named relative to the store: its spans, its metrics, its summaries."""
    return f"{RUNS}/{entry.file}", f"{METRICS}/{entry.file}", f"{SUMMARIES}/{entry.file}.json"


# -- packing -------------------------------------------------------------------------------


def pack(store: Path, archive: Path) -> Packed:
    """Write the store's complete runs to ``archive`` (see the module docstring)."""
    try:
        entries, problems = RunIndex(store).entries()
    except OSError as error:
        raise PackError(f"cannot read the run index in {store}: {files.reason(error)}") from None
    left_out = [f"{problem}: not packed" for problem in problems]
    try:
        handle, temporary = tempfile.mkstemp(dir=archive.parent, prefix=f".{archive.name}.", suffix=".tmp")
    except OSError as error:
        raise PackError(f"{archive}: cannot write it: {files.reason(error)}") from None
    try:
        with (
            os.fdopen(handle, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as zipped,
            tarfile.open(fileobj=zipped, mode="w|", format=tarfile.PAX_FORMAT) as tar,
        ):
            manifest = [_add_run(tar, store, entry, left_out) for entry in entries]
            packed = [run for run in manifest if run is not None]
            body = orjson.dumps({"format": FORMAT, "version": VERSION, "runs": packed})
            _add(tar, MANIFEST, io.BytesIO(body), len(body), 0)
        os.chmod(temporary, 0o644)  # mkstemp makes it owner-only
        os.replace(temporary, archive)
        size = archive.stat().st_size
    except OSError as error:
        raise PackError(f"{archive}: cannot write it: {files.reason(error)}") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    return Packed(len(packed), size, tuple(left_out))


def _add_run(tar: tarfile.TarFile, store: Path, entry: RunEntry, left_out: list[str]) -> dict[str, Any] | None:
    """Add a complete run's files to ``tar``; its manifest item, or ``None`` (and a line in
    ``left_out``) when it is not packed."""
    if not entry.complete:
        left_out.append(f"run {entry.run_id}: not packed: it is incomplete (its process ended before the run did)")
        return None
    if re.fullmatch(_RUN_FILE, entry.file) is None:
        left_out.append(f"run {entry.run_id}: not packed: the index names {entry.file!r}, not a run file")
        return None
    written: dict[str, dict[str, Any]] = {}
    for member in run_members(entry):
        try:
            source = files.open_regular(store / member)
        except FileNotFoundError:
            if member.startswith(RUNS):
                left_out.append(f"run {entry.run_id}: not packed: its file {store / member} is gone")
                return None
            continue  # no metrics, or no summary yet
        except OSError as error:
            if member.startswith(RUNS):
                left_out.append(f"run {entry.run_id}: not packed: {store / member}: {files.reason(error)}")
                return None
            continue
        with source:
            info = os.fstat(source.fileno())
            digest = _sha256(source)
            source.seek(0)
            _add(tar, member, source, info.st_size, info.st_mtime_ns)
        written[member] = {"size": info.st_size, "sha256": digest, "mtime_ns": info.st_mtime_ns}
    return {"entry": orjson.Fragment(entry.to_json()), "files": written}  # as its index line has it


def _sha256(source: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := source.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _add(tar: tarfile.TarFile, name: str, source: BinaryIO, size: int, mtime_ns: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime_ns // 10**9
    info.mode = 0o644
    tar.addfile(info, source)


# -- unpacking -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    entry: RunEntry
    files: Mapping[str, int]  # member -> mtime_ns


def unpack(archive: Path, store: Path, keep: int, keep_size: int | None = None) -> Unpacked:
    """Merge the runs of ``archive`` into ``store`` and keep its newest ``keep`` runs that
    fit in ``keep_size`` bytes (see the module docstring); nothing in the store changes when
    the pack is refused."""
    try:
        source = files.open_regular(archive)
    except OSError as error:
        raise PackError(f"{archive}: cannot read it: {files.reason(error)}") from None
    try:
        store.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=store, prefix=".unpack-"))
    except OSError as error:
        source.close()
        raise PackError(f"cannot unpack into the store {store}: {files.reason(error)}") from None
    try:
        with source:
            staged, manifest = _stage(source, archive, staging)
        runs = _checked(manifest, staged, archive)
        with store_lock(store):
            return _merge(runs, staging, store, keep, keep_size)
    except OSError as error:
        raise PackError(f"cannot unpack {archive} into the store {store}: {files.reason(error)}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _stage(source: BinaryIO, archive: Path, staging: Path) -> tuple[dict[str, tuple[int, str]], dict[str, Any]]:
    """Copy the pack's run files into ``staging``; their sizes and digests, and the manifest."""
    staged: dict[str, tuple[int, str]] = {}
    manifest: dict[str, Any] | None = None
    try:
        with gzip.GzipFile(fileobj=source, mode="rb") as zipped:
            with tarfile.open(fileobj=zipped, mode="r|") as tar:
                for member in tar:
                    name = member.name
                    if manifest is not None:
                        raise PackError(f"{archive}: refused: a member after the manifest ({name!r})")
                    if not member.isreg() or not (name == MANIFEST or _MEMBER.fullmatch(name)) or name in staged:
                        raise PackError(f"{archive}: refused: not an otel-pytest pack: it holds {_describe(member)}")
                    data = tar.extractfile(member)
                    if data is None:  # never for a regular member
                        raise PackError(f"{archive}: refused: {name!r} has no data")
                    if name == MANIFEST:
                        if member.size > MAX_MANIFEST_BYTES:
                            raise PackError(f"{archive}: refused: its manifest is {member.size} bytes")
                        manifest = _manifest(data.read(), archive)
                        continue
                    staged[name] = _copy(data, staging / name)
            while zipped.read(_CHUNK):  # to the end of the stream, so that gzip checks its CRC and length
                pass
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise PackError(f"{archive}: not a readable otel-pytest pack ({error or type(error).__name__})") from None
    if manifest is None:
        raise PackError(f"{archive}: refused: not an otel-pytest pack (no {MANIFEST} in it)")
    return staged, manifest


def _describe(member: tarfile.TarInfo) -> str:
    kind = (
        "a file"
        if member.isreg()
        else "a folder"
        if member.isdir()
        else "a link"
        if member.issym() or member.islnk()
        else "a special file"
    )
    return f"{kind} {member.name!r}, which no store holds"


def _copy(data: IO[bytes], target: Path) -> tuple[int, str]:
    target.parent.mkdir(exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with target.open("xb") as out:
        while chunk := data.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def _manifest(body: bytes, archive: Path) -> dict[str, Any]:
    try:
        manifest = orjson.loads(body)
    except ValueError as error:
        raise PackError(f"{archive}: refused: its manifest is not JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PackError(f"{archive}: refused: not an otel-pytest pack (its {MANIFEST} is another format)")
    if manifest.get("version") != VERSION:
        raise PackError(
            f"{archive}: refused: pack version {manifest.get('version')!r}; this otel-pytest reads version {VERSION}"
        )
    return manifest


def _checked(manifest: Mapping[str, Any], staged: Mapping[str, tuple[int, str]], archive: Path) -> list[_Run]:
    """The manifest's runs, each file checked against what was staged."""
    runs: list[_Run] = []
    listed: set[str] = set()
    try:
        for item in manifest["runs"]:
            entry = RunEntry.from_json(item["entry"])
            names = set(item["files"])
            if not entry.complete or re.fullmatch(_RUN_FILE, entry.file) is None:
                raise ValueError(f"run {entry.run_id} is not a complete run's entry")
            if f"{RUNS}/{entry.file}" not in names or not names <= set(run_members(entry)) or names & listed:
                raise ValueError(f"run {entry.run_id} lists files that are not its own")
            mtimes: dict[str, int] = {}
            for name in names:
                stamp = item["files"][name]
                if staged.get(name) != (stamp["size"], stamp["sha256"]):
                    raise ValueError(f"{name} is missing or differs from the manifest")
                mtimes[name] = int(stamp["mtime_ns"])
            listed |= names
            runs.append(_Run(entry, mtimes))
    except (KeyError, TypeError, ValueError) as error:
        raise PackError(f"{archive}: refused: a damaged manifest ({type(error).__name__}: {error})") from None
    if set(staged) - listed:
        raise PackError(f"{archive}: refused: damaged ({sorted(set(staged) - listed)[0]} is in no run of the manifest)")
    if len({run.entry.run_id for run in runs}) < len(runs):
        raise PackError(f"{archive}: refused: damaged (a run is listed twice)")
    return runs


def _merge(runs: Sequence[_Run], staging: Path, store: Path, keep: int, keep_size: int | None) -> Unpacked:
    """Move the new runs' files in and index them, with retention. The caller holds the lock."""
    index = RunIndex(store)
    entries, _ = index.entries()
    known_ids = {entry.run_id for entry in entries}
    known_files = {entry.file for entry in entries}
    new = [
        run
        for run in runs
        if run.entry.run_id not in known_ids
        and run.entry.file not in known_files
        and not os.path.lexists(store / RUNS / run.entry.file)  # an orphan, or a run being written
    ]
    for run in new:
        for name, mtime_ns in run.files.items():
            target = store / name
            target.parent.mkdir(exist_ok=True)
            os.utime(staging / name, ns=(mtime_ns, mtime_ns))  # keeps the cached summaries current
            os.replace(staging / name, target)
    removed = index.update([run.entry for run in new], keep, keep_size)
    dropped = {entry.run_id for entry in removed}
    added = sum(1 for run in new if run.entry.run_id not in dropped)
    return Unpacked(runs=len(runs), added=added, present=len(runs) - len(new), removed=len(removed))
