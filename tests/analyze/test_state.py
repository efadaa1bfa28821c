"""The incremental state: a report made with the previous analysis's state equals the one
made without, whatever changed in between, and the state is used where nothing did."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from otel_pytest.analyze import state
from otel_pytest.analyze.analysis import analyze
from otel_pytest.analyze.detectors import cleanup, judgement
from otel_pytest.analyze.model import History, RunSummary
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.report import json_report
from tests.analyze.detectors.runs import slow_shop_run
from tests.analyze.detectors.series_runs import noise

RUNS = 32
STEP = 24  # from this run on, three tests are 60 % slower (a duration regression)
COMMITS_FROM = 12  # from this run on, the tests commit (a cleanup finding, dated back to it)


def shop_run(number: int) -> RunSummary:
    """The demo's slow suite, its test times jittered per run, regressed and committing as above."""
    run = slow_shop_run(f"{number:016x}", revision=f"rev{number:02d}")
    factors = noise(number, (len(run.tests),), 0.05)
    tests = {}
    for index, (key, test) in enumerate(run.tests.items()):
        call = test.call * float(factors[index]) * (1.6 if number >= STEP and index < 3 else 1.0)
        db = dict(test.db) if number >= COMMITS_FROM else {**test.db, "commits": 0.0}
        tests[key] = dataclasses.replace(test, call=call, duration=test.setup + call + test.teardown, db=db)
    return dataclasses.replace(run, tests=tests, start_time=1_700_000_000.0 + number, source=f"{number}.otlp.jsonl")


HISTORY = History(tuple(shop_run(number) for number in range(RUNS)))


def identities(history: History, stamp: int = 0) -> dict[str, tuple[RunSummary, str]]:
    """Every run identified as a store's summary cache would stamp it."""
    return state.identities(history.runs, {run.source: {"size": 1, "mtime_ns": stamp} for run in history.runs})


def report(history: History, options: AnalysisOptions, folder: Path | None = None, stamp: int = 0) -> str:
    """The JSON report, with the state in ``folder`` read before and written after (None: no state)."""
    if folder is None:
        return json_report.render(analyze(history, options))
    memo = state.load(folder, identities(history, stamp))
    analysis = analyze(history, options, memo=memo)
    state.save(folder, memo)
    return json_report.render(analysis)


@pytest.fixture(scope="module")
def without_state() -> str:
    return report(HISTORY, AnalysisOptions())


def counted(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Calls of ``module.name`` from now on (one item each); the function keeps its name,
    which the state keys by."""
    calls: list[int] = []
    original: Callable[..., Any] = getattr(module, name)

    @functools.wraps(original)
    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


def test_the_history_has_a_regression_and_a_dated_pattern_finding(without_state: str) -> None:
    findings = json.loads(without_state)["findings"]

    assert {finding["kind"] for finding in findings} >= {"regression", "cleanup"}
    cleanups = [finding for finding in findings if finding["kind"] == "cleanup"]
    assert [finding["began"]["run"] for finding in cleanups] == [f"{COMMITS_FROM:016x}"]


def test_an_unchanged_history_is_reported_alike_from_the_state_without_replaying(
    tmp_path: Path, without_state: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = report(HISTORY, AnalysisOptions(), tmp_path)
    tracks = counted(monkeypatch, judgement, "track")
    found = counted(monkeypatch, cleanup, "_found")

    warm = report(HISTORY, AnalysisOptions(), tmp_path)

    assert cold == warm == without_state
    assert tracks == []
    assert len(found) == 1  # the newest run only: every earlier history was judged before


def test_one_run_more_is_reported_alike_and_judges_only_the_new_histories(
    tmp_path: Path, without_state: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    report(History(HISTORY.runs[:-1]), AnalysisOptions(), tmp_path)
    found = counted(monkeypatch, cleanup, "_found")

    assert report(HISTORY, AnalysisOptions(), tmp_path) == without_state
    # the newest run (steadied) and the history ending at the run before it, unsteadied
    assert len(found) == 2


def test_one_run_fewer_is_reported_alike(tmp_path: Path) -> None:
    shorter = History(HISTORY.runs[1:])  # retention removed the oldest run
    report(HISTORY, AnalysisOptions(), tmp_path)

    assert report(shorter, AnalysisOptions(), tmp_path) == report(shorter, AnalysisOptions())


@pytest.mark.parametrize(
    "options",
    [AnalysisOptions(min_ratio=1.3), AnalysisOptions(state_runs=10), AnalysisOptions(gate_runs=3)],
    ids=["threshold", "state_runs", "gate_runs"],
)
def test_a_changed_option_is_reported_as_without_state(
    tmp_path: Path, options: AnalysisOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    report(HISTORY, AnalysisOptions(), tmp_path)
    tracks = counted(monkeypatch, judgement, "track")

    assert report(HISTORY, options, tmp_path) == report(HISTORY, options)
    assert len(tracks) == 2  # with the state, then without: nothing was taken from the state


def test_a_run_read_anew_is_judged_anew(tmp_path: Path, without_state: str, monkeypatch: pytest.MonkeyPatch) -> None:
    report(HISTORY, AnalysisOptions(), tmp_path)
    found = counted(monkeypatch, cleanup, "_found")

    # the same run ids, their files rewritten since (another stamp): nothing is recalled
    assert report(HISTORY, AnalysisOptions(), tmp_path, stamp=1) == without_state
    assert len(found) > 2


@pytest.mark.parametrize(
    "damage",
    [b"", b"not a zip", b"PK\x03\x04" + b"\x00" * 40],
    ids=["empty", "garbage", "truncated zip"],
)
def test_a_damaged_state_file_is_ignored_and_written_anew(tmp_path: Path, without_state: str, damage: bytes) -> None:
    report(HISTORY, AnalysisOptions(), tmp_path)
    (tmp_path / state.STATE_FILE).write_bytes(damage)

    assert report(HISTORY, AnalysisOptions(), tmp_path) == without_state
    assert state.load(tmp_path, identities(HISTORY)).recalled


def test_a_state_file_with_a_damaged_entry_is_ignored(tmp_path: Path, without_state: str) -> None:
    report(HISTORY, AnalysisOptions(), tmp_path)
    path = tmp_path / state.STATE_FILE
    with np.load(path) as stored:
        arrays = {name: stored[name] for name in stored.files}
    entry = next(name for name in arrays if name.endswith("tracked.norm"))
    arrays[entry] = arrays[entry][:, :-1]  # a matrix one run short, under the right key
    np.savez(path, **arrays)

    assert report(HISTORY, AnalysisOptions(), tmp_path) == without_state


def test_the_state_keeps_only_what_the_last_analysis_used(tmp_path: Path) -> None:
    for runs in range(RUNS - 6, RUNS + 1):
        report(History(HISTORY.runs[:runs]), AnalysisOptions(), tmp_path)

    memo = state.load(tmp_path, identities(HISTORY))
    fresh = tmp_path / "fresh"
    report(HISTORY, AnalysisOptions(), fresh)

    assert set(memo.recalled) == set(state.load(fresh, identities(HISTORY)).recalled)


def test_without_a_memo_nothing_is_kept(tmp_path: Path, without_state: str) -> None:
    assert report(HISTORY, AnalysisOptions()) == without_state
    assert not (tmp_path / state.STATE_FILE).exists()
