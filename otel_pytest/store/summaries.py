"""The summary cache: each run file's summaries kept on disk, so that the raw spans of an
unchanged run are parsed once.

A run file's summaries are cached with the schema they were written in and the run file's
size and modification time; a cache whose schema or stamp differs is rebuilt. A run that
cannot change (read from Jaeger, complete) is stamped by its run id instead, and its cache
folder is trimmed by age (:func:`expire`), since no store retention prunes it. In a store
the cache is ``<store>/summaries/<run file name>.json`` (:func:`summary_path`; a run file
given as a path but lying in a store's ``runs/`` uses it too) and the summaries of runs the
store no longer holds are deleted (:func:`prune`).

The store does not know what a summary holds: the analyzer, which makes them, passes a
:class:`SummaryCodec` (how to build the summaries of a file, encode and decode them, and
the version of that encoding), so the store stays below the analyzer and judges nothing.

Building a summary is parsing a run's spans, about 0.5-0.9 s of CPU for 25,000 spans: a
history with none cached (a store's first analyze, CI artifacts) is built on every CPU at
once (:meth:`SummaryCache.prefetch`), each file in a worker process, when there is more to
parse than a worker costs to start (:data:`PARALLEL_BYTES`).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Generic, TypeVar

import orjson

from otel_pytest.store import files
from otel_pytest.store.index import is_run_file
from otel_pytest.store.layout import INDEX, RUNS, SUMMARIES
from otel_pytest.store.reader import collector_paused

T = TypeVar("T")

# Run-file bytes still to summarise above which they are parsed on several processes: a
# history this small is summarised in a fraction of a second in one (tests' stores start
# no process), a bigger one on every CPU.
PARALLEL_BYTES = 8 * 2**20


@dataclass(frozen=True)
class SummaryCodec(Generic[T]):
    """What the cache needs to know of the summaries it keeps."""

    schema: str  # the version of what ``encode`` writes: a cache of another is rebuilt
    build: Callable[[Path], tuple[list[T], list[str]]]  # a run file's summaries and problems, from its spans
    encode: Callable[[Sequence[T]], bytes]  # the summaries as a JSON array
    decode: Callable[[object, str], T]  # one decoded item of that array, for the run read from this source


def summary_path(store: Path, run_file: Path) -> Path:
    return store / SUMMARIES / f"{run_file.name}.json"


def store_of(path: Path) -> Path | None:
    """The store a run file lies in (``<store>/runs/<file>``), if it does."""
    parent = path.parent
    if parent.name == RUNS and os.path.isfile(parent.parent / INDEX):
        return parent.parent
    return None


def prune(store: Path, on_disk: set[str]) -> None:
    """Delete the summaries of runs the store no longer holds (retention removed them)."""
    folder = store / SUMMARIES
    try:
        cached = [path for path in folder.glob("*.json") if is_run_file(path.name.removesuffix(".json"))]
    except OSError:
        return
    for path in cached:
        if path.name.removesuffix(".json") not in on_disk:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                return


def expire(folder: Path, max_age: float) -> None:
    """Delete the cached summaries in ``folder`` (a cache of immutable runs, which no
    retention prunes) not written or read for ``max_age`` seconds."""
    oldest = time.time() - max_age
    try:
        with os.scandir(folder) as entries:
            found = [entry for entry in entries if entry.name.endswith(".json")]
    except OSError:
        return
    for entry in found:
        try:
            if entry.stat(follow_symlinks=False).st_mtime < oldest:
                os.unlink(entry.path)
        except OSError:
            continue


def _stamp(stat: os.stat_result) -> Mapping[str, object]:
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


Built = tuple[list[T], list[str]] | str  # a file's summaries and problems, or why it cannot be read


def _build(build: Callable[[Path], tuple[list[T], list[str]]], path: Path) -> Built[T]:
    """``build(path)``, with an ``OSError`` as its reason: what a worker process returns."""
    try:
        return build(path)
    except OSError as error:
        return files.reason(error)


def cpus() -> int:
    """The CPUs this process may run on."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _may_fork() -> bool:
    """Whether worker processes can be forked safely: on Linux, from a process with no other
    thread (a fork copies only the calling thread, and a lock another held stays locked).
    Forked, a worker starts in milliseconds and runs nothing of ``__main__`` again, as a
    spawned one would (an unguarded script of the user's would run once per worker)."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


@dataclass(frozen=True)
class _Ready(Generic[T]):
    """A run file's summaries found by :meth:`SummaryCache.prefetch`: from the cache
    (``recalled``) or built (``built``, not yet written to the cache)."""

    stamp: Mapping[str, object]
    recalled: tuple[list[T], list[str]] | None
    built: Built[T] | None


class SummaryCache(Generic[T]):
    """Summaries of run files through the cache; remembers the first failure to write it
    and adds one line per problem to ``problems``."""

    def __init__(self, codec: SummaryCodec[T], problems: list[str]) -> None:
        self.codec = codec
        self.problems = problems
        self.cache_failed = False
        self.built = 0  # files summarised from their spans (not from the cache)
        # Each file's stamp (size and time) as its summaries were read or built: what an
        # analysis keys what it kept of these summaries by (otel_pytest.analyze.state).
        self.stamps: dict[str, Mapping[str, object]] = {}
        self._ready: dict[tuple[Path, Path | None], _Ready[T]] = {}

    def prefetch(self, requests: Sequence[tuple[Path, Path | None]], workers: int | None = None) -> None:
        """Read the summaries :meth:`load` will be asked for, ``(path, cache)`` each, and
        build the ones not cached on up to ``workers`` processes (default: every CPU) when
        their files hold more than :data:`PARALLEL_BYTES`; otherwise leave them to
        :meth:`load`, which builds them one by one. The cache is written, and problems
        are told, by :meth:`load`, in the order it is called: what it returns is the same
        either way, and so are the problems."""
        pending: list[tuple[Path, Path | None, Mapping[str, object]]] = []
        size = 0  # bytes of the files to build
        with collector_paused():
            for path, cache in requests:
                try:
                    status = files.regular(path)
                except OSError:
                    continue  # load() says why
                stamp = _stamp(status)
                recalled = self.recall(cache, stamp, str(path)) if cache is not None else None
                if recalled is not None:
                    self._ready[(path, cache)] = _Ready(stamp, recalled, None)
                else:
                    pending.append((path, cache, stamp))
                    size += status.st_size
        count = min(workers or cpus(), len(pending))
        if count < 2 or size <= PARALLEL_BYTES or not _may_fork():
            return
        with ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("fork")) as pool:
            built = pool.map(partial(_build, self.codec.build), [path for path, _, _ in pending])
            for (path, cache, stamp), result in zip(pending, built, strict=True):
                self._ready[(path, cache)] = _Ready(stamp, None, result)

    def load(self, path: Path, cache: Path | None) -> tuple[list[T], list[str]]:
        """The summaries of the run file at ``path`` and its problems, read from ``cache``
        when it is current, else built and written there (``None``: not cached)."""
        with collector_paused():
            return self._load(path, cache)

    def _load(self, path: Path, cache: Path | None) -> tuple[list[T], list[str]]:
        ready = self._ready.pop((path, cache), None)
        stamp: Mapping[str, object]
        if ready is not None:
            stamp, built = ready.stamp, ready.built
            if ready.recalled is not None:
                self.stamps[str(path)] = stamp
                return ready.recalled
        else:
            try:
                stamp = _stamp(files.regular(path))
            except OSError as error:
                return [], [f"{path}: cannot read it ({files.reason(error)})"]
            if cache is not None:
                cached = self.recall(cache, stamp, str(path))
                if cached is not None:
                    self.stamps[str(path)] = stamp
                    return cached
            built = None
        if built is None:
            built = _build(self.codec.build, path)
        if isinstance(built, str):
            return [], [f"{path}: cannot read it ({built})"]
        items, problems = built
        self.built += 1
        self.stamps[str(path)] = stamp
        if cache is not None:
            self.keep(cache, stamp, items, problems, str(path))
        return items, problems

    def recall(self, cache: Path, stamp: Mapping[str, object], source: str) -> tuple[list[T], list[str]] | None:
        """The summaries cached at ``cache`` for what ``stamp`` names (a run file's size and
        time, an immutable run's id), read from ``source``; ``None`` when missing, stale, of
        another schema or damaged."""
        try:
            data = orjson.loads(files.read_regular(cache))
            if data.get("schema") != self.codec.schema or data.get("source") != stamp:
                return None
            decode = self.codec.decode
            return [decode(item, source) for item in data["runs"]], [str(problem) for problem in data["problems"]]
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def keep(
        self, cache: Path, stamp: Mapping[str, object], items: Sequence[T], problems: Sequence[str], source: str
    ) -> None:
        """Write the summaries to ``cache``; the first failure is one problem, and the cache
        is not tried again by this object."""
        if self.cache_failed:
            return
        try:
            self._write(cache, stamp, items, problems)
        except OSError as error:
            self.cache_failed = True
            self.problems.append(
                f"cannot write run summaries to {cache.parent} ({files.reason(error)}): "
                "they will be rebuilt from the spans next time"
            )
        except TypeError:  # orjson writes only UTF-8: a path that is not UTF-8 is in the summary
            self.problems.append(
                f"{source}: its name is not UTF-8, so its summary is not cached: it is rebuilt from the spans each time"
            )

    def _write(self, cache: Path, stamp: Mapping[str, object], items: Sequence[T], problems: Sequence[str]) -> None:
        """Write it whole (:func:`~otel_pytest.store.files.replace_whole`): a reader never sees half of it."""
        payload = orjson.dumps(
            {
                "schema": self.codec.schema,
                "source": stamp,
                "problems": list(problems),
                "runs": orjson.Fragment(self.codec.encode(items)),
            }
        )
        files.replace_whole(cache, payload)
