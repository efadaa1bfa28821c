"""How often the regression detectors find a known step, how often they cry wolf.

Generates histories with known truth and runs the detectors of
``otel_pytest/analyze/detectors/judgement.py`` on them the way the analyzer runs after
each CI run (sliding: the history up to run t, for every t), then writes a table per noise
level into the "## Analyzer accuracy" section of ``docs/benchmarks.md``.

The generated history, per noise level (CV = coefficient of variation of one test's
duration on one machine):

* ``--series`` tests over ``--runs`` runs, each with its own typical duration
  (log-uniform between 50 ms and 2 s, so that a +20 % step is always above the 5 ms
  floor: the floor is a separate, deliberate limit and would only blur the comparison);
* log-normal noise with mean 1 and the given CV, independent per test and run;
* machine-speed drift shared by every test of a run: a slow random walk (sd 2 % per run),
  plus independent per-run runner noise (sd 8 %), plus 10 % of runs on a slow runner
  (+30 %);
* outlier spikes: 1 % of values multiplied by 1.5-4;
* a +20 % step from run ``--step-run`` on, in ``--step-share`` of the tests;
* exact counts per test (queries, transactions, physical connections, commits and the
  set of statement fingerprints), constant except for known changes at known runs:
  increases (queries x4, +1 connection, +1 commit, a new statement) that must be found,
  and decoys that must not be: decreases, and a connection count that alternates 0/1
  (a pool warming up).

Measured, per CV, over ``--repeats`` independent histories:

* detection: share of stepped tests first flagged at most 5 (and 15) runs after the step
  (the run carrying the step first is "0 runs after"), and the median delay;
* false alarms per series per analysis: flags on tests without a step, plus flags on
  stepped tests before their step, divided by the number of such (test, analysis) pairs;
* change point: at each stepped test's first detection, whether the run the finding names
  is the step's run +-1, and how often E-divisive already calls it significant; the same
  at the end of the history (``runs - step_run`` runs after the step) for up to 25
  stepped tests per history, flagged or not;
* counts: share of the known increases flagged (open) in every analysis from the run they
  appeared on (they persist to the end), and flags anywhere else (false alarms per test per
  analysis); and, apart (``--counts``, its own section), :func:`count_scenarios`.

Analyses start when the history first holds ``current_runs + baseline_runs`` runs (the
statistical test); earlier analyses use the provisional rule and are measured apart
(``--no-provisional`` skips them). Three more measurements explain the defaults and what
is out of reach:

* CV 10 % with only 1 % of the tests stepped (``--lone-share``), where false-discovery
  control is strictest;
* alternative thresholds of the method on the same CV 10 % histories (``--comparison``,
  ``--comparison-repeats``); the comparison with the previous method (Mann-Whitney U) was
  made once, at 769c5ea, and docs/benchmarks.md keeps its numbers;
* :func:`information_bound`: what detectors that know more than any real one (the true
  level, the true noise, the 6 runs since the step) reach at exactly 0.2 % false alarms
  on simulated normal noise (``--no-bound`` skips it).

Run from the repository root::

    .venv/bin/python -m bench.accuracy

which takes about 2 minutes on 2 cores (``--jobs``) and replaces its own section of
``docs/benchmarks.md`` (``--no-docs`` only prints). ``--set NAME=VALUE`` overrides an
``AnalysisOptions`` field for tuning.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from bench.harness import BENCHMARKS_DOC, command_line, machine_facts, publish, replace_section, section_head
from otel_pytest.analyze.detectors import counts as count_detector
from otel_pytest.analyze.detectors import durations as duration_detector
from otel_pytest.analyze.detectors.judgement import Regression, find_regressions, judge, locate_step
from otel_pytest.analyze.detectors.series import SeriesMatrix, build_series
from otel_pytest.analyze.model import History, RunSummary, TestSample
from otel_pytest.analyze.options import AnalysisOptions

STEP = 1.20
COUNT_METRICS = ("queries", "transactions", "connections", "commits")


# -- generated truth ----------------------------------------------------------------------


@dataclass(frozen=True)
class CountChange:
    test: int
    run: int
    kind: str  # "queries", "connections", "commits", "statement"


@dataclass
class Truth:
    runs: list[RunSummary]
    stepped: set[int]  # test indices with a duration step
    step_run: int
    count_changes: list[CountChange]
    decoys: int


def test_id(index: int) -> str:
    return f"tests/test_m{index // 50:02d}.py::test_{index:04d}"


def generated_sample(index: int, duration: float, db: dict[str, float], statements: frozenset[str]) -> TestSample:
    """Test ``index`` in one generated run: passed, all its time in the call."""
    name = test_id(index)
    return TestSample(
        test_id=name,
        nodeid=name,
        file=name.split("::")[0],
        line=1 + index % 50,
        outcome="passed",
        duration=duration,
        setup=0.0,
        call=duration,
        teardown=0.0,
        db=db,
        statements=statements,
    )


def generate(*, series: int, runs: int, cv: float, step_run: int, step_share: float, seed: int) -> Truth:
    """One history with known truth (see the module docstring)."""
    rng = np.random.default_rng(seed)
    base = np.exp(rng.uniform(np.log(0.05), np.log(2.0), series))
    sigma = np.sqrt(np.log(1.0 + cv * cv))
    noise = np.exp(rng.normal(-sigma * sigma / 2.0, sigma, (series, runs)))
    drift = np.cumsum(rng.normal(0.0, 0.02, runs)) + rng.normal(0.0, 0.08, runs)
    drift += np.where(rng.random(runs) < 0.10, np.log(1.3), 0.0)
    spikes = np.where(rng.random((series, runs)) < 0.01, rng.uniform(1.5, 4.0, (series, runs)), 1.0)
    stepped = rng.choice(series, size=round(series * step_share), replace=False)
    step = np.ones((series, runs))
    step[np.ix_(stepped, np.arange(step_run, runs))] = STEP
    durations = base[:, None] * np.exp(drift)[None, :] * noise * spikes * step

    # Counts: constant per test, with known changes at known runs and decoys.
    queries = rng.integers(1, 8, series).astype(np.float64)
    transactions = rng.integers(1, 3, series).astype(np.float64)
    connections = rng.integers(0, 2, series).astype(np.float64)
    commits = rng.integers(0, 2, series).astype(np.float64)
    counts = {
        name: np.repeat(values[:, None], runs, axis=1)
        for name, values in zip(COUNT_METRICS, (queries, transactions, connections, commits), strict=True)
    }
    statements = [{f"fp{index:04d}a", f"fp{index:04d}b"} for index in range(series)]
    statement_sets: list[list[frozenset[str]]] = [[frozenset(s)] * runs for s in statements]
    changes: list[CountChange] = []
    shuffled = rng.permutation(series)
    kinds = ("queries", "connections", "commits", "statement")
    per_kind = max(1, series // 40)
    for position, test in enumerate(shuffled[: per_kind * len(kinds)]):
        kind = kinds[position // per_kind]
        run = int(rng.integers(runs // 2, runs))
        if kind == "queries":
            counts["queries"][test, run:] *= 4
        elif kind == "connections":
            counts["connections"][test, run:] += 1
        elif kind == "commits":
            counts["commits"][test, run:] += 1
        else:
            for later in range(run, runs):
                statement_sets[test][later] = statement_sets[test][later] | {f"fp{test:04d}new"}
        changes.append(CountChange(int(test), run, kind))
    decoys = shuffled[per_kind * len(kinds) : per_kind * (len(kinds) + 2)]
    for position, test in enumerate(decoys):
        if position % 2 == 0:  # an improvement: fewer queries from some run on
            run = int(rng.integers(runs // 2, runs))
            counts["queries"][test, run:] = np.maximum(counts["queries"][test, run:] - 1, 0)
        else:  # a pool warming up: 0 and 1 physical connections, alternately
            counts["connections"][test, :] = np.arange(runs) % 2

    summaries = []
    for run in range(runs):
        tests = {}
        for index in range(series):
            tests[test_id(index)] = generated_sample(
                index,
                float(durations[index, run]),
                {metric: float(counts[metric][index, run]) for metric in COUNT_METRICS},
                statement_sets[index][run],
            )
        summaries.append(
            RunSummary(
                run_id=f"run{run:03d}",
                start_time=float(run),
                source="generated",
                environment="bench",
                revision=f"rev{run:03d}",
                tests=tests,
            )
        )
    return Truth(summaries, {int(i) for i in stepped}, step_run, changes, len(decoys))


# -- measurement ---------------------------------------------------------------------------


@dataclass
class Tally:
    """Counts summed over the repeats of one noise level."""

    stepped: int = 0
    within_5: int = 0
    within_4: int = 0
    within_15: int = 0
    delays: list[int] = field(default_factory=list)
    false_alarms: int = 0
    null_pairs: int = 0
    analyses: int = 0
    change_right: int = 0
    change_significant: int = 0
    change_checked: int = 0
    late_right: int = 0
    late_significant: int = 0
    late_checked: int = 0
    count_changes: int = 0
    count_found: int = 0
    count_false: int = 0
    count_pairs: int = 0
    provisional_flags: int = 0
    provisional_pairs: int = 0
    provisional_count_false: int = 0
    provisional_count_pairs: int = 0
    detect_seconds: list[float] = field(default_factory=list)
    judge_seconds: float = 0.0
    null_analyses: int = 0  # analyses of histories without any step
    null_analyses_alarmed: int = 0  # ... with at least one duration finding
    null_alarms: int = 0
    null_series_pairs: int = 0


def merge(tallies: Sequence[Tally]) -> Tally:
    """One tally from several (the repeats of one noise level, measured in parallel)."""
    total = Tally()
    for tally in tallies:
        for item in fields(Tally):
            mine, theirs = getattr(total, item.name), getattr(tally, item.name)
            setattr(total, item.name, mine + theirs)
    return total


def prefix(matrix: SeriesMatrix, end: int) -> SeriesMatrix:
    """The series of the history's first ``end`` runs. The generated histories hold every test
    in every run with the same description, so this equals ``build_series`` of the shorter
    history, without rebuilding it for each of the 50 analyses."""
    return SeriesMatrix(matrix.infos, matrix.values[:, :end], matrix.is_test)


def flagged_series(history: History, options: AnalysisOptions, matrix: SeriesMatrix) -> dict[str, Regression]:
    """The duration findings of one analysis, by series key."""
    return {regression.info.key: regression for regression in find_regressions(history, options, matrix)}


def measure_null(truth: Truth, options: AnalysisOptions, tally: Tally) -> None:
    """A history without steps: how many analyses raise any duration finding at all (the
    rate a team sees in its CI when nothing changed), and how many findings."""
    series = len(truth.runs[0].tests)
    matrix = build_series(History(truth.runs))
    for end in range(options.current_runs + options.baseline_runs, len(truth.runs) + 1):
        found = len(flagged_series(History(truth.runs[:end]), options, prefix(matrix, end)))
        tally.null_analyses += 1
        tally.null_analyses_alarmed += found > 0
        tally.null_alarms += found
        tally.null_series_pairs += series


def measure(
    truth: Truth,
    options: AnalysisOptions,
    tally: Tally,
    *,
    provisional: bool,
    late: bool = True,
    counts: bool = True,
) -> None:
    runs = len(truth.runs)
    series = len(truth.runs[0].tests)
    start = options.current_runs + options.baseline_runs
    first_flag: dict[int, int] = {}
    index_of = {test_id(i): i for i in range(series)}
    first_analysis = 2 if provisional else start
    full = build_series(History(truth.runs))
    for end in range(first_analysis, runs + 1):
        history = History(truth.runs[:end])
        matrix = prefix(full, end)
        newest = end - 1
        began = time.perf_counter()
        regressions = flagged_series(history, options, matrix)
        if end >= start:
            tally.judge_seconds += time.perf_counter() - began
        flagged = {index_of[key.removeprefix("test:")]: r for key, r in regressions.items() if key.startswith("test:")}
        if end < start:  # provisional analyses: measured apart
            tally.provisional_pairs += series
            tally.provisional_flags += len(flagged)  # the step comes after the provisional analyses
        else:
            tally.analyses += 1
            for index, regression in flagged.items():
                if index in truth.stepped and newest >= truth.step_run:
                    if index not in first_flag:
                        first_flag[index] = newest
                        step = locate_step(regression, options)
                        tally.change_checked += 1
                        tally.change_right += step is not None and abs(step.run - truth.step_run) <= 1
                        tally.change_significant += step is not None and step.significant
                else:
                    tally.false_alarms += 1
            tally.null_pairs += series - len(truth.stepped) + (len(truth.stepped) if newest < truth.step_run else 0)
        if not counts:
            continue
        # Counts: flagged (open) in every analysis while they persist, and nowhere else.
        counted = {
            index_of[f.location.test or ""] for f in count_detector.detect(history, options) if f.status == "open"
        }
        persisting = {change.test for change in truth.count_changes if change.run <= newest}
        found = len(counted & persisting)
        if end < start:
            tally.provisional_count_pairs += series
            tally.provisional_count_false += len(counted) - found
        else:
            tally.count_pairs += series
            tally.count_changes += len(persisting)
            tally.count_found += found
            tally.count_false += len(counted) - found
    tally.stepped += len(truth.stepped)
    for index in truth.stepped:
        if index in first_flag:
            delay = first_flag[index] - truth.step_run
            tally.delays.append(delay)
            tally.within_4 += delay <= 4
            tally.within_5 += delay <= 5
            tally.within_15 += delay <= 15
    if not late:
        return
    locate_late(truth, options, tally)
    # One full detect() as the analyzer would run it, timed, 5 runs after the step.
    point = min(truth.step_run + 6, runs)
    began = time.perf_counter()
    analysed = History(truth.runs[:point])
    duration_detector.detect(analysed, options)
    count_detector.detect(analysed, options)
    tally.detect_seconds.append(time.perf_counter() - began)


def locate_late(truth: Truth, options: AnalysisOptions, tally: Tally, limit: int = 25) -> None:
    """The change point of stepped tests at the end of the history (``runs - step_run`` runs
    after the step), with the detector's own :func:`locate_step` on the normalised series,
    whether or not the detector still flags them. At most ``limit`` tests per history: each
    costs a full permutation test."""
    history = History(truth.runs)
    matrix = build_series(history)
    floors = np.full(len(matrix.infos), options.floor_test)
    judged = judge(matrix.values, matrix.is_test, floors, options)
    rows = {int(info.key.rsplit("_", 1)[1]): row for row, info in enumerate(matrix.infos)}
    for index in sorted(truth.stepped)[:limit]:
        row = rows[index]
        regression = Regression(
            info=matrix.infos[row],
            row=row,
            provisional=False,
            current=float("nan"),
            baseline=float("nan"),
            ratio=float("nan"),
            p=float("nan"),
            q=float("nan"),
            n_current=0,
            n_baseline=0,
            hypotheses=0,
            windows=0,
            speed_index=1.0,
            index_applied=judged.index_applied,
            first=judged.first,
            normalised=judged.normalised[row].copy(),
        )
        step = locate_step(regression, options)
        tally.late_checked += 1
        tally.late_right += step is not None and abs(step.run - truth.step_run) <= 1
        tally.late_significant += step is not None and step.significant


# -- what any per-series detector could reach -------------------------------------------------


@dataclass(frozen=True)
class Bound:
    detector: str
    window: str
    threshold: float
    detected: float  # share of steps detected within 5 runs at the false-alarm rate


def information_bound(
    cv: float,
    *,
    runs: int = 50,
    step_run: int = 30,
    window: int = 50,
    false_alarms: float = 0.002,
    series: int = 20_000,
    seed: int = 7,
) -> list[Bound]:
    """Detection within 5 runs of a +20 % step at exactly ``false_alarms`` false alarms per
    series per analysis, for detectors that know more than any real one: the log durations
    are pure normal noise of the given CV (no machine drift, no spikes), the threshold is
    set on the null histories themselves, and

    * "level and noise known": the mean of the newest w runs minus the true level, in units
      of the true noise (for w = 6, at 5 runs after the step exactly the 6 stepped runs:
      the Neyman-Pearson test of that analysis), and the CUSUM with its best reference
      value (the optimal sequential detector of a known shift);
    * "noise known, level estimated": the newest w runs against all earlier runs of the
      history (at most 30 before the step in these histories; up to ``window`` - w);
    * "both estimated": the same with the pooled standard deviation (a plain t).

    Analyses run after every run from ``current_runs + baseline_runs`` = 25 on, as in the
    benchmark."""
    rng = np.random.default_rng(seed)
    sigma = float(np.sqrt(np.log(1.0 + cv * cv)))
    shift = float(np.log(STEP)) / sigma
    quiet = rng.normal(size=(series, runs))
    stepped = quiet.copy()
    stepped[:, step_run:] += shift
    first = 24  # the analysis of run 24 (25 runs) is the first
    results = []

    def record(name: str, span: str, null: np.ndarray, alt: np.ndarray) -> None:
        threshold = float(np.quantile(null[:, first:], 1.0 - false_alarms))
        detected = float((alt[:, step_run : step_run + 6] > threshold).any(axis=1).mean())
        results.append(Bound(name, span, threshold, detected))

    def windows(values: np.ndarray, width: int, level_known: bool, noise_known: bool) -> np.ndarray:
        out = np.full(values.shape, -np.inf)
        for end in range(first + 1, runs + 1):
            view = values[:, max(0, end - window) : end]
            current, base = view[:, -width:], view[:, :-width]
            if level_known:
                out[:, end - 1] = current.mean(axis=1) * np.sqrt(width)
                continue
            n = base.shape[1]
            scale = 1.0
            if not noise_known:
                squares = ((current - current.mean(axis=1, keepdims=True)) ** 2).sum(axis=1) + (
                    (base - base.mean(axis=1, keepdims=True)) ** 2
                ).sum(axis=1)
                scale = np.sqrt(squares / (n + width - 2))
            out[:, end - 1] = (current.mean(axis=1) - base.mean(axis=1)) / (scale * np.sqrt(1 / width + 1 / n))
        return out

    def cusum(values: np.ndarray, reference: float) -> np.ndarray:
        out = np.zeros(values.shape)
        level = np.zeros(values.shape[0])
        for run in range(values.shape[1]):
            level = np.maximum(0.0, level + values[:, run] - reference)
            out[:, run] = level
        return out

    for width in (5, 6):
        record(
            "level and noise known",
            f"newest {width} runs",
            windows(quiet, width, True, True),
            windows(stepped, width, True, True),
        )
    cusums = []
    for reference in (0.6, 0.8, 1.0):
        record(
            "level and noise known",
            f"CUSUM, reference {reference:g} sd",
            cusum(quiet, reference),
            cusum(stepped, reference),
        )
        cusums.append(results.pop())
    results.append(max(cusums, key=lambda bound: bound.detected))
    for width in (5, 6):
        record(
            "noise known, level estimated",
            f"newest {width} vs all earlier runs",
            windows(quiet, width, False, True),
            windows(stepped, width, False, True),
        )
    for width in (5, 6):
        record(
            "both estimated (t)",
            f"newest {width} vs all earlier runs",
            windows(quiet, width, False, False),
            windows(stepped, width, False, False),
        )
    return results


# -- report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    cv: float
    tally: Tally
    label: str = ""  # set for the extra scenario rows (not the targets')

    @property
    def name(self) -> str:
        return self.label or f"{self.cv:.0%}"


def percent(part: float, whole: float, digits: int = 1) -> str:
    return f"{100.0 * part / whole:.{digits}f} %" if whole else "-"


def table(rows: Sequence[Row], args: argparse.Namespace) -> str:
    head = (
        "| CV | stepped tests | detected <= 4 runs after (5 stepped runs) | detected <= 5 runs after | "
        "detected <= 15 runs after | median delay (runs) | false alarms per series per analysis | "
        "change point names the step run +-1 (at first detection / at the end) | "
        "change point significant (first / end) | count increases found while they persist (test x analysis) | "
        "count false alarms per test per analysis | no step anywhere: analyses with any duration finding "
        "(findings per series per analysis) |"
    )
    lines = [head, "|" + "---:|" * 12]
    for row in rows:
        t = row.tally
        delay = f"{np.median(t.delays):.0f}" if t.delays else "-"
        lines.append(
            f"| {row.name} | {t.stepped} | {percent(t.within_4, t.stepped)} | {percent(t.within_5, t.stepped)} | "
            f"{percent(t.within_15, t.stepped)} | {delay} | {percent(t.false_alarms, t.null_pairs, 3)} "
            f"({t.false_alarms} in {t.null_pairs:,}) | {percent(t.change_right, t.change_checked, 0)} / "
            f"{percent(t.late_right, t.late_checked, 0)} | {percent(t.change_significant, t.change_checked, 0)} / "
            f"{percent(t.late_significant, t.late_checked, 0)} | {t.count_found}/{t.count_changes} | "
            f"{percent(t.count_false, t.count_pairs, 3)} ({t.count_false}) | "
            f"{percent(t.null_analyses_alarmed, t.null_analyses, 0)} of {t.null_analyses} "
            f"({percent(t.null_alarms, t.null_series_pairs, 3)}) |"
        )
    return "\n".join(lines)


def provisional_table(rows: Sequence[Row]) -> str:
    lines = [
        "| CV | duration flags per series per analysis (none is true: the step comes later) | "
        "count flags per test per analysis (none is true) |",
        "|---:|---:|---:|",
    ]
    for row in rows:
        t = row.tally
        if not t.provisional_pairs:
            continue
        lines.append(
            f"| {row.name} | {percent(t.provisional_flags, t.provisional_pairs, 3)} "
            f"({t.provisional_flags}) | {percent(t.provisional_count_false, t.provisional_count_pairs, 3)} "
            f"({t.provisional_count_false}) |"
        )
    return "\n".join(lines)


def targets(rows: Sequence[Row]) -> list[str]:
    notes = []
    for row in rows:
        if row.label or abs(row.cv - 0.10) > 1e-9:
            continue
        t = row.tally
        detected = t.within_5 / t.stepped if t.stepped else 0.0
        false = t.false_alarms / t.null_pairs if t.null_pairs else 0.0
        counts_ok = t.count_found == t.count_changes and t.count_false == 0
        notes.append(
            f"- CV 10 %, detected within 5 runs: {detected:.1%}; target >= 95 %: "
            f"**{'met' if detected >= 0.95 else 'NOT met'}**"
        )
        notes.append(
            f"- CV 10 %, false alarms per series per analysis: {false:.3%}; target <= 0.2 %: "
            f"**{'met' if false <= 0.002 else 'NOT met'}**"
        )
        notes.append(
            f"- CV 10 %, analyses of a history without any step that raise a duration finding: "
            f"{percent(t.null_analyses_alarmed, t.null_analyses, 1)} (no target; what a team sees when "
            "nothing changed)"
        )
        notes.append(
            f"- Count regressions: {t.count_found}/{t.count_changes} found, {t.count_false} false alarms; "
            f"target 100 % / 0: **{'met' if counts_ok else 'NOT met'}**"
        )
    return notes


def comparison_table(lines_in: Sequence[tuple[str, Tally, Tally]]) -> str:
    lines = [
        "| method and thresholds | detected <= 5 runs after | detected <= 15 runs after | median delay (runs) | "
        "false alarms per series per analysis | no step anywhere: analyses with any finding | "
        "1 % of tests stepped: detected <= 5 runs after |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, t, lone in lines_in:
        delay = f"{np.median(t.delays):.0f}" if t.delays else "-"
        lines.append(
            f"| {label} | {percent(t.within_5, t.stepped)} | {percent(t.within_15, t.stepped)} | {delay} | "
            f"{percent(t.false_alarms, t.null_pairs, 3)} | "
            f"{percent(t.null_analyses_alarmed, t.null_analyses, 1)} of {t.null_analyses} | "
            f"{percent(lone.within_5, lone.stepped)} of {lone.stepped} |"
        )
    return "\n".join(lines)


def bound_table(bounds: Sequence[Bound]) -> str:
    lines = [
        "| what the detector knows | current window | threshold (sd) | detected <= 5 runs after |",
        "|---|---|---:|---:|",
    ]
    for bound in bounds:
        lines.append(f"| {bound.detector} | {bound.window} | {bound.threshold:.2f} | {bound.detected:.1%} |")
    return "\n".join(lines)


def section(
    rows: Sequence[Row],
    args: argparse.Namespace,
    options: AnalysisOptions,
    seconds: float,
    command: str,
    facts: dict[str, str],
    comparison: Sequence[tuple[str, Tally, Tally]] = (),
    bounds: Sequence[Bound] = (),
) -> str:
    judge_ms = 1000 * sum(row.tally.judge_seconds for row in rows) / max(sum(row.tally.analyses for row in rows), 1)
    detect_times = [s for row in rows for s in row.tally.detect_seconds]
    defaults = ", ".join(
        f"{name}={getattr(options, name)}"
        for name in (
            "min_current_runs",
            "current_runs",
            "baseline_runs",
            "winsorize",
            "pool_noise",
            "min_ratio",
            "p_value",
            "false_discovery_rate",
            "floor_test",
            "persistence",
            "change_point_window",
            "change_point_p",
            "provisional_min_ratio",
            "count_min_increase",
            "count_min_ratio",
        )
    )
    best_bound = max(bounds, key=lambda b: b.detected) if bounds else None
    estimated = [b for b in bounds if b.detector != "level and noise known"]
    best_estimated = max(estimated, key=lambda b: b.detected) if estimated else None
    machine = {**facts, "took": f"{seconds:.0f} s wall on {args.jobs} processes"}
    parts = [
        *section_head("Analyzer accuracy (bench/accuracy.py)", command, machine),
        f"Options ({'the defaults of `AnalysisOptions`' if not args.set else 'overridden with --set'}): {defaults}.",
        "",
        "### The duration method",
        "",
        "Per analysis (details in the docstrings of `otel_pytest/analyze/detectors/judgement.py` and "
        "`stats.shift_scan`): every run of the last 50 is divided by its speed index; then, per series, the newest "
        f"k runs for every k from {options.min_current_runs} to {options.current_runs} are compared with all earlier "
        "runs of the window (at least 20) by a one-sided t on the log durations, winsorized at "
        f"{options.winsorize:g} standard deviations of the series' own noise around its baseline median (a "
        "Huber-type scale from the whole window: MAD to start, then the winsorized standard deviation; a current "
        "value is never clipped below the lowest current value, so a large step is not capped), with each "
        "series' noise estimate moderated towards what all series share"
        f"{'' if options.pool_noise else ' (off in this run)'} (empirical Bayes: Smyth 2004, limma's moderated t; "
        "where tests share a noise level this is worth nearly as much as knowing it). The window with "
        "the smallest p is taken and its p multiplied by the number of windows tested (Bonferroni, for the "
        f"choice); Benjamini-Hochberg at q = {options.false_discovery_rate:g} over the series, adjusted p < "
        f"{options.p_value:g}, Hodges-Lehmann ratio >= {options.min_ratio:g}, difference >= the floor, and each of "
        f"the newest {options.persistence} runs above the baseline median (still slow now).",
        "",
        "It replaced a rank test at 769c5ea; the comparison made then is kept below the generated part "
        '("Comparison with the previous method").',
        "",
        "### Method of the benchmark",
        "",
        f"Per noise level, {args.repeats} generated histories of {args.series} tests x {args.runs} runs "
        f"(seed {args.seed} + repeat + 1000 x CV). A test's duration is its typical duration "
        "(log-uniform 50 ms - 2 s) x a machine factor shared by every test of the run (a random walk of sd 2 % "
        "per run, per-run runner noise of sd 8 %, and 10 % of runs on a runner 30 % slower) x log-normal noise "
        f"of the given CV x outlier spikes (1 % of values x 1.5-4) x a +20 % step from run {args.step_run} on "
        f"in {args.step_share:.0%} of the tests. Counts are exact: known increases at known runs (queries x4, "
        "+1 physical connection, +1 commit, a new statement fingerprint) and decoys (fewer queries; a "
        "connection count alternating 0/1).",
        "",
        "The detectors run as the analyzer runs after each CI run: on the history of the first t runs, for "
        f"every t from {args.first_analysis} (the first with current + baseline runs) to {args.runs}; runs are "
        "numbered from 0. "
        '"Detected <= k runs after": first flagged by the analysis of run step + j with j <= k (the '
        "step's own run is j = 0; j = 2 is the first analysis whose shortest window holds only stepped runs, "
        "j = 4 the first whose longest does). False alarms: flags on tests without a step, and on stepped tests "
        "before their step, per (test, analysis) pair. The change point is the run the finding names "
        "(E-divisive means when significant, else the most likely split), checked against the step's run "
        "+-1 at the first detection and again at the end of the history "
        f"({args.runs - args.step_run} runs after the step; up to 25 stepped tests per history). Counts: a "
        "known increase must be flagged (open) by every analysis from the run it appeared in on (it persists to "
        "the end); any other count flag is a false alarm. "
        '"No step anywhere": one more history per repeat with the same noise and no step, '
        "every analysis from the first statistical one: how often a team would see a duration finding when "
        "nothing changed. With 50 stepped tests per history, a detection share measured on 6 histories has a "
        "standard error of about 2.5 points (about 9 on the 30 lone regressions): compare methods on the same "
        "histories, as the comparison below does.",
        "",
        "### Results",
        "",
        table(rows, args),
        "",
        "Provisional rule (histories shorter than current + baseline runs: each of the newest "
        f"{options.persistence} runs >= {options.provisional_min_ratio:g} x the median of the earlier ones; "
        f"histories of 2 to {args.first_analysis - 1} runs, all before the step):",
        "",
        provisional_table(rows),
        "",
        "The provisional count flags are all the alternating 0/1 connection decoy at the second run: one "
        "earlier run cannot show that a count alternates. From 3 runs on the count has gone up to 1 before (a "
        "count that flips), and the decoy is never flagged again.",
        "",
        f"Cost: judging all series of one analysis {judge_ms:.0f} ms on average (500 series); one full "
        "`detect()` including change points, 6 runs after the step: {min(detect_times):.2f}-{max(detect_times):.2f} s."
        if detect_times
        else "",
        "",
        *(
            [
                "### Alternative thresholds",
                "",
                f"CV 10 %, the same {args.comparison_repeats} histories "
                f"(10 % of tests stepped, and one without any step) "
                f"for every line, and {args.comparison_repeats} more with {args.lone_share:.0%} of the tests stepped "
                "(a lone regression, where false-discovery control is strictest); with as many repeats as the tables "
                "above, these are the histories of their CV 10 % rows. Every threshold not named is the default.",
                "",
                comparison_table(comparison),
                "",
            ]
            if comparison
            else []
        ),
        "### Targets",
        "",
        *targets(rows),
        "",
        "### What stands in the way of the detection target",
        "",
        *(
            [
                "What a detector could reach on these series, whatever its method, at exactly 0.2 % false alarms "
                f"per series per analysis (`information_bound`: {20_000:,} simulated series of pure normal log noise "
                "at CV 10 %, no machine drift and no spikes, the threshold set on the null series themselves, "
                "analyses after every run from run 24 on as above):",
                "",
                bound_table(bounds),
                "",
            ]
            if bounds
            else []
        ),
        "- A +20 % step at CV 10 % is 1.83 standard deviations of one run. Within 5 runs after it, at most 6 "
        "stepped runs exist, and at most 30 unstepped ones before them (the step is at run 30). Even a detector "
        "told each series' true level and noise, looking at exactly the 6 stepped runs, reaches "
        + (f"{best_bound.detected:.0%}" if best_bound else "about 95 %")
        + " at 0.2 % false alarms; one that must estimate the level and the noise from the series, as any real "
        "detector must, reaches "
        + (f"{best_estimated.detected:.0%}" if best_estimated else "about 85 %")
        + " on this clean noise, and that with a window fitted to the question (the 6 runs since the step), "
        "which a real detector does not know. 95 % within 5 runs at <= 0.2 % false alarms per series per "
        "analysis is beyond what the information in one series allows.",
        "- The generated histories add what the bound leaves out: outlier spikes (1 % of values), the speed "
        "index's own error, and, once 10 % of the tests stepped, a speed index pulled up by them by about 1.3 % "
        "(a +20 % step then shows as about +18 %; the null tests then look 1.3 % faster, which lowers false "
        "alarms as much as it lowers detection). The shift scan detects within 5 runs about as often as the "
        "bound allows a detector that estimates level and noise, on messier data, and below 0.2 % false alarms.",
        "- What is left to trade: more detection comes with more false alarms (the comparison: p < 0.02, or "
        "winsorizing at 2.5, each buys a few points of detection for more false alarms or more quiet runs "
        "with a finding; q 0.10 or winsorizing at 2.0 the reverse). Beyond the bound only information from "
        "other series helps: false-discovery control uses some (with many simultaneous regressions its "
        "threshold loosens), and pooling the noise estimate across series (on by default) uses the rest a "
        "per-series test can use; steps shared by many tests at one run would be more, but a method built on "
        "that would be tuned to how this benchmark generates its steps.",
        "- CV 20-30 %: a +20 % step is 0.6-0.9 standard deviations of one run; within 5 runs no detector finds "
        "many of them at this false-alarm rate.",
        "- Runs are assumed independent. Autocorrelated noise (a test slow for several runs in a row for a "
        "reason the speed index does not see) makes every such test optimistic: with AR(1) noise of "
        "coefficient 0.3 the shift scan's adjusted p falls below 0.01 for 2.1 % of quiet series instead of "
        "0.5 % with independent noise (`stats.shift_scan` on 8,000 simulated series).",
        "",
    ]
    return "\n".join(parts)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--series", type=int, default=500, help="tests per history (default 500)")
    parser.add_argument("--runs", type=int, default=50, help="runs per history (default 50)")
    parser.add_argument("--step-run", type=int, default=30, help="first run carrying the +20 %% step (default 30)")
    parser.add_argument("--step-share", type=float, default=0.10, help="share of tests with the step (default 0.10)")
    parser.add_argument("--cv", type=float, nargs="+", default=[0.10, 0.20, 0.30], help="noise levels")
    parser.add_argument("--repeats", type=int, default=6, help="histories per noise level (default 6)")
    parser.add_argument(
        "--comparison",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure alternative thresholds at CV 10 %% (default on)",
    )
    parser.add_argument(
        "--lone-share",
        type=float,
        default=0.01,
        help="also measure CV 10 %% with this share of tests stepped (0 to skip; default 0.01)",
    )
    parser.add_argument(
        "--comparison-repeats", type=int, default=6, help="histories per line of the comparison (default 6)"
    )
    parser.add_argument(
        "--bound",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also simulate what any per-series detector could reach (default on)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the first history (default 0)")
    parser.add_argument(
        "--provisional",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure the provisional rule on the short histories (default on)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="histories measured in parallel (default: 2, or 1 on one core)",
    )
    parser.add_argument("--docs", type=Path, default=BENCHMARKS_DOC, help="where to write the section")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument(
        "--counts", action="store_true", help="only the count scenarios (their own section; a few seconds)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override an AnalysisOptions field (tuning; the docs then say so)",
    )
    args = parser.parse_args(argv)
    if args.step_run < 1 or args.step_run >= args.runs:
        parser.error(f"--step-run {args.step_run} must be inside 1..{args.runs - 1}")
    return args


def options_from(overrides: Sequence[str]) -> AnalysisOptions:
    options = AnalysisOptions()
    changes: dict[str, object] = {}
    for item in overrides:
        name, _, value = item.partition("=")
        if not hasattr(options, name):
            raise SystemExit(f"--set {item}: AnalysisOptions has no field {name!r}")
        kind = type(getattr(options, name))
        changes[name] = kind(value)
    return replace(options, **changes)  # type: ignore[arg-type]


# Lines of the comparison: (label, changes to the options).
COMPARISON: tuple[tuple[str, dict[str, object]], ...] = (
    ("**shift scan, defaults**", {}),
    ("shift scan, each series' own noise only (no pooling)", {"pool_noise": False}),
    ("shift scan, winsorized at 2.0", {"winsorize": 2.0}),
    ("shift scan, winsorized at 2.5", {"winsorize": 2.5}),
    ("shift scan, q 0.10", {"false_discovery_rate": 0.10}),
    ("shift scan, p < 0.02", {"p_value": 0.02}),
    ("shift scan, windows of 3-6 runs", {"current_runs": 6}),
)


def measure_one(
    args: argparse.Namespace,
    options: AnalysisOptions,
    cv: float,
    repeat: int,
    *,
    provisional: bool | None = None,
    late: bool = True,
    share: float | None = None,
    counts: bool = True,
) -> Tally:
    """One repeat of one noise level: a history with the step and (for the main rows) one without."""
    began = time.perf_counter()
    tally = Tally()
    seed = args.seed + repeat + int(cv * 1000) + (0 if share is None else 250)
    truth = generate(
        series=args.series,
        runs=args.runs,
        cv=cv,
        step_run=args.step_run,
        step_share=args.step_share if share is None else share,
        seed=seed,
    )
    measure(
        truth,
        options,
        tally,
        provisional=args.provisional if provisional is None else provisional,
        late=late,
        counts=counts,
    )
    if share is None:
        quiet = generate(
            series=args.series, runs=args.runs, cv=cv, step_run=args.step_run, step_share=0.0, seed=seed + 500
        )
        measure_null(quiet, options, tally)
    print(f"CV {cv:.0%}, repeat {repeat}: {time.perf_counter() - began:.0f} s", file=sys.stderr)
    return tally


# -- count scenarios (--counts): exact counts with known truth, their own section ---------------

COUNT_SECTION = (
    "<!-- bench/accuracy.py --counts: begin (generated; rerun the command below to update) -->",
    "<!-- bench/accuracy.py --counts: end -->",
)


@dataclass(frozen=True)
class CountScenario:
    """One test's count (``metric``, or a statement when ``metric`` is None) over the runs of
    a history, and the truth: the runs where a count finding must be open (from ``began``)
    or closed (``ended``), and nowhere else."""

    name: str
    values: tuple[float, ...]
    metric: str | None = "queries"
    began: int | None = None  # open from this run (or closed after it) while the truth says so
    ended: int | None = None  # back from this run on: closed for current_runs analyses, then nothing

    @property
    def repeats_from(self) -> int:
        """The run a decoy first goes up again in (a count that flips shows it from there):
        before it, its first rise cannot be told from a step, and is counted apart."""
        ups = [run for run in range(1, len(self.values)) if self.values[run] > self.values[run - 1]]
        return ups[1] if self.began is None and len(ups) > 1 else 0

    def expected(self, newest: int, options: AnalysisOptions) -> str | None:
        """``"open"``, ``"closed"`` or None: what the analysis of run ``newest`` must report."""
        if self.began is None or newest < self.began:
            return None
        if self.ended is None or newest < self.ended:
            return "open"
        return "closed" if newest - self.ended < options.current_runs else None


def count_scenarios(runs: int = 40) -> list[CountScenario]:
    """Steps that persist 3, 5, 10 and 20 runs (queries x4, +1 connection, +1 commit, a new
    statement), steps that are fixed, the demo's shape (more work, a fix, then an N+1), and
    decoys that must never be findings: a pool warming up (0/1 alternating, and 0,0,1
    repeating), a decrease, a count back at its usual level after one odd run, a count
    that flips between two levels after a fix."""
    scenarios = []
    for after in (3, 5, 10, 20):
        step = runs - after
        for metric, low, high in (("queries", 3, 12), ("connections", 0, 1), ("commits", 1, 2), (None, 0, 1)):
            label = metric or "new statement"
            values = tuple(float(low if run < step else high) for run in range(runs))
            scenarios.append(CountScenario(f"{label} up, {after} runs after", values, metric, began=step))
    fixed = tuple(3.0 if run < 20 or run >= 26 else 12.0 for run in range(runs))
    scenarios.append(CountScenario("queries up at run 20, fixed at run 26", fixed, began=20, ended=26))
    gone = tuple(1.0 if 20 <= run < 26 else 0.0 for run in range(runs))
    scenarios.append(CountScenario("new statement at run 20, gone at run 26", gone, None, began=20, ended=26))
    demo = tuple(39.0 if run < 10 else 29.0 if run < runs - 3 else 33.0 for run in range(runs))
    scenarios.append(CountScenario("39, fixed to 29, then 33 (the demo)", demo, began=runs - 3))
    flipping = tuple(12.0 if run < 10 or run % 2 else 3.0 for run in range(runs))
    decoys = (
        ("connections alternating 0/1", "connections", tuple(float(run % 2) for run in range(runs))),
        ("connections 0, 0, 1 repeating", "connections", tuple(float(run % 3 == 2) for run in range(runs))),
        ("queries down from 5 to 4", "queries", tuple(5.0 if run < 20 else 4.0 for run in range(runs))),
        ("queries 12, one run at 3", "queries", tuple(3.0 if run == 20 else 12.0 for run in range(runs))),
        ("queries 12, fixed to 3, flipping 3/12", "queries", flipping),
        ("statement in every other run", None, tuple(float(run % 2) for run in range(runs))),
    )
    scenarios += [CountScenario(name, values, metric) for name, metric, values in decoys]
    return scenarios


def count_scenario_history(scenarios: Sequence[CountScenario]) -> list[RunSummary]:
    """One run per value, one test per scenario (its other counts constant)."""
    runs = []
    for run in range(len(scenarios[0].values)):
        tests = {}
        for index, scenario in enumerate(scenarios):
            db = {"queries": 3.0, "query_time": 0.003, "transactions": 1.0, "connections": 0.0, "commits": 1.0}
            statements = {f"fp{index:04d}"}
            if scenario.metric is None:
                if scenario.values[run]:
                    statements.add(f"fp{index:04d}new")
            else:
                db[scenario.metric] = scenario.values[run]
            tests[test_id(index)] = generated_sample(index, 0.1, db, frozenset(statements))
        runs.append(RunSummary(f"run{run:03d}", float(run), "generated", "bench", f"rev{run:03d}", tests=tests))
    return runs


@dataclass
class ScenarioTally:
    """One scenario over every analysis of its history."""

    expected: int = 0  # analyses that must report it (open or closed)
    found: int = 0  # ... and did, with that status and the right began run
    false: int = 0  # analyses that reported it when they must not, or wrongly
    early: int = 0  # a decoy reported before it first went up again (see CountScenario.repeats_from)


def measure_count_scenarios(scenarios: Sequence[CountScenario], options: AnalysisOptions) -> list[ScenarioTally]:
    """Every analysis of the history (up to run t, for every t from 2 runs), sliding."""
    runs = count_scenario_history(scenarios)
    tallies = [ScenarioTally() for _ in scenarios]
    index_of = {test_id(index): index for index in range(len(scenarios))}
    for end in range(2, len(runs) + 1):
        newest = end - 1
        reported = {index_of[f.location.test or ""]: f for f in count_detector.detect(History(runs[:end]), options)}
        for index, scenario in enumerate(scenarios):
            want = scenario.expected(newest, options)
            got = reported.get(index)
            tally = tallies[index]
            if want is not None:
                tally.expected += 1
                right = (
                    got is not None
                    and got.status == want
                    and got.began is not None
                    and got.began.run_id == f"run{scenario.began:03d}"
                )
                tally.found += right
                tally.false += got is not None and not right
            elif newest < scenario.repeats_from:
                tally.early += got is not None
            else:
                tally.false += got is not None
    return tallies


def count_section(options: AnalysisOptions, command: str, facts: dict[str, str]) -> str:
    """The count scenarios' table, with what it shows."""
    began = time.perf_counter()
    scenarios = count_scenarios()
    tallies = measure_count_scenarios(scenarios, options)
    seconds = time.perf_counter() - began
    lines = [
        *section_head("Count regressions as state", command, facts),
        "Each scenario is one test's count over 40 runs, analysed as after each CI run (the history up to "
        "run t, for every t from 2 runs); all scenarios are tests of one history. A persisting step must be "
        "reported open, with the run it began in, by every analysis from its run on; a fixed one open until "
        f"its fix, then closed for {options.current_runs} analyses (`current_runs`), then not at all; a decoy "
        "never. Anything else, or a wrong status or begin run, is a false alarm.",
        "",
        "| scenario | analyses that must report it | reported right | false alarms | "
        "decoy reported before it first went up again |",
        "|---|---:|---:|---:|---:|",
    ]
    for scenario, tally in zip(scenarios, tallies, strict=True):
        early = str(tally.early) if scenario.began is None else "-"
        lines.append(f"| {scenario.name} | {tally.expected} | {tally.found} | {tally.false} | {early} |")
    expected = sum(t.expected for t in tallies)
    found = sum(t.found for t in tallies)
    false = sum(t.false for t in tallies)
    met = found == expected and false == 0
    lines += [
        "",
        f"- All: {found}/{expected} reported right while they persist (or closed after their fix), {false} false "
        f"alarms; target 100 % / 0: **{'met' if met else 'NOT met'}**. Measured in {seconds:.1f} s.",
        "- The last column is not in the target, and cannot be: a decoy's first rise (a pool that had no "
        "connection ready in the runs so far, then opens one) is exactly a step until the count goes up "
        "again; the analyses of those runs report it open (and then closed, when it went back), as they "
        "would a real step. Once it went up to that level before, a count that flips is never a finding.",
        "",
    ]
    return "\n".join(lines)


def main_counts(args: argparse.Namespace, options: AnalysisOptions, argv: Sequence[str] | None) -> int:
    facts = machine_facts(measured="otel_pytest/analyze", packages=("numpy",))
    command = command_line("accuracy", sys.argv[1:] if argv is None else argv)
    text = count_section(options, command, facts)
    print(text)
    if not args.no_docs:
        replace_section(args.docs, *COUNT_SECTION, text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = options_from(args.set)
    if args.counts:
        return main_counts(args, options, argv)
    args.first_analysis = options.current_runs + options.baseline_runs
    if args.step_run < args.first_analysis:
        raise SystemExit(
            f"--step-run {args.step_run}: the step must come at or after run {args.first_analysis}, "
            "the first analysis with current + baseline runs, so that detection is measured from it"
        )
    facts = machine_facts(measured="otel_pytest/analyze", packages=("numpy",))
    began = time.perf_counter()
    tasks = [(cv, repeat) for cv in args.cv for repeat in range(args.repeats)]
    lines = (
        [
            (label, replace(options, **changes))  # type: ignore[arg-type]
            for label, changes in COMPARISON
        ]
        if args.comparison
        else []
    )
    quick = {"provisional": False, "late": False, "counts": False}
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(measure_one, args, options, cv, repeat) for cv, repeat in tasks]
        lone = (
            [
                pool.submit(
                    measure_one, args, options, 0.10, repeat, provisional=False, late=False, share=args.lone_share
                )
                for repeat in range(args.repeats)
            ]
            if args.lone_share > 0
            else []
        )
        others = [
            (
                [
                    pool.submit(measure_one, args, changed, 0.10, repeat, **quick)
                    for repeat in range(args.comparison_repeats)
                ],
                [
                    pool.submit(measure_one, args, changed, 0.10, repeat, share=args.lone_share or 0.01, **quick)
                    for repeat in range(args.comparison_repeats)
                ],
            )
            for _, changed in lines
        ]
        bounds = information_bound(0.10) if args.bound else []
        results = [future.result() for future in futures]
        lone_rows = (
            [Row(0.10, merge([future.result() for future in lone]), f"10% ({args.lone_share:.0%} of tests stepped)")]
            if lone
            else []
        )
        comparison = [
            (label, merge([f.result() for f in steps]), merge([f.result() for f in lones]))
            for (label, _), (steps, lones) in zip(lines, others, strict=True)
        ]
    rows = [
        Row(cv, merge([tally for (task_cv, _), tally in zip(tasks, results, strict=True) if task_cv == cv]))
        for cv in args.cv
    ] + lone_rows
    seconds = time.perf_counter() - began
    command = command_line("accuracy", sys.argv[1:] if argv is None else argv)
    text = section(rows, args, options, seconds, command, facts, comparison, bounds)
    publish("accuracy", text, None if args.no_docs else args.docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
