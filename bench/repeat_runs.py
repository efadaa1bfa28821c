"""An unchanged suite run again and again: does the analyzer stay quiet and its savings steady?

Nothing changes between the runs (same code, same revision, same machine), so every
duration or count regression the analyzer reports is a false alarm, and the saving it puts
on a finding should be the same in every analysis. Three real suites on a real PostgreSQL
(``examples/postgres.py``: ``DATABASE_URL``, or a throwaway server):

* **demo slow**, **demo fast**: the shop's tests with ``examples.shop.fixtures_slow`` and
  ``fixtures_fast`` (what ``scripts/demo`` runs);
* **modules**: a generated suite of ``MODULES`` test modules of ``TESTS_PER_MODULE``
  tests each, on SQLAlchemy with psycopg (sync), where every module defines the same
  function-scoped ``prepare_database`` fixture that builds and drops the schema: the shape
  of a suite that copied its fixture into each module.

Each suite is run ``--runs`` times under ``--otel`` into its own store (under ``--into``,
kept, so the same runs can be analyzed again by another checkout with ``--reuse``). Then
the history is analyzed after every run from the second on (the runs up to it), in this
process, with this checkout's analyzer. Reported per suite: regression findings (duration
and count, provisional included; the target is 0), and the spread of every finding's saving
and of the analysis's total saving across the analyses: ``max/median - 1`` and
``1 - min/median`` (the target is within 10 %). Run from the repository root::

    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m bench.repeat_runs --runs 10 --into /tmp/repeat
    .venv/bin/python -m bench.repeat_runs --into /tmp/repeat --reuse --docs   # analyze again, write docs
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.harness import (
    BENCHMARKS_DOC,
    REPO,
    BenchError,
    check_pytest_run,
    child_environment,
    command_line,
    machine_facts,
    positive,
    progress,
    publish,
    run_measured,
    section_head,
)
from otel_pytest.analyze.analysis import Analysis, analyze
from otel_pytest.analyze.findings import total_saving
from otel_pytest.analyze.history import build_history
from otel_pytest.analyze.model import History
from otel_pytest.analyze.sources import open_sources

REGRESSION_KINDS = ("regression", "count")
MODULES = 13
TESTS_PER_MODULE = 8
SETTLED = 3  # runs from which an analysis's savings count as settled
SHOP_TESTS = 29  # examples/shop/tests, parametrized cases counted


@dataclass(frozen=True)
class Suite:
    """A suite to run: its pytest arguments (after ``--otel --otel-store STORE``) and size."""

    name: str
    arguments: tuple[str, ...]
    tests: int
    cwd: Path


def _shop(fixtures: str) -> Suite:
    arguments = ("-p", f"examples.shop.fixtures_{fixtures}", "-c", "examples/shop/pytest.ini", "examples/shop/tests")
    return Suite(f"demo {fixtures}", arguments, SHOP_TESTS, REPO)


CONFTEST = '''\
"""A session engine and the tables the modules' tests use."""

import os

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, create_engine

metadata = MetaData()
customers = Table("customers", metadata, Column("id", Integer, primary_key=True), Column("name", String(50)))
orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", ForeignKey("customers.id")),
    Column("total", Integer),
)


@pytest.fixture(scope="session")
def engine():
    engine = create_engine(os.environ["REPEAT_DATABASE_URL"])
    yield engine
    engine.dispose()
'''

MODULE = '''\
"""Module {number}: its own copy of the schema fixture, as many suites have."""

import pytest
from sqlalchemy import func, select

from conftest import customers, metadata, orders


@pytest.fixture
def prepare_database(engine):
    metadata.create_all(engine)
    yield engine
    metadata.drop_all(engine)


@pytest.mark.parametrize("count", range({tests}))
def test_orders_of_a_customer(prepare_database, count):
    with prepare_database.begin() as connection:
        key = connection.execute(customers.insert().values(name="c{number}")).inserted_primary_key[0]
        connection.execute(orders.insert(), [{{"customer_id": key, "total": n}} for n in range(count + 1)])
        total = connection.execute(select(func.count()).select_from(orders)).scalar_one()
    assert total == count + 1
'''


PYTEST_INI = """\
[pytest]
filterwarnings = error
asyncio_default_fixture_loop_scope = function
"""


def write_modules_suite(folder: Path) -> Suite:
    """The generated suite: ``MODULES`` modules, each with its own ``prepare_database``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (folder / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    for number in range(1, MODULES + 1):
        text = MODULE.format(number=number, tests=TESTS_PER_MODULE)
        (folder / f"test_module_{number:02d}.py").write_text(text, encoding="utf-8")
    return Suite("modules", ("-c", str(folder / "pytest.ini"), str(folder)), MODULES * TESTS_PER_MODULE, folder)


def record(suite: Suite, store: Path, runs: int, urls: dict[str, str], logs: Path) -> None:
    """Run ``suite`` ``runs`` times under ``--otel`` into ``store``."""
    command = [sys.executable, "-m", "pytest", "--otel", "--otel-store", str(store), "-q", "--no-header"]
    command += ["-p", "no:cacheprovider", *suite.arguments]
    for number in range(1, runs + 1):
        progress(f"{suite.name}: run {number} of {runs}")
        log = logs / f"{suite.name.replace(' ', '-')}-{number}.log"
        measured = run_measured(command, cwd=suite.cwd, env=child_environment(urls), log=log, timeout=600)
        check_pytest_run(suite.name, command, measured, suite.tests, traced=True)


@dataclass(frozen=True)
class Spread:
    """One saving across the analyses: its median and how far the others are from it."""

    median: float
    low: float  # 1 - min / median
    high: float  # max / median - 1
    seen: int  # analyses that had it

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        middle = statistics.median(values)
        if middle <= 0:
            return cls(middle, 0.0, 0.0, len(values))
        return cls(middle, 1 - min(values) / middle, max(values) / middle - 1, len(values))

    @property
    def widest(self) -> float:
        return max(self.low, self.high)


@dataclass(frozen=True)
class Savings:
    """One saving (a finding's, or a total) across the analyses: all of them, and those of
    at least ``SETTLED`` runs (the analysis of two runs has only two to take the fastest of)."""

    every: Spread
    settled: Spread

    @classmethod
    def of(cls, values: Sequence[tuple[int, float]]) -> Savings:
        later = [value for runs, value in values if runs >= SETTLED] or [value for _, value in values]
        return cls(Spread.of([value for _, value in values]), Spread.of(later))


@dataclass(frozen=True)
class Result:
    suite: str
    runs: int
    analyses: int
    regressions: int  # regression and count findings over all analyses
    provisional: int  # of those, provisional
    total: Savings  # of every finding, as the analysis says it
    patterns: Savings  # of the findings that are not regressions (theirs depend on the judgement)
    findings: dict[str, tuple[str, Savings]]  # finding id -> (kind and where, its saving)


def analyses(history: History) -> list[Analysis]:
    """The history analyzed after every run from the second on."""
    return [analyze(History(history.runs[:end], history.notes)) for end in range(2, len(history.runs) + 1)]


def measure(suite: str, store: Path) -> Result:
    history = build_history(open_sources([], store))
    done = analyses(history)
    if not done:
        raise BenchError(f"{suite}: fewer than 2 runs in {store}")
    regressions = [f for analysis in done for f in analysis.findings if f.kind in REGRESSION_KINDS]
    savings: dict[str, list[tuple[int, float]]] = {}
    labels: dict[str, str] = {}
    for analysis in done:
        for finding in analysis.findings:
            if finding.saving > 0 and finding.kind not in REGRESSION_KINDS:
                savings.setdefault(finding.id, []).append((analysis.runs_analyzed, finding.saving))
                labels[finding.id] = f"{finding.kind}: {finding.location.describe()}"
    patterns = [
        (analysis.runs_analyzed, total_saving(f for f in analysis.findings if f.kind not in REGRESSION_KINDS))
        for analysis in done
    ]
    return Result(
        suite,
        len(history.runs),
        len(done),
        len(regressions),
        sum(1 for f in regressions if f.provisional),
        Savings.of([(analysis.runs_analyzed, analysis.total_saving) for analysis in done]),
        Savings.of(patterns),
        {key: (labels[key], Savings.of(values)) for key, values in sorted(savings.items())},
    )


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def _range(spread: Spread) -> str:
    return f"-{_percent(spread.low)} / +{_percent(spread.high)}"


def table(results: Sequence[Result]) -> str:
    lines = [
        "| suite | runs | regression findings, all analyses (provisional) | total saving (median) | its spread "
        "| without regressions (median) | its spread | from run 3 | widest finding spread | from run 3 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        spreads = [saving for _, saving in result.findings.values()]
        widest = max((saving.every.widest for saving in spreads), default=0.0)
        settled = max((saving.settled.widest for saving in spreads), default=0.0)
        lines.append(
            f"| {result.suite} | {result.runs} | {result.regressions} ({result.provisional}) | "
            f"{result.total.every.median:.3f} s | {_range(result.total.every)} | "
            f"{result.patterns.every.median:.3f} s | {_range(result.patterns.every)} | "
            f"{_range(result.patterns.settled)} | {_percent(widest)} | {_percent(settled)} |"
        )
    return "\n".join(lines)


def details(results: Sequence[Result]) -> str:
    lines = [
        "| suite | finding | in analyses | saving (median) | spread | from run 3 |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        for label, saving in result.findings.values():
            lines.append(
                f"| {result.suite} | {label} | {saving.every.seen} | {saving.every.median:.4f} s | "
                f"{_range(saving.every)} | {_range(saving.settled)} |"
            )
    return "\n".join(lines)


def suites(folder: Path) -> list[Suite]:
    return [_shop("slow"), _shop("fast"), write_modules_suite(folder / "modules-suite")]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.repeat_runs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=positive, default=10, help="runs of each suite (default 10)")
    parser.add_argument("--into", type=Path, help="where the stores are kept (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="analyze the stores already in --into, run nothing")
    parser.add_argument("--docs", action="store_true", help="write the section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.reuse and args.into is None:
        parser.error("--reuse needs --into")
    with tempfile.TemporaryDirectory(prefix="otel-pytest-repeat-") as scratch:
        folder = args.into if args.into is not None else Path(scratch)
        chosen = suites(folder)
        try:
            if not args.reuse:
                _record_all(chosen, folder, args.runs)
            results = [measure(suite.name, folder / "stores" / suite.name.replace(" ", "-")) for suite in chosen]
        except BenchError as error:
            print(f"repeat_runs: {error}", file=sys.stderr)
            return 1
    section = "\n".join(
        [
            *section_head(
                "An unchanged suite run again and again (bench/repeat_runs.py)",
                command_line("repeat_runs", sys.argv[1:] if argv is None else argv),
                machine_facts(),
            ),
            table(results),
            "",
            details(results),
            "",
        ]
    )
    publish("repeat_runs", section, BENCHMARKS_DOC if args.docs else None)
    return 0


def _record_all(chosen: Sequence[Suite], folder: Path, runs: int) -> None:
    from examples.postgres import database_url

    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with database_url() as url:
        asyncpg = url.render_as_string(hide_password=False)
        psycopg = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        urls = {"DATABASE_URL": asyncpg, "REPEAT_DATABASE_URL": psycopg}
        for suite in chosen:
            store = folder / "stores" / suite.name.replace(" ", "-")
            record(suite, store, runs, urls, logs)


if __name__ == "__main__":
    sys.exit(main())
