"""Which runs of the store were pushed where: ``<store>/pushed.jsonl``.

``otel-pytest push`` appends one line per run it delivered to an endpoint (the run file,
the run id, the traces URL as shown, without credentials, the protocol, when, how many
spans), so that pushing the same run to the same endpoint again is noticed and skipped.
Lines are appended under the store lock; a line this version cannot read is ignored (the
worst it causes is a run pushed again, which a backend keyed by span id absorbs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from otel_pytest.store import files
from otel_pytest.store.layout import PUSHED
from otel_pytest.store.lock import store_lock


@dataclass(frozen=True)
class Pushed:
    """One run delivered to one endpoint."""

    file: str  # the run file's name in runs/
    run_id: str
    endpoint: str  # the traces URL without userinfo, query or fragment
    protocol: str
    time_unix_nano: int
    spans: int

    def key(self) -> tuple[str, str, str]:
        return self.file, self.endpoint, self.protocol


class PushLog:
    """The store's record of pushes."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.path = store / PUSHED

    def keys(self) -> set[tuple[str, str, str]]:
        """``(run file, endpoint, protocol)`` of every push recorded."""
        try:
            data = files.read_regular(self.path)
        except OSError:  # none yet, or not a file: every run may be pushed
            return set()
        keys = set()
        for line in data.splitlines():
            try:
                keys.add(Pushed(**orjson.loads(line)).key())
            except (ValueError, TypeError):  # a damaged line: that run may be pushed again
                continue
        return keys

    def add(self, pushed: Pushed) -> None:
        with store_lock(self.store), self.path.open("ab") as out:
            out.write(orjson.dumps(asdict(pushed), option=orjson.OPT_APPEND_NEWLINE))
