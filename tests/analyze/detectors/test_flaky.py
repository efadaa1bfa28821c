"""The flaky detector: outcomes that flip between runs of one revision."""

from __future__ import annotations

from otel_pytest.analyze.detectors import flaky
from otel_pytest.analyze.findings import Location, Measurement, RunRef
from otel_pytest.analyze.model import History, RunSummary
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import Reported, history, reports, run, sample

OPTIONS = AnalysisOptions()
REVISION = "9c1d2e3f4a5b6c7d8e9f"
TEST = "tests/test_orders.py::test_best_sellers"
STEADY = "tests/test_orders.py::test_total"


def runs_with(outcomes: list[str], *, revision: str | None = REVISION, commits: int = 0) -> list[RunSummary]:
    """One run per outcome of TEST, beside a test that always passes."""
    return [
        run(
            f"r{number}",
            [
                sample(TEST, outcome=outcome, call=0.01, line=102, db={"commits": commits} if commits else None),
                sample(STEADY),
            ],
            revision=revision,
        )
        for number, outcome in enumerate(outcomes)
    ]


def test_a_test_that_passed_failed_and_passed_on_one_revision_is_flaky() -> None:
    findings = reports(flaky.detect(history(*runs_with(["passed", "failed", "passed"])), OPTIONS))

    assert findings == [
        Reported(
            kind="flaky",
            severity="medium",
            title=f"Flaky: {TEST} failed 1 of 3 runs of revision 9c1d2e3f4a5b",
            location=Location(test=TEST, file="tests/test_orders.py", line=102),
            measurements=(
                Measurement("runs of the revision", 3, "count"),
                Measurement("passed", 2, "count"),
                Measurement("failed or error", 1, "count"),
                Measurement("failure rate", 100 / 3, "%"),
            ),
            confidence=(
                f"exact: outcomes in 3 runs of revision {REVISION}: 2 passed, 1 failed or errored; "
                "no saving estimate: a flaky test costs re-runs and trust, not time in one run"
            ),
            suggestion=(
                f"Reproduce it: run `pytest '{TEST}'` repeatedly, alone and after the tests that run before it "
                "in the suite. Look for state shared between tests (rows other tests committed, a wider-scoped "
                "fixture's mutable value), assumptions about time or order, and tasks left running."
            ),
            evidence={"revision": REVISION, "r0": "passed", "r1": "failed", "r2": "passed"},
        )
    ]


def test_a_flaky_test_is_medium_even_when_it_failed_in_the_current_run_and_an_error_counts_as_a_failure() -> None:
    # It has no saving estimate, so it is never high; it harms results, so never low.
    [finding] = reports(flaky.detect(history(*runs_with(["passed", "error"])), OPTIONS))

    assert finding.severity == "medium"
    assert finding.title == f"Flaky: {TEST} failed 1 of 2 runs of revision 9c1d2e3f4a5b"


def test_a_test_that_commits_is_told_to_roll_back() -> None:
    [finding] = reports(flaky.detect(history(*runs_with(["failed", "passed"], commits=3)), OPTIONS))

    assert finding.suggestion.endswith(
        "It commits (3 COMMITs in its latest run): rows left by other tests or by itself can change its result; "
        "roll back per test instead (a savepoint per test)."
    )


def test_flips_across_revisions_are_not_flaky() -> None:
    earlier, current = runs_with(["failed", "passed"])
    fixed = run("r9", current.tests.values(), revision="another")

    assert flaky.detect(history(earlier, fixed), OPTIONS) == []
    assert flaky.detect(history(earlier, current, fixed), OPTIONS) == []


def test_skips_and_expected_failures_are_not_flips() -> None:
    assert flaky.detect(history(*runs_with(["passed", "skipped", "xfailed", "xpassed", "passed"])), OPTIONS) == []


def test_one_run_or_no_revision_is_not_enough() -> None:
    assert flaky.detect(History(runs=()), OPTIONS) == []
    assert flaky.detect(history(*runs_with(["failed"])), OPTIONS) == []
    assert flaky.detect(history(*runs_with(["failed", "passed"], revision=None)), OPTIONS) == []


def test_runs_of_the_revision_need_not_be_consecutive() -> None:
    first, second = runs_with(["failed", "passed"])
    between = run("other", [sample(TEST, outcome="failed")], revision="another")

    [finding] = reports(flaky.detect(history(first, between, second), OPTIONS))

    assert finding.evidence == {"revision": REVISION, "r0": "failed", "r1": "passed"}


def test_a_flaky_test_is_flaky_since_the_first_run_of_the_revision_whose_outcome_disagreed() -> None:
    [found] = flaky.detect(history(*runs_with(["passed", "passed", "failed", "passed"])), OPTIONS)

    assert (found.began, found.age, found.status) == (RunRef("r2", REVISION), 2, "open")
