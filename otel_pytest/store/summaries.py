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
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import orjson

from otel_pytest.store import files
from otel_pytest.store.index import is_run_file
from otel_pytest.store.layout import INDEX, RUNS, SUMMARIES
from otel_pytest.store.reader import collector_paused

T = TypeVar("T")


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


def _stamp(stat: os.stat_result) -> dict[str, object]:
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class SummaryCache(Generic[T]):
    """Summaries of run files through the cache; remembers the first failure to write it
    and adds one line per problem to ``problems``."""

    def __init__(self, codec: SummaryCodec[T], problems: list[str]) -> None:
        self.codec = codec
        self.problems = problems
        self.cache_failed = False
        self.built = 0  # files summarised from their spans (not from the cache)

    def load(self, path: Path, cache: Path | None) -> tuple[list[T], list[str]]:
        """The summaries of the run file at ``path`` and its problems, read from ``cache``
        when it is current, else built and written there (``None``: not cached)."""
        with collector_paused():
            return self._load(path, cache)

    def _load(self, path: Path, cache: Path | None) -> tuple[list[T], list[str]]:
        try:
            stamp = _stamp(files.regular(path))
        except OSError as error:
            return [], [f"{path}: cannot read it ({files.reason(error)})"]
        if cache is not None:
            cached = self.recall(cache, stamp, str(path))
            if cached is not None:
                return cached
        try:
            items, problems = self.codec.build(path)
        except OSError as error:
            return [], [f"{path}: cannot read it ({files.reason(error)})"]
        self.built += 1
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
        """Write through a temporary file and ``os.replace``: a reader never sees half of it."""
        payload = orjson.dumps(
            {
                "schema": self.codec.schema,
                "source": stamp,
                "problems": list(problems),
                "runs": orjson.Fragment(self.codec.encode(items)),
            }
        )
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(payload)
            os.replace(temporary, cache)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
