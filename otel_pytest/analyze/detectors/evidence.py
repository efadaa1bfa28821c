"""Where a pattern finding points and what it rests on, the same way for every pattern
detector: fixture locations and references, the run a finding comes from."""

from __future__ import annotations

from otel_pytest.analyze.findings import FixtureRef, Location
from otel_pytest.analyze.model import FixtureStats, RunSummary


def fixture_location(fixture: FixtureStats) -> Location:
    return Location(fixture=fixture.name, file=fixture.file or None, line=fixture.line or None)


def fixture_ref(fixture: FixtureStats) -> FixtureRef:
    return FixtureRef(fixture.name, fixture.scope)


def run_evidence(run: RunSummary) -> dict[str, str]:
    """The run a single-run finding rests on, and its revision when known."""
    evidence = {"run": run.run_id}
    if run.revision:
        evidence["revision"] = run.revision
    return evidence
