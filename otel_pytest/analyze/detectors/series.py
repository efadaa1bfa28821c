"""The series the duration detector judges: one per test, fixture phase and statement.

A :class:`SeriesMatrix` holds every series of a history as one ``(series, runs)`` array,
``NaN`` where a run has no value: tests (own duration of passed runs), fixtures (setup and
teardown time per call, and setup time per run), statements (time per execution) and the
suite's setup (the setup phases of its tests, per run). Built once per analysis and read
by :mod:`~otel_pytest.analyze.detectors.judgement` (and by bench/accuracy.py).

A fixture is judged per call and per run: per call says whether each setup got slower,
per run what the run pays. When its setups per run changed (a scope change: 32 setups a
run became 1), per call compares a shared setup with a per-test one, so the per-call
series keeps only the runs with about the newest run's setups (``SCOPE_CHANGE``) and the
per-run series tells the change of cost. A statement is masked the same way: executed once
a session instead of once a test, its one execution pays what 32 shared (a cold plan, a
first touch of the table), so its time per execution is compared only across runs that
executed it about as often.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from otel_pytest.analyze.findings import Location
from otel_pytest.analyze.model import History, TestSample
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.stats import BoolArray, FloatArray

# The outcomes whose runs measure a test: a failure or a skip says nothing about its speed or its work.
COUNTED_OUTCOMES = frozenset({"passed"})
# A fixture whose setups per run (a statement whose executions) differ from the newest run's
# by this factor or more ran in another scope (or for other tests): its per-call values of
# those runs are not compared.
SCOPE_CHANGE = 2.0
# The series kinds judged per call (their ``calls`` vary with how often the run paid them).
PER_CALL = ("fixture setup", "fixture teardown", "statement")


@dataclass(frozen=True)
class SeriesInfo:
    """What one series measures, and where it points."""

    key: str  # unique within an analysis: "<kind>:<identity>"
    kind: str  # "test", "fixture setup", "fixture teardown", "fixture setup total", "statement", "suite setup"
    name: str  # the node id, the fixture's name or the statement's fingerprint
    measure: str  # "own duration", "setup per call", "teardown per call", "time per execution"
    location: Location
    calls: float  # how often the newest run paid the value (1 for a test): saving = difference x calls
    counted: str = "runs"  # what ``calls`` counts: "runs", "setups", "teardowns", "executions"


@dataclass(frozen=True)
class SeriesMatrix:
    """Every series of a history: raw values ``(series, runs)``, ``NaN`` where absent, and
    how often each run paid its value (``calls``, same shape: setups, executions; 1 for a
    test or a per-run total)."""

    infos: tuple[SeriesInfo, ...]
    values: FloatArray
    is_test: BoolArray
    calls: FloatArray
    # Per run: a fixture that also ran in the run before ran in another scope (the suite
    # changed: the speed index must not take what that did to every test for the machine).
    rescoped: BoolArray


def build_series(history: History) -> SeriesMatrix:
    """Tests (own duration of passed runs: a failure or a skip says nothing about speed),
    fixtures (setup and teardown time per call, setup time per run), statements (time per
    execution) and the suite's setup per run, with their description taken from the
    newest run that has them; per-call values across a scope change masked (see the
    module docstring)."""
    runs = history.runs
    rows: dict[str, int] = {}
    infos: dict[str, SeriesInfo] = {}
    cells: list[tuple[int, int, float, float]] = []
    # A test's description is made once, from its newest counted sample: a history holds
    # tens of thousands of samples of a few thousand tests.
    newest_samples: dict[str, TestSample] = {}

    def add(column: int, info: SeriesInfo, value: float, calls: float = 1.0) -> None:
        row = rows.setdefault(info.key, len(rows))
        infos[info.key] = info  # runs are oldest first: the newest description wins
        cells.append((row, column, value, calls))

    for column, run in enumerate(runs):
        setup = 0.0
        for sample in run.tests.values():
            if sample.outcome in COUNTED_OUTCOMES:
                key = f"test:{sample.test_id}"
                cells.append((rows.setdefault(key, len(rows)), column, sample.own_duration, 1.0))
                newest_samples[key] = sample
                setup += sample.setup
        if run.tests:
            add(column, SUITE_SETUP, setup)
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
                    add(column, info, spent / calls, float(calls))
            if fixture.setups > 0:
                total = SeriesInfo(
                    f"fixture setup total:{fixture.key}",
                    "fixture setup total",
                    fixture.name,
                    "setup per run",
                    site,
                    1.0,
                )
                add(column, total, fixture.setup_time)
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
                add(column, info, statement.total_time / statement.count, float(statement.count))
    infos.update((key, _test_info(sample)) for key, sample in newest_samples.items())
    ordered = sorted(rows, key=rows.__getitem__)
    values = np.full((len(ordered), len(runs)), np.nan)
    paid = np.full((len(ordered), len(runs)), np.nan)
    if cells:
        r, c, v, n = (np.asarray(part) for part in zip(*cells, strict=True))
        values[r.astype(np.int64), c.astype(np.int64)] = v
        paid[r.astype(np.int64), c.astype(np.int64)] = n
    described = tuple(infos[key] for key in ordered)
    is_test = np.array([info.kind == "test" for info in described], dtype=bool)
    per_call = np.array([info.kind in PER_CALL for info in described], dtype=bool)
    if per_call.any() and len(runs):
        values[per_call] = np.where(_same_scope(paid[per_call]), values[per_call], np.nan)
    return SeriesMatrix(described, values, is_test, paid, rescoped(history))


def rescoped(history: History) -> BoolArray:
    """For each run, whether a fixture name that tests also requested in the run before it
    came in other scopes: the fix "a shared engine, a schema created once" changes what every
    test pays at one run, which no machine does. By name, wherever defined (the fix may move
    the definition, as the demo's does); names added or removed do not count: a new test
    module brings its own without changing the others."""
    scopes = []
    for run in history.runs:
        by_name: dict[str, set[str]] = {}
        for fixture in run.fixtures.values():
            if fixture.setups > 0:
                by_name.setdefault(fixture.name, set()).add(fixture.scope)
        scopes.append(by_name)
    changed = [False] + [
        any(name in before and before[name] != scope for name, scope in after.items())
        for before, after in itertools.pairwise(scopes)
    ]
    return np.array(changed, dtype=bool)


SUITE_SETUP = SeriesInfo("suite setup:", "suite setup", "the suite", "setup per run", Location(), 1.0)


def _same_scope(calls: FloatArray) -> BoolArray:
    """Runs whose calls per run are within ``SCOPE_CHANGE`` of the newest run that has the
    series (a missing run counts as different)."""
    present = ~np.isnan(calls)
    newest_column = np.where(present.any(axis=1), calls.shape[1] - 1 - np.argmax(present[:, ::-1], axis=1), 0)
    newest = calls[np.arange(calls.shape[0]), newest_column]
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.maximum(calls / newest[:, None], newest[:, None] / calls)
    same: BoolArray = present & (factor < SCOPE_CHANGE)
    return same


def scope_change(matrix: SeriesMatrix, row: int, since: int) -> tuple[float, float] | None:
    """For a fixture's per-run series: its setups per run before run ``since`` (median) and
    in the newest run, when they differ by ``SCOPE_CHANGE`` or more; else ``None``."""
    info = matrix.infos[row]
    if info.kind != "fixture setup total":
        return None
    per_call = next(
        (r for r, other in enumerate(matrix.infos) if other.key == f"fixture setup:{info.key.split(':', 1)[1]}"),
        None,
    )
    if per_call is None:
        return None
    calls = matrix.calls[per_call]
    before = calls[:since][~np.isnan(calls[:since])]
    after = calls[since:][~np.isnan(calls[since:])]
    if before.size == 0 or after.size == 0:
        return None
    old, new = float(np.median(before)), float(after[-1])
    if max(old / new, new / old) < SCOPE_CHANGE:
        return None
    return old, new


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
