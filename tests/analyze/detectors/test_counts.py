"""The count detector on constructed histories: exact counts, new statements, merged findings."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from otel_pytest.analyze.detectors import counts
from otel_pytest.analyze.model import History, StatementStats
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.series_runs import name, only, run_summary

OPTIONS = AnalysisOptions()


def count_history(
    queries: Sequence[float],
    statements: Sequence[frozenset[str]] | None = None,
    *,
    connections: Sequence[float] | None = None,
    test: int = 0,
) -> History:
    runs = []
    for run, value in enumerate(queries):
        db = {
            test: {
                "queries": value,
                "query_time": value * 0.0005,
                "transactions": 1.0,
                "connections": connections[run] if connections else 0.0,
                "connection_time": 0.0,
                "commits": 0.0,
            }
        }
        sets = {test: statements[run]} if statements else None
        stats = {
            "fp-new": StatementStats("fp-new", "SELECT * FROM order_items WHERE order_id = ?", "SELECT", 9, 0.0045, 1)
        }
        runs.append(run_summary(run, [0.1] * (test + 1), db=db, statements=sets, stats=stats))
    return History(runs)


def test_a_test_running_12_queries_instead_of_3_is_a_count_regression_with_exact_numbers() -> None:
    finding = only(counts.detect(count_history([3, 3, 3, 3, 12]), OPTIONS))

    assert finding.kind == "count"
    assert finding.title == f"{name(0)}: 12 queries instead of 3"
    queries = next(m for m in finding.measurements if m.name == "queries")
    assert (queries.value, queries.unit, queries.baseline) == (12, "count", 3)
    assert "Look at the change in rev04 (run run04): " in finding.suggestion
    assert f"{name(0)} now runs 12 queries instead of 3" in finding.suggestion
    assert finding.saving == pytest.approx(9 * 0.0005)
    assert finding.severity == "low"
    assert finding.evidence["previous_run"] == "run03"
    assert finding.history == tuple((f"run{run:02d}", value) for run, value in enumerate([3, 3, 3, 3, 12]))
    assert finding.confidence.startswith("exact counts")


def test_a_new_statement_in_a_test_is_named() -> None:
    old = frozenset({"fp-a"})
    finding = only(counts.detect(count_history([3, 3, 3, 12], [old, old, old, old | {"fp-new"}]), OPTIONS))

    assert "new statement SELECT * FROM order_items WHERE order_id = ?" in finding.title
    assert finding.evidence["new_statement_1"] == "fp-new"
    assert "new: SELECT * FROM order_items WHERE order_id = ?" in finding.suggestion
    new = next(m for m in finding.measurements if m.name == "new statements")
    assert (new.value, new.baseline) == (1, 0)


def test_the_same_new_statement_in_several_tests_is_one_finding() -> None:
    old = frozenset({"fp-a"})
    runs = list(count_history([3, 3, 3], [old, old, old | {"fp-new"}]).runs)
    newest = runs[-1]
    first = newest.tests[name(0)]
    second = dataclasses.replace(first, test_id=name(0) + "2", nodeid=name(0) + "2")
    runs[-1] = dataclasses.replace(newest, tests={**newest.tests, second.test_id: second})
    for index, run in enumerate(runs[:-1]):
        earlier = run.tests[name(0)]
        runs[index] = dataclasses.replace(
            run,
            tests={
                **run.tests,
                second.test_id: dataclasses.replace(earlier, test_id=second.test_id, nodeid=second.nodeid),
            },
        )

    finding = only(counts.detect(History(runs), OPTIONS))

    assert finding.title == "new statement SELECT * FROM order_items WHERE order_id = ?, in 2 tests"
    assert next(m for m in finding.measurements if m.name == "tests").value == 2
    assert f"{name(0)}, {name(0)}2 now runs" in finding.suggestion


def test_a_new_statement_alone_is_a_count_regression() -> None:
    old = frozenset({"fp-a"})

    finding = only(counts.detect(count_history([3, 3, 3], [old, old, old | {"fp-new"}]), OPTIONS))

    assert finding.title == f"{name(0)}: new statement SELECT * FROM order_items WHERE order_id = ?"


@pytest.mark.parametrize(
    "queries",
    [
        [3, 3, 3, 3, 3],  # unchanged
        [3, 3, 3, 3, 2],  # fewer: an improvement
        [12, 12, 12, 3, 12],  # back to its usual count after one odd run: not above the baseline
        [3, 3, 3, 12, 12],  # increased one run earlier: reported then, not again
        [10, 10, 10, 10, 10.5],  # +0.5: under count_min_increase
    ],
)
def test_counts_that_did_not_go_up_against_both_references_are_not_findings(queries: list[float]) -> None:
    assert counts.detect(count_history(queries), OPTIONS) == []


@pytest.mark.parametrize("runs", [4, 5, 21, 22])
def test_a_connection_count_alternating_between_0_and_1_is_not_a_regression(runs: int) -> None:
    assert counts.detect(count_history([3] * runs, connections=[run % 2 for run in range(runs)]), OPTIONS) == []


def test_a_new_physical_connection_per_test_is_a_count_regression() -> None:
    finding = only(counts.detect(count_history([3] * 5, connections=[0, 0, 0, 0, 1]), OPTIONS))

    assert finding.title == f"{name(0)}: 1 physical connection instead of 0"
    assert "share one engine" in finding.suggestion


def test_a_new_test_or_a_failed_run_is_not_a_count_regression() -> None:
    first = run_summary(0, [0.1])
    second = run_summary(1, [0.1, 0.1], db={1: {"queries": 40.0}})
    failed = run_summary(2, [0.1, 0.1], db={0: {"queries": 40.0}}, outcomes={0: "failed"})

    assert counts.detect(History([first, second]), OPTIONS) == []
    assert counts.detect(History([first, failed]), OPTIONS) == []
    assert counts.detect(History([first]), OPTIONS) == []


def test_a_count_that_rose_without_a_change_of_revision_points_at_the_run_not_at_a_change_of_code() -> None:
    runs = tuple(dataclasses.replace(run, revision="abc123") for run in count_history([3, 3, 3, 3, 12]).runs)

    finding = only(counts.detect(History(runs), OPTIONS))

    assert finding.suggestion.startswith(
        "Look at what changed in run run04 (same revision, abc123, as the run before it: look at data, "
        f"dependencies, configuration or the machine): {name(0)} now runs 12 queries instead of 3."
    )
