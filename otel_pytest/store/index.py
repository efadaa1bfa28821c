"""The local store's layout, its run index and retention.

``<store>/runs/<start>_<run id>.otlp.jsonl.gz`` holds a run's spans (``.otlp.jsonl.zst``
when written with zstd, ``.otlp.jsonl`` when written uncompressed, and in stores written
before compression; a store may hold all three); ``<store>/index.jsonl``
holds one self-describing line per finished run (schema version, run id, start time,
revision, CI, environment). The index is what ``otel-pytest runs`` and the analyzer read
first, so they never open span files just to list runs.

**Retention** keeps the newest ``keep`` runs (``otel_keep_runs``) and, of those, the newest
whose files (spans, metrics, cached summaries) fit in ``keep_size`` bytes
(``otel_keep_size``, :func:`otel_pytest.store.sizes.parse_size`); the newest run is kept
whatever its size.

Concurrent runs share a store: every change of the index happens under the store lock
(:mod:`otel_pytest.store.lock`) as one read-modify-write, and the index is always replaced
whole (temporary file and ``os.replace``), so a reader, or a run killed mid-write, never
leaves or sees half a line. Retention only ever removes runs listed in the index: a run
still being written is not in it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from otel_pytest.store.compression import CODECS, GZIP, Codec
from otel_pytest.store.layout import INDEX, METRICS, RUNS, SUMMARIES
from otel_pytest.store.lock import store_lock

INDEX_SCHEMA_VERSION = 1  # the version of an index line (RunEntry), written in its "schema" field
RUN_SUFFIX = ".otlp.jsonl"
RUN_SUFFIXES = (*(RUN_SUFFIX + codec.suffix for codec in CODECS), RUN_SUFFIX)  # compressed, plain


def run_file_name(start_ns: int, run_id: str, codec: Codec | None = GZIP) -> str:
    """``<start>_<run id>.otlp.jsonl``, and the codec's suffix (None: plain)."""
    stamp = datetime.fromtimestamp(start_ns / 1e9, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}_{run_id}{RUN_SUFFIX}{'' if codec is None else codec.suffix}"


def is_run_file(name: str) -> bool:
    """Whether ``name`` ends like a run file, compressed or not."""
    return name.endswith(RUN_SUFFIXES)


def run_id_of(name: str) -> str:
    """The run id in a run file's name, ``<start>_<run id>.otlp.jsonl[.gz|.zst]``."""
    return name[: name.rindex(RUN_SUFFIX)].rpartition("_")[2]


def worker_part_name(run_file: str, worker: str) -> str:
    """xdist workers write beside the run file; the controller folds the parts in at the end."""
    return f"{run_file}.{worker}.part"


@dataclass(frozen=True)
class RunEntry:
    """One line of the index: enough to list, filter and compare runs without their spans."""

    run_id: str
    file: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    service_name: str
    exit_status: int
    tests: int
    spans: int
    environment: Mapping[str, Any]
    vcs: Mapping[str, str] = field(default_factory=dict)
    ci: Mapping[str, str] = field(default_factory=dict)
    schema: int = INDEX_SCHEMA_VERSION
    # False for a run adopted from an orphan run file (its process died before indexing
    # it): its spans may stop mid-run, and ``exit_status`` is -1 unless its session ended.
    complete: bool = True
    # Tests per final outcome (passed, failed, error, skipped, xfailed, xpassed); None in
    # lines written before it was recorded (an addition, so the schema is still 1).
    outcomes: Mapping[str, int] | None = None

    def to_json(self) -> bytes:
        data = asdict(self)
        if self.outcomes is None:  # unknown, as in the older lines: left out, never null
            del data["outcomes"]
        return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)

    @classmethod
    def from_json(cls, data: object) -> RunEntry:
        """An entry from a decoded index line; ``TypeError`` names what is wrong with it.

        Unknown keys (from a newer writer) are ignored; a missing key or a value of the
        wrong type is an error, so a damaged line cannot reach the sorting or the listing.
        """
        if not isinstance(data, dict):
            raise TypeError(f"expected an object, found {type(data).__name__}")
        known = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        for key, value in known.items():
            expected = _FIELD_TYPES[key]
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise TypeError(f"{key} is {type(value).__name__}, expected {expected.__name__}")
        for key in ("vcs", "ci"):
            if not all(isinstance(item, str) for item in known.get(key, {}).values()):
                raise TypeError(f"{key} has a value that is not a string")
        counts = known.get("outcomes") or {}
        if not all(isinstance(count, int) and not isinstance(count, bool) for count in counts.values()):
            raise TypeError("outcomes has a count that is not a whole number")
        return cls(**known)


_FIELD_TYPES: dict[str, type] = {
    "run_id": str,
    "file": str,
    "start_time_unix_nano": int,
    "end_time_unix_nano": int,
    "service_name": str,
    "exit_status": int,
    "tests": int,
    "spans": int,
    "environment": dict,
    "vcs": dict,
    "ci": dict,
    "schema": int,
    "complete": bool,
    "outcomes": dict,
}


class RunIndex:
    """Reads and appends the index; one bad line is skipped and reported, never fatal."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.path = store / INDEX
        self.runs_dir = store / RUNS

    def entries(self) -> tuple[list[RunEntry], list[str]]:
        """All readable entries, oldest first, and a warning per unreadable line."""
        entries: list[RunEntry] = []
        problems: list[str] = []
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return entries, problems
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entries.append(RunEntry.from_json(orjson.loads(line)))
            except (ValueError, TypeError) as error:  # orjson.JSONDecodeError is a ValueError
                problems.append(f"{self.path}:{number}: skipped an unreadable index line ({error})")
        entries.sort(key=lambda entry: entry.start_time_unix_nano)
        return entries, problems

    def append(self, entry: RunEntry) -> None:
        with store_lock(self.store):
            self.update([entry], None)

    def retain(self, keep: int, keep_size: int | None = None) -> list[RunEntry]:
        """Delete all but the newest ``keep`` runs that fit in ``keep_size`` bytes; return
        the ones removed."""
        with store_lock(self.store):
            return self.update([], keep, keep_size)

    def update(self, new: Sequence[RunEntry], keep: int | None, keep_size: int | None = None) -> list[RunEntry]:
        """Add ``new`` and, when ``keep`` is given, delete all but the newest ``keep`` runs,
        then the oldest of those until the rest fit in ``keep_size`` bytes (their run,
        metrics and summary files); return the removed entries.

        The caller holds the store lock. Lines this version cannot read (damaged, or from
        a newer writer) are kept as they are, and so are the kept lines' bytes.
        """
        if keep is not None and keep < 1:
            raise ValueError(f"keep={keep}: a store keeps at least one run")
        self.store.mkdir(parents=True, exist_ok=True)
        try:
            lines = self.path.read_bytes().splitlines()
            mode: int | None = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            lines, mode = [], None
        # One entry per run file: a new entry replaces an older one of its file (a run
        # adopted as an orphan by a writer that could not see it was alive, then finished).
        replaced = {entry.file for entry in new}
        rows = [
            (line, entry)
            for line in lines
            if line.strip()
            for entry in [_entry_or_none(line)]
            if entry is None or entry.file not in replaced
        ]
        rows.extend((entry.to_json().rstrip(b"\n"), entry) for entry in new)
        readable = sorted((entry for _, entry in rows if entry is not None), key=lambda e: e.start_time_unix_nano)
        removed = readable[:-keep] if keep is not None and len(readable) > keep else []
        if keep is not None and keep_size is not None:
            removed += self._too_big(readable[len(removed) :], keep_size)
        for entry in removed:
            for path in self._files_of(entry):
                path.unlink(missing_ok=True)
        if new or removed:
            dropped = {id(entry) for entry in removed}
            self._replace(b"".join(line + b"\n" for line, entry in rows if id(entry) not in dropped), mode)
        return removed

    def _files_of(self, entry: RunEntry) -> tuple[Path, ...]:
        """A run's spans, metrics and cached summaries; none for an entry that does not
        name a run file (the index is a plain file anyone can edit: never follow it out of
        runs/)."""
        if not is_run_file(entry.file) or Path(entry.file).name != entry.file:
            return ()
        return (
            self.runs_dir / entry.file,
            self.store / METRICS / entry.file,
            self.store / SUMMARIES / f"{entry.file}.json",
        )

    def _too_big(self, kept: Sequence[RunEntry], keep_size: int) -> list[RunEntry]:
        """The oldest of ``kept`` (oldest first) whose removal brings the rest within
        ``keep_size`` bytes; never the newest."""
        sizes = [sum(_size(path) for path in self._files_of(entry)) for entry in kept]
        total = sum(sizes)
        dropped = 0
        while dropped < len(kept) - 1 and total > keep_size:
            total -= sizes[dropped]
            dropped += 1
        return list(kept[:dropped])

    def _replace(self, data: bytes, mode: int | None) -> None:
        """Write the whole index through a temporary file and ``os.replace``."""
        handle, temporary = tempfile.mkstemp(dir=self.store, prefix=".index-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.chmod(temporary, 0o644 if mode is None else mode)  # mkstemp makes it owner-only
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # gone (removed by hand): it takes no room
        return 0


def _entry_or_none(line: bytes) -> RunEntry | None:
    try:
        return RunEntry.from_json(orjson.loads(line))
    except (ValueError, TypeError):
        return None
