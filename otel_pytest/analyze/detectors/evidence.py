"""Where a pattern finding points and what it rests on, the same way for every pattern
detector: fixture locations and references, the run a finding comes from, and since when
it holds."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

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


def dated(history: History, options: AnalysisOptions, find: Detect) -> list[Finding]:
    """The findings ``find`` makes of the newest run, each with the run it began in and its
    age: the oldest run of the unbroken streak of newest runs in which ``find`` made a
    finding with the same :attr:`~Finding.id`. A pattern detector judges one run at a
    time: the runs before the newest are judged alone, newest first, until every finding's
    streak has ended, looking back at most ``current_runs + baseline_runs`` runs (what a
    regression is judged on); a streak that reaches further leaves ``began`` and ``age``
    unknown (None): older than that."""
    findings = find(history, options)
    runs = history.runs
    if not findings:
        return findings
    oldest = max(len(runs) - 1 - (options.current_runs + options.baseline_runs), 0)
    began: dict[str, int | None] = dict.fromkeys((finding.id for finding in findings), len(runs) - 1)
    holding = set(began)
    for index in range(len(runs) - 2, oldest - 1, -1):
        found = {finding.id for finding in find(History(runs[: index + 1], history.notes), options)}
        for held in sorted(holding):
            if held in found:
                began[held] = index
            else:
                holding.discard(held)
        if not holding:
            break
    if oldest > 0:
        began.update(dict.fromkeys(holding))  # held in every run looked at, and maybe before
    return [_since(finding, runs, began[finding.id]) for finding in findings]


def _since(finding: Finding, runs: Sequence[RunSummary], began: int | None) -> Finding:
    if began is None:
        return finding
    return dataclasses.replace(finding, began=RunRef(runs[began].run_id, runs[began].revision), age=len(runs) - began)
