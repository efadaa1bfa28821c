"""Severity and savings, shared by the pattern detectors."""

from __future__ import annotations

import dataclasses

import pytest

from otel_pytest.analyze.detectors.impact import once_instead_of, run_time, severity
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import run, sample

OPTIONS = AnalysisOptions()
TWO_SECONDS = run("r1", [sample("tests/test_a.py::test_a", call=5.0)], wall_time=2.0)


def test_the_run_time_is_the_wall_time_or_else_the_sum_of_the_tests() -> None:
    assert run_time(TWO_SECONDS) == 2.0
    assert run_time(dataclasses.replace(TWO_SECONDS, wall_time=0.0)) == 5.0


@pytest.mark.parametrize(
    ("seconds", "expected"), [(0.2, "high"), (0.199, "medium"), (0.04, "medium"), (0.039, "low"), (0.0, "low")]
)
def test_severity_is_the_share_of_the_run_time(seconds: float, expected: str) -> None:
    assert severity(seconds, TWO_SECONDS, OPTIONS) == expected


def test_severity_of_a_run_without_time_is_low() -> None:
    assert severity(1.0, run("r1", []), OPTIONS) == "low"


def test_doing_something_once_saves_all_repetitions_but_one() -> None:
    assert once_instead_of(2.8, 28) == pytest.approx(2.7)
    assert once_instead_of(1.0, 1) == 0.0
    assert once_instead_of(-1.0, 5) == 0.0
