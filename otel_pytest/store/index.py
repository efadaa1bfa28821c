"""The local store's layout, its run index and retention.

``<store>/runs/<start>_<run id>.otlp.jsonl`` holds a run's spans; ``<store>/index.jsonl``
holds one self-describing line per finished run (schema version, run id, start time,
revision, CI, environment). The index is what ``otel-pytest runs`` and the analyzer read
first, so they never open span files just to list runs.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

SCHEMA_VERSION = 1
RUN_SUFFIX = ".otlp.jsonl"


def run_file_name(start_ns: int, run_id: str) -> str:
    stamp = datetime.fromtimestamp(start_ns / 1e9, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}_{run_id}{RUN_SUFFIX}"


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
    schema: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_APPEND_NEWLINE)

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
}


class RunIndex:
    """Reads and appends the index; one bad line is skipped and reported, never fatal."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.path = store / "index.jsonl"
        self.runs_dir = store / "runs"

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
        self.store.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as handle:
            handle.write(entry.to_json())

    def retain(self, keep: int) -> list[RunEntry]:
        """Delete all but the newest ``keep`` runs; return the ones removed.

        The index is rewritten through a temporary file and ``os.replace`` so a reader
        never sees half of it.
        """
        if keep < 1:
            raise ValueError(f"keep={keep}: a store keeps at least one run")
        entries, _ = self.entries()
        if len(entries) <= keep:
            return []
        removed, kept = entries[:-keep], entries[-keep:]
        for entry in removed:
            # The index is a plain file anyone can edit: never follow it out of runs/.
            if entry.file.endswith(RUN_SUFFIX) and Path(entry.file).name == entry.file:
                (self.runs_dir / entry.file).unlink(missing_ok=True)
                (self.store / "metrics" / entry.file).unlink(missing_ok=True)
                (self.store / "summaries" / f"{entry.file}.json").unlink(missing_ok=True)
        mode = stat.S_IMODE(self.path.stat().st_mode)
        handle, temporary = tempfile.mkstemp(dir=self.store, prefix=".index-")
        try:
            with os.fdopen(handle, "wb") as out:
                for entry in kept:
                    out.write(entry.to_json())
            os.chmod(temporary, mode)  # mkstemp makes it owner-only
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return removed
