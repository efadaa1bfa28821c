"""The count detector on constructed histories: exact counts, new statements, merged findings,
regressions reported while they hold and closed once they are gone."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from otel_pytest.analyze.detectors import counts
from otel_pytest.analyze.findings import Finding, RunRef
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
    assert finding.severity == "medium"  # 4.5 ms is 4.5 % of this 0.1 s run
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
        [12, 3, 3, 12, 12],  # 12 is in its baseline: a count that flips is not a regression
        [3, 4, 3, 4, 3, 4],  # flips between two values
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


def test_a_raised_count_is_reported_in_every_run_while_it_holds_with_the_run_it_began_in() -> None:
    queries = [3, 3, 3, 3, 12, 12, 12, 12, 12, 12]
    for newest in range(5, len(queries) + 1):
        [finding] = counts.detect(count_history(queries[:newest]), OPTIONS)

        assert (finding.status, finding.began, finding.ended, finding.age) == (
            "open",
            RunRef("run04", "rev04"),
            None,
            newest - 4,
        )
        assert finding.key == "queries"
        shown = only([finding])
        assert shown.title == f"{name(0)}: 12 queries instead of 3"
        assert shown.confidence == (
            f"exact counts: every passed run since run run04 (rev04), "
            f"{'the newest run only' if newest == 5 else f'{newest - 4} runs'} above every one of the 4 passed "
            "runs before it (their median shown as the baseline)"
        )
        assert "Look at the change in rev04 (run run04): " in shown.suggestion
        assert finding.saving == pytest.approx(9 * 0.0005)


def test_a_count_regression_keeps_its_id_from_run_to_run() -> None:
    queries = [3, 3, 3, 12, 12, 12]
    ids = {only_finding(counts.detect(count_history(queries[:newest]), OPTIONS)).id for newest in (4, 5, 6)}
    assert len(ids) == 1


def only_finding(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


def test_a_count_that_went_back_is_closed_in_the_run_it_went_back_saving_nothing() -> None:
    finding = only_finding(counts.detect(count_history([3, 3, 3, 12, 12, 3, 3]), OPTIONS))

    assert (finding.status, finding.began, finding.ended) == (
        "closed",
        RunRef("run03", "rev03"),
        RunRef("run05", "rev05"),
    )
    assert (finding.saving, finding.severity, finding.key) == (0.0, "low", "queries")
    shown = only([finding])
    assert shown.title == f"fixed in run run05: {name(0)}: back to 3 queries (12 while raised)"
    assert shown.suggestion == f"Nothing to do: {name(0)} runs what it ran before run run03 again."
    assert [(m.name, m.value, m.baseline) for m in finding.measurements] == [
        ("queries", 3.0, 3.0),
        ("queries while raised", 12.0, None),
    ]


def test_a_closed_count_regression_is_reported_while_its_end_is_among_the_newest_current_runs() -> None:
    queries = [3, 3, 3, 12, 12] + [3] * 6
    options = AnalysisOptions(current_runs=5)

    assert [f.status for f in counts.detect(count_history(queries[:10]), options)] == ["closed"]
    assert counts.detect(count_history(queries), options) == []


def test_a_partly_fixed_count_stays_open_from_the_run_it_first_rose() -> None:
    finding = only_finding(counts.detect(count_history([3, 3, 3, 12, 12, 8, 8]), OPTIONS))

    assert (finding.status, finding.began, finding.age) == ("open", RunRef("run03", "rev03"), 4)
    assert only([finding]).title == f"{name(0)}: 8 queries instead of 3"


def test_counts_that_rose_at_different_runs_are_separate_findings_each_with_its_age() -> None:
    history = count_history([3, 3, 3, 12, 12, 12], connections=[0, 0, 0, 0, 0, 1])

    found = sorted(counts.detect(history, OPTIONS), key=lambda finding: finding.key)

    assert [(f.key, f.age, f.began) for f in found] == [
        ("connections", 1, RunRef("run05", "rev05")),
        ("queries", 3, RunRef("run03", "rev03")),
    ]
    assert len({f.id for f in found}) == 2


def test_a_new_statement_is_reported_while_the_test_runs_it_and_closed_once_it_does_not() -> None:
    old = frozenset({"fp-a"})
    new = old | {"fp-new"}
    sets = [old, old, old, new, new, old]
    queries = [3, 3, 3, 3, 3, 3]

    open_finding = only_finding(counts.detect(count_history(queries[:5], sets[:5]), OPTIONS))
    closed = only_finding(counts.detect(count_history(queries, sets), OPTIONS))

    assert (open_finding.status, open_finding.key, open_finding.age) == ("open", "new statements", 2)
    assert (closed.status, closed.ended) == ("closed", RunRef("run05", "rev05"))
    assert open_finding.id == closed.id
    assert only([closed]).title == (
        f"fixed in run run05: {name(0)}: no more new statement SELECT * FROM order_items WHERE order_id = ?"
    )


def test_a_statement_the_test_ran_before_within_its_baseline_is_not_new() -> None:
    old = frozenset({"fp-a"})
    new = old | {"fp-new"}
    assert counts.detect(count_history([3] * 5, [new, old, old, new, new]), OPTIONS) == []


def test_a_rise_after_a_fix_is_judged_from_the_fixed_level_that_held_before_it() -> None:
    """The demo: the slow suite ran 39 queries, the fixed one 29 for 4 runs, then an N+1 made it 33."""
    finding = only_finding(counts.detect(count_history([39, 39, 29, 29, 29, 29, 33]), OPTIONS))

    assert (finding.status, finding.began, finding.age) == ("open", RunRef("run06", "rev06"), 1)
    assert only([finding]).title == f"{name(0)}: 33 queries instead of 29"


@pytest.mark.parametrize("fixed_runs", [1, 2])
def test_a_lower_level_shorter_than_count_stable_runs_is_no_baseline(fixed_runs: int) -> None:
    assert counts.detect(count_history([39, 39, *[29] * fixed_runs, 33]), OPTIONS) == []


REVERTED = [10, 10, 10, 10, 9, 9, 9, 9, 10, 10]  # queries: a change in run04 lowered them, run08 undid it


def test_a_count_back_where_it_was_when_a_regression_of_the_test_was_reverted_is_part_of_the_fix() -> None:
    """The demo's revert: the N+1 change (run04) added a statement and, as a side effect, took one
    query off; reverting it (run08) removes the statement and brings the query back."""
    old = frozenset({"fp-a"})
    sets = [old] * 4 + [old | {"fp-new"}] * 4 + [old] * 2

    finding = only_finding(counts.detect(count_history(REVERTED, sets), OPTIONS))

    assert (finding.status, finding.key, finding.began, finding.ended) == (
        "closed",
        "new statements",
        RunRef("run04", "rev04"),
        RunRef("run08", "rev08"),
    )


def test_a_count_back_where_it_was_after_an_optimisation_of_its_own_is_a_regression() -> None:
    finding = only_finding(counts.detect(count_history(REVERTED, [frozenset({"fp-a"})] * 10), OPTIONS))

    assert (finding.status, finding.began) == ("open", RunRef("run08", "rev08"))
    assert only([finding]).title == f"{name(0)}: 10 queries instead of 9"


def test_a_count_rising_above_where_it_was_before_a_reverted_change_is_a_regression() -> None:
    old = frozenset({"fp-a"})
    sets = [old] * 4 + [old | {"fp-new"}] * 4 + [old] * 2
    queries = [*REVERTED[:8], 14, 14]

    found = sorted(counts.detect(count_history(queries, sets), OPTIONS), key=lambda finding: finding.key)

    assert [(f.key, f.status) for f in found] == [("new statements", "closed"), ("queries", "open")]
