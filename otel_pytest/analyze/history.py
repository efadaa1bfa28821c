"""A :class:`History` from sources: the runs that can be compared, oldest first.

Runs are sorted by start time (then run id). A run read twice (the store and a copy of its
file given as a path) is kept once. A run without tests is left out: there is nothing in
it to compare, and keeping it would shift every window of "the last N runs". The current
run is the newest run with tests; only runs of its environment fingerprint are kept
unless ``any_environment`` is set. Everything left out, and every problem the sources and
the kept runs report, becomes one line of ``History.notes``: nothing is dropped silently.

After an intended change (a fixture made faster on purpose, a test that now runs more
queries by design) ``baseline_from`` (``analyze --baseline-from REV|RUN``) names the run, or
the revision, from which the history starts: the runs before its first run are left out, so
that no finding rests on them. A value that names no run is a :class:`BaselineError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from otel_pytest.analyze.model import History, RunSummary
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.sources import Source

NAMED = 4  # runs and revisions an ambiguous --baseline-from lists


class BaselineError(ValueError):
    """``baseline_from`` names no run of the history, or more than one."""


def baseline_start(runs: Sequence[RunSummary], value: str) -> RunSummary:
    """The first run of the history ``value`` names: a run id (or a unique prefix of one),
    else the oldest run of the one revision it is a prefix of. ``runs`` are oldest first."""
    exact = [run for run in runs if run.run_id == value]
    if exact:
        return exact[0]
    by_id = [run for run in runs if run.run_id.startswith(value)]
    revisions = sorted({run.revision for run in runs if run.revision and run.revision.startswith(value)})
    if len(by_id) + len(revisions) == 1:
        return by_id[0] if by_id else next(run for run in runs if run.revision == revisions[0])
    if not by_id and not revisions:
        raise BaselineError(
            f"--baseline-from {value}: no run of the {len(runs)} analyzed has that run id or revision "
            "(`otel-pytest runs` lists them)"
        )
    names = [*(f"run {run.run_id}" for run in by_id), *(f"revision {revision}" for revision in revisions)]
    shown = ", ".join(names[:NAMED]) + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")
    raise BaselineError(f"--baseline-from {value}: names {shown}: give more of the id or revision")


def _from_baseline(runs: list[RunSummary], value: str, notes: list[str]) -> list[RunSummary]:
    start = baseline_start(runs, value)
    kept = [run for run in runs if (run.start_time, run.run_id) >= (start.start_time, start.run_id)]
    if len(kept) < len(runs):
        revision = f" (revision {start.revision})" if start.revision else ""
        notes.append(
            f"left out {len(runs) - len(kept)} run(s) before run {start.run_id}{revision}, where "
            f"--baseline-from {value} starts the history: nothing is compared against them"
        )
    return kept


def _label(run: RunSummary) -> str:
    return f"run {run.run_id} ({run.source})"


def build_history(sources: Iterable[Source], options: AnalysisOptions | None = None) -> History:
    """Read every source and keep the comparable runs, with a note for everything left out."""
    any_environment = options.any_environment if options is not None else False
    notes: list[str] = []
    runs: dict[str, RunSummary] = {}
    for source in sources:
        for run in source.runs():
            first = runs.get(run.run_id)
            if first is None:
                runs[run.run_id] = run
            else:
                notes.append(f"run {run.run_id} was read twice ({first.source} and {run.source}): kept the first")
        notes.extend(source.problems)

    ordered = sorted(runs.values(), key=lambda run: (run.start_time, run.run_id))
    with_tests = []
    for run in ordered:
        if run.tests:
            with_tests.append(run)
        else:
            reason = "; ".join(run.problems) or "no tests"
            notes.append(f"{_label(run)} left out: it has no tests ({reason})")
    if options is not None and options.baseline_from is not None and with_tests:
        with_tests = _from_baseline(with_tests, options.baseline_from, notes)
    if not with_tests:
        if not ordered and not notes:
            notes.append("no runs found")
        return History(runs=(), notes=tuple(notes))
    newest = ordered[-1]
    current = with_tests[-1]
    if newest is not current:
        notes.append(f"the newest run, {newest.run_id}, has no tests: the current run is {current.run_id}")

    kept = with_tests
    if not any_environment:
        kept = [run for run in with_tests if run.environment == current.environment]
        other = [run for run in with_tests if run.environment != current.environment]
        if other:
            by_environment: dict[str, int] = {}
            for run in other:
                by_environment[run.environment or "unknown"] = by_environment.get(run.environment or "unknown", 0) + 1
            counted = ", ".join(
                f"{fingerprint} ({count} run{'s' if count > 1 else ''})"
                for fingerprint, count in sorted(by_environment.items())
            )
            notes.append(
                f"left out {len(other)} run(s) from other environments than the current run's "
                f"({current.environment or 'unknown'}): {counted}; their timings are not comparable "
                "(another Python, platform or CPU count); pass --any-environment to include them"
            )
    if not current.environment:
        notes.append(
            f"run {current.run_id} carries no environment fingerprint (pytest.env.fingerprint): "
            "runs of other machines may be mixed in"
        )
    for run in kept:
        notes.extend(f"{_label(run)}: {problem}" for problem in run.problems)
    return History(runs=tuple(kept), notes=tuple(notes))
