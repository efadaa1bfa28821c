"""What detectors return: findings, as data.

A finding says what was found (its kind, severity, location, measurements with units,
the runs it rests on) and, in its ``detail``, the structured facts its words are made of.
It holds no prose and no formatted numbers: the report package words it
(``otel_pytest.analyze.report.words``), the same way for every format. Renderers consume
findings; they never recompute them.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Finding kinds, which are also the names the CI gate (--fail-on) accepts.
KINDS = (
    "regression",  # a duration got slower (statistical)
    "count",  # queries, transactions, connections or commits per test went up (exact)
    "connection",  # connection churn, engine per test, pool waits
    "schema",  # DDL in a function-scoped fixture
    "cleanup",  # commit-and-delete instead of rollback, leaked transactions
    "n+1",  # repeated statements under one parent
    "fixture",  # slow fixtures, setup-dominated tests, tests and fixtures whose time is mostly GC
    "flaky",  # outcome flips on one revision
    "improvement",  # a duration got faster (statistical; never gating)
)
# Kinds that report good news: never a reason to fail the CI gate.
NEVER_GATING = frozenset({"improvement"})
SEVERITIES = ("high", "medium", "low")
# The db.summary keys a count finding compares, with what a reader calls each (measurement
# names and report words both use it).
COUNTED: Mapping[str, str] = {
    "queries": "queries",
    "transactions": "transactions",
    "connections": "physical connections",
    "commits": "commits",
}
# A finding's state in the newest run: "open" holds in it; "closed" held in earlier runs
# and is gone now (a fixed regression: reported so the fix is seen, never gating).
STATUSES = ("open", "closed")


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
class RunRef:
    """A run of the history, named by its id and, when known, its revision."""

    run_id: str
    revision: str | None = None


# A parenthetical aside in a measurement's name: an explanation or what varies ("most in
# one test (t.py::test_x)"), never part of its machine key.
_ASIDE = re.compile(r"\s*\([^()]*\)")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def machine_key(name: str) -> str:
    """The machine key of a measurement named ``name``: ``engines created`` ->
    ``engines_created``, ``DDL time`` -> ``ddl_time``, ``q (false-discovery adjusted)`` -> ``q``.

    Asides in parentheses are dropped, the rest lower-cased, and every run of other
    characters becomes one ``_``: so a report's reader can index measurements by a key that
    stays the same when the words of the name are refined."""
    return _NOT_WORD.sub("_", _ASIDE.sub("", name).lower()).strip("_")


@dataclass(frozen=True)
class Measurement:
    """One number behind a finding, with its unit and, when there is one, its baseline.

    ``name`` is for people; ``key`` is for programs reading the JSON report: given where
    the name holds what varies or would slug badly (``setups with scope=module``), else
    derived from the name by :func:`machine_key`."""

    name: str
    value: float
    unit: str  # "s", "count", "%", "ratio", "p"
    baseline: float | None = None
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", machine_key(self.name))


@dataclass(frozen=True)
class Claim:
    """A share of one named cost that a finding's fix would save, in seconds per run.

    Two findings can point at the same spans (an engine made and a schema built in one
    fixture; a DELETE that is also an N+1): each claims the costs it would save by name
    (``fixture <key>: other work``, ``statement <fingerprint id>``), and
    :func:`total_saving` counts each name once, at its largest claim.
    """

    cost: str
    seconds: float


def claims_of(finding: Finding) -> tuple[Claim, ...]:
    """What ``finding`` claims: its own claims, or, for one that names none, its whole saving
    as a cost of its own (a regression's extra time is nobody else's)."""
    if finding.claims:
        return finding.claims
    return () if finding.saving <= 0 else (Claim(f"finding {finding.id}", finding.saving),)


def total_saving(findings: Iterable[Finding]) -> float:
    """What fixing all of ``findings`` saves per run: the union of their claims, each named
    cost counted once at its largest claim, so the total never exceeds what the costs are.
    NaN when a saving is NaN (unknown, e.g. read back from a report that wrote null)."""
    largest: dict[str, float] = {}
    for finding in findings:
        for claim in claims_of(finding):
            if math.isnan(claim.seconds):
                return math.nan
            largest[claim.cost] = max(largest.get(claim.cost, 0.0), claim.seconds)
    return sum(largest.values())


# -- details: the facts a finding's words are made of, one type per kind of finding --------


@dataclass(frozen=True)
class Written:
    """Words already made: a finding read back from a JSON report (whose words are its
    canonical form), or one written by hand."""

    title: str
    confidence: str
    suggestion: str


@dataclass(frozen=True)
class ChangePointRun:
    """The run where a duration regression's step happened."""

    run_id: str
    revision: str | None
    significant: bool  # E-divisive permutation test passed at the rule's change_point_p
    p: float  # the permutation p-value (an estimate, or NaN, when not significant)
    # The revision of the run before it; None when not known (then a revision is not
    # said to be unchanged).
    previous_revision: str | None = None


@dataclass(frozen=True)
class RegressionRule:
    """The thresholds a duration regression was judged by, as its confidence states them."""

    persistence: int
    needed_runs: int  # current_runs + baseline_runs: fewer, and only the provisional rule applies
    provisional_ratio: float
    pool_noise: bool
    false_discovery_rate: float
    change_point_p: float
    min_tests_for_index: int


@dataclass(frozen=True)
class SetupsChange:
    """A fixture whose setups per run changed (a scope change, or other tests using it)."""

    setups_before: float  # median over the runs before the step
    setups_now: float  # in the newest run


@dataclass(frozen=True)
class DurationChange:
    """A test's own duration, a fixture's setup or teardown per call or its setup per run,
    a statement's time per execution or the suite's setup per run changed (seconds,
    speed-normalised). :class:`DurationRegression` and :class:`DurationImprovement` say
    which way."""

    series: str  # "test", "fixture setup", "fixture teardown", "fixture setup total", "statement", "suite setup"
    name: str  # the node id, the fixture's name or the statement's fingerprint
    calls: float  # how often the newest run paid the value (1 for a test)
    counted: str  # what calls counts: "runs", "setups", "teardowns", "executions"
    current: float
    baseline: float
    ratio: float
    p: float  # NaN when provisional
    q: float
    n_current: int
    n_baseline: int
    windows: int
    hypotheses: int
    speed_index: float
    index_applied: bool
    runs: int  # runs in the history
    current_run: str
    current_revision: str | None
    step: ChangePointRun | None
    rule: RegressionRule
    # Runs at the changed level: from the step to the newest, or to the fix when closed.
    held: int = 0
    # A closed regression: the level from the step to the fix (``current`` is the level since).
    raised: float | None = None
    scope: SetupsChange | None = None
    saved: float = 0.0  # seconds per run an improvement saves (a closed regression: gave back)


@dataclass(frozen=True)
class DurationRegression(DurationChange):
    """Got slower (``Finding.status`` "closed": was slower, and is fixed)."""


@dataclass(frozen=True)
class DurationImprovement(DurationChange):
    """Got faster."""


@dataclass(frozen=True)
class CountIncrease:
    """One count of a test that went up: a ``db.summary`` key (``queries``, ``connections``, …)."""

    metric: str
    current: float  # in the newest run
    previous: float  # in the last passed run before it rose
    baseline: float  # median over the baseline runs before it rose
    raised: float  # in the last run it held: the newest while open, the run before ``ended`` once closed


@dataclass(frozen=True)
class NewStatement:
    fingerprint_id: str
    text: str


@dataclass(frozen=True)
class CountRegression:
    """Tests that run more queries, transactions, connections or commits, or new statements,
    since one run (``Finding.began``); closed (``Finding.ended``) once they are back."""

    tests: tuple[str, ...]  # node ids: one, or several that share the same new statements
    increases: tuple[CountIncrease, ...]
    new_statements: tuple[NewStatement, ...]
    current_run: str
    current_revision: str | None
    previous_run: str  # the last passed run before the counts rose
    baseline_runs: int  # passed runs before the rise the median was taken over
    previous_revision: str | None = None  # of previous_run; None when not known


@dataclass(frozen=True)
class FixtureRef:
    name: str
    scope: str
    # Where it is defined, when one finding stands for the same fixture defined in several
    # places ("file:line" each, sorted); empty for a single definition (the location has it).
    places: tuple[str, ...] = ()


@dataclass(frozen=True)
class PinnedFixture:
    """A fixture that keeps a requesting fixture at its scope."""

    name: str
    scope: str  # "" when not traced
    why: str  # "external" (pytest's or a plugin's), "transaction" (a test's own), "untraced"


@dataclass(frozen=True)
class ReplacedFixture:
    """One of pytest's function-scoped fixtures, and its wider-scoped equivalent."""

    name: str
    instead: str


@dataclass(frozen=True)
class ScopeChange:
    """What giving a fixture a wider scope takes, from the fixtures it requests (transitively)."""

    widen: tuple[FixtureRef, ...] = ()  # must take the wider scope with it
    pinned: tuple[PinnedFixture, ...] = ()  # keep it at its scope: the change is off
    replaced: tuple[ReplacedFixture, ...] = ()  # pytest's, to swap for a wider-scoped equivalent
    known: bool = True  # the run recorded what every fixture on the way requests


@dataclass(frozen=True)
class EnginePerSetup:
    fixture: FixtureRef
    engines: float
    setups: int
    cost: float  # seconds per run
    affected: int  # tests with new engines or connections
    tests: int  # tests with database work
    change: ScopeChange = ScopeChange()  # what scope="session" takes


@dataclass(frozen=True)
class EngineDisposals:
    """A fixture that disposes a shared engine on its setups: the next test reconnects."""

    fixture: FixtureRef
    disposals: float
    setups: int
    reconnects: float
    cost: float  # seconds per run
    affected: int  # tests that set the fixture up
    tests: int  # tests with database work


@dataclass(frozen=True)
class EnginesInTests:
    affected: int
    tests: int
    engines: float
    cost: float


@dataclass(frozen=True)
class ConnectionChurn:
    affected: int
    tests: int
    excess: float  # new connections beyond each new engine's first
    cost: float
    nullpool: bool  # connects are nearly as many as checkouts: the pool keeps nothing
    connections: float
    checkouts: float
    fixture: FixtureRef | None  # the repeating fixture that connects on every setup


@dataclass(frozen=True)
class PoolWaits:
    per_checkout: float
    waited: float
    checkouts: float
    waiting: int  # tests that checked out without opening a new connection
    tests: int


@dataclass(frozen=True)
class SchemaRebuild:
    fixture: FixtureRef
    setups: int
    ddl: float
    cost: float
    verbs: tuple[str, ...]  # the verbs of the fixture's own DDL, sorted
    truncating: bool  # only TRUNCATE: the fixture empties tables instead of rebuilding them
    ddl_setups: int  # setups that ran DDL (in their setup or their teardown)
    connection_setup: float  # seconds of engines, connects and their checkouts inside the fixture
    connection_counted: bool  # by a connection finding, and so left out of cost


@dataclass(frozen=True)
class SchemaCleaner:
    fixture: str
    truncates: bool
    ddl_setups: int  # setups that ran DDL
    setups: int


@dataclass(frozen=True)
class CommitThenClean:
    committing: int
    tests: int
    cleaners: tuple[SchemaCleaner, ...]  # schema fixtures that drop or truncate the tables
    deletes: int  # DELETE statements that clean up
    delete_time: float
    schema_commits: float  # the DDL fixtures' own COMMITs in the tests' summaries, not counted as data
    rollback_measured: bool


@dataclass(frozen=True)
class LeakedTransactions:
    leaked: float
    leaking: int
    tests: int


@dataclass(frozen=True)
class NPlusOne:
    statement: str
    operation: str
    longest: int  # executions in a row, the longest repetition
    parent: str
    test: str  # the test with the longest repetition
    cases: int  # tests with a repetition
    tests: int  # tests with database work
    cost: float
    minimum: int  # n_plus_one_min


@dataclass(frozen=True)
class SlowFixture:
    fixture: FixtureRef
    setups: int
    mean: float
    total: float
    share: float  # of the suite's setup and teardown time
    target_scope: str
    setups_after: int
    writes_rows: bool  # its own statements insert, update, delete, merge or copy
    ddl: tuple[str, ...]  # the verbs of its own DDL
    change: ScopeChange  # what target_scope takes


@dataclass(frozen=True)
class CostlyFixture:
    name: str
    total: float


@dataclass(frozen=True)
class SetupDominated:
    dominated: int
    ran: int
    setup: float
    call: float
    costly: tuple[CostlyFixture, ...]
    floor: float


@dataclass(frozen=True)
class GcDominated:
    """A test's own time, or a fixture's setups and teardowns, mostly garbage-collection
    pauses (detectors/gc.py)."""

    test: str | None  # the node id, for a test
    fixture: FixtureRef | None  # for a fixture
    gc_time: float  # seconds of pauses in the newest run
    collections: int
    duration: float  # the test's own duration, or the fixture's setup and teardown time
    share: float  # gc_time / duration
    dominated_runs: int  # of the runs judged, those where it was mostly GC
    judged_runs: int


@dataclass(frozen=True)
class Flaky:
    test: str
    nodeid: str
    failures: int
    runs: int
    revision: str
    commits: float  # in its latest run


Detail = (
    Written
    | DurationRegression
    | DurationImprovement
    | CountRegression
    | EnginePerSetup
    | EnginesInTests
    | EngineDisposals
    | ConnectionChurn
    | PoolWaits
    | SchemaRebuild
    | CommitThenClean
    | LeakedTransactions
    | NPlusOne
    | SlowFixture
    | SetupDominated
    | GcDominated
    | Flaky
)


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str
    location: Location
    measurements: tuple[Measurement, ...]
    detail: Detail  # what the report's words (title, confidence, suggestion) are made of
    saving: float = 0.0  # estimated seconds saved per run by the suggestion
    # What the saving is made of, by named cost (their sum is ``saving``); see :class:`Claim`.
    claims: tuple[Claim, ...] = ()
    # Run ids (and revisions) the finding rests on: e.g. the change point's run.
    evidence: Mapping[str, str] = field(default_factory=dict)
    # Series for charts: run id -> value (e.g. a test's duration per run).
    history: tuple[tuple[str, float], ...] = ()
    # Set when the finding comes from too little history and used the simple fallback.
    provisional: bool = False
    # What tells this finding apart from others of its kind at the same location (the
    # series of a regression, say); part of :attr:`id`.
    key: str = ""
    status: str = "open"  # one of STATUSES
    # The first run the finding held in (for a statistical one: the first run that would
    # have reported it), and for a closed one the run where it was gone.
    began: RunRef | None = None
    ended: RunRef | None = None
    # Runs from ``began`` to the newest, both counted (1: it began in the newest run);
    # None when the detector cannot tell; with ``began`` None a lower bound (it held in every
    # run looked back at: detectors.evidence.dated). The CI gate reads it (``--gate-runs``).
    age: int | None = None

    @property
    def id(self) -> str:
        """The same in every analysis that finds the same thing: the kind, the location
        without its line (code above a fixture moves it) and :attr:`key`, hashed."""
        where = self.location
        parts = (self.kind, where.test, where.fixture, where.file, where.fingerprint, self.key)
        text = "\0".join(part or "" for part in parts)
        return hashlib.sha256(text.encode()).hexdigest()[:12]
