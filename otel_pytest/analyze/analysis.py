"""Run the detectors over a history and gather their findings into one :class:`Analysis`,
the result every renderer draws from (with the current run's waterfall, when it was read).

This is the only place that knows the set of detectors; renderers receive the
:class:`Analysis` and nothing else, and the CLI decides the exit code with :func:`gate`.

The gate fails on what the newest runs introduced, not on what a team has lived with for
years: an open, non-provisional finding of a ``--fail-on`` kind whose ``age`` is at most
``gate_runs`` (it began within the newest ``gate_runs`` runs). The detectors say where
their findings began: the duration and count detectors from the state they follow, the
others (pattern detectors, flaky) by judging the earlier runs alone
(``detectors.evidence.dated``, as far back as ``current_runs + baseline_runs`` or
``gate_runs``, whichever is more). A finding that held in every run looked at has no
``began`` and an ``age`` one more than that: a lower bound, older than the gate looks.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from otel_pytest.analyze.detectors import Detector
from otel_pytest.analyze.findings import KINDS, NEVER_GATING, SEVERITIES, Finding, total_saving
from otel_pytest.analyze.model import History
from otel_pytest.analyze.options import AnalysisOptions

if TYPE_CHECKING:
    from otel_pytest.analyze.state import Memo


@dataclass(frozen=True)
class WaterfallBar:
    """One span of a test's trace, placed relative to the start of the test."""

    name: str
    start: float  # seconds after the test's root span started
    duration: float  # seconds
    depth: int = 0  # 0 for the test's phases, +1 per level of nesting below them
    # "phase", "fixture" (a wider-scoped one a phase waited for too), "query", "transaction",
    # "connection", "gc" (a garbage-collection pause), "untraced" (no span accounts for the
    # time: see otel_pytest.analyze.waterfall) or "other".
    kind: str = "other"


@dataclass(frozen=True)
class Waterfall:
    """The spans of one test (the current run's slowest) for the HTML report's waterfall."""

    test: str
    run_id: str
    duration: float
    bars: tuple[WaterfallBar, ...]
    omitted: int = 0  # spans left out to keep the chart readable (the deepest, latest ones)


@dataclass(frozen=True)
class Analysis:
    """One analysis result: what every renderer draws from."""

    findings: Sequence[Finding]
    runs_analyzed: int
    current_run: str | None
    notes: tuple[str, ...] = ()
    current_revision: str | None = None
    # The current run's slowest test, span by span, when its spans could be read.
    waterfall: Waterfall | None = None

    @property
    def total_saving(self) -> float:
        """What fixing every finding saves per run: the union of their claims, so two
        findings on one cost count it once (:func:`~otel_pytest.analyze.findings.total_saving`)."""
        return total_saving(self.findings)


_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


def default_detectors() -> tuple[Detector, ...]:
    """Every detector, in a fixed order. Imported here, not at module level, so that this
    module (and the CLI) load without numpy and scipy until an analysis actually runs."""
    from otel_pytest.analyze.detectors import (
        cleanup,
        connections,
        counts,
        durations,
        fixtures,
        flaky,
        gc,
        n_plus_one,
        schema,
    )

    return (
        durations.detect,
        counts.detect,
        connections.detect,
        schema.detect,
        cleanup.detect,
        n_plus_one.detect,
        fixtures.detect,
        gc.detect,
        flaky.detect,
    )


# What changed leads a report: open regressions (new problems to act on), then improvements
# (what a fix saved), then everything else. A report after a fix has no regressions, so it
# leads with what the fix saved; ranked by severity alone, an improvement would trail the
# patterns the suite still has.
_CHANGES_FIRST = {"regression": 0, "count": 0, "improvement": 1}


def sort_key(finding: Finding) -> tuple[int, int, float, str, str, str]:
    """Open regressions, then improvements, then the rest (``_CHANGES_FIRST``); within
    each, most severe first, the largest saving first; then by kind, location and detail,
    so equal findings always come out in the same order."""
    group = _CHANGES_FIRST.get(finding.kind, 2) if finding.status == "open" else 2
    return (
        group,
        _SEVERITY_RANK.get(finding.severity, len(SEVERITIES)),
        -finding.saving,
        finding.kind,
        finding.location.describe(),
        repr(finding.detail),
    )


def _check(finding: Finding, detector: Detector) -> None:
    """A detector that returns an unknown kind or severity is a bug: say which one."""
    name = getattr(detector, "__module__", None) or repr(detector)
    if finding.kind not in KINDS:
        raise ValueError(f"{name} returned a finding of unknown kind {finding.kind!r}; expected one of {KINDS}")
    if finding.severity not in SEVERITIES:
        raise ValueError(
            f"{name} returned a finding of unknown severity {finding.severity!r}; expected one of {SEVERITIES}"
        )


def analyze(
    history: History,
    options: AnalysisOptions | None = None,
    *,
    detectors: Sequence[Detector] | None = None,
    waterfall: Waterfall | None = None,
    memo: Memo | None = None,
) -> Analysis:
    """Every detector's findings over ``history``, sorted by :func:`sort_key`.

    ``detectors`` defaults to :func:`default_detectors`; tests pass their own. ``memo``:
    what the previous analysis computed, which the detectors use where it is certain to
    equal a recomputation (:mod:`otel_pytest.analyze.state`). The
    history's notes (inputs skipped, runs left out, each kept run's problems) become the
    analysis's notes, so no report hides what was missing from its data.
    """
    options = options if options is not None else AnalysisOptions()
    chosen = default_detectors() if detectors is None else tuple(detectors)
    findings: list[Finding] = []
    from otel_pytest.analyze import state  # numpy: only when an analysis runs

    with state.using(memo):
        for detector in chosen:
            found = detector(history, options)
            for finding in found:
                _check(finding, detector)
            findings.extend(found)
    findings.sort(key=sort_key)

    current = history.current
    return Analysis(
        findings=tuple(findings),
        runs_analyzed=len(history.runs),
        current_run=current.run_id if current else None,
        notes=tuple(dict.fromkeys(history.notes)),  # in order, each once
        current_revision=current.revision if current else None,
        waterfall=waterfall,
    )


def _check_kinds(fail_on: Collection[str]) -> None:
    unknown = set(fail_on) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown finding kinds {sorted(unknown)}; expected some of {KINDS}")


def _may_gate(finding: Finding, fail_on: Collection[str]) -> bool:
    """Open, not provisional, of a ``fail_on`` kind that can gate: a candidate for the gate."""
    return (
        finding.kind in fail_on
        and finding.kind not in NEVER_GATING
        and finding.status == "open"
        and not finding.provisional
    )


def gating_findings(analysis: Analysis, fail_on: Collection[str], gate_runs: int = 1) -> list[Finding]:
    """The findings that break the CI gate: open ones of a kind in ``fail_on`` that began
    within the newest ``gate_runs`` runs (``age`` at most ``gate_runs``; one whose age is
    unknown gates, as before ages were known).

    Provisional findings (from too little history, judged by the simple fallback
    comparison) are reported but never fail the gate: their false-alarm rate is several
    times the full test's, and a gate that fails at random gets switched off. Closed
    findings (fixed) and improvements never fail it; older open findings are reported
    (:func:`held_back`), so a team's years-old N+1 does not fail every pull request while
    a new one does.
    """
    _check_kinds(fail_on)
    return [
        finding
        for finding in analysis.findings
        if _may_gate(finding, fail_on) and (finding.age is None or finding.age <= gate_runs)
    ]


def held_back(analysis: Analysis, fail_on: Collection[str], gate_runs: int = 1) -> list[Finding]:
    """The open findings of a ``fail_on`` kind that do not gate because they began before
    the newest ``gate_runs`` runs: what the CLI's closing line names as "not gating"."""
    _check_kinds(fail_on)
    return [
        finding
        for finding in analysis.findings
        if _may_gate(finding, fail_on) and finding.age is not None and finding.age > gate_runs
    ]


def gate(analysis: Analysis, fail_on: Collection[str], gate_runs: int = 1) -> bool:
    """True when the analysis breaks the gate, i.e. the CLI must exit with status 1."""
    return bool(gating_findings(analysis, fail_on, gate_runs))
