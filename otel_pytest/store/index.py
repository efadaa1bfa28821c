"""The local store's layout, its run index and retention.

``<store>/runs/<start>_<run id>.otlp.jsonl`` holds a run's spans; ``<store>/index.jsonl``
holds one self-describing line per finished run (schema version, run id, start time,
revision, CI, environment). The index is what ``otel-pytest runs`` and the analyzer read
first, so they never open span files just to list runs.
"""

from __future__ import annotations

import os
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
    def from_json(cls, data: Mapping[str, Any]) -> RunEntry:
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{key: value for key, value in data.items() if key in known})


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
            except (orjson.JSONDecodeError, TypeError) as error:
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
        entries, _ = self.entries()
        if len(entries) <= keep:
            return []
        removed, kept = entries[:-keep], entries[-keep:]
        for entry in removed:
            (self.runs_dir / entry.file).unlink(missing_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.store, prefix=".index-")
        with os.fdopen(handle, "wb") as out:
            for entry in kept:
                out.write(entry.to_json())
        os.replace(temporary, self.path)
        return removed
