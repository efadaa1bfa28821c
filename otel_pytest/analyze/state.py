"""Incremental state: what an earlier ``analyze`` computed, used again only when it is
certain to equal a recomputation.

Two computations of an analysis repeat the previous one's work:

* the pattern detectors and flaky date their findings by judging the histories ending 1,
  2, … runs before the newest alone (:func:`~otel_pytest.analyze.detectors.evidence.dated`):
  with one run more, all but one of those histories were judged by the previous analyze;
* the duration detector replays its judgement at each of the newest ``state_runs`` runs
  (:func:`~otel_pytest.analyze.detectors.judgement.track`).

A :class:`Memo` holds their results under keys that name everything the computation reads:
the analyzer's code and the versions it runs on (:func:`fingerprint`), every analysis
option, and its input: for a dated history, the identity of each of its runs in order
(:func:`run_identity`: the run file, the summary it was read from, stamped as the summary
cache stamps it, and every field of the run the store's index sets); for the duration
replay, the bytes of its series matrices (each new run moves the speed index of every
earlier run, so only an unchanged history repeats them). A run without an identity (read
from Jaeger or from files outside a store) is never looked up: its history is computed.

The memo is the one thing detectors consult besides their arguments, through
:func:`active` (set by :func:`~otel_pytest.analyze.analysis.analyze` for its detectors);
it returns what the computation would return, so a detector stays a function of its
history and options. The memo does no I/O: :func:`load` and :func:`save` (the CLI's) read
and write it, in the store's summary cache folder. A missing, damaged or foreign state
file is an empty memo, never an error; it is written atomically; and it holds only the
entries the last analysis used or made, so it does not grow with the history.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, cast

import numpy as np

from otel_pytest.analyze.model import SUMMARY_SCHEMA_VERSION, RunSummary
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.store import files

STATE_FILE = "analysis-state.npz"  # in the store's summary cache folder
Entry = dict[str, np.ndarray]  # what one computation left: named arrays
_SEPARATOR = "/"  # between an entry's key and an array's name in the state file
_DIGEST = "#digest"  # each entry's own name for the digest of its arrays


def _code_digest() -> str:
    """The package's source, hashed: a changed analyzer (even at the same version) is
    another analyzer."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint() -> str:
    """What every key starts with: the analyzer's code, the summary schema and the versions
    of Python, numpy and scipy (their arithmetic is part of every result)."""
    import scipy  # type: ignore[import-untyped]  # no stubs installed

    parts = (_code_digest(), SUMMARY_SCHEMA_VERSION, sys.version, np.__version__, scipy.__version__)
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=16).hexdigest()


def run_identity(run: RunSummary, stamp: Mapping[str, object]) -> str:
    """A run as the analysis reads it: the summary ``stamp`` (its run file's size and
    time, as :class:`~otel_pytest.store.summaries.SummaryCache` validated the summary)
    stands for the tests, fixtures and statements; the other fields are taken as they are."""
    fields = (
        run.run_id,
        repr(run.start_time),
        run.source,
        run.environment,
        run.revision,
        run.branch,
        run.service,
        repr(run.wall_time),
        repr(run.grouped_by_file),
        repr(run.problems),
        repr(sorted(stamp.items())),
    )
    return "\0".join(str(field) for field in fields)


def identities(
    runs: Sequence[RunSummary], stamps: Mapping[str, Mapping[str, object]]
) -> dict[str, tuple[RunSummary, str]]:
    """Run id -> (the run, its :func:`run_identity`) for the runs whose summaries were read
    under a stamp (``stamps``: by the run's source, as the summary cache records them)."""
    return {run.run_id: (run, run_identity(run, stamps[run.source])) for run in runs if run.source in stamps}


def _digest(entry: Entry) -> np.ndarray:
    """What an entry's arrays are, hashed: a stored entry that parses but is not what was
    written (a damaged file) is not recalled."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(entry):
        if name != _DIGEST:
            array = np.ascontiguousarray(entry[name])
            digest.update(repr((name, array.dtype.str, array.shape)).encode())
            digest.update(array.tobytes())
    return np.array(digest.hexdigest())


class Memo:
    """Entries recalled from the last analysis (``recalled``, by key) and those this one
    used or made (``kept``: what is written for the next)."""

    def __init__(self, fingerprint: str, runs: Mapping[str, tuple[RunSummary, str]], recalled: Mapping[str, Entry]):
        self.fingerprint = fingerprint
        self._runs = runs  # run id -> (the run object read, its identity)
        self.recalled = recalled
        self.kept: dict[str, Entry] = {}

    def key(self, part: str, options: AnalysisOptions, runs: Sequence[RunSummary] = (), *data: bytes) -> str | None:
        """The key of ``part`` (which computation) over ``runs`` (each the very object read,
        with an identity) and ``data``; None when a run has no identity."""
        digest = hashlib.blake2b(digest_size=20)
        for text in (self.fingerprint, part, repr(options)):
            digest.update(text.encode())
            digest.update(b"\0")
        for run in runs:
            known = self._runs.get(run.run_id)
            if known is None or known[0] is not run:
                return None
            digest.update(known[1].encode())
            digest.update(b"\0")
        for chunk in data:
            digest.update(len(chunk).to_bytes(8, "little"))
            digest.update(chunk)
        return digest.hexdigest()

    def recall(self, key: str) -> Entry | None:
        """The entry under ``key``, kept for the next analysis; None when there is none or
        it is not what was written."""
        entry = self.recalled.get(key)
        if entry is None or _DIGEST not in entry or str(entry[_DIGEST]) != str(_digest(entry)):
            return None
        self.kept[key] = entry
        return entry

    def keep(self, key: str, entry: Entry) -> None:
        self.kept[key] = {**entry, _DIGEST: _digest(entry)}


_ACTIVE: ContextVar[Memo | None] = ContextVar("otel_pytest_analysis_memo", default=None)


def active() -> Memo | None:
    """The memo of the analysis running, if it has one."""
    return _ACTIVE.get()


@contextmanager
def using(memo: Memo | None) -> Iterator[None]:
    """Make ``memo`` the one :func:`active` returns while the block runs."""
    token = _ACTIVE.set(memo)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def load(folder: Path, runs: Mapping[str, tuple[RunSummary, str]]) -> Memo:
    """The memo kept in ``folder`` (empty when missing, damaged or of another analyzer)."""
    current = fingerprint()
    recalled: dict[str, Entry] = {}
    try:
        with np.load(io.BytesIO(files.read_regular(folder / STATE_FILE)), allow_pickle=False) as stored:
            if str(stored["fingerprint"]) == current:
                for name in stored.files:
                    key, found, array = name.partition(_SEPARATOR)
                    if found:
                        recalled.setdefault(key, {})[array] = stored[name]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        recalled = {}  # damaged or unreadable: computed again, and written anew
    return Memo(current, runs, recalled)


def save(folder: Path, memo: Memo) -> None:
    """Write the entries this analysis used or made whole (:func:`~otel_pytest.store.files.replace_whole`):
    a reader never sees half of it. A store that cannot be written keeps
    no state (the next analysis computes everything again)."""
    arrays = {"fingerprint": np.array(memo.fingerprint)}
    for key, entry in memo.kept.items():
        for name, array in entry.items():
            arrays[f"{key}{_SEPARATOR}{name}"] = array
    written = io.BytesIO()
    np.savez(written, **cast("dict[str, Any]", arrays))
    with contextlib.suppress(OSError):  # the next analysis computes everything again
        files.replace_whole(folder / STATE_FILE, written.getvalue())
