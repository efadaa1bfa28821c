"""The runs of a service in Jaeger: history that outlives a CI runner.

:class:`JaegerSource` is a :class:`~otel_pytest.analyze.sources.Source` like the store's.
It reads in two steps, through :class:`~otel_pytest.store.jaeger.JaegerQuery`:

1. **Listing**: the traces of the service with a ``pytest session`` span that started in
   the window (``--since``). Each run has one session trace (xdist workers' session spans
   sit under the controller's), so this is one small trace per run. A run is its
   ``pytest.run.id``; its root session span gives its time span and resource (branch,
   revision, environment). Runs of another branch (``--branch``) and all but the newest
   ``last`` runs are left out here, before anything else is fetched.
2. **Fetching**: every trace of the service that started within the session span of a
   run not in the cache (overlapping runs are fetched together), its spans grouped by
   ``pytest.run.id`` and summarised as a store run is, by the same summarizer.

A run whose root session span has not reached Jaeger is still running (or its export was
lost): it is left out, with a note. A complete run never changes, so its summary is cached
(:class:`~otel_pytest.store.summaries.SummaryCache` with the analyzer's
:data:`~otel_pytest.analyze.sources.SUMMARY_CODEC`), keyed by run id and summary schema: the
next analysis reads only the listing and the runs it has not seen. A run whose newest span
ended less than ``settle`` seconds ago is not cached: spans of it may still be on their
way (an exporter's retries, a collector's batches).

The cache lives in ``$XDG_CACHE_HOME/otel-pytest/jaeger`` (``~/.cache/otel-pytest/jaeger``
without it), not in a store: ``analyze --jaeger`` needs no store and may run outside a
project; run ids are unique, so one folder serves every Jaeger and service. Entries
not read for :data:`CACHE_DAYS` days are deleted; deleting the folder costs one refetch.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from otel_pytest.analyze import summarize as summarizer
from otel_pytest.analyze.model import RunSummary
from otel_pytest.analyze.sources import SUMMARY_CODEC
from otel_pytest.analyze.summarize import RunMetadata
from otel_pytest.semconv import attributes as attr
from otel_pytest.semconv import spans as span_names
from otel_pytest.store.jaeger import JaegerQuery, Window
from otel_pytest.store.reader import Span, collector_paused
from otel_pytest.store.summaries import SummaryCache, expire

SETTLE_SECONDS = 60.0  # a run whose newest span is younger than this is not cached yet
CACHE_DAYS = 30
_NS = 1_000_000_000


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "otel-pytest" / "jaeger"


@dataclass
class _Run:
    """A run as the listing found it: its root session span and resource."""

    run_id: str
    session: Span
    resource: dict[str, object]
    spans: list[Span] = field(default_factory=list)

    @property
    def window(self) -> Window:
        return Window(self.session.start, max(self.session.end, self.session.start))


def _run_id(span: Span) -> str | None:
    value = span.attributes.get(attr.RUN_ID)
    return value if isinstance(value, str) and value else None


def _listed(found: Iterator[tuple[dict[str, object], list[Span]]]) -> tuple[dict[str, _Run], set[str]]:
    """The runs whose root session span is there (the session span of the process that
    ran pytest: an xdist worker's says which worker it is), and the ids of runs seen only
    through their workers' session spans (the controller's is missing)."""
    runs: dict[str, _Run] = {}
    seen: set[str] = set()
    for resource, spans in found:
        for span in spans:
            run_id = _run_id(span)
            if run_id is None or span.name != span_names.SESSION:
                continue
            seen.add(run_id)
            if attr.XDIST_WORKER not in span.attributes:
                known = runs.get(run_id)
                if known is None or span.start < known.session.start:
                    runs[run_id] = _Run(run_id, span, resource)
    return runs, seen - set(runs)


def _merged(windows: Sequence[Window]) -> list[Window]:
    """Overlapping windows as one: each span is fetched once."""
    merged: list[Window] = []
    for window in sorted(windows, key=lambda w: w.start):
        if merged and window.start <= merged[-1].end:
            merged[-1] = Window(merged[-1].start, max(merged[-1].end, window.end))
        else:
            merged.append(window)
    return merged


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


class JaegerSource:
    """The newest ``last`` runs of ``service`` (of ``branch``, when given) whose session
    started in the last ``since`` seconds; summaries of complete runs cached in
    ``cache_dir`` (``None``: no cache)."""

    def __init__(
        self,
        query: JaegerQuery,
        service: str,
        *,
        since: float,
        last: int,
        branch: str | None = None,
        cache_dir: Path | None = None,
        settle: float = SETTLE_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.query = query
        self.service = service
        self.since = since
        self.branch = branch
        self.last = last
        self.cache_dir = cache_dir
        self.settle = settle
        self.now = now
        self._problems: list[str] = []
        self._summaries = SummaryCache(SUMMARY_CODEC, self._problems)
        self.fetched: list[str] = []  # run ids summarised from spans fetched by the last runs()
        self._listed: dict[str, _Run] = {}  # the runs the last runs() read, by run id

    @property
    def description(self) -> str:
        branch = f", branch {self.branch!r}" if self.branch is not None else ""
        return f"Jaeger {self.query.url} (service {self.service!r}{branch}, the last {_ago(self.since)})"

    @property
    def problems(self) -> Sequence[str]:
        return self._problems

    def runs(self) -> Iterator[RunSummary]:
        """Raises :class:`~otel_pytest.store.jaeger.JaegerError` when Jaeger cannot be read."""
        problems = self._problems
        del problems[:]
        self._summaries = SummaryCache(SUMMARY_CODEC, problems)
        self.fetched = []
        now_ns = int(self.now() * _NS)
        window = Window(now_ns - int(self.since * _NS), now_ns)
        with collector_paused():
            listed, unfinished = _listed(self.query.spans(self.service, window, operation=span_names.SESSION))
        for run_id in sorted(unfinished):
            problems.append(
                f"run {run_id}: its session span is not in Jaeger (the run is still running, or its "
                "export was cut off): left out"
            )
        chosen = self._chosen(listed)
        self._listed = {run.run_id: run for run in chosen}
        if not chosen and not unfinished:
            problems.append(
                f"{self.description}: no runs (no {span_names.SESSION!r} spans); check --service and --since, "
                "and that the tests export there (pytest --otel --otel-endpoint URL)"
            )
        cached: dict[str, RunSummary] = {}
        for run in chosen:
            summary = self._recall(run)
            if summary is not None:
                cached[run.run_id] = summary
        missing = {run.run_id: run for run in chosen if run.run_id not in cached}
        self._fetch(missing)
        for run in chosen:
            summary = cached.get(run.run_id) or self._summarize(run, now_ns)
            yield summary
        problems.extend(self.query.problems)
        if self.cache_dir is not None:
            expire(self.cache_dir, CACHE_DAYS * 86400.0)

    def test_spans(self, run_id: str, nodeid: str) -> list[Span]:
        """The spans of test ``nodeid``'s trace in run ``run_id`` (a run the last :meth:`runs`
        read; none for another): the traces with a span of that name (a test's span is named
        by its node id) that started within the run's session, only their spans of that run.
        What the waterfall of a run read from Jaeger is drawn from: such a run has no file.
        Raises :class:`~otel_pytest.store.jaeger.JaegerError` when Jaeger cannot be read."""
        run = self._listed.get(run_id)
        if run is None:
            return []
        with collector_paused():
            found = self.query.spans(self.service, run.window, operation=nodeid)
            return [span for _resource, spans in found for span in spans if _run_id(span) == run_id]

    def _chosen(self, listed: dict[str, _Run]) -> list[_Run]:
        """The runs of the branch, the newest ``last`` of them, oldest first."""
        runs = sorted(listed.values(), key=lambda run: (run.session.start, run.run_id))
        if self.branch is not None:
            others = [run for run in runs if run.resource.get(attr.VCS_REF_HEAD_NAME) != self.branch]
            if others:
                self._problems.append(
                    f"left out {len(others)} run(s) of other branches than {self.branch!r} (--branch)"
                )
            runs = [run for run in runs if run.resource.get(attr.VCS_REF_HEAD_NAME) == self.branch]
        if len(runs) > self.last:
            older = len(runs) - self.last
            self._problems.append(f"left out {older} older run(s): read the newest {self.last} (--last)")
            runs = runs[-self.last :]
        return runs

    def _cache_path(self, run_id: str) -> Path | None:
        return self.cache_dir / f"{run_id}.json" if self.cache_dir is not None else None

    def _recall(self, run: _Run) -> RunSummary | None:
        path = self._cache_path(run.run_id)
        if path is None:
            return None
        with collector_paused():
            found = self._summaries.recall(path, {"run_id": run.run_id}, self.query.url)
        if found is None or len(found[0]) != 1:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # read now: kept for another CACHE_DAYS
        return found[0][0]

    def _fetch(self, runs: dict[str, _Run]) -> None:
        """Every span of ``runs``, from the traces that started within their sessions."""
        if not runs:
            return
        with collector_paused():
            for window in _merged([run.window for run in runs.values()]):
                for _resource, spans in self.query.spans(self.service, window):
                    for span in spans:
                        run = runs.get(_run_id(span) or "")
                        if run is not None:
                            run.spans.append(span)

    def _summarize(self, run: _Run, now_ns: int) -> RunSummary:
        self.fetched.append(run.run_id)
        metadata = RunMetadata(run.run_id, self.query.url, run.resource)
        with collector_paused():
            summary = summarizer.summarize(run.spans, metadata)
        newest = max((span.end for span in run.spans), default=run.session.end)
        path = self._cache_path(run.run_id)
        if path is not None and newest <= now_ns - int(self.settle * _NS):
            self._summaries.keep(path, {"run_id": run.run_id}, [summary], (), self.query.url)
        return summary
