"""The analyzer's thresholds, all in one place: what every detector and the history read.

The defaults are the ones measured in bench/accuracy.py (docs/benchmarks.md, "Analyzer accuracy").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AnalysisOptions:
    """Thresholds, all in one place; defaults are the ones measured in bench/accuracy.py."""

    current_runs: int = 5
    baseline_runs: int = 20
    min_ratio: float = 1.10
    p_value: float = 0.01
    false_discovery_rate: float = 0.20  # Benjamini-Hochberg q; why 0.20: docs/benchmarks.md
    floor_test: float = 0.005  # seconds: below this a test/fixture change is noise
    floor_statement: float = 0.001
    persistence: int = 3  # newest runs that must each be beyond the baseline median (see min_current_runs)
    count_min_increase: int = 1
    count_min_ratio: float = 1.10
    # A count's rise is judged from a lower level that held this many runs after a higher
    # one (detectors/counts.py): one odd low run between two high ones is not a baseline.
    count_stable_runs: int = 3
    n_plus_one_min: int = 5
    slow_fixture_share: float = 0.05  # of the suite's setup time
    # A test's own time (or a fixture's) counts as mostly garbage collection from this share
    # of it in the collector's pauses (detectors/gc.py).
    gc_dominated_share: float = 0.5
    change_point_window: int = 50
    change_point_p: float = 0.001
    seed: int = 0  # for the permutation tests of change-point detection
    any_environment: bool = False
    # Pattern findings' times (detectors/steady.py): the fastest of at most this many newest
    # runs of the same revision and fixtures, so identical runs are given the same savings.
    steady_runs: int = 10
    # Pattern detectors (connection, schema, cleanup, n+1, fixture): a per-test pattern
    # counts as the suite's when at least this share of the tests with database work shows it.
    most_tests_share: float = 0.5
    pool_wait_min: float = 0.001  # seconds per checkout; a pooled checkout costs 0.04-0.14 ms
    # Severity of a pattern finding: its cost (or saving) as a share of the run's time.
    severity_high_share: float = 0.10
    severity_medium_share: float = 0.02
    # Regression and count findings (detectors/durations.py, counts.py): severity by the seconds per
    # run the regression costs; and, while the history is shorter than current_runs +
    # baseline_runs, the provisional rule "newest run >= this x the median of the earlier
    # runs" (no statistics possible yet, so only large jumps; see docs/benchmarks.md).
    severity_high_seconds: float = 1.0
    severity_medium_seconds: float = 0.1
    provisional_min_ratio: float = 1.5
    # Duration regressions (detectors/judgement.py, stats.shift_scans): the current window
    # is every k from min_current_runs to current_runs newest runs, the most significant one
    # chosen (Bonferroni for the choice); values are winsorized at this many standard
    # deviations of the series' own noise around its baseline median; pool_noise moderates
    # each series' noise estimate towards what all series share (empirical Bayes). Measured
    # in bench/accuracy.py (docs/benchmarks.md, "Analyzer accuracy").
    # Three slow runs in a row, never one or two: a shared machine gives two in a row often
    # enough to fill a report of an unchanged suite (bench/repeat_runs.py), and with 2-run
    # windows gone the scan tests fewer windows, so it finds more (docs/benchmarks.md).
    min_current_runs: int = 3
    winsorize: float = 2.25
    pool_noise: bool = True
    # The CI gate (analysis.py): open findings fail it when they began within the newest
    # gate_runs runs; the pattern detectors are run again on as many earlier histories to
    # know. baseline_from (history.py): a run id or revision prefix; the runs before its
    # first run are left out of the history, after an intended change (--baseline-from).
    gate_runs: int = 1
    baseline_from: str | None = None
    # Duration changes as state (detectors/judgement.py, track): the judgement is replayed
    # at each of the newest state_runs runs, so a regression that began up to that many
    # runs ago is still reported, with the run it began in, until it is fixed.
    state_runs: int = 25
