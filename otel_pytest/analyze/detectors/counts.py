"""Count regressions (kind ``"count"``): a test does more database work than before, for as
long as it does.

Method, exact (counts need no statistics): per test, each count of ``db.summary``
(queries, transactions, physical connections, commits) over its passed runs, oldest first,
and for each statement fingerprint whether the test ran it. A count *rose at run b* when
every run from b to the newest is above every one of its baseline runs, and the lowest of
them exceeds the baseline's median by ``count_min_increase`` and ``count_min_ratio``; the
earliest such b is where it began. The baseline is the ``baseline_runs`` passed runs before
b; if some of them were at the raised level, only the runs after the last of those, and
at least ``count_stable_runs`` of them (a suite that did more work, then was fixed, is
judged from the fixed level: the stable segment before the rise); and when the count *went
up* to the raised level in those runs before, it flips, and has no rise. A statement is new
at b when the test ran it in every passed run since b and in none of its baseline runs
(never judged from a segment: a statement it ran before is not new). So:

* a raised count is reported in every analysis while it holds (status ``"open"``, with
  ``began`` and ``age``), not only in the run where it appeared;
* a count that flips between two values (a pool that sometimes has a connection ready) is
  never a finding: it went up to the higher value before; a decrease never is;
* a rise back to the level the count held before its baseline began is no finding when, in
  the run the baseline began, another of the test's counts or statements rose and that
  rise ended in the run this one began: a change and its revert, the first of which also
  lowered this count (the revert is reported on the other change, closed). A lower level
  that came without a rise of the test's own (an optimisation) stays its baseline: losing
  it is a regression;
* a rise that held at the analysis of one of the newest ``current_runs`` runs and is gone
  now (every run since at or below its baseline) is reported ``"closed"``, with ``ended``
  the first run it was gone in, so that the fix is seen; a closed finding saves nothing
  and never gates.

One finding per test and run where its counts rose (its increases and new statements
together, their names the finding's ``key``, so that its id is the same in every
analysis); the same new statements in several tests, from the same run, are one finding.
Severity is by the seconds per run the extra work costs, which is also ``Finding.saving``,
absolute and as a share of the run (:mod:`~otel_pytest.analyze.detectors.impact`).
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from otel_pytest.analyze.detectors.impact import severity
from otel_pytest.analyze.detectors.series import COUNTED_OUTCOMES
from otel_pytest.analyze.findings import (
    COUNTED,
    CountIncrease,
    CountRegression,
    Finding,
    Location,
    Measurement,
    NewStatement,
    RunRef,
)
from otel_pytest.analyze.model import History, RunSummary, TestSample
from otel_pytest.analyze.options import AnalysisOptions

NEW_STATEMENTS = "new statements"  # the key part, and the measurement, of new statements


@dataclass(frozen=True)
class Rise:
    """Where one series of a test rose: positions in its passed runs."""

    began: int
    baseline: tuple[float, ...]  # the values of the baseline runs before ``began``
    ended: int | None = None  # closed: the first run it was gone in


@dataclass(frozen=True)
class Rule:
    """What a rise of one series must show: see the module docstring."""

    window: int  # baseline_runs
    increase: float
    ratio: float
    stable: int | None  # runs a lower level must hold after a higher one; None: never judged from one


def rise(values: Sequence[float], rule: Rule) -> Rise | None:
    """The rise that holds in the newest value, from the earliest run it can be said to
    have begun in (see the module docstring); ``None`` when the newest run holds none."""
    if len(values) < 2 or max(values) == min(values):
        return None
    lowest_since = list(itertools.accumulate(reversed(values), min))[::-1]
    for began in range(1, len(values)):
        if values[began] <= values[began - 1]:  # a rise begins where the value went up
            continue
        raised = lowest_since[began]
        before = values[max(0, began - rule.window) : began]
        high = [index for index, value in enumerate(before) if value >= raised]
        if any(index > 0 and before[index - 1] < raised for index in high):
            continue  # it went up to this level before: a count that flips
        baseline = tuple(before[high[-1] + 1 :] if high else before)
        if high and (rule.stable is None or len(baseline) < rule.stable):
            continue  # no stable lower level since the higher one
        median = statistics.median(baseline)
        if raised - median >= rule.increase and (median <= 0 or raised >= median * rule.ratio):
            return Rise(began, baseline)
    return None


def fall(values: Sequence[float], rule: Rule, recent: int) -> Rise | None:
    """The rise that held at the analysis of one of the newest ``recent`` runs and is gone
    since (every value from its end on at or below its baseline); ``None`` otherwise, and
    when a rise holds now."""
    if rise(values, rule) is not None or min(values, default=0.0) == max(values, default=0.0):
        return None  # no part of a constant series rose
    for ended in range(len(values) - 1, max(len(values) - recent, 2) - 1, -1):
        held = rise(values[:ended], rule)
        if held is None:
            continue
        if max(values[ended:]) <= max(held.baseline):
            return dataclasses.replace(held, ended=ended)
        return None
    return None


@dataclass(frozen=True)
class _Change:
    """One count (``metric``) or one statement (``fingerprint``) of a test that rose."""

    rise: Rise
    metric: str | None = None
    fingerprint: str | None = None


def detect(history: History, options: AnalysisOptions) -> list[Finding]:
    """Open and recently closed count regressions of the tests of the newest run; see the
    module docstring. A test with no earlier passed run is new, not regressed; a test
    that did not pass in the newest run is not judged (it may have stopped early)."""
    runs = history.runs
    if len(runs) < 2:
        return []
    position = {run.run_id: index for index, run in enumerate(runs)}
    passed_runs: dict[str, list[tuple[RunSummary, TestSample]]] = {
        test_id: [] for test_id, sample in runs[-1].tests.items() if sample.outcome in COUNTED_OUTCOMES
    }
    for run in runs:  # one pass over the samples, not one per test
        for test_id, sample in run.tests.items():
            judged = passed_runs.get(test_id)
            if judged is not None and sample.outcome in COUNTED_OUTCOMES:
                judged.append((run, sample))
    findings = []
    for test_id in sorted(passed_runs):
        passed = passed_runs[test_id]
        if len(passed) < 2:
            continue
        groups: dict[tuple[int, int | None], list[_Change]] = {}
        for change in _changes([sample for _, sample in passed], options):
            groups.setdefault((change.rise.began, change.rise.ended), []).append(change)
        for changes in groups.values():
            findings.append(_finding(runs, position, passed, changes, options))
    return _merge_new_statements(findings, runs[-1], options)


def _changes(samples: Sequence[TestSample], options: AnalysisOptions) -> list[_Change]:
    """Every count and statement of one test (its passed runs) that rose and holds, or held
    recently and is gone."""
    recent = options.current_runs
    counted = Rule(
        options.baseline_runs, options.count_min_increase, options.count_min_ratio, options.count_stable_runs
    )
    ran_before = Rule(options.baseline_runs, 1.0, 1.0, stable=None)  # a statement it ran in its baseline is not new
    series = _Series(samples, counted, ran_before)
    found = []
    for metric in COUNTED:
        values = series.counts(metric)
        held = rise(values, counted) or fall(values, counted, recent)
        if held is not None and not series.reverted(held, values, metric):
            found.append(_Change(held, metric=metric))
    sets = series.sets
    everywhere = frozenset.intersection(*sets)
    candidates = frozenset().union(*sets[-recent - 1 :]) - everywhere  # the newest, or gone since one of them
    for fingerprint in sorted(candidates):
        ran = [1.0 if fingerprint in statements else 0.0 for statements in sets]
        held = rise(ran, ran_before) or fall(ran, ran_before, recent)
        if held is not None:
            found.append(_Change(held, fingerprint=fingerprint))
    return found


class _Series:
    """One test's counts and statement sets over its passed runs, and the revert check that
    needs the other series of the same test (see the module docstring)."""

    def __init__(self, samples: Sequence[TestSample], counted: Rule, ran_before: Rule) -> None:
        self._samples = samples
        self._counted = counted
        self._ran_before = ran_before
        self.sets = [sample.statements for sample in samples]

    def counts(self, metric: str) -> list[float]:
        return [float(sample.db.get(metric, 0.0)) for sample in self._samples]

    def reverted(self, held: Rise, values: Sequence[float], metric: str) -> bool:
        """Whether the open rise ``held`` of ``metric`` undoes the fall that came with
        another change of the test: back to at most the level before the run its baseline
        began in, where another count or statement rose, a rise that ended where this one
        began."""
        fell = held.began - len(held.baseline)
        if held.ended is not None or fell < 1 or min(values[held.began :]) > values[fell - 1]:
            return False
        others = [(self.counts(other), self._counted) for other in COUNTED if other != metric]
        others += [
            ([1.0 if fingerprint in statements else 0.0 for statements in self.sets], self._ran_before)
            for fingerprint in sorted(self.sets[fell] - self.sets[fell - 1])
        ]
        return any(_rose_between(other, rule, fell, held.began) for other, rule in others)


def _rose_between(values: Sequence[float], rule: Rule, began: int, ended: int) -> bool:
    """Whether the series rose in run ``began`` and was back at its baseline from run ``ended`` on."""
    held = rise(values[:ended], rule)
    return held is not None and held.began == began and max(values[ended:]) <= max(held.baseline)


def _merge_new_statements(findings: list[Finding], newest: RunSummary, options: AnalysisOptions) -> list[Finding]:
    """One finding for the same new statements in several tests from the same run (one
    code change reached by many tests), instead of one per test; findings with count
    increases stay per test."""
    groups: dict[tuple[object, ...], list[Finding]] = {}
    kept: list[Finding] = []
    for finding in findings:
        detail = finding.detail
        assert isinstance(detail, CountRegression)  # this module's own findings
        if detail.increases:
            kept.append(finding)
        else:
            statements = tuple(s.fingerprint_id for s in detail.new_statements)
            groups.setdefault((statements, finding.began, finding.ended), []).append(finding)
    for group in groups.values():
        kept.append(group[0] if len(group) == 1 else _merged(group, newest, options))
    return kept


def _merged(group: Sequence[Finding], newest: RunSummary, options: AnalysisOptions) -> Finding:
    first = group[0]
    assert isinstance(first.detail, CountRegression)
    tests = tuple(
        test for finding in group if isinstance(finding.detail, CountRegression) for test in finding.detail.tests
    )
    saving = sum(finding.saving for finding in group)
    return dataclasses.replace(
        first,
        severity=severity(saving, newest, options),
        measurements=(
            *(m for m in first.measurements if m.name == NEW_STATEMENTS),
            Measurement("tests", float(len(tests)), "count", baseline=0.0),
            *((Measurement("estimated cost per run", saving, "s"),) if first.status == "open" else ()),
        ),
        detail=dataclasses.replace(first.detail, tests=tests),
        saving=saving,
    )


def _ref(run: RunSummary) -> RunRef:
    return RunRef(run.run_id, run.revision)


def _finding(
    runs: Sequence[RunSummary],
    position: dict[str, int],
    passed: Sequence[tuple[RunSummary, TestSample]],
    changes: Sequence[_Change],
    options: AnalysisOptions,
) -> Finding:
    """The finding of one test's changes that rose at the same run (and ended at the same)."""
    held = changes[0].rise
    newest, sample = passed[-1]
    began, previous = passed[held.began][0], passed[held.began - 1][0]
    ended = passed[held.ended][0] if held.ended is not None else None
    last_held = len(passed) - 1 if held.ended is None else held.ended - 1
    increases = [
        CountIncrease(
            metric=metric,
            current=float(sample.db.get(metric, 0.0)),
            previous=float(passed[held.began - 1][1].db.get(metric, 0.0)),
            baseline=float(statistics.median(change.rise.baseline)),
            raised=float(passed[last_held][1].db.get(metric, 0.0)),
        )
        for metric in COUNTED
        for change in changes
        if change.metric == metric
    ]
    new_statements = [change.fingerprint for change in changes if change.fingerprint is not None]
    cost = _cost(newest, sample, increases, new_statements) if ended is None else 0.0
    measurements = [Measurement(COUNTED[i.metric], i.current, "count", baseline=i.baseline) for i in increases]
    if ended is not None:
        measurements += [Measurement(f"{COUNTED[i.metric]} while raised", i.raised, "count") for i in increases]
    if new_statements:
        measurements.append(Measurement(NEW_STATEMENTS, float(len(new_statements)), "count", baseline=0.0))
    if ended is None:
        measurements.append(Measurement("estimated cost per run", cost, "s"))
    evidence = {"current_run": newest.run_id, "began_run": began.run_id, "previous_run": previous.run_id}
    if ended is not None:
        evidence["ended_run"] = ended.run_id
    for position_in, fid in enumerate(new_statements):
        evidence[f"new_statement_{position_in + 1}"] = fid
    metric = increases[0].metric if increases else "queries"
    chart = tuple((run.run_id, float(test.db.get(metric, 0.0))) for run, test in passed)
    text_from = newest if ended is None else passed[last_held][0]
    detail = CountRegression(
        tests=(sample.nodeid,),
        increases=tuple(increases),
        new_statements=tuple(NewStatement(fid, _statement_text(text_from, fid)) for fid in new_statements),
        current_run=newest.run_id,
        current_revision=newest.revision,
        previous_run=previous.run_id,
        previous_revision=previous.revision,
        baseline_runs=len(held.baseline),
    )
    key = ",".join([*(i.metric for i in increases), *([NEW_STATEMENTS] if new_statements else [])])
    return Finding(
        kind="count",
        severity=severity(cost, newest, options),
        location=Location(test=sample.nodeid, file=sample.file, line=sample.line),
        measurements=tuple(measurements),
        detail=detail,
        saving=cost,
        evidence=evidence,
        history=chart,
        key=key,
        status="open" if ended is None else "closed",
        began=_ref(began),
        ended=_ref(ended) if ended is not None else None,
        age=len(runs) - position[began.run_id],
    )


def _cost(
    run: RunSummary, sample: TestSample, increases: Iterable[CountIncrease], new_statements: Sequence[str]
) -> float:
    """Seconds per run the extra work costs, from this run's own times: extra queries x the
    test's mean query time (or, if larger, the new statements' mean time per test), plus
    extra connections x its mean connect time. Transactions and commits carry no time of
    their own in the summary, so they add nothing (the finding still stands)."""
    db = sample.db
    by_metric = {i.metric: i for i in increases}
    queries = 0.0
    if "queries" in by_metric and db.get("queries", 0.0) > 0:
        extra = by_metric["queries"].current - by_metric["queries"].baseline
        queries = extra * float(db.get("query_time", 0.0)) / float(db["queries"])
    statements = 0.0
    for fid in new_statements:
        stats = run.statements.get(fid)
        if stats is not None and stats.tests > 0:
            statements += stats.total_time / stats.tests
    connections = 0.0
    if "connections" in by_metric and db.get("connections", 0.0) > 0:
        extra = by_metric["connections"].current - by_metric["connections"].baseline
        connections = extra * float(db.get("connection_time", 0.0)) / float(db["connections"])
    return max(queries, statements) + connections


def _statement_text(run: RunSummary, fingerprint_id: str) -> str:
    stats = run.statements.get(fingerprint_id)
    return stats.fingerprint if stats is not None else fingerprint_id
