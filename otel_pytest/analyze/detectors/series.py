"""The series the duration detector judges: one per test, fixture phase and statement.

A :class:`SeriesMatrix` holds every series of a history as one ``(series, runs)`` array,
``NaN`` where a run has no value: tests (own duration of passed runs), fixtures (setup and
teardown time per call) and statements (time per execution). Built once per analysis and
read by :mod:`~otel_pytest.analyze.detectors.judgement` (and by bench/accuracy.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from otel_pytest.analyze.findings import Location
from otel_pytest.analyze.model import History, TestSample
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.stats import BoolArray, FloatArray

# The outcomes whose runs measure a test: a failure or a skip says nothing about its speed or its work.
COUNTED_OUTCOMES = frozenset({"passed"})


@dataclass(frozen=True)
class SeriesInfo:
    """What one series measures, and where it points."""

    key: str  # unique within an analysis: "<kind>:<identity>"
    kind: str  # "test", "fixture setup", "fixture teardown", "statement"
    name: str  # the node id, the fixture's name or the statement's fingerprint
    measure: str  # "own duration", "setup per call", "teardown per call", "time per execution"
    location: Location
    calls: float  # how often the newest run paid the value (1 for a test): saving = difference x calls
    counted: str = "runs"  # what ``calls`` counts: "runs", "setups", "teardowns", "executions"


@dataclass(frozen=True)
class SeriesMatrix:
    """Every series of a history: raw values ``(series, runs)``, ``NaN`` where absent."""

    infos: tuple[SeriesInfo, ...]
    values: FloatArray
    is_test: BoolArray


def build_series(history: History) -> SeriesMatrix:
    """Tests (own duration of passed runs: a failure or a skip says nothing about speed),
    fixtures (setup and teardown time per call) and statements (time per execution), with
    their description taken from the newest run that has them."""
    runs = history.runs
    rows: dict[str, int] = {}
    infos: dict[str, SeriesInfo] = {}
    cells: list[tuple[int, int, float]] = []

    def add(column: int, info: SeriesInfo, value: float) -> None:
        row = rows.setdefault(info.key, len(rows))
        infos[info.key] = info  # runs are oldest first: the newest description wins
        cells.append((row, column, value))

    for column, run in enumerate(runs):
        for sample in run.tests.values():
            if sample.outcome in COUNTED_OUTCOMES:
                add(column, _test_info(sample), sample.own_duration)
        for fixture in run.fixtures.values():
            site = Location(fixture=fixture.name, file=fixture.file, line=fixture.line)
            for phase, calls, spent in (
                ("setup", fixture.setups, fixture.setup_time),
                ("teardown", fixture.teardowns, fixture.teardown_time),
            ):
                if calls > 0:
                    info = SeriesInfo(
                        f"fixture {phase}:{fixture.key}",
                        f"fixture {phase}",
                        fixture.name,
                        f"{phase} per call",
                        site,
                        float(calls),
                        f"{phase}s",
                    )
                    add(column, info, spent / calls)
        for statement in run.statements.values():
            if statement.count > 0:
                info = SeriesInfo(
                    f"statement:{statement.fingerprint_id}",
                    "statement",
                    statement.fingerprint,
                    "time per execution",
                    Location(fingerprint=statement.fingerprint),
                    float(statement.count),
                    "executions",
                )
                add(column, info, statement.total_time / statement.count)
    ordered = sorted(rows, key=rows.__getitem__)
    values = np.full((len(ordered), len(runs)), np.nan)
    if cells:
        r, c, v = (np.asarray(part) for part in zip(*cells, strict=True))
        values[r.astype(np.int64), c.astype(np.int64)] = v
    is_test = np.array([infos[key].kind == "test" for key in ordered], dtype=bool)
    return SeriesMatrix(tuple(infos[key] for key in ordered), values, is_test)


def _test_info(sample: TestSample) -> SeriesInfo:
    return SeriesInfo(
        f"test:{sample.test_id}",
        "test",
        sample.nodeid,
        "own duration",
        Location(test=sample.nodeid, file=sample.file, line=sample.line),
        1.0,
    )


def floors(infos: Sequence[SeriesInfo], options: AnalysisOptions) -> FloatArray:
    """Each series' smallest difference worth reporting: ``floor_statement`` per execution
    for statements, ``floor_test`` for tests and fixtures per call."""
    return np.array(
        [options.floor_statement if info.kind == "statement" else options.floor_test for info in infos],
        dtype=np.float64,
    )
