"""Building a history: order, comparable environments, the baseline reset, and a note for
everything left out."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest

from otel_pytest.analyze.history import BaselineError, build_history
from otel_pytest.analyze.model import RunSummary, TestSample
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.sources import Source

SAMPLE = TestSample("t.py::test_a", "t.py::test_a", "t.py", 1, "passed", 0.5, 0.1, 0.3, 0.1)


@dataclass
class Listed:
    """A source of given runs and problems."""

    listed: Sequence[RunSummary]
    reported: Sequence[str] = ()
    read: list[str] = field(default_factory=list)

    @property
    def description(self) -> str:
        return "a list"

    @property
    def problems(self) -> Sequence[str]:
        return list(self.reported)

    def runs(self) -> Iterator[RunSummary]:
        for run in self.listed:
            self.read.append(run.run_id)
            yield run


def run(
    run_id: str,
    start: float,
    environment: str = "env-a",
    tests: bool = True,
    source: str = "store",
    problems: tuple[str, ...] = (),
) -> RunSummary:
    return RunSummary(
        run_id=run_id,
        start_time=start,
        source=f"{source}/{run_id}",
        environment=environment,
        tests={SAMPLE.test_id: SAMPLE} if tests else {},
        problems=problems,
    )


def ids(sources: Sequence[Source], options: AnalysisOptions | None = None) -> tuple[list[str], tuple[str, ...]]:
    history = build_history(sources, options)
    return [item.run_id for item in history.runs], history.notes


def test_runs_are_ordered_by_start_time_and_the_newest_is_current() -> None:
    sources = [Listed([run("c", 30.0), run("a", 10.0)]), Listed([run("b", 20.0), run("b2", 20.0)])]
    history = build_history(sources)
    assert [item.run_id for item in history.runs] == ["a", "b", "b2", "c"]
    assert history.current is not None
    assert history.current.run_id == "c"
    assert history.notes == ()


def test_only_the_current_environment_is_kept_unless_any_environment_is_asked_for() -> None:
    runs = [run("a", 1.0, "env-old"), run("b", 2.0, "env-x"), run("c", 3.0, "env-old"), run("d", 4.0)]
    kept, notes = ids([Listed(runs)])
    assert kept == ["d"]
    assert notes == (
        "left out 3 run(s) from other environments than the current run's (env-a): env-old (2 runs), env-x (1 run); "
        "their timings are not comparable (another Python, platform or CPU count); pass --any-environment to "
        "include them",
    )
    assert ids([Listed(runs)], AnalysisOptions(any_environment=True)) == (["a", "b", "c", "d"], ())


def test_runs_without_tests_are_left_out_with_their_reason_and_do_not_decide_the_environment() -> None:
    runs = [run("a", 1.0), run("b", 2.0, "env-b", tests=False, problems=("no test spans",))]
    kept, notes = ids([Listed(runs)])
    assert kept == ["a"]
    assert notes == (
        "run b (store/b) left out: it has no tests (no test spans)",
        "the newest run, b, has no tests: the current run is a",
    )


def test_a_run_read_twice_is_kept_once_and_said_to_be() -> None:
    kept, notes = ids([Listed([run("a", 1.0)]), Listed([run("a", 1.0, source="copies")])])
    assert kept == ["a"]
    assert notes == ("run a was read twice (store/a and copies/a): kept the first",)


def test_the_sources_problems_and_the_kept_runs_problems_become_notes() -> None:
    runs = [
        run("a", 1.0, problems=("store/a:3: skipped an unreadable line",)),
        run("b", 2.0, "env-b", problems=("not shown: another environment",)),
    ]
    kept, notes = ids([Listed(runs, ["index.jsonl:2: skipped an unreadable index line"])])
    assert kept == ["b"]
    assert notes[0] == "index.jsonl:2: skipped an unreadable index line"
    assert notes[1].startswith("left out 1 run(s) from other environments")
    assert notes[2:] == ("run b (store/b): not shown: another environment",)


def test_no_runs_at_all_is_a_note_not_an_error() -> None:
    history = build_history([Listed([])])
    assert (history.runs, history.current, history.notes) == ((), None, ("no runs found",))
    only_problems = build_history([Listed([], ["store: the store has no runs yet"])])
    assert only_problems.notes == ("store: the store has no runs yet",)
    empty_runs = build_history([Listed([run("a", 1.0, tests=False)])])
    assert empty_runs.runs == ()
    assert empty_runs.notes == ("run a (store/a) left out: it has no tests (no tests)",)


def test_a_run_without_an_environment_fingerprint_is_compared_but_flagged() -> None:
    kept, notes = ids([Listed([run("a", 1.0, ""), run("b", 2.0, "")])])
    assert kept == ["a", "b"]
    assert notes == (
        "run b carries no environment fingerprint (pytest.env.fingerprint): runs of other machines may be mixed in",
    )


def revised(run_id: str, start: float, revision: str) -> RunSummary:
    return dataclasses.replace(run(run_id, start), revision=revision)


BASELINE_RUNS = [
    revised("aa01", 10.0, "1111aaaa"),
    revised("aa02", 20.0, "2222bbbb"),
    revised("bb03", 30.0, "2222bbbb"),
    revised("cc04", 40.0, "bb77cccc"),
]


@pytest.mark.parametrize(
    ("value", "first"),
    [("2222", "aa02"), ("2222bbbb", "aa02"), ("bb03", "bb03"), ("bb77", "cc04"), ("cc", "cc04"), ("aa01", "aa01")],
)
def test_baseline_from_starts_the_history_at_the_first_run_of_a_revision_or_at_a_run(value: str, first: str) -> None:
    names, notes = ids([Listed(BASELINE_RUNS)], AnalysisOptions(baseline_from=value))

    expected = [run.run_id for run in BASELINE_RUNS]
    assert names == expected[expected.index(first) :]
    start = next(run for run in BASELINE_RUNS if run.run_id == first)
    left = expected.index(first)
    assert notes == (
        (
            f"left out {left} run(s) before run {first} (revision {start.revision}), where --baseline-from "
            f"{value} starts the history: nothing is compared against them",
        )
        if left
        else ()
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "4444",
            "--baseline-from 4444: no run of the 4 analyzed has that run id or revision "
            "(`otel-pytest runs` lists them)",
        ),
        ("aa", "--baseline-from aa: names run aa01, run aa02: give more of the id or revision"),
        ("bb", "--baseline-from bb: names run bb03, revision bb77cccc: give more of the id or revision"),
    ],
)
def test_a_baseline_that_names_no_run_or_several_is_an_error(value: str, message: str) -> None:
    with pytest.raises(BaselineError) as raised:
        build_history([Listed(BASELINE_RUNS)], AnalysisOptions(baseline_from=value))
    assert str(raised.value) == message
