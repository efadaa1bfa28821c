"""How much a finding matters: one severity rule for every kind, and savings as claims on
named costs, so that severities mean the same thing and savings never count a cost twice.

**Severity** comes from the seconds per run the finding costs (for a pattern, what its fix
saves; for a regression or a count increase, what the change added) and how sure it is:

1. ``high`` when the cost is at least ``severity_high_seconds`` (1 s) *or* at least
   ``severity_high_share`` (10 %) of the run's time; ``medium`` from
   ``severity_medium_seconds`` (0.1 s) *or* ``severity_medium_share`` (2 %); else ``low``.
   Both measures count: 41 ms is little in absolute terms but 8 % of a 0.5 s suite.
2. A finding that is not sure (a provisional regression, from too little history) is one
   level lower.
3. A *serious* finding is at least ``medium``: one that harms the results rather than
   the time (data left for later tests, transactions left open, a flaky test), or whose
   cost grows beyond what the suite measures (an N+1 runs once per row: 6 rows in a test,
   thousands in production; the demo's injected one costs 1.5 ms of a 1 s run).
4. A finding without a cost estimate is never ``high``: ``medium`` when serious, ``low``
   otherwise (its time is another finding's saving). The report says why it has no saving.

**Savings** are :class:`~otel_pytest.analyze.findings.Claim` s on named costs: a fixture's
connection set-up and its other work (:func:`fixture_costs`), a statement's executions, the
tests' own connects. A finding's saving is the sum of its claims, and the analysis's
total counts each named cost once (:func:`~otel_pytest.analyze.findings.total_saving`).
"""

from __future__ import annotations

from collections.abc import Mapping

from otel_pytest.analyze.detectors import db_work
from otel_pytest.analyze.findings import Claim
from otel_pytest.analyze.model import FixtureStats, RunSummary
from otel_pytest.analyze.options import AnalysisOptions

LEVELS = ("high", "medium", "low")


def run_time(run: RunSummary) -> float:
    """The run's wall time; the sum of its tests' durations when the wall time is unknown."""
    if run.wall_time > 0:
        return run.wall_time
    return sum(test.duration for test in run.tests.values())


def severity(
    seconds: float | None,
    run: RunSummary,
    options: AnalysisOptions,
    *,
    sure: bool = True,
    serious: bool = False,
) -> str:
    """The severity of a finding that costs ``seconds`` per run (None or 0: no estimate) in
    ``run``, by the rule of the module docstring."""
    if not seconds or seconds <= 0:
        return "medium" if serious else "low"
    spent = run_time(run)
    share = seconds / spent if spent > 0 else 0.0
    if seconds >= options.severity_high_seconds or share >= options.severity_high_share:
        level = 0
    elif seconds >= options.severity_medium_seconds or share >= options.severity_medium_share:
        level = 1
    else:
        level = 2
    if not sure:
        level = min(level + 1, len(LEVELS) - 1)
    if serious:
        level = min(level, 1)
    return LEVELS[level]


def once_instead_of(cost: float, times: float) -> float:
    """The saving when work that cost ``cost`` over ``times`` repetitions is done once:
    every repetition but one, at the mean cost of a repetition."""
    if times <= 1 or cost <= 0:
        return 0.0
    return cost * (times - 1) / times


def connecting(fixture: FixtureStats) -> str:
    """The name of a fixture's connection set-up: engines, physical connects and the
    checkouts that made them (:func:`~otel_pytest.analyze.detectors.db_work.connection_setup_time`)."""
    return f"fixture {fixture.key}: connection set-up"


def working(fixture: FixtureStats) -> str:
    """The name of a fixture's other work: DDL, data, Python, everything but connecting."""
    return f"fixture {fixture.key}: other work"


def fixture_costs(fixture: FixtureStats) -> dict[str, float]:
    """A fixture's time (setups and teardowns) as its two named costs, in seconds."""
    connection = min(db_work.connection_setup_time(fixture.db), fixture.total_time)
    return {connecting(fixture): connection, working(fixture): fixture.total_time - connection}


def claims(saving: float, costs: Mapping[str, float]) -> tuple[Claim, ...]:
    """``saving`` shared out over ``costs`` (name -> seconds) in proportion to them: what a
    fix that saves that much of those costs claims of each."""
    spent = sum(value for value in costs.values() if value > 0)
    if saving <= 0 or spent <= 0:
        return ()
    return tuple(Claim(name, saving * value / spent) for name, value in costs.items() if value > 0)
