"""Where a pattern finding points and what it rests on, worded the same way by every
pattern detector: fixture locations, counts of tests, the run a finding comes from."""

from __future__ import annotations

from otel_pytest.analyze.findings import Location
from otel_pytest.analyze.model import FixtureStats, RunSummary


def fixture_location(fixture: FixtureStats) -> Location:
    return Location(fixture=fixture.name, file=fixture.file or None, line=fixture.line or None)


def fixture_label(fixture: FixtureStats) -> str:
    """``fixture `engine` (function scope)``."""
    return f"fixture `{fixture.name}` ({fixture.scope} scope)"


def of_tests(count: int, total: int) -> str:
    """``28 of 28 tests``, ``1 of 3 tests``."""
    return f"{count} of {total} {'test' if total == 1 else 'tests'}"


def run_evidence(run: RunSummary) -> dict[str, str]:
    """The run a single-run finding rests on, and its revision when known."""
    evidence = {"run": run.run_id}
    if run.revision:
        evidence["revision"] = run.revision
    return evidence
