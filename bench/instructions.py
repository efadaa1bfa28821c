"""What ``pytest --otel`` adds per test and per query, counted in instructions.

Whole-process CPU times on a shared 2-core machine vary between identical runs by more than
the costs issue 11's targets are about (+30 µs a query is 3 % of bench/db.py's run), so a
claim for or against them cannot rest on them alone. This counts what the pytest process
executes instead (valgrind's cachegrind, ``--cache-sim=no``): the same run gives the same
count to a fraction of a per mille, whatever else the machine does (the trivial suite: 0.05 %
between runs). Not so the database suite: its asyncio event loop turns as often as the server's
answers make it, and its counts vary by a few hundred thousand instructions a test between runs
of the same code; read them as a range, and repeat them.

Each suite is written at two sizes, ``N`` and ``2N`` tests; each variant runs once natively
(bytecode caches, the schema) and then once under cachegrind at each size. The difference of
the two counts divided by ``N`` is what one test more costs, with every fixed cost (start-up,
imports, the session, the store's opening and closing) cancelled out. Instructions become
µs at the rate the bare variant of the larger suite runs natively: its instructions over its
CPU seconds (user + system from ``os.wait4``, the fastest of ``--calibrate`` runs). That rate
is an average over pytest's, the plugin's and the drivers' code, and CPU seconds include the
kernel's time (the database suite's socket calls) that instructions do not count, so the µs are
an estimate, an upper one for the database suite; the instruction counts are the measurement.

Suites: ``trivial`` (bench/overhead.py's tests, 3 yield fixtures each; variants bare and
``--otel``) and ``db`` (bench/db.py's asyncpg tests, 10 statements each on a pooled
connection rolled back per test, against a throwaway PostgreSQL; variants bare, ``--otel``
and ``--otel --otel-db=off``). The store is emptied before every run; every run must pass
all its tests. The instrumented runs take a few minutes each (two at a time without a database). Run from the
repository root::

    .venv/bin/python -m bench.instructions              # both suites, docs/benchmarks.md updated
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import db, overhead
from bench.harness import (
    BENCHMARKS_DOC,
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

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
BARE = "bare pytest"


@dataclass(frozen=True)
class Kind:
    """One suite: how it is written at a size, its variants, and its queries per test."""

    name: str
    describe: str
    variants: Mapping[str, tuple[str, ...]]
    queries_per_test: int  # 0: no database work
    write: Callable[[Path, int], None]  # (folder, tests)


def _write_trivial(root: Path, tests: int) -> None:
    overhead.write_suite(root, tests // 100, 100)


def _write_db(root: Path, tests: int) -> None:
    db.write_suite(root, db.DRIVERS["asyncpg"], tests // 100, 100)


KINDS = {
    "trivial": Kind(
        "trivial",
        "bench/overhead.py's trivial tests, 3 yield fixtures each",
        {BARE: (), "`--otel` (store)": ("--otel",)},
        0,
        _write_trivial,
    ),
    "db": Kind(
        "db",
        "bench/db.py's tests on asyncpg (`AsyncEngine`), 10 statements each",
        {BARE: (), "`--otel` (store)": ("--otel",), "`--otel --otel-db=off`": ("--otel", "--otel-db=off")},
        db.QUERIES_PER_TEST,
        _write_db,
    ),
}


@dataclass(frozen=True)
class Count:
    kind: str
    variant: str
    tests: int
    instructions: int


@contextmanager
def _environment(kind: Kind, source: Path | None) -> Iterator[dict[str, str]]:
    if not kind.queries_per_test:
        yield child_environment(source=source)
        return
    with db.postgres() as server:
        yield child_environment({db.URL_VARIABLE: db.DRIVERS["asyncpg"].url(server.url)}, source=source)


class Runner:
    """Runs one suite's variants natively and under cachegrind."""

    def __init__(self, python: str, env: Mapping[str, str], workdir: Path) -> None:
        self.python = python
        self.env = env
        self.workdir = workdir

    def _command(self, args: Sequence[str]) -> list[str]:
        return [self.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]

    def native(self, suite: Path, tests: int, label: str, args: Sequence[str]) -> float:
        """One run's CPU seconds (and the check that it passed)."""
        shutil.rmtree(suite / ".otel-pytest", ignore_errors=True)
        command = self._command(args)
        measured = run_measured(command, cwd=suite, env=self.env, log=self.workdir / f"{suite.name}.log", timeout=900)
        check_pytest_run(label, command, measured, tests, traced=bool(args))
        return measured.cpu

    def counted(self, suite: Path, tests: int, label: str, args: Sequence[str], copy: int) -> int:
        """The instructions of one run under cachegrind, in a copy of the suite of its own
        (two may run at once)."""
        own = self.workdir / f"{suite.name}-{copy}"
        if not own.exists():
            shutil.copytree(suite, own)
        shutil.rmtree(own / ".otel-pytest", ignore_errors=True)
        command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
        command += self._command(args)
        measured = run_measured(command, cwd=own, env=self.env, log=self.workdir / f"{own.name}.log", timeout=3600)
        check_pytest_run(label, command, measured, tests, traced=bool(args))
        found = _REFS.search(measured.output)
        if found is None:
            raise BenchError(f"{label}: no 'I refs' line in valgrind's output")
        return int(found.group(1).replace(",", ""))


@dataclass(frozen=True)
class Result:
    kind: Kind
    tests: int  # N: the smaller suite
    counts: Mapping[tuple[str, int], int]  # (variant, tests) -> instructions
    rate: float  # instructions per µs of the bare variant, natively

    def per_test(self, variant: str) -> float:
        return (self.counts[(variant, 2 * self.tests)] - self.counts[(variant, self.tests)]) / self.tests


def measure_kind(kind: Kind, tests: int, python: str, calibrate: int, source: Path | None) -> Result:
    with tempfile.TemporaryDirectory(prefix=f"otel-pytest-bench-instructions-{kind.name}-") as tmp:
        workdir = Path(tmp)
        suites = {size: workdir / f"suite{size}" for size in (tests, 2 * tests)}
        for size, root in suites.items():
            kind.write(root, size)
        with _environment(kind, source) as env:
            runner = Runner(python, env, workdir)
            for size, root in suites.items():  # bytecode caches, the schema
                for label, args in kind.variants.items():
                    runner.native(root, size, label, args)
            bare_cpu = min(runner.native(suites[2 * tests], 2 * tests, BARE, ()) for _ in range(calibrate))
            jobs = [(label, size) for label in kind.variants for size in suites]
            # Two at a time only without a database: the suites' schema fixtures would meet in one.
            at_once = 1 if kind.queries_per_test else 2
            progress(f"{kind.name}: {len(jobs)} runs under cachegrind, {at_once} at a time ...")
            with ThreadPoolExecutor(at_once) as pool:
                found = pool.map(
                    lambda job: runner.counted(
                        suites[job[1]], job[1], job[0], kind.variants[job[0]], jobs.index(job) % 2
                    ),
                    jobs,
                )
                counts = dict(zip(jobs, found, strict=True))
    rate = counts[(BARE, 2 * tests)] / bare_cpu / 1e6
    return Result(kind, tests, counts, rate)


def render(results: Sequence[Result], command: str, facts: Mapping[str, str]) -> str:
    lines = section_head("What `--otel` adds, counted in instructions (bench/instructions.py)", command, facts)
    lines += [
        "Per test: the difference between the suite at 2N and at N tests, divided by N (fixed costs cancel);",
        "µs at the bare variant's native rate (instructions / CPU s, fastest of the calibration runs).",
        "",
    ]
    for result in results:
        kind = result.kind
        bare = result.per_test(BARE)
        lines += [
            f"### {kind.describe}: N = {result.tests:,}, bare at {result.rate:,.0f} instructions per µs",
            "",
            "| variant | instructions per test | over bare per test | est. µs per test over bare"
            + (" | est. µs per query over bare |" if kind.queries_per_test else " |"),
            "|---|---:|---:|---:" + ("|---:|" if kind.queries_per_test else "|"),
        ]
        for variant in kind.variants:
            extra = result.per_test(variant) - bare
            row = f"| {variant} | {result.per_test(variant):,.0f} | {extra:+,.0f} | {extra / result.rate:+,.1f}"
            if kind.queries_per_test:
                row += f" | {extra / result.rate / kind.queries_per_test:+,.1f}"
            lines.append(row + " |")
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--kinds", default="trivial,db", help=f"suites to count, of {', '.join(KINDS)}")
    parser.add_argument("--tests", type=positive, default=200, help="N, the smaller suite's tests (a multiple of 100)")
    parser.add_argument("--calibrate", type=positive, default=3, help="native runs of the bare suite for the rate")
    parser.add_argument("--python", default=sys.executable, help="interpreter of the pytest runs (with otel-pytest)")
    parser.add_argument(
        "--source", type=Path, default=None, help="the otel_pytest folder to measure (default: the installed one)"
    )
    parser.add_argument("--docs", type=Path, default=BENCHMARKS_DOC, help="the file whose section to replace")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args(argv)
    unknown = [name for name in args.kinds.split(",") if name not in KINDS]
    if unknown or args.tests % 100:
        parser.error(f"--kinds takes {', '.join(KINDS)}; --tests a multiple of 100 (got {args.kinds}, {args.tests})")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw)
    if shutil.which("valgrind") is None:
        print("instructions: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    facts = machine_facts(args.python, packages=("pytest",))
    if args.source is not None:
        facts["otel-pytest"] = f"from {args.source}"
    try:
        results = [
            measure_kind(KINDS[name], args.tests, args.python, args.calibrate, args.source)
            for name in args.kinds.split(",")
        ]
    except (BenchError, subprocess.CalledProcessError) as error:
        print(f"instructions: {error}", file=sys.stderr)
        return 2
    section = render(results, command_line("instructions", raw), facts)
    publish("instructions", section, None if args.no_docs else args.docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
