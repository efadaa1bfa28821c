"""The fixture detector: slow repeating fixtures and their scope change, setup-dominated tests."""

from __future__ import annotations

import pytest

from otel_pytest.analyze.detectors import fixtures
from otel_pytest.analyze.findings import Location, Measurement
from otel_pytest.analyze.model import FixtureStats, History
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import (
    SLOW_RUN_ID,
    Reported,
    Sample,
    fixture,
    history,
    reports,
    rounded,
    run,
    sample,
    slow_shop_run,
)

OPTIONS = AnalysisOptions()
EVIDENCE = {"run": SLOW_RUN_ID, "revision": "0123456789abcdef"}


def quick_tests(count: int = 10) -> list[Sample]:
    """Tests whose body outlasts their setup: 30 ms of setup and teardown each."""
    return [sample(f"tests/test_{n % 2}.py::test_{n}", setup=0.02, call=0.05, teardown=0.01) for n in range(count)]


def test_the_slow_shop_suite_has_a_slow_catalogue_and_setup_dominated_tests() -> None:
    # The suite's setup and teardown: 28 x 58 ms = 1.624 s. `engine` and `schema` are the
    # connection and schema findings'; `session` and `customer` are under 5 % of it.
    mean = 0.0958 / 8
    catalogue = Reported(
        kind="fixture",
        severity="medium",
        title=(
            "Fixture `catalogue` (function scope) runs 8 times, 12 ms each: 6% of the suite's setup and teardown time"
        ),
        location=Location(fixture="catalogue", file="examples/shop/tests/test_orders.py", line=18),
        measurements=(
            Measurement("setups", 8, "count"),
            Measurement("setup and teardown per run", 0.0958, "s"),
            Measurement("mean per setup", mean, "s"),
            Measurement("share of the suite's setup and teardown", 100 * 0.0958 / 1.624, "%"),
            Measurement("setups with scope=module", 3, "count"),
        ),
        confidence=(
            "exact: 8 setups taking 96 ms; per-setup spread is not in the summary, so the saving assumes "
            "each costs the mean"
        ),
        suggestion=(
            'Give `catalogue` scope="module" so its rows are written once per test module (at most 3 times '
            "here), inside a module-wide transaction, each test rolling back to a savepoint of its own. If "
            "tests must see fresh rows, keep it per test and make each setup cheaper (one bulk insert, the "
            "shared engine)."
        ),
        saving=mean * 5,
        evidence=EVIDENCE,
    )
    dominated = Reported(
        kind="fixture",
        severity="high",  # 840 ms more setup than test bodies, of a 2.22 s run
        title="28 of 28 tests spend longer in setup than in the test: 1.26 s of setup against 420 ms of test bodies",
        location=Location(),
        measurements=(
            Measurement("tests", 28, "count"),
            Measurement("setup (own)", 1.26, "s"),
            Measurement("call", 0.42, "s"),
            Measurement("largest gap (tests/test_products.py::test_09)", 0.03, "s"),
        ),
        confidence="measured phases of 28 of 28 tests, setup without wider-scoped fixtures, at least 5.0 ms each",
        suggestion=(
            "Most repeated fixture time is in `schema` (1.26 s), `engine` (152 ms), `catalogue` (96 ms): the "
            "findings on those fixtures say what to share; a fixture that does the same work for every test "
            "can take a wider scope."
        ),
        evidence=EVIDENCE,
    )

    assert rounded(fixtures.detect(history(slow_shop_run()), OPTIONS)) == rounded([catalogue, dominated])


def test_a_slow_fixture_without_database_work_goes_to_session_scope() -> None:
    settings = fixture("settings", setups=10, setup_time=0.2, line=7)

    [finding] = rounded(fixtures.detect(history(run("r1", quick_tests(), fixtures=[settings], wall_time=1.0)), OPTIONS))

    assert finding.title == (
        "Fixture `settings` (function scope) runs 10 times, 20 ms each: 67% of the suite's setup and teardown time"
    )
    assert finding.saving == pytest.approx(0.18)
    assert finding.severity == "high"
    assert finding.suggestion == (
        'Give `settings` scope="session" so it is built once per run (per worker under '
        "xdist). If tests change what it returns, return an immutable value or hand each "
        "test a cheap copy."
    )
    assert finding.measurements[-1] == Measurement("setups with scope=session", 1, "count")


def test_a_slow_module_scoped_fixture_goes_to_session_scope() -> None:
    data = fixture("data", scope="module", setups=2, setup_time=0.1, db={"queries": 10, "commits": 1})

    [finding] = reports(fixtures.detect(history(run("r1", quick_tests(), fixtures=[data])), OPTIONS))

    assert finding.suggestion.startswith('Give `data` scope="session"')
    assert finding.saving == pytest.approx(0.05)


@pytest.mark.parametrize(
    "candidate",
    [
        fixture("connection", setups=10, setup_time=0.1, db={"checkouts": 10, "rollbacks": 10}),
        fixture("session", setups=10, setup_time=0.1, db={"savepoint_rollbacks": 8}),
        fixture("cheap", setups=10, setup_time=0.04),
        fixture("small", setups=2, setup_time=0.012),
        fixture("once", scope="session", setups=1, setup_time=0.3),
        fixture("engine", setups=10, setup_time=0.1, db={"engines_created": 10}),
        fixture("schema", setups=10, setup_time=0.1, db={"ddl": 40}),
    ],
    ids=[
        "rolls back per test",
        "rolls back to a savepoint per test",
        "under 5 ms a setup",
        "under 5 % of the suite",
        "session-scoped",
        "the connection finding's",
        "the schema finding's",
    ],
)
def test_fixtures_a_wider_scope_would_not_help_or_that_others_report_are_left_alone(candidate: FixtureStats) -> None:
    assert fixtures.detect(history(run("r1", quick_tests(), fixtures=[candidate])), OPTIONS) == []


def test_a_few_setup_dominated_tests_are_left_to_the_fixture_findings() -> None:
    tests = [*quick_tests(9), sample("tests/test_9.py::test_slow_setup", setup=0.01, call=0.002)]

    assert fixtures.detect(history(run("r1", tests, wall_time=1.0)), OPTIONS) == []


def test_a_few_setup_dominated_tests_with_a_large_excess_are_reported() -> None:
    tests = [*quick_tests(9), sample("tests/test_9.py::test_slow_setup", setup=0.3, call=0.002)]

    [finding] = rounded(fixtures.detect(history(run("r1", tests, wall_time=1.0)), OPTIONS))

    assert finding.title == (
        "1 of 10 tests spend longer in setup than in the test: 300 ms of setup against 2.0 ms of test bodies"
    )
    assert finding.location == Location(test="tests/test_9.py::test_slow_setup")
    assert finding.suggestion.startswith("Their setup is in wider-scoped fixtures or in hooks")


def test_time_spent_in_wider_scoped_fixtures_is_not_a_tests_own_setup() -> None:
    tests = [sample(f"tests/test_a.py::test_{n}", setup=0.1, shared=0.095, call=0.01) for n in range(4)]

    assert fixtures.detect(history(run("r1", tests)), OPTIONS) == []


def test_no_runs_give_nothing() -> None:
    assert fixtures.detect(History(runs=()), OPTIONS) == []
