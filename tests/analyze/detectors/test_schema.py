"""The schema detector: DDL repeated by a fixture narrower than the session."""

from __future__ import annotations

import pytest

from otel_pytest.analyze.detectors import schema
from otel_pytest.analyze.findings import Location, Measurement
from otel_pytest.analyze.model import History
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import (
    SLOW_RUN_ID,
    Reported,
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
TESTS = [sample(f"tests/test_a.py::test_{n}", setup=0.04, call=0.01) for n in range(4)]


def test_the_slow_shop_suite_rebuilds_its_schema_in_fixture_schema_on_every_test() -> None:
    # 1.256 s of setup and teardown, less the 168 ms of connects and 81.2 ms of first
    # checkouts that the connection finding counts; all but one of the 28 setups saved.
    cost = 1.256 - 0.2492
    expected = Reported(
        kind="schema",
        severity="high",
        title=(
            "Schema rebuilt on every setup of fixture `schema` (function scope): 8 DDL statements per setup, "
            "1.01 s over 28 setups"
        ),
        location=Location(fixture="schema", file="examples/shop/fixtures_slow.py", line=24),
        measurements=(
            Measurement("setups", 28, "count"),
            Measurement("DDL statements", 224, "count"),
            Measurement("DDL time", 0.504, "s"),
            Measurement("fixture setup", 0.974, "s"),
            Measurement("fixture teardown", 0.282, "s"),
            Measurement("connection set-up inside (counted by the connection finding)", 0.2492, "s"),
            Measurement("cost per run", cost, "s"),
            Measurement("cost per setup", cost / 28, "s"),
        ),
        confidence=(
            "exact counts: 224 DDL statements in 28 setups of a function-scoped fixture; times measured; "
            "DDL repeated as often in the run: CREATE, DROP"
        ),
        suggestion=(
            "Move the DDL in `schema` (create_all/drop_all) to a session-scoped fixture: build the schema "
            "once before the first test and drop it once after the last. Isolate tests with a transaction "
            "per test that is rolled back at the end (the session joins it with "
            'join_transaction_mode="create_savepoint"), not by rebuilding the tables.'
        ),
        saving=cost * 27 / 28,
        evidence={"run": SLOW_RUN_ID, "revision": "0123456789abcdef"},
    )

    assert rounded(schema.detect(history(slow_shop_run()), OPTIONS)) == rounded([expected])


def test_a_session_scoped_schema_fixture_is_not_flagged() -> None:
    once = fixture("schema", scope="session", setups=1, setup_time=0.05, db={"ddl": 8, "ddl_time": 0.02})

    assert schema.detect(history(run("r1", TESTS, fixtures=[once])), OPTIONS) == []


def test_a_narrow_fixture_that_ran_once_is_not_flagged() -> None:
    single = fixture("schema", setups=1, setup_time=0.05, db={"ddl": 8, "ddl_time": 0.02})

    assert schema.detect(history(run("r1", TESTS, fixtures=[single])), OPTIONS) == []


def test_a_fixture_without_ddl_is_not_flagged() -> None:
    rows = fixture("rows", setups=4, setup_time=0.2, db={"queries": 8, "query_time": 0.1, "commits": 4})

    assert schema.detect(history(run("r1", TESTS, fixtures=[rows])), OPTIONS) == []


def test_a_module_scoped_truncate_saves_all_but_one_module() -> None:
    truncate = fixture(
        "clean",
        scope="module",
        setups=3,
        setup_time=0.0,
        teardown_time=0.09,
        db={"ddl": 3, "ddl_time": 0.06, "checkouts": 3, "pool_wait_time": 0.0003},
    )

    [finding] = rounded(schema.detect(history(run("r1", TESTS, fixtures=[truncate], wall_time=3.0)), OPTIONS))

    # No new connection inside, so its checkout waits are its own time: nothing is taken off.
    assert finding.title == (
        "Schema rebuilt on every setup of fixture `clean` (module scope): 1 DDL statement "
        "per setup, 90 ms over 3 setups"
    )
    assert finding.saving == pytest.approx(0.06)
    assert finding.severity == "medium"  # 60 ms of a 3 s run
    assert finding.confidence == (
        "exact counts: 3 DDL statements in 3 setups of a module-scoped fixture; times measured"
    )


def test_a_fixture_that_only_truncates_is_told_to_roll_back_instead() -> None:
    truncate = fixture("clean", setups=4, setup_time=0.0, teardown_time=0.04, db={"ddl": 4, "ddl_time": 0.03})
    statements = [
        statement("t1", "TRUNCATE customer, product", count=4, total_time=0.03, tests=4),
        statement("c1", "CREATE TABLE customer", count=1, total_time=0.001, tests=0),
    ]

    [finding] = rounded(schema.detect(history(run("r1", TESTS, fixtures=[truncate], statements=statements)), OPTIONS))

    assert finding.title == (
        "Tables truncated on every setup of fixture `clean` (function scope): 1 DDL statement "
        "per setup, 40 ms over 4 setups"
    )
    assert finding.confidence.endswith("; DDL repeated as often in the run: TRUNCATE")
    assert finding.suggestion == (
        "Stop emptying the tables in `clean`: run each test in a transaction that is rolled back at the end (the "
        'session joins it with join_transaction_mode="create_savepoint"), so nothing the test writes is committed '
        "and nothing needs truncating."
    )


def test_each_repeating_ddl_fixture_is_its_own_finding_in_key_order() -> None:
    first = fixture("tables", setups=2, setup_time=0.02, db={"ddl": 2}, file="tests/a.py")
    second = fixture("views", setups=2, setup_time=0.02, db={"ddl": 2}, file="tests/b.py")

    findings = reports(schema.detect(history(run("r1", TESTS, fixtures=[second, first])), OPTIONS))

    assert [finding.location.fixture for finding in findings] == ["tables", "views"]


def test_no_runs_give_nothing() -> None:
    assert schema.detect(History(runs=()), OPTIONS) == []
