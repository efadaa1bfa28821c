"""What detectors return, and the options they read.

A detector is a pure function ``detect(history, options) -> list[Finding]``: no I/O, no
hidden randomness, no state between calls. Renderers consume findings; they never
recompute them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from otel_pytest.analyze.model import History

# Finding kinds, which are also the names the CI gate (--fail-on) accepts.
KINDS = (
    "regression",  # a duration got slower (statistical)
    "count",  # queries, transactions, connections or commits per test went up (exact)
    "connection",  # connection churn, engine per test, pool waits
    "schema",  # DDL in a function-scoped fixture
    "cleanup",  # commit-and-delete instead of rollback, leaked transactions
    "n+1",  # repeated statements under one parent
    "fixture",  # slow fixtures, setup-dominated tests
    "flaky",  # outcome flips on one revision
)
SEVERITIES = ("high", "medium", "low")


@dataclass(frozen=True)
class Location:
    """Where a finding points: a test, a fixture (with its definition site), a statement."""

    test: str | None = None
    fixture: str | None = None
    file: str | None = None
    line: int | None = None
    fingerprint: str | None = None

    def describe(self) -> str:
        parts = []
        if self.test:
            parts.append(self.test)
        if self.fixture:
            site = f" ({self.file}:{self.line})" if self.file else ""
            parts.append(f"fixture {self.fixture}{site}")
        elif self.file and not self.test:
            parts.append(f"{self.file}:{self.line}")
        if self.fingerprint:
            parts.append(f"statement {self.fingerprint}")
        return ", ".join(parts) or "the suite"


@dataclass(frozen=True)
class Measurement:
    """One number behind a finding, with its unit and, when there is one, its baseline."""

    name: str
    value: float
    unit: str  # "s", "count", "%", "ratio", "p"
    baseline: float | None = None


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str
    title: str  # one line: what happened
    location: Location
    measurements: tuple[Measurement, ...]
    confidence: str  # how sure, in words a reader can check ("p=0.0004, 5 vs 20 runs", "exact count")
    suggestion: str  # the concrete change to make
    saving: float = 0.0  # estimated seconds saved per run by the suggestion
    # Run ids (and revisions) the finding rests on: e.g. the change point's run.
    evidence: Mapping[str, str] = field(default_factory=dict)
    # Series for charts: run id -> value (e.g. a test's duration per run).
    history: tuple[tuple[str, float], ...] = ()
    # Set when the finding comes from too little history and used the simple fallback.
    provisional: bool = False


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
    persistence: int = 2  # newest runs that must each be above the baseline median
    count_min_increase: int = 1
    count_min_ratio: float = 1.10
    n_plus_one_min: int = 5
    slow_fixture_share: float = 0.05  # of the suite's setup time
    change_point_window: int = 50
    change_point_p: float = 0.001
    seed: int = 0  # for the permutation tests of change-point detection
    any_environment: bool = False
    # Pattern detectors (connection, schema, cleanup, n+1, fixture): a per-test pattern
    # counts as the suite's when at least this share of the tests with database work shows it.
    most_tests_share: float = 0.5
    pool_wait_min: float = 0.001  # seconds per checkout; a pooled checkout costs 0.04-0.14 ms
    # Severity of a pattern finding: its cost (or saving) as a share of the run's time.
    severity_high_share: float = 0.10
    severity_medium_share: float = 0.02
    # Regression and count findings (detectors/regressions.py): severity by the seconds per
    # run the regression costs; and, while the history is shorter than current_runs +
    # baseline_runs, the provisional rule "newest run >= this x the median of the earlier
    # runs" (no statistics possible yet, so only large jumps; see docs/benchmarks.md).
    severity_high_seconds: float = 1.0
    severity_medium_seconds: float = 0.1
    provisional_min_ratio: float = 1.5
    # Duration regressions (detectors/regressions.py, stats.shift_scan): the current window
    # is every k from min_current_runs to current_runs newest runs, the most significant one
    # chosen (Bonferroni for the choice); values are winsorized at this many standard
    # deviations of the series' own noise around its baseline median; pool_noise moderates
    # each series' noise estimate towards what all series share (empirical Bayes). Measured
    # in bench/accuracy.py (docs/benchmarks.md, "Analyzer accuracy").
    min_current_runs: int = 3
    winsorize: float = 2.25
    pool_noise: bool = True


Detector = Callable[[History, AnalysisOptions], list[Finding]]


@dataclass(frozen=True)
class WaterfallBar:
    """One span of a test's trace, placed relative to the start of the test."""

    name: str
    start: float  # seconds after the test's root span started
    duration: float  # seconds
    depth: int = 0  # 0 for the test's phases, +1 per level of nesting below them
    kind: str = "other"  # "phase", "fixture", "query", "transaction", "connection" or "other"


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
        return sum(finding.saving for finding in self.findings)
