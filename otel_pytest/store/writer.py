"""Writing the local store: a run's (or an xdist worker's) OTLP JSON Lines file.

**When records reach the disk.** A test's records are written as one line when the test
ends (:meth:`RunSink.flush`, called after each test), so a process that dies (a test
calling ``os._exit``, an xdist worker crash, ``kill -9``) loses at most the test it was
running; the collector still gets batches of :data:`BATCH_SIZE`. A compressed run file
(the default) keeps that promise: each line is flushed into its gzip or zstd stream
(:mod:`otel_pytest.store.compression`), which is ended when the run's file is closed.

**A store removed under a run.** A test may delete or move the store folder. The run's
file stays open, so nothing written is lost: at the end the writer sees that its path no
longer names its file, makes the folder again and copies the whole file back (a warning
says so), or says in one line that it could not.

**Orphans.** A run file that is not in the index and has no live writer (see
:mod:`otel_pytest.store.lock`) was left by a process that died before indexing it. The next
run to finish adopts it: its xdist parts are folded in and it gets an index entry marked
``complete: false`` (its tests, spans, start and resource read from its spans), so the
index and the run files always agree, and retention deletes it in its turn like any run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from otel_pytest.encode.otlp_json import OtlpJsonEncoder
from otel_pytest.export import BackgroundExporter, DeliveryReport
from otel_pytest.records import SpanRecord
from otel_pytest.semconv import attributes as attr
from otel_pytest.semconv import spans as span_names
from otel_pytest.store.compression import Codec, member, seal
from otel_pytest.store.index import RunEntry, RunIndex, is_run_file, run_id_of, worker_part_name
from otel_pytest.store.layout import METRICS, RUNS
from otel_pytest.store.lock import has_live_writer, hold_writer_lock, store_lock

if TYPE_CHECKING:
    from otel_pytest.db.metrics import DbMetrics

BATCH_SIZE = 512


def store_of_run_file(path: Path) -> Path:
    """Run files and xdist parts live in ``<store>/runs/``."""
    return path.parent.parent


class RunFile:
    """A run file or xdist part, open (and writer-locked) from its creation until the run
    is in the index or, for a part, until its worker ends; compressed with ``codec``
    (None: plain), its stream ended by :meth:`finish`."""

    def __init__(self, path: Path, codec: Codec | None) -> None:
        self.path = path
        self.store = store_of_run_file(path)
        self._compressor = None if codec is None else codec.compressor()
        with store_lock(self.store):  # no other run may take it for an orphan before it is locked
            self._file = self._open("a+b")

    def _open(self, mode: str) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = cast(BinaryIO, self.path.open(mode))
        hold_writer_lock(handle.fileno())
        return handle

    def write(self, data: bytes) -> None:
        self._file.write(data if self._compressor is None else self._compressor.compress(data))
        self._file.flush()

    def finish(self) -> None:
        """End the stream (gzip's CRC and length, zstd's last block and checksum), so that
        gzip or zstd reads the file without a complaint and parts can follow it; a write
        after it begins a new member."""
        if self._compressor is not None:
            self._file.write(self._compressor.finish())
            self._file.flush()

    def moved(self) -> bool:
        """Whether the path no longer names this file (deleted, or its folder moved)."""
        try:
            return not os.path.samestat(os.fstat(self._file.fileno()), os.stat(self.path))
        except OSError:  # gone, or a file now stands where a folder on the path was
            return True

    def restore(self) -> None:
        """Put everything written so far back at the path, from the file still open."""
        with store_lock(self.store):
            # "w": whatever now lies at the path (a copy of a copy) is older than ours.
            restored = self._open("w+b")
            try:
                self._file.seek(0)
                shutil.copyfileobj(self._file, restored)
                restored.flush()
            except BaseException:
                restored.close()
                raise
            self.close()
            self._file = restored

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()


class RunSink:
    """Buffers records, writes each test's as an OTLP JSON line, and forwards batches of
    :data:`BATCH_SIZE` to the exporter. A store that cannot be written costs one warning;
    export goes on."""

    def __init__(
        self, encoder: OtlpJsonEncoder, path: Path | None, exporter: BackgroundExporter | None, codec: Codec | None
    ) -> None:
        self._encoder = encoder
        self._exporter = exporter
        self._pending: list[SpanRecord] = []
        self._unsent: list[SpanRecord] = []
        # Application threads may end SDK spans while the main thread flushes.
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.path = path
        self.store_problem: str | None = None
        self.restored: str | None = None
        self.written = 0
        self._file: RunFile | None = None
        if path is not None:
            try:
                self._file = RunFile(path, codec)
            except OSError as error:
                self.store_problem = f"cannot write the trace store at {path.parent} ({error.strerror or error})"

    def add(self, records: list[SpanRecord]) -> None:
        with self._lock:
            self._pending.extend(records)
            full = len(self._pending) >= BATCH_SIZE
        if full:
            self.flush()

    def flush(self) -> None:
        """Write what has ended since the last flush as one line (the plugin calls it after
        every test); hand the exporter a batch once one is full."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        with self._write_lock:
            if self._file is not None:
                try:
                    self._file.write(self._encoder.line(batch))
                    self.written += len(batch)
                except OSError as error:
                    self.store_problem = f"stopped writing {self.path} ({error.strerror or error})"
                    self._file.close()
                    self._file = None
            if self._exporter is not None:
                self._unsent.extend(batch)
                if len(self._unsent) >= BATCH_SIZE:
                    self._exporter.submit(self._unsent)
                    self._unsent = []

    def submit_metrics(self, metrics: DbMetrics) -> None:
        """Send the run's metrics (collected at its end) through the same exporter thread."""
        if self._exporter is not None:
            self._exporter.submit_metrics(metrics)

    def close(self) -> DeliveryReport | None:
        """Write the rest and end the export; the file stays open (and locked) until
        :meth:`release`, after the run is in the index."""
        self.flush()
        with self._write_lock:
            if self._exporter is not None and self._unsent:
                self._exporter.submit(self._unsent)
                self._unsent = []
            if self._file is not None:
                try:
                    self._file.finish()
                except OSError as error:
                    self.store_problem = f"stopped writing {self.path} ({error.strerror or error})"
                    self.release()
        if self._file is not None and self._file.moved():
            store = self._file.store
            try:
                self._file.restore()
                self.restored = (
                    f"the trace store {store} was deleted or moved during the run (by a test?); "
                    "this run was written to it again"
                )
            except OSError as error:
                self.store_problem = (
                    f"cannot write the trace store at {store} again after it was deleted or "
                    f"moved during the run ({error.strerror or error}): this run is not stored"
                )
                self.release()
        return self._exporter.close() if self._exporter is not None else None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def merge_parts(target: Path, parts: Sequence[Path]) -> None:
    """Append xdist workers' part files to the run file and remove them. A compressed part
    is a gzip member or zstd frame of its own; one that stops short (its worker crashed) is
    sealed first, as is the target, so that what follows it can be read."""
    for path in (target, *parts):
        if path.exists():  # a worker may have metrics where the controller has none
            seal(path)
    with target.open("ab") as out:
        for part in parts:
            with part.open("rb") as source:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
            part.unlink()


def parts_of(target: Path) -> list[Path]:
    return sorted(target.parent.glob(f"{target.name}.*.part"))


def metrics_file_of(run_file: Path) -> Path:
    """Metrics go beside the spans: ``<store>/metrics/<run file name>``."""
    return store_of_run_file(run_file) / METRICS / run_file.name


def write_metrics(run_file: Path, line: bytes, codec: Codec | None, worker: str = "") -> str | None:
    """Append a run's metrics line beside its spans (an xdist worker's to its part, which
    the controller folds in), as a member of its own in ``codec`` (None: plain); the
    problem to report when it cannot be written."""
    path = metrics_file_of(run_file)
    if worker:
        path = Path(worker_part_name(str(path), worker))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as out:
            out.write(line if codec is None else member(line, codec))
    except OSError as error:
        return f"cannot write the run's metrics to {path} ({error.strerror or error})"
    return None


def resource_groups(resource: Mapping[str, object]) -> tuple[dict[str, str], dict[str, str]]:
    """The ``vcs.*`` and ``cicd.*`` resource attributes an index entry carries."""
    vcs = {key: str(value) for key, value in resource.items() if key.startswith(attr.VCS_PREFIX)}
    ci = {key: str(value) for key, value in resource.items() if key.startswith(attr.CICD_PREFIX)}
    return vcs, ci


@dataclass
class FileContents:
    """What a run file holds, read back from its spans (unreadable lines are skipped)."""

    tests: int = 0
    spans: int = 0
    start: int | None = None
    end: int = 0
    exit_status: int | None = None
    resource: dict[str, object] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)  # tests per final outcome


def read_contents(paths: Iterable[Path]) -> FileContents:
    """Count the tests and spans of files whose writer died before it could say: an orphan
    run, a crashed xdist worker's part."""
    # Imported here: only a crash or an orphan needs the reader (~2 ms at every start-up).
    from otel_pytest.store.reader import read_otlp

    contents = FileContents()
    skipped: list[str] = []  # a line cut off by the death: not counted, as it is not read
    for path in paths:
        for resource, spans in read_otlp(path, skipped):
            for span in spans:
                contents.resource = contents.resource or resource
                attributes = span.attributes
                contents.spans += 1
                if attr.TEST_CASE_NAME in attributes:
                    contents.tests += 1
                    outcome = str(attributes.get(attr.OUTCOME, "unknown"))
                    contents.outcomes[outcome] = contents.outcomes.get(outcome, 0) + 1
                contents.start = span.start if contents.start is None else min(contents.start, span.start)
                contents.end = max(contents.end, span.end)
                status = attributes.get(attr.EXIT_STATUS)
                if span.name == span_names.SESSION and attr.XDIST_WORKER not in attributes and isinstance(status, int):
                    contents.exit_status = status
    return contents


def adopt_orphans(store: Path, indexed: set[str]) -> list[RunEntry]:
    """Index entries for the orphan run files of the store (see the module docstring),
    their xdist parts folded in. The caller holds the store lock."""
    runs = store / RUNS
    adopted: list[RunEntry] = []
    for path in sorted(runs.iterdir()) if runs.is_dir() else ():
        if not is_run_file(path.name) or path.name in indexed:
            continue
        metrics = metrics_file_of(path)
        parts = [*parts_of(path), *parts_of(metrics)]
        if any(has_live_writer(item) for item in (path, *parts)):
            continue
        seal(path)  # its writer died mid-stream: what is adopted is whole
        for target in (path, metrics):
            if parts_of(target):
                merge_parts(target, parts_of(target))
        adopted.append(orphan_entry(path, read_contents([path])))
    return adopted


def orphan_entry(path: Path, contents: FileContents) -> RunEntry:
    resource = contents.resource
    vcs, ci = resource_groups(resource)
    environment = {key: resource[attribute] for key, attribute in _ENVIRONMENT.items() if attribute in resource}
    run_id = run_id_of(path.name)
    start = contents.start if contents.start is not None else path.stat().st_mtime_ns
    return RunEntry(
        run_id=run_id,
        file=path.name,
        start_time_unix_nano=start,
        end_time_unix_nano=max(contents.end, start),
        service_name=str(resource.get(attr.SERVICE_NAME, "")),
        exit_status=-1 if contents.exit_status is None else contents.exit_status,
        tests=contents.tests,
        spans=contents.spans,
        outcomes=contents.outcomes,
        environment=environment,
        vcs=vcs,
        ci=ci,
        complete=False,
    )


# Index environment keys and the resource attributes they come from (identity.Environment).
_ENVIRONMENT = {
    "python": attr.PROCESS_RUNTIME_VERSION,
    "implementation": attr.PROCESS_RUNTIME_NAME,
    "cpu_count": attr.HOST_CPU_COUNT,
    "fingerprint": attr.ENV_FINGERPRINT,
}


def store_run(run_file: Path, entry: RunEntry, keep: int, keep_size: int | None) -> None:
    """Fold the xdist parts into the run file and its metrics, adopt orphans, add the
    run's entry and apply retention (``keep`` runs, ``keep_size`` bytes): one step under
    the store lock."""
    store = store_of_run_file(run_file)
    with store_lock(store):
        for target in (run_file, metrics_file_of(run_file)):
            parts = parts_of(target)
            if parts:
                merge_parts(target, parts)
        index = RunIndex(store)
        entries, _ = index.entries()
        adopted = adopt_orphans(store, {item.file for item in entries} | {entry.file})
        index.update([*adopted, entry], keep, keep_size)
