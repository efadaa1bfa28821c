"""The run the pattern detectors judge: the newest run, with its times taken from the
newest runs that did the same work, so that identical runs are given the same savings.

One run's times swing with the machine (a 10 ms connect is 25 ms when the CI neighbour is
busy): a saving taken from the newest run alone moved by -40 %/+100 % between identical
runs of the demo on a shared machine. Method: the *window* is the newest run and the runs
just before it, going back while a run has the newest's revision (or both have none) and
the newest's fixture definitions, at most ``options.steady_runs`` runs. Every test,
fixture definition and statement of the newest run then gets, for each of its times
(durations, phase times, ``*_time`` database keys, a repetition's total, the run's wall
time), the *fastest* value among the window's runs in which it did exactly the same
countable work. The fastest, not the median: the noise of a duration is one-sided (a busy
machine, a cold cache or the first run after the database started only add time), so the
fastest run is the cost without interference, and a saving taken from it is one the fix
is sure to give; the median of a few runs on a machine whose load drifts moved by ±40 %
(bench/repeat_runs.py, docs/benchmarks.md). Doing the same work means: the same outcome, database
counts (every ``db`` key that is not a time), statements and repetitions for a test; the
same setups, teardowns and counts for a fixture; the same executions for a statement. What
did other work (the test whose queries went up in the newest run) keeps its newest values,
so a change is never averaged away; counts are always the newest run's. Ids, revision and
everything else are the newest run's, so findings still name it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from otel_pytest.analyze.detectors.db_work import TIME_SUFFIX
from otel_pytest.analyze.model import FixtureStats, History, RunSummary, StatementStats, TestSample
from otel_pytest.analyze.options import AnalysisOptions

T = TypeVar("T")


def window(history: History, options: AnalysisOptions) -> list[RunSummary]:
    """The newest run and the runs before it that did the same suite (see the module
    docstring), newest first; empty for an empty history."""
    runs = list(reversed(history.runs))
    if not runs:
        return []
    newest = runs[0]
    definitions = set(newest.fixtures)
    chosen = [newest]
    for run in runs[1 : options.steady_runs]:
        if run.revision != newest.revision or set(run.fixtures) != definitions:
            break
        chosen.append(run)
    return chosen


def steadied(history: History, options: AnalysisOptions) -> History:
    """``history`` with its newest run's times made steady (:func:`current`): what the
    pattern detectors judge. The runs before it stay as they were: a detector judges each
    of them alone only to tell since when a finding holds
    (:func:`~otel_pytest.analyze.detectors.evidence.dated`).

    The five pattern detectors of one analysis ask for it in turn, and for 2,000 tests over
    10 runs it takes over half a second: the last answer is kept for the same history and
    options objects (:class:`_Asked`). It depends on nothing else, so this saves time and
    changes no result.
    """
    return _steadied(_Asked(history, options))


@dataclass(frozen=True, eq=False)
class _Asked:
    """A question to :func:`steadied`, equal only to the same objects asked again (a
    history holds mappings, so it has no hash of its own)."""

    history: History
    options: AnalysisOptions

    def __hash__(self) -> int:
        return hash((id(self.history), id(self.options)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Asked) and other.history is self.history and other.options is self.options


@functools.lru_cache(maxsize=1)
def _steadied(asked: _Asked) -> History:
    history = asked.history
    run = current(history, asked.options)
    if run is None or run is history.current:
        return history
    return dataclasses.replace(history, runs=(*history.runs[:-1], run))


def current(history: History, options: AnalysisOptions) -> RunSummary | None:
    """The newest run with steady times (see the module docstring); None without runs."""
    runs = window(history, options)
    if not runs:
        return None
    newest, earlier = runs[0], runs[1:]
    if not earlier:
        return newest
    return dataclasses.replace(
        newest,
        wall_time=_level([newest.wall_time, *(run.wall_time for run in earlier)]),
        tests=_steady(newest.tests, [run.tests for run in earlier], _test_work, _test),
        fixtures=_steady(newest.fixtures, [run.fixtures for run in earlier], _fixture_work, _fixture),
        statements=_steady(newest.statements, [run.statements for run in earlier], _statement_work, _statement),
    )


def _level(values: Sequence[float]) -> float:
    """The steady level of one time over the window: its fastest value (see the module docstring)."""
    return float(min(values))


def _steady(
    newest: Mapping[str, T],
    earlier: Sequence[Mapping[str, T]],
    work: Callable[[T], Hashable],
    combine: Callable[[Sequence[T]], T],
) -> dict[str, T]:
    """Each item of ``newest`` combined with its namesakes of ``earlier`` that did the same
    ``work``, the newest first."""
    steady = {}
    for key, item in newest.items():
        mine = work(item)
        same = [item, *(items[key] for items in earlier if key in items and work(items[key]) == mine)]
        steady[key] = combine(same) if len(same) > 1 else item
    return steady


def _counts(db: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((key, value) for key, value in db.items() if not key.endswith(TIME_SUFFIX)))


def _times(items: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The newest summary with each of its time keys at its level over ``items``."""
    newest = items[0]
    return {
        key: _level([db.get(key, 0.0) for db in items]) if key.endswith(TIME_SUFFIX) else value
        for key, value in newest.items()
    }


def _test_work(test: TestSample) -> Hashable:
    repetitions = tuple((r.fingerprint_id, r.parent, r.count) for r in test.repetitions)
    return (test.outcome, _counts(test.db), test.statements, repetitions)


def _test(same: Sequence[TestSample]) -> TestSample:
    newest = same[0]
    # The same work means the same repetitions, in the same order.
    repetitions = tuple(
        dataclasses.replace(repetition, total=_level([test.repetitions[index].total for test in same]))
        for index, repetition in enumerate(newest.repetitions)
    )
    return dataclasses.replace(
        newest,
        duration=_level([test.duration for test in same]),
        setup=_level([test.setup for test in same]),
        call=_level([test.call for test in same]),
        teardown=_level([test.teardown for test in same]),
        shared_fixture_time=_level([test.shared_fixture_time for test in same]),
        db=_times([test.db for test in same]),
        repetitions=repetitions,
    )


def _fixture_work(fixture: FixtureStats) -> Hashable:
    statements = tuple(sorted(fixture.statements.items()))
    return (fixture.scope, fixture.setups, fixture.teardowns, fixture.ddl_setups, _counts(fixture.db), statements)


def _fixture(same: Sequence[FixtureStats]) -> FixtureStats:
    return dataclasses.replace(
        same[0],
        setup_time=_level([fixture.setup_time for fixture in same]),
        teardown_time=_level([fixture.teardown_time for fixture in same]),
        db=_times([fixture.db for fixture in same]),
    )


def _statement_work(statement: StatementStats) -> Hashable:
    return (statement.count, statement.tests)


def _statement(same: Sequence[StatementStats]) -> StatementStats:
    return dataclasses.replace(same[0], total_time=_level([statement.total_time for statement in same]))
