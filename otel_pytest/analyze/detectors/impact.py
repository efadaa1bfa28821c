"""How much a pattern finding matters: the run's time, severity, and the saving of doing
something once instead of many times. Shared by the pattern detectors so that their
severities mean the same thing."""

from __future__ import annotations

from otel_pytest.analyze.model import RunSummary
from otel_pytest.analyze.options import AnalysisOptions


def run_time(run: RunSummary) -> float:
    """The run's wall time; the sum of its tests' durations when the wall time is unknown."""
    if run.wall_time > 0:
        return run.wall_time
    return sum(test.duration for test in run.tests.values())


def severity(seconds: float, run: RunSummary, options: AnalysisOptions) -> str:
    """``high`` when ``seconds`` is at least ``options.severity_high_share`` of the run's
    time, ``medium`` from ``options.severity_medium_share``, else ``low``."""
    spent = run_time(run)
    share = seconds / spent if spent > 0 else 0.0
    if share >= options.severity_high_share:
        return "high"
    if share >= options.severity_medium_share:
        return "medium"
    return "low"


def once_instead_of(cost: float, times: float) -> float:
    """The saving when work that cost ``cost`` over ``times`` repetitions is done once:
    every repetition but one, at the mean cost of a repetition."""
    if times <= 1 or cost <= 0:
        return 0.0
    return cost * (times - 1) / times


def severity_of_cost(seconds: float, options: AnalysisOptions) -> str:
    """A regression's severity by the seconds per run it costs: ``high`` from
    ``options.severity_high_seconds``, ``medium`` from ``options.severity_medium_seconds``."""
    if seconds >= options.severity_high_seconds:
        return "high"
    if seconds >= options.severity_medium_seconds:
        return "medium"
    return "low"
