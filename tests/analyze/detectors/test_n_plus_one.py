"""The N+1 detector: Sentry's rule on each test's longest repetition of one statement."""

from __future__ import annotations

import dataclasses

import pytest

from otel_pytest.analyze.detectors import n_plus_one
from otel_pytest.analyze.findings import Location, Measurement
from otel_pytest.analyze.model import History, Repetition
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import Reported, history, reports, rounded, run, sample, statement

OPTIONS = AnalysisOptions()
LINES = "SELECT order_line.id FROM order_line WHERE order_line.order_id = ?"
LINES_STATS = statement("f1", LINES, count=40, total_time=0.05, tests=6)
HISTORY_TEST = "tests/test_customers.py::test_order_history_loads_lines_and_products"


def test_twelve_selects_in_a_row_in_one_test_are_an_n_plus_one_with_an_eager_loading_fix() -> None:
    tests = [
        sample(HISTORY_TEST, call=0.1, db={"queries": 14}, repetitions=[Repetition("f1", "call", 12, 0.024)]),
        sample("tests/test_customers.py::test_other", call=0.1, db={"queries": 2}),
    ]

    findings = reports(n_plus_one.detect(history(run("r1", tests, statements=[LINES_STATS], wall_time=1.0)), OPTIONS))

    assert rounded(findings) == rounded(
        [
            Reported(
                kind="n+1",
                severity="medium",  # 24 ms of a 1 s run
                title=(
                    "N+1: `SELECT order_line.id FROM order_line WHERE order_line.order_id = ?` runs 12 times in a row "
                    f"under call in {HISTORY_TEST}"
                ),
                location=Location(test=HISTORY_TEST, fingerprint=LINES),
                measurements=(
                    Measurement("executions in a row (longest)", 12, "count"),
                    Measurement("tests", 1, "count"),
                    Measurement("repeated executions", 12, "count"),
                    Measurement("time in repeated executions", 0.024, "s"),
                    Measurement("mean per execution", 0.002, "s"),
                    Measurement("executions of the statement in the run", 40, "count"),
                ),
                confidence=(
                    "exact: 12 consecutive executions after a different statement (Sentry's N+1 rule, at least 5), "
                    "in 1 of 2 tests"
                ),
                suggestion=(
                    "Load the related rows in one query: eager-load the relationship the loop touches "
                    "(selectinload(...) or joinedload(...) in the query's .options()), or collect the keys and run "
                    f"one SELECT ... WHERE key IN (...). The statement: {LINES}"
                ),
                saving=0.024 * 11 / 12,
                evidence={"run": "r1", "fingerprint_id": "f1"},
            )
        ]
    )


def test_fewer_repetitions_than_the_minimum_are_not_an_n_plus_one_unless_the_minimum_is_lowered() -> None:
    tests = [sample(HISTORY_TEST, db={"queries": 5}, repetitions=[Repetition("f1", "call", 4, 0.004)])]
    data = history(run("r1", tests, statements=[LINES_STATS]))

    assert n_plus_one.detect(data, OPTIONS) == []
    assert len(n_plus_one.detect(data, dataclasses.replace(OPTIONS, n_plus_one_min=4))) == 1


def test_one_statement_repeated_in_several_tests_is_one_finding_naming_the_longest() -> None:
    tests = [
        sample(
            f"tests/test_a.py::test_{n}",
            db={"queries": 10},
            repetitions=[Repetition("f1", "call", 5 + n, 0.001 * (5 + n))],
        )
        for n in range(3)
    ]

    [finding] = rounded(n_plus_one.detect(history(run("r1", tests, statements=[LINES_STATS])), OPTIONS))

    assert finding.title == (
        "N+1: `SELECT order_line.id FROM order_line WHERE order_line.order_id = ?` repeated "
        "under one parent in 3 tests (up to 7 in a row), 18 ms in all"
    )
    assert finding.location.test == "tests/test_a.py::test_2"
    assert finding.saving == pytest.approx(0.005 * 4 / 5 + 0.006 * 5 / 6 + 0.007 * 6 / 7)
    assert Measurement("repeated executions", 18, "count") in finding.measurements


def test_a_repetition_inside_a_fixture_points_at_the_fixture_and_a_long_statement_is_shortened() -> None:
    long_insert = "INSERT INTO product (sku, name, price, stock, description, created_at) VALUES (?, ?, ?, ?, ?, ?)"
    tests = [
        sample(
            "tests/test_a.py::test_a", db={"queries": 9}, repetitions=[Repetition("f2", "fixture catalogue", 8, 0.008)]
        )
    ]
    stats = statement("f2", long_insert, count=8, total_time=0.008, tests=1)

    [finding] = reports(n_plus_one.detect(history(run("r1", tests, statements=[stats])), OPTIONS))

    assert finding.location == Location(test="tests/test_a.py::test_a", fixture="catalogue", fingerprint=long_insert)
    assert finding.title.startswith(f"N+1: `{long_insert[:79]}…` runs 8 times in a row under fixture catalogue")
    assert finding.suggestion.startswith("Insert the rows in one statement: session.add_all(...)")


def test_an_unknown_fingerprint_is_named_by_its_id_with_a_generic_fix() -> None:
    tests = [sample("tests/test_a.py::test_a", db={"queries": 6}, repetitions=[Repetition("ab12", "call", 6, 0.003)])]

    [finding] = reports(n_plus_one.detect(history(run("r1", tests)), OPTIONS))

    assert finding.location.fingerprint == "ab12"
    assert Measurement("executions of the statement in the run", 6, "count") not in finding.measurements
    assert finding.suggestion == (
        "Run the repeated statement once for all the rows (one statement with IN (...), "
        "or executemany) instead of once per row. The statement: ab12"
    )


def test_findings_come_in_fingerprint_order() -> None:
    tests = [
        sample(
            "tests/test_a.py::test_a",
            db={"queries": 20},
            repetitions=[Repetition("zz", "call", 9, 0.01), Repetition("aa", "call", 6, 0.01)],
        )
    ]

    findings = reports(n_plus_one.detect(history(run("r1", tests)), OPTIONS))

    assert [finding.evidence["fingerprint_id"] for finding in findings] == ["aa", "zz"]


def test_no_runs_give_nothing() -> None:
    assert n_plus_one.detect(History(runs=()), OPTIONS) == []


def test_a_cheap_n_plus_one_is_still_medium_since_its_cost_grows_with_the_rows() -> None:
    # The demo's injected N+1: 6 executions costing 1.8 ms in a 1 s run (0.15 %).
    tests = [sample(HISTORY_TEST, call=0.01, repetitions=[Repetition("f1", "call", 6, 0.0018)])]

    [finding] = n_plus_one.detect(history(run("r1", tests, statements=[LINES_STATS], wall_time=1.0)), OPTIONS)

    assert finding.severity == "medium"
    assert finding.saving == pytest.approx(0.0015)
