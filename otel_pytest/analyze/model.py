"""The analyzer's model of a history: compact per-run summaries, built once from spans.

A run's summary holds what every detector needs and nothing per span: per test its
durations, outcome and database summary; per fixture definition its setup and teardown
times and the database work inside them; per statement fingerprint its count and time;
per test the longest repetition of one statement (N+1 evidence). Readers build these
(and cache them); detectors only read them. Nothing here does I/O or judges.

All durations are seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

# The version of a summary as the summary cache keeps it (otel_pytest.store.summaries):
# bump it when RunSummary's fields or what summarize() computes into them change, and
# every cached summary is rebuilt from its spans. (Was "1.4": model 1, summarizer 4.)
# "6": summaries no longer depend on the order of the spans read (db keys, fixture sums).
# "7": the fixtures each test set up; per fixture, what it requests (argnames), its
# statements and the setups that ran DDL.
# "8": garbage-collection time per test and per fixture (gc_time, gc_collections).
SUMMARY_SCHEMA_VERSION = "8"


@dataclass(frozen=True)
class Repetition:
    """The longest run of consecutive executions of one statement under one parent span,
    after a different statement (Sentry's N+1 shape)."""

    fingerprint_id: str
    parent: str  # the parent span's name: a phase ("call") or "fixture <name>"
    count: int
    total: float


@dataclass(frozen=True)
class TestSample:
    """One test in one run."""

    __test__ = False  # not a pytest test class, whatever its name
    test_id: str  # stable identity: node id without memory addresses
    nodeid: str
    file: str
    line: int
    outcome: str  # passed, failed, error, skipped, xfailed, xpassed
    duration: float
    setup: float
    call: float
    teardown: float
    # Time its phases spent waiting for wider-scope fixtures (not the test's own cost).
    shared_fixture_time: float = 0.0
    # db.summary.* without the prefix: queries, query_time, connections, commits, …
    db: Mapping[str, float] = field(default_factory=dict)
    statements: frozenset[str] = frozenset()  # fingerprint ids executed by the test itself
    repetitions: tuple[Repetition, ...] = ()
    # FixtureStats.key of each fixture set up inside the test's own trace (function scope):
    # whose work its db summary includes.
    fixtures: frozenset[str] = frozenset()
    # Garbage-collection pauses in the test's own time (pytest.gc.*; those inside the
    # wider-scoped fixtures it waited for are theirs): seconds, and how many collections.
    gc_time: float = 0.0
    gc_collections: int = 0

    @property
    def own_duration(self) -> float:
        return max(self.duration - self.shared_fixture_time, 0.0)


@dataclass(frozen=True)
class FixtureStats:
    """One fixture definition over one run: how often it ran and what that cost."""

    name: str
    scope: str
    file: str
    line: int
    setups: int
    setup_time: float
    teardowns: int
    teardown_time: float
    # db.summary-style counts and times of the database work inside its setups and
    # teardowns: ddl, ddl_time, connections, connection_time, engines_created, commits, …
    db: Mapping[str, float] = field(default_factory=dict)
    # The fixtures it requests (pytest.fixture.argnames, pytest's FixtureDef.argnames, with
    # "request"); None when the run did not record them (an older plugin, another tool).
    argnames: tuple[str, ...] | None = None
    # Its own statements: fingerprint id -> executions in its setups and teardowns.
    statements: Mapping[str, int] = field(default_factory=dict)
    # Setups that ran DDL: the setup spans or the teardown spans with any, whichever are
    # more (create_all on setup, drop_all on teardown: every setup; create_all with
    # checkfirst that found the tables: only the first).
    ddl_setups: int = 0
    # Garbage-collection pauses inside its setups and teardowns: seconds, collections.
    gc_time: float = 0.0
    gc_collections: int = 0

    @property
    def key(self) -> str:
        return f"{self.file}:{self.line}:{self.name}"

    @property
    def total_time(self) -> float:
        return self.setup_time + self.teardown_time


@dataclass(frozen=True)
class StatementStats:
    """One statement fingerprint over one run."""

    fingerprint_id: str
    fingerprint: str
    operation: str
    count: int
    total_time: float
    tests: int  # how many tests executed it


@dataclass(frozen=True)
class RunSummary:
    """Everything the analyzer keeps of one run."""

    run_id: str
    start_time: float  # Unix seconds
    source: str  # where it was read from (a file path, or a Jaeger query)
    environment: str  # fingerprint: only runs with equal ones are compared by default
    revision: str | None = None
    branch: str | None = None
    service: str | None = None
    tests: Mapping[str, TestSample] = field(default_factory=dict)
    fixtures: Mapping[str, FixtureStats] = field(default_factory=dict)
    statements: Mapping[str, StatementStats] = field(default_factory=dict)
    wall_time: float = 0.0
    # Set when the run was read from spans without a pytest.run.id (another tool's):
    # the run was grouped by file instead.
    grouped_by_file: bool = False
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class History:
    """Runs oldest first, all comparable with each other (same environment, unless the
    user said otherwise)."""

    runs: Sequence[RunSummary]
    notes: tuple[str, ...] = ()

    @property
    def current(self) -> RunSummary | None:
        return self.runs[-1] if self.runs else None


def to_plain(value: Any) -> Any:
    """A summary as plain JSON-able data (for the cache and the JSON report)."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return {key: to_plain(item) for key, item in asdict(value).items()}
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, Mapping):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    return value


# TestSample's fields in their order, for :func:`_sample_from_plain`.
_SAMPLE_FIELDS = tuple(item.name for item in fields(TestSample))


def _sample_from_plain(sample: dict[str, Any], sets: dict[tuple[str, ...], frozenset[str]]) -> TestSample:
    """A cached test sample, made without the frozen ``__init__``: its 16
    ``object.__setattr__`` calls were most of loading a cached history (100,000 samples:
    ~0.4 s of ~1.2 s). Writing the fields into the new instance's own ``__dict__`` in the
    order the class declares them keeps that dict's keys shared with the class, so a sample
    takes what ``__init__`` makes (+64 bytes, tracemalloc); a dict assigned or updated whole
    does not (+470 bytes). ``sample`` is the decoded cache item, reused: a field missing
    from it raises ``KeyError``, and the cache is rebuilt. Equal statement and fixture sets
    of a run are one frozenset, kept in ``sets`` (most tests of a suite share theirs: 741 ->
    310 bytes a sample held, tracemalloc on the benchmark store)."""
    for name in ("statements", "fixtures"):
        members = tuple(sample[name])
        shared = sets.get(members)
        if shared is None:
            shared = sets[members] = frozenset(members)
        sample[name] = shared
    sample["repetitions"] = tuple(Repetition(**rep) for rep in sample["repetitions"])
    restored = object.__new__(TestSample)
    state = restored.__dict__
    for name in _SAMPLE_FIELDS:
        state[name] = sample[name]
    return restored


def run_from_plain(data: Mapping[str, Any]) -> RunSummary:
    """The inverse of :func:`to_plain` for a run summary (the cache format)."""
    sets: dict[tuple[str, ...], frozenset[str]] = {}
    tests = {key: _sample_from_plain(sample, sets) for key, sample in data.get("tests", {}).items()}
    fixtures = {
        key: FixtureStats(**{**stats, "argnames": None if stats.get("argnames") is None else tuple(stats["argnames"])})
        for key, stats in data.get("fixtures", {}).items()
    }
    statements = {key: StatementStats(**stats) for key, stats in data.get("statements", {}).items()}
    plain = {key: value for key, value in data.items() if key not in ("tests", "fixtures", "statements")}
    plain["problems"] = tuple(plain.get("problems", ()))
    return RunSummary(**plain, tests=tests, fixtures=fixtures, statements=statements)
