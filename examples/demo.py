"""Run the shop's tests the slow way and the fast way under ``pytest --otel``, then say where
the time went in each, from the spans the plugin stored.

Run from the repository root: ``python -m examples.demo``. It uses ``DATABASE_URL`` when set
(``postgresql://`` or ``postgresql+asyncpg://``), otherwise a throwaway local PostgreSQL.
Exit status: 0 when both suites pass, 1 when a suite fails or left no run in the store,
2 when ``DATABASE_URL`` is unusable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from examples.postgres import DatabaseURLError, database_url, safe
from otel_pytest.records import PLUGIN_SCOPE
from otel_pytest.store.index import RunEntry, RunIndex
from otel_pytest.store.reader import Span, read_spans

ROOT = Path(__file__).resolve().parent.parent
# The plugin's default store: .otel-pytest in the rootdir, which is the shop's (its pytest.ini).
STORE = ROOT / "examples" / "shop" / ".otel-pytest"
PHASES = ("setup", "call", "teardown")
TOP_FIXTURES = 5


@dataclass(frozen=True)
class FixtureCost:
    """What one fixture's setups (or teardowns) cost over a run."""

    name: str
    step: str  # "setup" or "teardown"
    scope: str
    calls: int
    total: float


@dataclass(frozen=True)
class SuiteSummary:
    """Where a run's time went, in seconds."""

    run_id: str
    outcomes: Counter[str]
    wall: float
    phases: dict[str, float]
    fixtures: list[FixtureCost]
    database: dict[str, float]  # db.summary.* summed over the tests

    @property
    def tests(self) -> int:
        return sum(self.outcomes.values())

    @property
    def setup_teardown_per_test(self) -> float:
        return (self.phases["setup"] + self.phases["teardown"]) / max(self.tests, 1)


def _seconds(span: Span) -> float:
    return span.duration_ns / 1e9


def summarize(run_id: str, spans: Iterable[Span]) -> SuiteSummary:
    """Add up the plugin's spans: test roots, phases, fixture setups and teardowns.

    A session-scoped fixture's span sits in the session trace, but it runs inside some
    test's setup or teardown phase, so the phase totals include it.
    """
    outcomes: Counter[str] = Counter()
    phases = dict.fromkeys(PHASES, 0.0)
    fixtures: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    database: dict[str, float] = defaultdict(float)
    wall = 0.0
    for span in spans:
        if span.detail is None or span.detail.scope != PLUGIN_SCOPE:
            continue
        name, attributes = span.name, span.attributes
        if name == "pytest session":
            wall = _seconds(span)
        elif "test.case.name" in attributes and name == attributes["test.case.name"]:
            outcomes[str(attributes.get("pytest.outcome", "unknown"))] += 1
            for key, value in attributes.items():
                if key.startswith("db.summary.") and isinstance(value, int | float):
                    database[key.removeprefix("db.summary.")] += value
        elif name in phases:
            phases[name] += _seconds(span)
        elif "pytest.fixture.name" in attributes:
            step = "teardown" if name.endswith(" teardown") else "setup"
            fixture, scope = attributes["pytest.fixture.name"], attributes["pytest.fixture.scope"]
            fixtures[str(fixture), step, str(scope)].append(_seconds(span))
    costs = [FixtureCost(name, step, scope, len(times), sum(times)) for (name, step, scope), times in fixtures.items()]
    costs.sort(key=lambda cost: cost.total, reverse=True)
    return SuiteSummary(run_id, outcomes, wall, phases, costs, dict(database))


# (label, count key, time key) of the per-test database picture.
DATABASE_ROWS = (
    ("engines created", "engines_created", "engine_time"),
    ("physical connects", "connections", "connection_time"),
    ("pool checkouts (wait)", "checkouts", "pool_wait_time"),
    ("DDL statements", "ddl", "ddl_time"),
    ("queries (all)", "queries", "query_time"),
    ("commits", "commits", None),
    ("rollbacks", "rollbacks", "rollback_time"),
    ("savepoints", "savepoints", None),
)


def render(suite: str, summary: SuiteSummary) -> list[str]:
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in summary.outcomes.most_common())
    lines = [
        f"{suite} suite (run {summary.run_id}): {summary.tests} tests ({outcomes}) in {summary.wall:.2f} s",
        "  phases:    " + "   ".join(f"{phase} {summary.phases[phase]:.2f} s" for phase in PHASES),
        f"  setup+teardown per test: {summary.setup_teardown_per_test:.3f} s (mean)",
        f"  costliest fixtures        {'scope':<10}{'calls':>6}{'total':>10}{'mean':>11}",
    ]
    for cost in summary.fixtures[:TOP_FIXTURES]:
        label = f"{cost.name} {cost.step}"
        mean_ms = cost.total / cost.calls * 1000
        lines.append(f"    {label:<22}{cost.scope:<10}{cost.calls:>6}{cost.total:>8.3f} s{mean_ms:>8.1f} ms")
    tests = max(summary.tests, 1)
    lines.append("  database work in each test (mean; from the db.summary.* of the test spans)")
    for label, count, duration in DATABASE_ROWS:
        per_test = summary.database.get(count, 0.0) / tests
        spent = f"{summary.database.get(duration, 0.0) / tests * 1000:>8.2f} ms" if duration else ""
        lines.append(f"    {label:<22}{per_test:>6.1f}{spent}")
    return lines


def compare(slow: SuiteSummary, fast: SuiteSummary) -> str:
    before, after = slow.setup_teardown_per_test, fast.setup_teardown_per_test
    ratio = f"{before / after:.1f}x less" if 0 < after <= before else "no less"
    return (
        f"fast suite: setup+teardown per test {after:.3f} s vs {before:.3f} s ({ratio}); "
        f"whole run {fast.wall:.2f} s vs {slow.wall:.2f} s"
    )


def _run_ids(index: RunIndex) -> set[str]:
    entries, _ = index.entries()
    return {entry.run_id for entry in entries}


@dataclass(frozen=True)
class Step:
    """One pytest run of the demo: which fixtures, how often, and what is injected."""

    label: str
    fixtures: str  # examples.shop.fixtures_<fixtures>
    times: int
    environment: tuple[tuple[str, str], ...] = ()


# A short history, as CI would build it: the suite written the slow way, then rewritten
# the fast way, then a change that slips an N+1 query into the shop's order history.
PLAN = (
    Step("slow", "slow", 2),
    Step("fast", "fast", 4),
    Step("regressed", "fast", 1, (("SHOP_REGRESSION", "n+1"),)),
)


def run_suite(step: Step, url: str, number: int) -> tuple[int, RunEntry | None]:
    """Run one suite in a child pytest; return its exit status and the run it stored."""
    index = RunIndex(STORE)
    before = _run_ids(index)
    arguments = [
        "--otel",
        "-p",
        f"examples.shop.fixtures_{step.fixtures}",
        "-c",
        "examples/shop/pytest.ini",
        "-q",
        "--no-header",
        "examples/shop/tests",
    ]
    injected = " ".join(f"{key}={value}" for key, value in step.environment)
    print(
        f"\n== {step.label} suite, run {number} of {step.times}: "
        f"{injected + ' ' if injected else ''}python -m pytest {' '.join(arguments)}",
        flush=True,
    )
    # From the repository root, so that `python -m pytest` can import `examples`.
    command = [sys.executable, "-m", "pytest", *arguments]
    environment = {**os.environ, "DATABASE_URL": url, **dict(step.environment)}
    status = subprocess.run(command, cwd=ROOT, env=environment).returncode
    entries, _ = index.entries()
    new = [entry for entry in entries if entry.run_id not in before]
    return status, (new[-1] if new else None)


def analyze(*arguments: str) -> None:
    """What ``otel-pytest analyze`` says, as a user would run it."""
    command = [sys.executable, "-m", "otel_pytest.cli", "analyze", *arguments]
    shown = ["otel-pytest", "analyze", *(os.path.relpath(a, ROOT) if os.path.isabs(a) else a for a in arguments)]
    print(f"\n== {' '.join(shown)}", flush=True)
    subprocess.run(command, cwd=ROOT, env={**os.environ, "COLUMNS": "110"})


def main() -> int:
    where = "DATABASE_URL" if os.environ.get("DATABASE_URL", "").strip() else "a throwaway server"
    # A fresh history each time, so that what the analyzer says below is about these runs.
    shutil.rmtree(STORE, ignore_errors=True)
    runs: dict[str, list[tuple[int, RunEntry | None]]] = {}
    try:
        with database_url() as url:
            print(f"PostgreSQL from {where}: {safe(url)}")
            for step in PLAN:
                runs[step.label] = [
                    run_suite(step, url.render_as_string(hide_password=False), number)
                    for number in range(1, step.times + 1)
                ]
    except DatabaseURLError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 2
    failed = [
        (label, status, entry)
        for label, results in runs.items()
        for status, entry in results
        if status or entry is None
    ]
    for label, status, _ in failed:
        problem = f"pytest exited with {status}" if status else f"it left no new run in {STORE}"
        print(f"demo: a {label} run failed: {problem}", file=sys.stderr)
    if failed:
        return 1
    runs_dir = RunIndex(STORE).runs_dir
    slow_entry, fast_entry = runs["slow"][-1][1], runs["fast"][-1][1]
    assert slow_entry is not None  # every run left an entry: checked above
    assert fast_entry is not None
    summaries = {
        label: summarize(entry.run_id, (span for _resource, span in read_spans(runs_dir / entry.file)))
        for label, entry in (("slow", slow_entry), ("fast", fast_entry))
    }
    print("\nWhere the time went (from the stored spans)")
    for label, summary in summaries.items():
        print("\n".join(["", *render(label, summary)]))
    print("\n" + compare(summaries["slow"], summaries["fast"]))
    print("\nWhat the analyzer finds in the last slow run, and then in the newest run of the history:")
    analyze(str(runs_dir / slow_entry.file))
    analyze("--store", str(STORE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
