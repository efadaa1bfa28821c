"""Slow fixtures whose scope makes them repeat, and tests dominated by their setup.

Method (current run only):

- **Slow repeating fixtures** (one finding per fixture): a fixture narrower than the session
  that ran at least twice, whose setup and teardown time is at least ``slow_fixture_share``
  of the suite's setup and teardown time (the tests' setup and teardown phases added up)
  and at least ``floor_test`` per setup. Left out: fixtures the connection detector (engine
  on every setup) or the schema detector (DDL) reports, and fixtures that roll back on at
  least ``most_tests_share`` of their setups (they give each test its clean transaction: a
  wider scope would share it). The scope change proposed: function
  or class to ``module`` when the fixture's own statements write rows (they can then live
  in a module-wide transaction), to ``session`` when they do not (reads, DDL, no database
  at all); module to ``session``. Saving: the fixture's time except the setups left after
  the change (one per run for session, at most one per test module of the run for
  module), at the mean cost of a setup: the summary has no per-setup spread, so "similar
  time per setup" is assumed, and said. It claims the fixture's costs
  (:func:`~otel_pytest.analyze.detectors.impact.fixture_costs`); severity by the saving.

  The change is proposed only where the fixtures it requests allow it (its recorded
  ``argnames``, followed transitively; pytest rejects a fixture that requests a narrower
  one): each requested fixture narrower than the new scope must widen with it, unless it
  is pinned: pytest's or a plugin's own (defined outside the project; ``tmp_path`` and
  ``tmpdir`` have session-scoped factories to use instead, ``monkeypatch`` a context
  manager), one that gives each test its own transaction (rolls back on most setups), or
  one not traced in the run (a ``parametrize`` argument). A pinned dependency leaves the
  fixture at its scope: the finding says which one and why, and claims no saving. When the
  run did not record what the fixture requests, the proposal says that it is unchecked.
- **Setup-dominated tests** (one finding for the run): tests whose own setup (setup phase
  less the time spent in wider-scoped fixtures) is longer than their call phase and at
  least ``floor_test``, reported when they are at least ``most_tests_share`` of the tests
  that ran or their excess of setup over call is at least ``severity_medium_share`` of the
  run's time (a few slow setups are the fixture findings' business). No saving of its own
  (the fixture, schema and connection findings carry it), so ``low`` by the rule of
  :mod:`~otel_pytest.analyze.detectors.impact`.

Each finding also says since when it holds (``began``, ``age``): the runs before the newest
are judged the same way, each alone (:func:`~otel_pytest.analyze.detectors.evidence.dated`).
Times are steady (:mod:`~otel_pytest.analyze.detectors.steady`: the newest run's, at the
fastest of the newest runs that did the same work), and a fixture defined in several
modules is one finding (:mod:`~otel_pytest.analyze.detectors.causes`).
"""

from __future__ import annotations

from otel_pytest.analyze.detectors import causes, db_work, scopes, steady
from otel_pytest.analyze.detectors.evidence import dated, fixture_location, fixture_ref, run_evidence
from otel_pytest.analyze.detectors.impact import claims, fixture_costs, run_time, severity
from otel_pytest.analyze.findings import (
    CostlyFixture,
    Finding,
    Location,
    Measurement,
    SetupDominated,
    SlowFixture,
)
from otel_pytest.analyze.model import FixtureStats, History, RunSummary, TestSample
from otel_pytest.analyze.options import AnalysisOptions

NAMED_FIXTURES = 3  # fixtures named in the setup-dominated finding


def detect(history: History, options: AnalysisOptions) -> list[Finding]:
    return dated(steady.steadied(history, options), options, _found)


def _found(history: History, options: AnalysisOptions) -> list[Finding]:
    run = causes.current(history)
    if run is None or not run.tests:
        return []
    return [*_slow_fixtures(run, options), *_setup_dominated(run, options)]


def _suite_fixture_time(run: RunSummary) -> float:
    return sum(test.setup + test.teardown for test in run.tests.values())


def _slow_fixtures(run: RunSummary, options: AnalysisOptions) -> list[Finding]:
    suite = _suite_fixture_time(run)
    if suite <= 0:
        return []
    reported = {fixture.key for fixture in (*db_work.engine_fixtures(run), *db_work.schema_fixtures(run, options))}
    modules = len({test.file for test in run.tests.values()})
    chosen = [
        fixture
        for fixture in sorted(run.fixtures.values(), key=lambda fixture: fixture.key)
        if db_work.repeats(fixture)
        and fixture.key not in reported
        and not scopes.isolates(fixture, options)
        and fixture.total_time >= options.slow_fixture_share * suite
        and fixture.total_time >= options.floor_test * fixture.setups
    ]
    return [_slow_fixture(run, fixture, suite, modules, options) for fixture in chosen]


def _slow_fixture(
    run: RunSummary, fixture: FixtureStats, suite: float, modules: int, options: AnalysisOptions
) -> Finding:
    writes = db_work.writes_rows(run, fixture)
    target = "module" if fixture.scope in ("function", "class") and writes else "session"
    change = scopes.scope_change(run, fixture, target, options)
    after = min(fixture.setups, max(modules, 1)) if target == "module" else 1
    mean = fixture.total_time / fixture.setups
    saving = 0.0 if change.pinned else mean * (fixture.setups - after)
    return Finding(
        kind="fixture",
        key="slow fixture",
        # Kept at its scope (pinned), it saves nothing, but still costs its time.
        severity=severity(saving or fixture.total_time, run, options),
        location=fixture_location(fixture),
        measurements=(
            Measurement("setups", fixture.setups, "count"),
            Measurement("setup and teardown per run", fixture.total_time, "s"),
            Measurement("mean per setup", mean, "s"),
            Measurement("share of the suite's setup and teardown", 100 * fixture.total_time / suite, "%"),
            Measurement(f"setups with scope={target}", after, "count"),
        ),
        detail=SlowFixture(
            fixture_ref(fixture),
            fixture.setups,
            mean,
            fixture.total_time,
            fixture.total_time / suite,
            target,
            after,
            writes,
            db_work.ddl_operations(run, fixture),
            change,
        ),
        saving=saving,
        claims=claims(saving, fixture_costs(fixture)),
        evidence=run_evidence(run),
    )


def _own_setup(test: TestSample) -> float:
    return max(test.setup - test.shared_fixture_time, 0.0)


def _setup_dominated(run: RunSummary, options: AnalysisOptions) -> list[Finding]:
    ran = [run.tests[key] for key in sorted(run.tests) if run.tests[key].outcome not in db_work.NOT_RUN]
    dominated = [test for test in ran if _own_setup(test) > test.call and _own_setup(test) >= options.floor_test]
    if not dominated:
        return []
    setup = sum(_own_setup(test) for test in dominated)
    call = sum(test.call for test in dominated)
    if len(dominated) < options.most_tests_share * len(ran) and setup - call < options.severity_medium_share * run_time(
        run
    ):
        return []
    worst = max(dominated, key=lambda test: (_own_setup(test) - test.call, test.test_id))
    costly = sorted(
        (fixture for fixture in run.fixtures.values() if db_work.repeats(fixture)),
        key=lambda fixture: (-fixture.total_time, fixture.key),
    )[:NAMED_FIXTURES]
    return [
        Finding(
            kind="fixture",
            key="setup dominated",
            severity=severity(None, run, options),
            location=Location(test=worst.test_id) if len(dominated) == 1 else Location(),
            measurements=(
                Measurement("tests", len(dominated), "count"),
                Measurement("setup (own)", setup, "s"),
                Measurement("call", call, "s"),
                Measurement(f"largest gap ({worst.test_id})", _own_setup(worst) - worst.call, "s"),
            ),
            detail=SetupDominated(
                len(dominated),
                len(ran),
                setup,
                call,
                tuple(CostlyFixture(fixture.name, fixture.total_time) for fixture in costly),
                options.floor_test,
            ),
            evidence=run_evidence(run),
        )
    ]
