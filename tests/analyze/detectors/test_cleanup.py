"""The cleanup detector: commit-then-clean-up instead of a rollback, and leaked transactions."""

from __future__ import annotations

import dataclasses

import pytest

from otel_pytest.analyze.detectors import cleanup
from otel_pytest.analyze.findings import Location, Measurement
from otel_pytest.analyze.model import History
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
SAVEPOINT_PATTERN = (
    "Roll back instead: per test, open a connection from the shared engine, begin a transaction, bind the "
    'session to it with join_transaction_mode="create_savepoint" (the code\'s commit() then only releases a '
    "savepoint) and roll the transaction back in the fixture's teardown. Nothing is committed, so nothing needs "
    "deleting."
)


def committing_tests(count: int = 4, **db: float) -> list[Sample]:
    return [
        sample(f"tests/test_a.py::test_{n}", call=0.02, db={"commits": 2, "transactions": 2, **db})
        for n in range(count)
    ]


def test_the_slow_shop_suite_commits_then_drops_the_tables_in_fixture_schema() -> None:
    # 23 tests commit 4 times, 5 only twice: the two COMMITs of the schema fixture's create_all
    # and drop_all, which are not the test's data.
    expected = Reported(
        kind="cleanup",
        # No saving of its own (drop_all's 282 ms are the schema finding's): never high.
        severity="low",
        title=(
            "23 of 28 tests commit their data, then fixture `schema` drops the tables (DDL on every setup) "
            "instead of rolling back"
        ),
        location=Location(fixture="schema", file="examples/shop/fixtures_slow.py", line=24),
        measurements=(
            Measurement("tests that commit data", 23, "count"),
            Measurement("data commits", 46, "count"),
            Measurement("commits per committing test", 2, "count"),
            Measurement("schema fixtures' teardown (counted by the schema finding)", 0.282, "s"),
            Measurement("a ROLLBACK in this run (mean, the cost per test instead)", 0.0004, "s"),
        ),
        confidence=(
            "exact counts: COMMITs in 23 of 28 tests; less the 56 COMMITs of schema fixtures (their DDL) in the tests "
            "that set them up; COMMIT time is not in the summaries and not in the saving; no saving of its own: the "
            "schema finding's saving covers the tables it drops or empties"
        ),
        suggestion=(
            f"{SAVEPOINT_PATTERN} Then `schema` can build the schema once per session (see the schema finding). "
            f"{ROLLBACK_LIMITS}"
        ),
        saving=0.0,
        evidence={"run": SLOW_RUN_ID, "revision": "0123456789abcdef"},
    )

    assert rounded(cleanup.detect(history(slow_shop_run()), OPTIONS)) == rounded([expected])


def test_a_delete_cleanup_saves_its_time_less_a_rollback_per_test() -> None:
    tests = committing_tests(rollbacks=1, rollback_time=0.0005, transactions=3)
    delete = statement("d1", "DELETE FROM orders", count=8, total_time=0.04, tests=4)

    findings = reports(cleanup.detect(history(run("r1", tests, statements=[delete], wall_time=1.0)), OPTIONS))

    assert rounded(findings) == rounded(
        [
            Reported(
                kind="cleanup",
                severity="medium",
                title=(
                    "4 of 4 tests commit their data, then 1 DELETE statement removes it (40 ms) instead of rolling back"
                ),
                location=Location(fingerprint="DELETE FROM orders"),
                measurements=(
                    Measurement("tests that commit data", 4, "count"),
                    Measurement("data commits", 8, "count"),
                    Measurement("commits per committing test", 2, "count"),
                    Measurement("DELETE statements", 8, "count"),
                    Measurement("DELETE time", 0.04, "s"),
                    Measurement("a ROLLBACK in this run (mean, the cost per test instead)", 0.0005, "s"),
                ),
                confidence=(
                    "exact counts: COMMITs in 4 of 4 tests; COMMIT time is not in the summaries and not in the saving"
                ),
                suggestion=f"{SAVEPOINT_PATTERN} Then drop the DELETE cleanup. {ROLLBACK_LIMITS}",
                saving=0.04 - 4 * 0.0005,
                evidence={"run": "r1"},
            )
        ]
    )


def test_a_truncating_fixture_after_commits_is_named_as_such() -> None:
    clean = fixture(
        "clean", setups=4, setup_time=0.0, teardown_time=0.04, db={"ddl": 4, "ddl_time": 0.03}, statements={"t1": 4}
    )
    truncate = statement("t1", "TRUNCATE customer", count=4, total_time=0.03, tests=4)

    [finding] = reports(
        cleanup.detect(history(run("r1", committing_tests(), fixtures=[clean], statements=[truncate])), OPTIONS)
    )

    assert finding.title == (
        "4 of 4 tests commit their data, then fixture `clean` truncates the tables (DDL on "
        "every setup) instead of rolling back"
    )
    assert finding.suggestion == f"{SAVEPOINT_PATTERN} Then drop the TRUNCATE in `clean`. {ROLLBACK_LIMITS}"


def test_commits_that_nothing_cleans_up_are_at_least_medium() -> None:
    rare_delete = statement("d1", "DELETE FROM orders", count=1, total_time=0.001, tests=1)

    [finding] = rounded(cleanup.detect(history(run("r1", committing_tests(), statements=[rare_delete])), OPTIONS))

    assert finding.title == "4 of 4 tests commit their data, then nothing rolls it back: later tests see it"
    assert finding.severity == "medium"
    assert finding.location == Location()
    assert finding.saving == 0.0
    assert finding.confidence == (
        "exact counts: COMMITs in 4 of 4 tests; inferred: no DDL fixture and no DELETE in most committing tests "
        "were seen; no ROLLBACK in this run, so its cost is not measured; COMMIT time is not in the summaries "
        "and not in the saving; no saving estimate: nothing cleans up, so the cost is data later tests see, "
        "not time"
    )
    assert finding.suggestion == (
        f"{SAVEPOINT_PATTERN} Until then, tests depend on the order they run in. {ROLLBACK_LIMITS}"
    )


def test_the_savepoint_pattern_gives_no_finding() -> None:
    tests = [
        sample(
            f"tests/test_a.py::test_{n}",
            call=0.01,
            db={
                "transactions": 1,
                "commits": 0,
                "rollbacks": 1,
                "rollback_time": 0.0001,
                "savepoints": 3,
                "savepoint_rollbacks": 1,
                "pool_resets": 1,
                "checkouts": 1,
            },
        )
        for n in range(5)
    ]

    assert cleanup.detect(history(run("r1", tests)), OPTIONS) == []


def test_a_transaction_left_to_the_pool_is_a_leak_in_that_test() -> None:
    tests = [
        sample("tests/test_a.py::test_leaks", db={"transactions": 3, "commits": 1, "pool_resets": 2}),
        sample("tests/test_a.py::test_clean", db={"transactions": 1, "rollbacks": 1}),
    ]

    findings = reports(cleanup.detect(history(run("r1", tests)), OPTIONS))

    assert rounded(findings)[-1] == Reported(
        kind="cleanup",
        severity="medium",
        title="2 transactions never committed or rolled back in 1 of 2 tests",
        location=Location(test="tests/test_a.py::test_leaks"),
        measurements=(
            Measurement("tests", 1, "count"),
            Measurement("transactions left open", 2, "count"),
            Measurement("most in one test (tests/test_a.py::test_leaks)", 2, "count"),
        ),
        confidence=(
            "counts from the per-test summaries: BEGINs less COMMITs and ROLLBACKs; a transaction ended "
            "only by the pool's reset-on-return counts as left open; no saving estimate: open transactions "
            "cost isolation between tests, not time"
        ),
        suggestion=(
            "End every transaction the code opens: use `async with session.begin():` or "
            "`async with engine.begin():`, or roll back in the fixture's teardown. A transaction left to "
            "the pool's reset holds its locks until the connection goes back, and one left open past the "
            "test leaks its data into the next."
        ),
        evidence={"run": "r1"},
    )


def test_leaks_in_several_tests_are_one_finding_for_the_suite() -> None:
    tests = [sample(f"tests/test_a.py::test_{n}", db={"transactions": 1 + n}) for n in range(3)]

    [leak] = [f for f in rounded(cleanup.detect(history(run("r1", tests)), OPTIONS)) if "never" in f.title]

    assert leak.title == "6 transactions never committed or rolled back in 3 of 3 tests"
    assert leak.location == Location()
    assert leak.measurements[-1] == Measurement("most in one test (tests/test_a.py::test_2)", 3, "count")


@pytest.mark.parametrize(
    "data",
    [History(runs=()), history(run("r1", [sample("tests/test_a.py::test_a")]))],
    ids=["no runs", "no database work"],
)
def test_no_current_run_or_no_database_work_gives_nothing(data: History) -> None:
    assert cleanup.detect(data, OPTIONS) == []


# -- what real suites showed (issue 10, item 6) ---------------------------------------------


def test_schema_commits_are_taken_off_in_each_test_that_set_up_the_schema_fixture_even_if_not_every_test_did() -> None:
    # 201 tests in two modules, each with its own schema fixture (neither ran in every test),
    # each committing twice per setup (create_all, drop_all). 77 tests also commit their own
    # data: 50 twice and 27 once, 127 data commits of the 529 in the tests' summaries.
    first = fixture(
        "prepare_database",
        setups=120,
        setup_time=1.2,
        teardown_time=0.6,
        file="tests/test_a.py",
        db={"ddl": 240, "commits": 240, "transactions": 240},
        statements={"c1": 120, "d1": 120},
    )
    second = dataclasses.replace(
        first,
        file="tests/test_b.py",
        setups=81,
        teardowns=81,
        teardown_time=0.4,
        db={"ddl": 162, "commits": 162, "transactions": 162},
        statements={"c1": 81, "d1": 81},
    )
    tests = [
        sample(
            f"tests/test_{'a' if n < 120 else 'b'}.py::test_{n}",
            call=0.01,
            db=dict.fromkeys(("commits", "transactions"), 2 + (2 if n < 50 else 1 if n < 77 else 0)),
            fixtures=[(first if n < 120 else second).key],
        )
        for n in range(201)
    ]
    statements = [
        statement("c1", "CREATE TABLE customer", count=201, total_time=0.2, tests=201),
        statement("d1", "DROP TABLE customer", count=201, total_time=0.2, tests=201),
    ]
    summary = run("r1", tests, fixtures=[first, second], statements=statements, wall_time=10.0)
    assert sum(test.db["commits"] for test in tests) == 529

    [finding] = rounded(cleanup.detect(history(summary), OPTIONS))

    # One cleaner named once, though defined in two modules.
    assert finding.title == (
        "77 of 201 tests commit their data, then fixture `prepare_database` drops the tables (DDL on every setup) "
        "instead of rolling back"
    )
    assert finding.measurements[:3] == (
        Measurement("tests that commit data", 77, "count"),
        Measurement("data commits", 127, "count"),
        Measurement("commits per committing test", round(127 / 77, 9), "count"),
    )
    assert finding.confidence.startswith(
        "exact counts: COMMITs in 77 of 201 tests; less the 402 COMMITs of schema fixtures (their DDL) in the tests "
        "that set them up;"
    )


def test_a_schema_fixture_that_only_creates_tables_is_not_named_as_their_cleanup() -> None:
    builds = fixture(
        "tables", setups=4, setup_time=0.1, db={"ddl": 4, "commits": 4, "transactions": 4}, statements={"c1": 4}
    )
    create = statement("c1", "CREATE TABLE customer", count=4, total_time=0.02, tests=4)
    tests = [
        sample(f"tests/test_a.py::test_{n}", call=0.02, db={"commits": 3, "transactions": 3}, fixtures=[builds.key])
        for n in range(4)
    ]

    [finding] = rounded(cleanup.detect(history(run("r1", tests, fixtures=[builds], statements=[create])), OPTIONS))

    assert finding.title == "4 of 4 tests commit their data, then nothing rolls it back: later tests see it"
    assert finding.measurements[:2] == (
        Measurement("tests that commit data", 4, "count"),
        Measurement("data commits", 8, "count"),
    )
