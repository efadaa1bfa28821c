"""Severity and savings, one rule for every kind of finding."""

from __future__ import annotations

import dataclasses

import pytest

from otel_pytest.analyze.detectors.impact import claims, fixture_costs, once_instead_of, run_time, severity
from otel_pytest.analyze.findings import Claim
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import fixture, run, sample

OPTIONS = AnalysisOptions()
TWO_SECONDS = run("r1", [sample("tests/test_a.py::test_a", call=5.0)], wall_time=2.0)
TWENTY_SECONDS = dataclasses.replace(TWO_SECONDS, wall_time=20.0)


def test_the_run_time_is_the_wall_time_or_else_the_sum_of_the_tests() -> None:
    assert run_time(TWO_SECONDS) == 2.0
    assert run_time(dataclasses.replace(TWO_SECONDS, wall_time=0.0)) == 5.0


@pytest.mark.parametrize(
    ("seconds", "expected"), [(0.2, "high"), (0.199, "medium"), (0.04, "medium"), (0.039, "low"), (0.0, "low")]
)
def test_severity_is_the_share_of_the_run_time(seconds: float, expected: str) -> None:
    assert severity(seconds, TWO_SECONDS, OPTIONS) == expected


@pytest.mark.parametrize(("seconds", "expected"), [(1.0, "high"), (0.999, "medium"), (0.1, "medium"), (0.099, "low")])
def test_severity_is_also_the_seconds_per_run_whatever_the_share(seconds: float, expected: str) -> None:
    # In a 20 s run, 1 s is 5 % and 0.1 s 0.5 %: the seconds decide.
    assert severity(seconds, TWENTY_SECONDS, OPTIONS) == expected


def test_a_41_ms_regression_of_a_half_second_suite_is_not_low() -> None:
    half_second = dataclasses.replace(TWO_SECONDS, wall_time=0.5)

    assert severity(0.041, half_second, OPTIONS) == "medium"


def test_a_finding_that_is_not_sure_is_one_level_lower() -> None:
    assert severity(0.2, TWO_SECONDS, OPTIONS, sure=False) == "medium"
    assert severity(0.04, TWO_SECONDS, OPTIONS, sure=False) == "low"
    assert severity(0.01, TWO_SECONDS, OPTIONS, sure=False) == "low"


def test_a_finding_without_a_cost_estimate_is_never_high() -> None:
    assert severity(None, TWO_SECONDS, OPTIONS) == "low"
    assert severity(0.0, TWO_SECONDS, OPTIONS) == "low"
    assert severity(None, TWO_SECONDS, OPTIONS, serious=True) == "medium"


def test_a_serious_finding_is_at_least_medium() -> None:
    assert severity(0.001, TWO_SECONDS, OPTIONS, serious=True) == "medium"
    assert severity(0.5, TWO_SECONDS, OPTIONS, serious=True) == "high"


def test_severity_of_a_run_without_time_is_by_the_seconds_alone() -> None:
    assert severity(1.0, run("r1", []), OPTIONS) == "high"
    assert severity(0.05, run("r1", []), OPTIONS) == "low"


def test_doing_something_once_saves_all_repetitions_but_one() -> None:
    assert once_instead_of(2.8, 28) == pytest.approx(2.7)
    assert once_instead_of(1.0, 1) == 0.0
    assert once_instead_of(-1.0, 5) == 0.0


def test_a_fixtures_time_is_its_connection_set_up_and_its_other_work() -> None:
    connecting = fixture("db", setups=4, setup_time=0.3, teardown_time=0.1, db={"connection_time": 0.1})

    assert fixture_costs(connecting) == {
        f"fixture {connecting.key}: connection set-up": 0.1,
        f"fixture {connecting.key}: other work": pytest.approx(0.3),
    }


def test_a_saving_is_shared_out_over_the_costs_it_comes_from() -> None:
    assert claims(0.3, {"a": 0.1, "b": 0.3, "nothing": 0.0}) == (
        Claim("a", pytest.approx(0.075)),  # type: ignore[arg-type]
        Claim("b", pytest.approx(0.225)),  # type: ignore[arg-type]
    )
    assert claims(0.0, {"a": 0.1}) == ()
    assert claims(0.3, {"a": 0.0}) == ()
