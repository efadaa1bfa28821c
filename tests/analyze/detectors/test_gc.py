"""The GC detector: tests and fixtures whose time is mostly garbage-collection pauses, judged
over the newest runs so that one full collection landing in a test is not its fault."""

from __future__ import annotations

import dataclasses

from otel_pytest.analyze.detectors import gc
from otel_pytest.analyze.findings import Location, Measurement, RunRef
from otel_pytest.analyze.model import RunSummary
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import Reported, Sample, fixture, history, rounded, run, sample

OPTIONS = AnalysisOptions()
TEST = "tests/test_a.py::test_builds_a_tree"
SUGGESTION = (
    "A collection stops everything, and a full one walks every object the process holds, so it lands in "
    "whichever test allocates when the heap is big. Call `gc.freeze()` in conftest.py once the imports and the "
    "collected tests exist (a `pytest_collection_finish` hook, or a session fixture), so the collector no longer "
    "walks what lives for the whole run. If the code under test makes the garbage itself (many short-lived "
    "objects in reference cycles: parent pointers, closures, exceptions kept with their tracebacks), break the "
    "cycles (`weakref` for back-pointers). No saving is estimated: what either saves depends on what the heap "
    "holds."
)


def collecting(gc_time: float, collections: int = 3, test: str = TEST) -> Sample:
    """A test of 100 ms own time, ``gc_time`` of it in the collector's pauses."""
    return dataclasses.replace(
        sample(test, setup=0.01, call=0.08, teardown=0.01), gc_time=gc_time, gc_collections=collections
    )


def runs_with(*gc_times: float, revision: str = "abc") -> list[RunSummary]:
    quiet = sample("tests/test_a.py::test_quiet", call=0.1)
    return [
        run(f"r{index}", [collecting(seconds), quiet], revision=revision, wall_time=1.0)
        for index, seconds in enumerate(gc_times)
    ]


def test_a_test_mostly_in_gc_in_most_newest_runs_is_reported_with_the_fix() -> None:
    found = gc.detect(history(*runs_with(0.0, 0.07, 0.06, 0.08)), OPTIONS)
    assert rounded(found) == [
        Reported(
            kind="fixture",
            severity="medium",
            title=f"Test `{TEST}` spends 80% of its own time in garbage collection: 80 ms of 100 ms, 3 collections",
            location=Location(test=TEST),
            measurements=(
                Measurement("gc_time", 0.08, "s"),
                Measurement("gc_collections", 3, "count"),
                Measurement("gc_share", 80.0, "%"),
                Measurement("duration", 0.1, "s"),
            ),
            confidence=(
                "measured: the collector's pauses, timed through gc.callbacks while it ran; mostly GC in 3 of the "
                "4 newest runs it ran in"
            ),
            suggestion=SUGGESTION,
            evidence={"run": "r3", "revision": "abc"},
        )
    ]
    # It holds since r2 (judged on r0-r2, it was mostly GC in 2 of 3 runs; on r0-r1, 1 of 2).
    assert (found[0].key, found[0].began, found[0].age, found[0].saving) == ("gc", RunRef("r2", "abc"), 2, 0.0)


def test_one_unlucky_run_is_not_a_finding_nor_a_test_that_is_not_mostly_gc_now() -> None:
    assert gc.detect(history(*runs_with(0.0, 0.0, 0.0, 0.0, 0.09)), OPTIONS) == []
    assert gc.detect(history(*runs_with(0.09, 0.09, 0.09, 0.09, 0.04)), OPTIONS) == []


def test_a_single_run_is_judged_alone_and_tiny_pauses_are_below_the_floor() -> None:
    assert len(gc.detect(history(*runs_with(0.06)), OPTIONS)) == 1
    tiny = run("r0", [dataclasses.replace(sample(TEST, call=0.004), gc_time=0.003, gc_collections=1)])
    assert gc.detect(history(tiny), OPTIONS) == []


def test_a_fixture_mostly_in_gc_is_reported_at_its_definition() -> None:
    tree = dataclasses.replace(
        fixture("tree", scope="module", setups=2, setup_time=0.3, teardown_time=0.1, line=7),
        gc_time=0.3,
        gc_collections=2,
    )
    (found,) = gc.detect(history(run("r0", [sample(TEST, call=0.1)], fixtures=[tree], wall_time=1.0)), OPTIONS)
    shown = rounded([found])[0]
    assert (found.kind, found.severity, found.location) == (
        "fixture",
        "high",
        Location(fixture="tree", file="tests/conftest.py", line=7),
    )
    assert shown.title == (
        "Fixture `tree` (module scope) spends 75% of its setup and teardown time in garbage collection: "
        "300 ms of 400 ms, 2 collections"
    )


def test_no_runs_no_findings() -> None:
    assert gc.detect(history(), OPTIONS) == []
