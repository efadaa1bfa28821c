"""What detectors return: findings, as data.

A finding says what was found (its kind, severity, location, measurements with units,
the runs it rests on) and, in its ``detail``, the structured facts its words are made of.
It holds no prose and no formatted numbers: the report package words it
(``otel_pytest.analyze.report.words``), the same way for every format. Renderers consume
findings; they never recompute them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
