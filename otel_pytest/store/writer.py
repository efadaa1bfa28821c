"""Writing the local store: a run's (or an xdist worker's) OTLP JSON Lines file.

Records are buffered per batch, written to the store first and always, and forwarded
to the collector's background exporter when one is configured.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from otel_pytest.export import BackgroundExporter, DeliveryReport
from otel_pytest.otlp_json import OtlpJsonEncoder
from otel_pytest.records import SpanRecord

if TYPE_CHECKING:
    from otel_pytest.db.metrics import DbMetrics

BATCH_SIZE = 512


class RunSink:
    """Buffers records, writes them as OTLP JSON lines, and forwards them to the exporter.

    Records are encoded in batches of :data:`BATCH_SIZE` so memory stays flat however
    many tests run. A store that cannot be written costs one warning; export goes on.
    """

    def __init__(self, encoder: OtlpJsonEncoder, path: Path | None, exporter: BackgroundExporter | None) -> None:
        self._encoder = encoder
        self._exporter = exporter
        self._buffer: list[SpanRecord] = []
        # Application threads may end SDK spans while the main thread flushes.
        self._lock = threading.Lock()
        self.path = path
        self.store_problem: str | None = None
        self.written = 0
        self._file: BinaryIO | None = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = path.open("ab")
            except OSError as error:
                self.store_problem = f"cannot write the trace store at {path.parent} ({error.strerror or error})"

    def add(self, records: list[SpanRecord]) -> None:
        with self._lock:
            self._buffer.extend(records)
            full = len(self._buffer) >= BATCH_SIZE
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._buffer = self._buffer, []
        if not batch:
            return
        if self._file is not None:
            try:
                self._file.write(self._encoder.line(batch))
                self.written += len(batch)
            except OSError as error:
                self.store_problem = f"stopped writing {self.path} ({error.strerror or error})"
                self._close_file()
        if self._exporter is not None:
            self._exporter.submit(batch)

    def _close_file(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def submit_metrics(self, metrics: DbMetrics) -> None:
        """Send the run's metrics (collected at its end) through the same exporter thread."""
        if self._exporter is not None:
            self._exporter.submit_metrics(metrics)

    def close(self) -> DeliveryReport | None:
        self.flush()
        self._close_file()
        return self._exporter.close() if self._exporter is not None else None


def merge_parts(target: Path, parts: Sequence[Path]) -> None:
    """Append xdist workers' part files to the run file and remove them."""
    with target.open("ab") as out:
        for part in parts:
            with part.open("rb") as source:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
            part.unlink()
