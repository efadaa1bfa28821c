"""Where the analyzer's runs come from: a local store, or OTLP JSON Lines files and folders.

Every reader of runs is a :class:`Source`: it yields :class:`RunSummary` objects and
collects one line per problem it met (a missing path, an empty store, an unreadable line).
Sources never judge; they say what they skipped. The files themselves are read by the
store package (:mod:`otel_pytest.store.reader`, the one OTLP JSON decoder, and
:mod:`otel_pytest.store.index`); what is summarised is cached there too
(:mod:`otel_pytest.store.summaries`), with the codec defined here, since only the analyzer
knows what a summary holds. The reader of Jaeger's query API is one more ``Source``, in its
own module (:mod:`otel_pytest.analyze.jaeger_source`).

Files outside a store are not cached unless a cache folder is given: they are usually CI
artifacts read once, or a collector's output that grows between reads, and their folder
may be read-only or shared, so writing beside them would litter someone else's folder for
no gain.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import orjson

from otel_pytest.analyze import summarize as summarizer
from otel_pytest.analyze.model import SUMMARY_SCHEMA_VERSION, RunSummary, run_from_plain
from otel_pytest.analyze.summarize import RunMetadata
from otel_pytest.semconv import attributes as attr
from otel_pytest.store import files
from otel_pytest.store.index import RunEntry, RunIndex, is_run_file
from otel_pytest.store.layout import INDEX, METRICS, RUNS, SUMMARIES
from otel_pytest.store.reader import Span, collector_paused, read_otlp
from otel_pytest.store.summaries import SummaryCache, SummaryCodec, prune, store_of, summary_path

OTLP_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst")  # the reader tells by content


class Source(Protocol):
    """A reader of runs. ``problems`` is complete once ``runs()`` has been consumed."""

    @property
    def description(self) -> str: ...

    @property
    def problems(self) -> Sequence[str]: ...

    def runs(self) -> Iterator[RunSummary]: ...


# -- one file -> summaries ---------------------------------------------------------------


@dataclass
class _Group:
    resource: dict[str, object]
    spans: list[Span] = field(default_factory=list)


def _groups(paths: Sequence[Path], problems: list[str], only: str | None = None) -> dict[str | None, _Group]:
    """Spans by ``pytest.run.id`` (``None``: spans without one)."""
    groups: dict[str | None, _Group] = {}
    for path in paths:
        for resource, spans in read_otlp(path, problems):
            for span in spans:
                run_id = span.attributes.get(attr.RUN_ID)
                key = run_id if isinstance(run_id, str) and run_id else None
                if only is not None and key != only:
                    continue
                group = groups.get(key)
                if group is None:
                    group = groups[key] = _Group(resource)
                group.spans.append(span)
    return groups


def file_run_id(path: Path) -> str:
    """The id given to the spans of a file that carry no run id: stable for that path."""
    digest = hashlib.blake2b(str(path.resolve()).encode(), digest_size=6).hexdigest()
    return f"file-{digest}"


def summarize_file(path: Path) -> tuple[list[RunSummary], list[str]]:
    """The runs in one OTLP JSON Lines file, and the file's problems when it holds none.

    Problems met while reading (skipped lines) are also each run's: any run may have lost
    spans to them.
    """
    problems: list[str] = []
    with collector_paused():
        groups = _groups([path], problems)
        runs = _summarize_groups(path, groups, problems)
    if not groups:
        problems.append(f"{path}: no spans in this file")
    return runs, problems if not runs else []


def _summarize_groups(path: Path, groups: Mapping[str | None, _Group], problems: list[str]) -> list[RunSummary]:
    runs = []
    for run_id, group in groups.items():
        run_problems = list(problems)
        if run_id is None:
            run_problems.append(
                f"{len(group.spans)} spans carry no pytest.run.id (another tool's?): "
                f"grouped into one run by their file, {path.name}"
            )
        metadata = RunMetadata(run_id or file_run_id(path), str(path), group.resource, run_id is None, run_problems)
        runs.append(summarizer.summarize(group.spans, metadata))
    return runs


# -- the cache ---------------------------------------------------------------------------


def _plain(value: object) -> object:
    """What orjson cannot write itself, as :func:`~otel_pytest.analyze.model.to_plain` writes it."""
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot write {type(value).__name__} to a summary cache")


def encode_runs(runs: Sequence[RunSummary]) -> bytes:
    """``orjson.dumps([to_plain(run) ...])``, several times faster: orjson writes the
    dataclasses itself (fields in order, tuples as lists); frozensets come out sorted."""
    return orjson.dumps(list(runs), default=_plain)


def _decode_run(plain: Any, source: str) -> RunSummary:
    """A cached summary, read for the run file at ``source`` (a copy of the file elsewhere
    has the same summary but another source), or from a Jaeger."""
    return replace(run_from_plain(plain), source=source)


SUMMARY_CODEC = SummaryCodec(SUMMARY_SCHEMA_VERSION, summarize_file, encode_runs, _decode_run)


# -- the local store ---------------------------------------------------------------------


def _run_files(runs_dir: Path) -> tuple[set[str], str | None]:
    """The names in ``runs/`` that end like a run file (whatever they are: reading says
    what is wrong with the ones that are not regular files), or why it cannot be listed.
    No ``runs/`` folder at all is simply no runs."""
    try:
        with os.scandir(runs_dir) as entries:
            return {entry.name for entry in entries if is_run_file(entry.name)}, None
    except FileNotFoundError:
        return set(), None
    except OSError as error:
        return set(), files.reason(error)


INTERRUPTED_OR_RUNNING = "the run was interrupted or is still running, so its spans may be incomplete"
INTERRUPTED = (
    "the run was interrupted (its process ended before the run did: killed or crashed), so its spans may be incomplete"
)


class StoreSource:
    """The runs of a local store, listed by its index; metadata (start time, revision,
    branch, service, environment fingerprint) comes from the index."""

    def __init__(self, store: Path, *, cache: bool = True) -> None:
        self.store = store
        self.cache = cache
        self._problems: list[str] = []
        self._summaries = SummaryCache(SUMMARY_CODEC, self._problems)

    @property
    def description(self) -> str:
        return f"the store {self.store}"

    @property
    def problems(self) -> Sequence[str]:
        return self._problems

    @property
    def built(self) -> int:
        """How many run files the last ``runs()`` summarised from their spans."""
        return self._summaries.built

    @property
    def stamps(self) -> Mapping[str, Mapping[str, object]]:
        """The stamp each run file's summaries were read under, by path (the runs' source),
        in the last ``runs()``."""
        return self._summaries.stamps

    def _cache_path(self, path: Path) -> Path | None:
        return summary_path(self.store, path) if self.cache else None

    def runs(self) -> Iterator[RunSummary]:
        problems = self._problems
        del problems[:]
        self._summaries = SummaryCache(SUMMARY_CODEC, problems)
        mode, unseen = files.look(self.store)
        if mode is None or not stat.S_ISDIR(mode):
            what = (
                f"cannot be opened ({unseen})"
                if unseen
                else "does not exist"
                if mode is None
                else f"is {files.what_is(mode)}, not a folder"
            )
            problems.append(
                f"{self.store}: the trace store {what}; run `pytest --otel` first, "
                "or give the store or run files as paths"
            )
            return
        note = f"not in the store's index: {INTERRUPTED_OR_RUNNING}"
        entries, unreadable = self._entries()
        if unreadable:
            problems.append(
                f"{self.store / INDEX}: cannot read the index ({unreadable}): reading the run files without it"
            )
            note = "read without the store's index: metadata from its spans"
        runs_dir = self.store / RUNS
        on_disk, unlisted = _run_files(runs_dir)
        if unlisted:
            problems.append(f"{runs_dir}: cannot list the run files ({unlisted})")
        if not entries and not on_disk:
            if not unreadable and not unlisted:
                problems.append(f"{self.store}: the store has no runs yet; run `pytest --otel` first")
            return
        unindexed = sorted(on_disk - {entry.file for entry in entries})
        named = [entry.file for entry in entries if entry.file in on_disk] + unindexed
        self._summaries.prefetch(
            [(runs_dir / name, self._cache_path(runs_dir / name)) for name in dict.fromkeys(named)]
        )
        for entry in entries:
            run = self._indexed(entry, runs_dir, on_disk)
            if run is not None:
                yield run
        for name in unindexed:
            path = runs_dir / name
            runs, file_problems = self._summaries.load(path, self._cache_path(path))
            problems.extend(file_problems)
            for run in runs:
                yield replace(run, problems=(*run.problems, note))
        if self.cache:
            prune(self.store, on_disk)

    def _entries(self) -> tuple[list[RunEntry], str | None]:
        """The index's entries (its unreadable lines go to the problems), or why it cannot
        be read. Only a regular file is read: a named pipe there would block forever."""
        path = self.store / INDEX
        mode, unseen = files.look(path)
        if unseen or mode is None:
            return [], unseen
        if not stat.S_ISREG(mode):
            return [], f"{files.what_is(mode)}, not a regular file"
        try:
            entries, index_problems = RunIndex(self.store).entries()
        except OSError as error:
            return [], files.reason(error)
        self._problems.extend(index_problems)
        return entries, None

    def _indexed(self, entry: RunEntry, runs_dir: Path, on_disk: set[str]) -> RunSummary | None:
        problems = self._problems
        if Path(entry.file).name != entry.file or not is_run_file(entry.file):
            problems.append(
                f"{self.store / INDEX}: run {entry.run_id} names {entry.file!r}, not a run file in {runs_dir}: skipped"
            )
            return None
        path = runs_dir / entry.file
        if entry.file not in on_disk:
            problems.append(f"{path}: the index lists run {entry.run_id} but its file is missing: skipped")
            return None
        runs, file_problems = self._summaries.load(path, self._cache_path(path))
        problems.extend(file_problems)
        matching = [run for run in runs if run.run_id == entry.run_id]
        if not matching:
            if runs:
                problems.append(f"{path}: holds no spans of run {entry.run_id}, which the index says it holds: skipped")
            return None
        run = matching[0]
        others = len(runs) - 1
        extra = (f"its file also holds spans of {others} other run(s): ignored",) if others else ()
        if not entry.complete:  # an orphan the store adopted: its process never finished it
            extra = (*extra, INTERRUPTED)
        vcs = entry.vcs
        fingerprint = entry.environment.get("fingerprint")
        return replace(
            run,
            start_time=entry.start_time_unix_nano * 1e-9,
            environment=fingerprint if isinstance(fingerprint, str) and fingerprint else run.environment,
            revision=vcs.get(attr.VCS_REF_HEAD_REVISION) or run.revision,
            branch=vcs.get(attr.VCS_REF_HEAD_NAME) or run.branch,
            service=entry.service_name or run.service,
            problems=(*run.problems, *extra),
        )


# -- OTLP JSON Lines files and folders ---------------------------------------------------


class OtlpFileSource:
    """Runs in OTLP JSON Lines files, or in the ``*.jsonl``/``*.json`` files under folders.

    Spans are grouped into runs by ``pytest.run.id`` (a run spread over several files, as
    a collector rotating its output leaves it, is read as one); spans without one are
    grouped by file, and the run says so. Metadata comes from the resource attributes
    (``pytest.env.fingerprint``, ``vcs.ref.head.revision``, ``vcs.ref.head.name``,
    ``service.name``) and the session span's start.
    """

    def __init__(self, paths: Sequence[Path], *, cache_dir: Path | None = None) -> None:
        self.paths = list(paths)
        self.cache_dir = cache_dir
        self._problems: list[str] = []
        self._summaries = SummaryCache(SUMMARY_CODEC, self._problems)

    @property
    def description(self) -> str:
        return ", ".join(str(path) for path in self.paths)

    @property
    def problems(self) -> Sequence[str]:
        return self._problems

    @property
    def built(self) -> int:
        return self._summaries.built

    def _files(self) -> list[Path]:
        """The files to read: each file path as given, and the OTLP-named files under each
        folder. Whatever is not a regular file is read all the same, so that reading names
        what it is; a folder that cannot be listed is named too."""
        found: list[Path] = []
        for path in self.paths:
            mode, unseen = files.look(path)
            if mode is not None and stat.S_ISDIR(mode):
                inside = self._walk(path)
                if not inside:
                    self._problems.append(
                        f"{path}: no OTLP JSON Lines files ({', '.join(OTLP_SUFFIXES)}) in this folder"
                    )
                found.extend(inside)
            elif mode is not None:
                found.append(path)
            else:
                self._problems.append(
                    f"{path}: cannot look at it ({unseen})" if unseen else f"{path}: no such file or folder"
                )
        return list(dict.fromkeys(found))

    def _walk(self, folder: Path) -> list[Path]:
        """``os.walk``, which follows no symbolic link to a folder (so no loop), with the
        folders it cannot list named in the problems."""

        def unlisted(error: OSError) -> None:
            self._problems.append(
                f"{error.filename}: cannot list this folder ({files.reason(error)}): its files are not read"
            )

        found = [
            Path(top, name)
            for top, _folders, names in os.walk(folder, onerror=unlisted)
            for name in names
            if name.endswith(OTLP_SUFFIXES)
        ]
        return sorted(item for item in found if not self._skipped(item))

    def _skipped(self, item: Path) -> bool:
        """Files in a folder that hold no spans: a store's index, metrics and summaries, and
        our own cache."""
        parent = item.parent
        if self.cache_dir is not None and parent == self.cache_dir:
            return True
        if item.name == INDEX and os.path.isdir(parent / RUNS):
            return True
        return parent.name in (SUMMARIES, METRICS) and os.path.isfile(parent.parent / INDEX)

    def _cache_path(self, path: Path) -> Path | None:
        store = store_of(path)
        if store is not None:
            return summary_path(store, path)
        if self.cache_dir is not None:
            digest = hashlib.blake2b(str(path.resolve()).encode(), digest_size=6).hexdigest()
            return self.cache_dir / f"{digest}-{path.name}.json"
        return None

    def runs(self) -> Iterator[RunSummary]:
        problems = self._problems
        del problems[:]
        self._summaries = SummaryCache(SUMMARY_CODEC, problems)
        loaded: list[tuple[Path, list[RunSummary]]] = []
        where: dict[str, list[Path]] = {}
        paths = self._files()
        self._summaries.prefetch([(path, self._cache_path(path)) for path in paths])
        for path in paths:
            runs, file_problems = self._summaries.load(path, self._cache_path(path))
            problems.extend(file_problems)
            loaded.append((path, runs))
            for run in runs:
                where.setdefault(run.run_id, []).append(path)
        done: set[str] = set()
        for _path, runs in loaded:
            for run in runs:
                if run.run_id in done:
                    continue
                done.add(run.run_id)
                files = where[run.run_id]
                yield run if len(files) == 1 else self._joined(run.run_id, files)

    def _joined(self, run_id: str, files: list[Path]) -> RunSummary:
        """A run whose spans are spread over several files, summarised from all of them."""
        read_problems: list[str] = []
        with collector_paused():
            group = _groups(files, read_problems, only=run_id)[run_id]
        note = f"the run's spans are spread over {len(files)} files, read together: " + ", ".join(map(str, files))
        metadata = RunMetadata(run_id, str(files[0]), group.resource, False, [*read_problems, note])
        with collector_paused():
            return summarizer.summarize(group.spans, metadata)


def open_sources(paths: Sequence[Path], store: Path, *, cache_dir: Path | None = None) -> list[Source]:
    """The sources for the command line: the store when no path is given; a folder that is
    a store (it has ``index.jsonl`` or ``runs/``) is read as one, everything else as OTLP."""
    if not paths:
        return [StoreSource(store)]
    sources: list[Source] = []
    files: list[Path] = []
    for path in paths:
        if os.path.isdir(path) and (os.path.isfile(path / INDEX) or os.path.isdir(path / RUNS)):
            sources.append(StoreSource(path))
        else:
            files.append(path)
    if files:
        sources.append(OtlpFileSource(files, cache_dir=cache_dir))
    return sources
