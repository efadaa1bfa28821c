"""The fixture detector: slow repeating fixtures and their scope change, setup-dominated tests."""

from __future__ import annotations

import dataclasses

import pytest

from otel_pytest.analyze.detectors import fixtures
from otel_pytest.analyze.findings import Location, Measurement
from otel_pytest.analyze.model import FixtureStats, History
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import (
    ROLLBACK_LIMITS,
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
    statement,
)

OPTIONS = AnalysisOptions()
EVIDENCE = {"run": SLOW_RUN_ID, "revision": "0123456789abcdef"}


def quick_tests(count: int = 10) -> list[Sample]:
    """Tests whose body outlasts their setup: 30 ms of setup and teardown each."""
    return [sample(f"tests/test_{n % 2}.py::test_{n}", setup=0.02, call=0.05, teardown=0.01) for n in range(count)]


def test_the_slow_shop_suite_has_a_slow_catalogue_and_setup_dominated_tests() -> None:
    # The suite's setup and teardown: 28 x 58 ms = 1.624 s. `engine` and `schema` are the
    # connection and schema findings'; `session` and `customer` are under 5 % of it.
    # `catalogue` writes rows, so module scope would share them, but it requests `session`,
    # which gives each test its own transaction: pytest would reject the wider scope.
    mean = 0.0958 / 8
    catalogue = Reported(
        kind="fixture",
        severity="medium",  # its 96 ms are 4.3 % of the 2.22 s run
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
        confidence="exact: 8 setups taking 96 ms; no saving: the fixtures it requests keep it at its scope",
        suggestion=(
            '`catalogue` cannot take scope="module" as it is: it requests `session` (function scope, it gives each '
            "test its own transaction), and pytest rejects a module-scoped fixture that requests a narrower one. "
            "Make each setup cheaper (one bulk statement, the shared engine), or build its rows in a module-scoped "
            "fixture on a module-scoped connection and transaction, each test rolling back to a savepoint of its own."
        ),
        saving=0.0,
        evidence=EVIDENCE,
    )
    dominated = Reported(
        kind="fixture",
        # 840 ms more setup than test bodies, of a 2.22 s run, but no saving of its own (the
        # fixture findings carry it): never high, and low since it harms no result.
        severity="low",
        title="28 of 28 tests spend longer in setup than in the test: 1.26 s of setup against 420 ms of test bodies",
        location=Location(),
        measurements=(
            Measurement("tests", 28, "count"),
            Measurement("setup (own)", 1.26, "s"),
            Measurement("call", 0.42, "s"),
            Measurement("largest gap (tests/test_products.py::test_09)", 0.03, "s"),
        ),
        confidence=(
            "measured phases of 28 of 28 tests, setup without wider-scoped fixtures, at least 5.0 ms each; "
            "no saving of its own: the fixture, schema and connection findings carry this time"
        ),
        suggestion=(
            "Most repeated fixture time is in `schema` (1.26 s), `engine` (152 ms), `catalogue` (96 ms): the "
            "findings on those fixtures say what to share; a fixture that does the same work for every test "
            "can take a wider scope."
        ),
        evidence=EVIDENCE,
    )

    assert rounded(fixtures.detect(history(slow_shop_run()), OPTIONS)) == rounded([catalogue, dominated])


def test_a_slow_fixture_without_database_work_goes_to_session_scope() -> None:
    settings = fixture("settings", setups=10, setup_time=0.2, line=7, argnames=())

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
        fixture("schema", setups=10, setup_time=0.1, db={"ddl": 40}, statements={"t1": 40}),
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
    truncate = statement("t1", "TRUNCATE customer", count=40, total_time=0.05, tests=10)

    assert (
        fixtures.detect(history(run("r1", quick_tests(), fixtures=[candidate], statements=[truncate])), OPTIONS) == []
    )


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


# -- scope changes that the fixture's dependencies allow (issue 10, items 5 and 7) ----------

INSERT = statement("i1", "INSERT INTO customer (email) VALUES (?)", count=10, total_time=0.05, tests=10)
CREATE = statement("c1", "CREATE TABLE customer (id SERIAL NOT NULL)", count=1, total_time=0.005, tests=0)


def suggested(*defined: FixtureStats) -> Reported:
    """The one finding on the first fixture given, in a run of quick tests with all of them."""
    summary = run("r1", quick_tests(), fixtures=defined, statements=[INSERT, CREATE], wall_time=1.0)
    [finding] = [
        f for f in rounded(fixtures.detect(history(summary), OPTIONS)) if f.location.fixture == defined[0].name
    ]
    return finding


def rows(name: str = "customers", *argnames: str) -> FixtureStats:
    """A slow function-scoped fixture that inserts rows."""
    return fixture(name, setups=10, setup_time=0.2, argnames=argnames, statements={"i1": 10}, db={"queries": 10})


def helper(name: str, scope: str = "function", *argnames: str, **db: float) -> FixtureStats:
    """A cheap fixture others request."""
    return fixture(
        name, scope=scope, setups=10 if scope == "function" else 1, setup_time=0.001, argnames=argnames, db=db
    )


def test_fixtures_it_requests_that_are_narrower_must_widen_with_it_and_are_named() -> None:
    finding = suggested(
        rows("customers", "connection", "request"),
        helper("connection", "function", "engine"),
        helper("engine", "session"),
    )

    assert finding.suggestion == (
        'Give `customers` scope="module" so its rows are written once per test module (at most 2 times here), '
        "inside a module-wide transaction, each test rolling back to a savepoint of its own. If tests must see "
        "fresh rows, keep it per test and make each setup cheaper (one bulk insert, the shared engine). It requests "
        '`connection` (function scope): it must take scope="module" with it, since pytest rejects a module-scoped '
        "fixture that requests a narrower one. " + ROLLBACK_LIMITS
    )
    assert finding.saving == pytest.approx(0.16)


def test_a_dependency_that_gives_each_test_its_transaction_keeps_it_at_its_scope_even_two_levels_down() -> None:
    finding = suggested(
        rows("customers", "repository"),
        helper("repository", "function", "db_session"),
        helper("db_session", "function", rollbacks=10),
    )

    assert finding.suggestion == (
        '`customers` cannot take scope="module" as it is: it requests `db_session` (function scope, it gives each '
        "test its own transaction), and pytest rejects a module-scoped fixture that requests a narrower one. Make "
        "each setup cheaper (one bulk statement, the shared engine), or build its rows in a module-scoped fixture on "
        "a module-scoped connection and transaction, each test rolling back to a savepoint of its own."
    )
    assert finding.saving == 0.0
    assert finding.severity == "high"  # its 200 ms cost is 20 % of the 1 s run
    assert (
        finding.confidence == "exact: 10 setups taking 200 ms; no saving: the fixtures it requests keep it at its scope"
    )


def test_pytests_own_fixtures_pin_it_unless_pytest_has_a_wider_scoped_equivalent() -> None:
    site = "../.venv/lib/python3.11/site-packages/_pytest"
    capsys = fixture("capsys", setups=10, setup_time=0.001, file=f"{site}/capture.py", argnames=("request",))
    tmp_path = fixture("tmp_path", setups=10, setup_time=0.001, file=f"{site}/tmpdir.py", argnames=("request",))
    settings = fixture("settings", setups=10, setup_time=0.2, argnames=("tmp_path",))

    pinned = suggested(dataclasses.replace(settings, argnames=("capsys", "tmp_path")), capsys, tmp_path)
    replaced = suggested(settings, tmp_path)

    assert pinned.suggestion.startswith(
        '`settings` cannot take scope="session" as it is: it requests `capsys` (function scope, pytest\'s or a '
        "plugin's own), and pytest rejects a session-scoped fixture that requests a narrower one. Make each setup "
        "cheaper (one bulk statement, the shared engine), or compute what it returns once in a session-scoped "
        "fixture that requests nothing narrower, and let this one hand it out."
    )
    assert replaced.suggestion == (
        'Give `settings` scope="session" so it is built once per run (per worker under xdist). If tests change what '
        "it returns, return an immutable value or hand each test a cheap copy. Request tmp_path_factory instead of "
        "`tmp_path` (function scope)."
    )


def test_a_requested_name_not_traced_in_the_run_keeps_it_at_its_scope() -> None:
    finding = suggested(rows("customers", "email"))

    assert finding.suggestion.startswith(
        '`customers` cannot take scope="module" as it is: it requests `email` (not traced in this run: a '
        "parametrize argument?), and pytest rejects"
    )


def test_without_recorded_argnames_the_scope_change_says_it_is_unchecked() -> None:
    finding = suggested(fixture("settings", setups=10, setup_time=0.2))

    assert finding.suggestion.endswith(
        " This run did not record which fixtures it requests: pytest rejects the wider scope if any of them is "
        "narrower."
    )


def test_a_fixture_that_only_creates_tables_goes_to_session_scope_without_talk_of_rows() -> None:
    # create_all with checkfirst: it created the table on its first setup only (no schema finding).
    prepare = fixture(
        "prepare_database",
        setups=10,
        setup_time=0.2,
        argnames=("engine",),
        statements={"c1": 1},
        db={"ddl": 1, "queries": 11},
        ddl_setups=1,
    )

    finding = suggested(prepare, helper("engine", "session"))

    assert finding.suggestion == (
        'Give `prepare_database` scope="session" so it is built once per run (per worker under xdist) and its DDL '
        "(CREATE) runs once. If tests change what it returns, return an immutable value or hand each test a cheap "
        "copy."
    )
