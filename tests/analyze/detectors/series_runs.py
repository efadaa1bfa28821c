"""Constructed histories with known truth (seeded numpy) for the duration and count detectors."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from otel_pytest.analyze.findings import Finding
from otel_pytest.analyze.model import FixtureStats, History, RunSummary, StatementStats
from otel_pytest.analyze.model import TestSample as Sample
from tests.analyze.detectors.runs import Reported, reports


def noise(seed: int, shape: tuple[int, ...], cv: float) -> np.ndarray:
    """Log-normal noise with mean 1 and the given coefficient of variation."""
    rng = np.random.default_rng(seed)
    sigma = math.sqrt(math.log(1 + cv * cv))
    return np.exp(rng.normal(-sigma * sigma / 2, sigma, shape))


def timings(seed: int, tests: int = 40, runs: int = 50, cv: float = 0.10, level: float = 0.1) -> np.ndarray:
    """``tests`` x ``runs`` test durations around ``level`` seconds."""
    return level * noise(seed, (tests, runs), cv)


def name(index: int) -> str:
    return f"tests/test_shop.py::test_{index:03d}"


def run_summary(
    run: int,
    values: Sequence[float] | np.ndarray,
    *,
    db: Mapping[int, Mapping[str, float]] | None = None,
    statements: Mapping[int, frozenset[str]] | None = None,
    fixtures: Mapping[str, FixtureStats] | None = None,
    stats: Mapping[str, StatementStats] | None = None,
    outcomes: Mapping[int, str] | None = None,
) -> RunSummary:
    tests = {}
    for index, value in enumerate(values):
        if math.isnan(value):
            continue
        tests[name(index)] = Sample(
            test_id=name(index),
            nodeid=name(index),
            file="tests/test_shop.py",
            line=10 + index,
            outcome=(outcomes or {}).get(index, "passed"),
            duration=float(value),
            setup=0.0,
            call=float(value),
            teardown=0.0,
            db=(db or {}).get(index, {}),
            statements=(statements or {}).get(index, frozenset()),
        )
    return RunSummary(
        run_id=f"run{run:02d}",
        start_time=float(run),
        source="constructed",
        environment="ci",
        revision=f"rev{run:02d}",
        tests=tests,
        fixtures=fixtures or {},
        statements=stats or {},
    )


def history(matrix: np.ndarray) -> History:
    return History([run_summary(run, matrix[:, run]) for run in range(matrix.shape[1])])


def only(findings: Sequence[Finding]) -> Reported:
    """The one finding, as reported (its data and words)."""
    shown = reports(findings)
    assert len(shown) == 1, [finding.title for finding in shown]
    return shown[0]
