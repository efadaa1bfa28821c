"""Where a pattern finding points and what it rests on, the same way for every pattern
detector: fixture locations and references, the run a finding comes from, and since when
it holds (:func:`dated`: the one way a finding of a detector that judges the newest run is
dated; the duration and count detectors follow their series as a state and date their own)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from otel_pytest.analyze import state
from otel_pytest.analyze.detectors.causes import Definitions
from otel_pytest.analyze.findings import Finding, FixtureRef, Location, RunRef
from otel_pytest.analyze.model import FixtureStats, History, RunSummary
from otel_pytest.analyze.options import AnalysisOptions

Detect = Callable[[History, AnalysisOptions], list[Finding]]


def fixture_location(fixture: FixtureStats) -> Location:
    """The fixture's definition site; no site for definitions merged from several places
    (the finding's detail lists them)."""
    return Location(fixture=fixture.name, file=fixture.file or None, line=fixture.line or None)


def fixture_ref(fixture: FixtureStats) -> FixtureRef:
    places = fixture.places if isinstance(fixture, Definitions) else ()
    return FixtureRef(fixture.name, fixture.scope, places)


def run_evidence(run: RunSummary) -> dict[str, str]:
    """The run a single-run finding rests on, and its revision when known."""
    evidence = {"run": run.run_id}
    if run.revision:
        evidence["revision"] = run.revision
    return evidence


def lookback(options: AnalysisOptions) -> int:
    """How many runs before the newest :func:`dated` judges at most: what a regression is
    judged on (``current_runs + baseline_runs``), or more when the gate asks about more
    (``gate_runs``), so that the gate always knows whether a finding began within its runs."""
    return max(options.current_runs + options.baseline_runs, options.gate_runs)


def dated(history: History, options: AnalysisOptions, find: Detect) -> list[Finding]:
    """The findings ``find`` makes of the newest run, each with the run it began in and its
    age: the oldest run of the unbroken streak of newest runs in which ``find`` made a
    finding with the same :attr:`~Finding.id`. A detector that judges one run (a pattern
    detector), or the newest run's revision (flaky), dates its findings through this: the
    histories ending 1, 2, … runs before the newest are judged alone, newest first, until
    every finding's streak has ended, at most :func:`lookback` of them. A streak that
    reaches the first run of the history began there; one that holds in every history
    looked at and has runs before them is older than that: its ``began`` stays unknown
    (None) and its ``age`` is ``lookback + 1``, a lower bound (it held in at least that many
    runs), which the reports say as "open for at least N runs" and the gate reads as older
    than any ``gate_runs`` it looks at."""
    findings = find(history, options)
    runs = history.runs
    if not findings:
        return findings
    back = lookback(options)
    oldest = max(len(runs) - 1 - back, 0)
    began: dict[str, int | None] = dict.fromkeys((finding.id for finding in findings), len(runs) - 1)
    holding = set(began)
    for index in range(len(runs) - 2, oldest - 1, -1):
        found = _ids(find, History(runs[: index + 1], history.notes), options)
        for held in sorted(holding):
            if held in found:
                began[held] = index
            else:
                holding.discard(held)
        if not holding:
            break
    if oldest > 0:
        began.update(dict.fromkeys(holding))  # held in every run looked at, and maybe before
    return [_since(finding, runs, began[finding.id], back) for finding in findings]


def _ids(find: Detect, history: History, options: AnalysisOptions) -> set[str]:
    """The ids of the findings ``find`` makes of ``history``: from the analysis's memo when
    the previous analysis judged the same runs (:mod:`otel_pytest.analyze.state`), else
    judged now and kept for the next one."""
    memo = state.active()
    notes = "\0".join(history.notes).encode()
    key = memo.key(f"dated {find.__module__}.{find.__qualname__}", options, history.runs, notes) if memo else None
    if memo is None or key is None:
        return {finding.id for finding in find(history, options)}
    entry = memo.recall(key)
    if entry is not None:
        return {str(found) for found in entry["ids"].tolist()}
    ids = {finding.id for finding in find(history, options)}
    memo.keep(key, {"ids": np.array(sorted(ids), dtype=str)})
    return ids


def _since(finding: Finding, runs: Sequence[RunSummary], began: int | None, back: int) -> Finding:
    if began is None:
        return dataclasses.replace(finding, began=None, age=back + 1)
    return dataclasses.replace(finding, began=RunRef(runs[began].run_id, runs[began].revision), age=len(runs) - began)
