"""Steady times: the newest run's work, at the fastest time the newest runs that did the same work took."""

from __future__ import annotations

import dataclasses

import pytest

from otel_pytest.analyze.detectors import schema, steady
from otel_pytest.analyze.model import History, Repetition, RunSummary
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import fixture, history, run, sample, slow_shop_run, statement

OPTIONS = AnalysisOptions()
TEST = "tests/test_a.py::test_a"


def one_test_run(run_id: str, call: float, *, queries: float = 3.0, revision: str | None = "rev1") -> RunSummary:
    db = {"queries": queries, "query_time": call / 2}
    repetition = Repetition("fp1", "call", 5, call / 4)
    tests = [sample(TEST, setup=0.01, call=call, db=db, repetitions=[repetition])]
    fixtures = [fixture("db", setups=1, setup_time=call, db={"connections": 1.0, "connection_time": call / 3})]
    statements = [statement("fp1", "SELECT ?", count=5, total_time=call / 4, tests=1)]
    return run(run_id, tests, fixtures=fixtures, statements=statements, revision=revision, wall_time=call * 10)


def test_every_time_is_the_fastest_of_the_runs_that_did_the_same_work() -> None:
    judged = steady.current(history(one_test_run("r1", 0.2), one_test_run("r2", 0.1), one_test_run("r3", 0.4)), OPTIONS)

    assert judged is not None
    test = judged.tests[TEST]
    assert (judged.run_id, judged.wall_time) == ("r3", 1.0)
    assert (test.call, test.duration, test.db["query_time"], test.repetitions[0].total) == (0.1, 0.11, 0.05, 0.025)
    [db] = judged.fixtures.values()
    assert [db.setup_time, db.db["connection_time"]] == pytest.approx([0.1, 0.1 / 3])
    assert judged.statements["fp1"].total_time == 0.025


def test_counts_are_the_newest_runs_and_what_did_other_work_keeps_its_newest_times() -> None:
    judged = steady.current(history(one_test_run("r1", 0.1), one_test_run("r2", 0.4, queries=9.0)), OPTIONS)

    assert judged is not None
    test = judged.tests[TEST]
    assert (test.db["queries"], test.call, test.db["query_time"]) == (9.0, 0.4, 0.2)


def test_the_window_stops_at_another_revision_or_other_fixtures() -> None:
    other_fixtures = dataclasses.replace(one_test_run("r2", 0.1), fixtures={})
    for older in (one_test_run("r2", 0.1, revision="rev0"), other_fixtures):
        runs = history(one_test_run("r1", 0.05), older, one_test_run("r3", 0.3))

        assert [r.run_id for r in steady.window(runs, OPTIONS)] == ["r3"]
        assert steady.current(runs, OPTIONS) == runs.runs[-1]


def test_the_window_holds_at_most_steady_runs_runs() -> None:
    runs = history(*(one_test_run(f"r{n}", 0.1 + n / 100) for n in range(12)))

    assert [r.run_id for r in steady.window(runs, OPTIONS)] == [f"r{n}" for n in range(11, 1, -1)]
    assert [r.run_id for r in steady.window(runs, dataclasses.replace(OPTIONS, steady_runs=2))] == ["r11", "r10"]


def test_no_runs_nothing_to_judge() -> None:
    assert steady.window(History(()), OPTIONS) == []
    assert steady.current(History(()), OPTIONS) is None
    assert steady.steadied(History(()), OPTIONS) == History(())


def test_identical_runs_on_a_busy_machine_give_the_same_saving() -> None:
    # The slow shop suite five times, its times 0-40 % slower in some runs: the schema
    # finding's saving is the one of the fastest run, whichever run is the newest.
    def slowed(number: int, factor: float) -> RunSummary:
        shop = slow_shop_run(f"r{number}")
        fixtures = {
            key: dataclasses.replace(
                item,
                setup_time=item.setup_time * factor,
                teardown_time=item.teardown_time * factor,
                db={k: v * factor if k.endswith("_time") else v for k, v in item.db.items()},
            )
            for key, item in shop.fixtures.items()
        }
        return dataclasses.replace(shop, fixtures=fixtures)

    factors = (1.0, 1.4, 1.1, 1.3, 1.2)
    savings = {
        schema.detect(history(*(slowed(n, f) for n, f in enumerate(factors[:end]))), OPTIONS)[0].saving
        for end in range(1, len(factors) + 1)
    }

    [saving] = savings
    assert saving == pytest.approx((1.256 - 0.2492) * 27 / 28)


def test_the_steadied_history_is_made_once_for_one_history_and_again_for_another() -> None:
    runs = history(one_test_run("r1", 0.2), one_test_run("r2", 0.1))
    same = history(*runs.runs)

    first = steady.steadied(runs, OPTIONS)

    assert first.runs[0] is runs.runs[0]  # the runs before the newest as they were
    assert first.runs[-1] == steady.current(runs, OPTIONS)
    assert steady.steadied(runs, OPTIONS) is first
    assert steady.steadied(same, OPTIONS) is not first
    assert steady.steadied(same, OPTIONS) == first
