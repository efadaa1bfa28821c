"""Tests and fixtures whose time is mostly garbage-collection pauses.

The plugin times the collector's pauses (``gc.callbacks``) and counts them on the spans
that were running; the summary keeps them per test (its own time, without the
wider-scoped fixtures it waited for) and per fixture (its setups and teardowns).

Method (the newest ``current_runs`` runs; kind ``fixture``, one finding per test or
fixture): an item is *mostly GC* in a run when its pauses are at least
``gc_dominated_share`` of its time there (a test's own duration, a fixture's setup and
teardown time) and at least ``floor_test`` seconds. It is reported when it is mostly GC in
the newest run and in more than half of the judged runs it ran in: a full collection
walks the whole heap and lands in whichever test allocated last, so one unlucky run says
more about the suite than about that test; a test that makes its own garbage pays in
every run. Since when a finding holds: :func:`evidence.dated` (the streak of newest runs in
which it is made). Severity from the pauses' share of the run's time (``impact.severity``). No
saving is estimated: what ``gc.freeze()`` or fewer reference cycles save depends on what
the heap holds, which the trace does not say; the words say so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from otel_pytest.analyze.detectors.evidence import dated, fixture_location, fixture_ref, run_evidence
from otel_pytest.analyze.detectors.impact import severity
from otel_pytest.analyze.findings import Finding, FixtureRef, GcDominated, Location, Measurement
from otel_pytest.analyze.model import History, RunSummary
from otel_pytest.analyze.options import AnalysisOptions

KEY = "gc"

# What is judged of an item in one run: its GC seconds, its collections and the time they
# are a share of; None where the item did not run.
Pauses = tuple[float, int, float]
Series = Callable[[RunSummary], Pauses | None]


def _of_test(key: str) -> Series:
    def pauses(run: RunSummary) -> Pauses | None:
        test = run.tests.get(key)
        return None if test is None else (test.gc_time, test.gc_collections, test.own_duration)

    return pauses


def _of_fixture(key: str) -> Series:
    def pauses(run: RunSummary) -> Pauses | None:
        fixture = run.fixtures.get(key)
        return None if fixture is None else (fixture.gc_time, fixture.gc_collections, fixture.total_time)

    return pauses


def detect(history: History, options: AnalysisOptions) -> list[Finding]:
    return dated(history, options, _detect)


def _detect(history: History, options: AnalysisOptions) -> list[Finding]:
    runs = history.runs[-options.current_runs :]
    if not runs:
        return []
    newest = runs[-1]
    found = []
    for key in sorted(newest.tests):
        pauses = _of_test(key)
        if _dominated(runs, pauses, options):
            test = newest.tests[key]
            found.append(_finding(runs, pauses, options, Location(test=key), test=test.nodeid))
    for key in sorted(newest.fixtures):
        pauses = _of_fixture(key)
        if _dominated(runs, pauses, options):
            fixture = newest.fixtures[key]
            found.append(_finding(runs, pauses, options, fixture_location(fixture), fixture=fixture_ref(fixture)))
    return found


def _mostly_gc(pauses: Pauses, options: AnalysisOptions) -> bool:
    gc_time, _collections, duration = pauses
    return duration > 0 and gc_time >= options.floor_test and gc_time >= options.gc_dominated_share * duration


def _judged(runs: Sequence[RunSummary], pauses: Series) -> list[Pauses]:
    return [seen for seen in map(pauses, runs) if seen is not None]


def _dominated(runs: Sequence[RunSummary], pauses: Series, options: AnalysisOptions) -> bool:
    newest = pauses(runs[-1])
    if newest is None or not _mostly_gc(newest, options):
        return False
    judged = _judged(runs, pauses)
    return 2 * sum(_mostly_gc(seen, options) for seen in judged) > len(judged)


def _finding(
    runs: Sequence[RunSummary],
    pauses: Series,
    options: AnalysisOptions,
    location: Location,
    *,
    test: str | None = None,
    fixture: FixtureRef | None = None,
) -> Finding:
    newest = runs[-1]
    gc_time, collections, duration = pauses(newest) or (0.0, 0, 0.0)
    judged = _judged(runs, pauses)
    dominated = sum(_mostly_gc(seen, options) for seen in judged)
    return Finding(
        kind="fixture",
        severity=severity(gc_time, newest, options),
        location=location,
        measurements=(
            Measurement("gc_time", gc_time, "s"),
            Measurement("gc_collections", collections, "count"),
            Measurement("gc_share", 100 * gc_time / duration, "%"),
            Measurement("duration", duration, "s"),
        ),
        detail=GcDominated(test, fixture, gc_time, collections, duration, gc_time / duration, dominated, len(judged)),
        evidence=run_evidence(newest),
        key=KEY,
    )
