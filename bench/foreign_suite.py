"""Well-known projects' own test suites, bare and under ``--otel``, compared test by test.

The first promise of a tracing plugin is to do no harm: a suite that passes bare passes
the same way traced. This takes real suites from their PyPI sdists (which ship their
tests), pinned, and runs each in the same dedicated virtualenv, bare and with ``--otel``
(local store only), ``--rounds`` times each, with ``-p no:cacheprovider`` and a JUnit XML
report per run; then compares every test's outcome (and skip or xfail reason) with the
first bare run's, checks that the store holds every test (and, for a database suite,
database spans), and prints a table with the median wall and CPU times. Exit status 1 on
any difference.

* **alembic** (SQLAlchemy on SQLite): ~2,100 tests creating engines, connections,
  transactions and DDL, so the database instrumentation is exercised throughout.
* **python-dateutil**: ~2,100 plain-Python tests, among them freezegun's frozen clocks,
  run with its own ``filterwarnings = error``.

Downloads (``pip download``), sources and virtualenvs are cached under
``~/.cache/otel-pytest/foreign`` (``--cache``); otel-pytest is installed editable from this
checkout, so the working tree is what runs. Run from the repository root::

    .venv/bin/python -m bench.foreign_suite                 # both projects
    .venv/bin/python -m bench.foreign_suite --rounds 3 --docs  # and write docs/foreign-suites.md
"""

from __future__ import annotations

import argparse
import hashlib
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.harness import (
    REPO,
    TRACED_LINE,
    Measured,
    child_environment,
    command_line,
    machine_facts,
    publish,
    run_measured,
    section_head,
)
from otel_pytest.semconv import attributes
from otel_pytest.store.index import is_run_file
from otel_pytest.store.reader import read_spans

DOCS = REPO / "docs" / "foreign-suites.md"


@dataclass(frozen=True)
class Project:
    """A pinned sdist, the pinned requirements of its tests, and how its suite is run."""

    name: str
    version: str
    requirements: tuple[str, ...]
    args: tuple[str, ...]
    database: bool
    # False where the suite itself picks a skip reason at random: then only the outcomes count.
    reasons: bool = True

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def folder(self) -> str:
        return f"{self.name}-{self.version}"


PROJECTS = {
    project.name: project
    for project in (
        Project(
            "alembic",
            "1.20.1",
            (
                "SQLAlchemy==2.1.9",
                "Mako==1.4.3",
                "pytest==9.2.0",
                "pytest-xdist==3.8.0",
                "black==26.5.1",
                "zimports==0.7.0",
                "tzdata==2026.6",
                "junitparser==5.0.3",
            ),
            # SQLAlchemy's testing exclusions keep a test's skip predicates in a set of
            # objects hashed by identity and report the first that matches: between two
            # bare runs (-p no:otel, same PYTHONHASHSEED) a few alembic tests say "not
            # postgresql" or "not postgresql and not oracle" at random.
            ("tests",),
            database=True,
            reasons=False,
        ),
        # Its suite predates pytest 9 (a collection-time deprecation is an error under its
        # own filterwarnings = error); pytest-cov registers the no_cover mark it uses.
        Project(
            "python-dateutil",
            "2.9.0.post0",
            ("pytest==8.4.2", "pytest-cov==7.1.0", "freezegun==1.5.5", "hypothesis==6.170.17"),
            ("tests", "--hypothesis-seed=0"),
            database=False,
        ),
    )
}


def _pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", "--quiet", *args], check=True)


def prepare(project: Project, cache: Path) -> tuple[Path, Path]:
    """The unpacked sources and the virtualenv's python, downloaded and built once.

    The virtualenv is rebuilt when the requirements or this checkout's pyproject change."""
    sdists = cache / "sdists"
    names = (f"{project.folder}.tar.gz", f"{project.name.replace('-', '_')}-{project.version}.tar.gz")
    if not any((sdists / name).exists() for name in names):
        _pip(Path(sys.executable), "download", "--no-deps", "--no-binary", ":all:", project.pin, "-d", str(sdists))
    sdist = next(sdists / name for name in names if (sdists / name).exists())
    source = cache / "src" / project.folder
    if not source.is_dir():
        with tarfile.open(sdist) as archive:
            archive.extractall(source.parent, filter="data")
        (source.parent / sdist.name.removesuffix(".tar.gz")).rename(source)
    venv = cache / "venvs" / f"{project.folder}-py{sys.version_info.major}.{sys.version_info.minor}"
    python = venv / "bin" / "python"
    stamp = venv / "otel-pytest-requirements.sha256"
    wanted = hashlib.sha256(
        "\n".join([*project.requirements, (REPO / "pyproject.toml").read_text()]).encode()
    ).hexdigest()
    if not python.exists() or not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        _pip(python, "install", *project.requirements, str(source), "-e", str(REPO))
        stamp.write_text(wanted)
    return source, python


@dataclass(frozen=True)
class SuiteRun:
    measured: Measured
    outcomes: dict[str, str]  # test -> outcome (and reason for skips)
    traced: int | None  # the tests the plugin's closing line counts
    spans: int
    db_spans: int


def _result(element: ET.Element) -> str:
    if element.tag != "skipped":
        return element.tag
    kind = "xfailed" if element.get("type") == "pytest.xfail" else "skipped"
    return f"{kind} ({element.get('message', '')})"


def _outcomes(junit: Path) -> dict[str, str]:
    """Each test's outcome from the JUnit XML: passed, failure, error, or skipped with its reason."""
    outcomes: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        test = f"{case.get('classname')}::{case.get('name')}"
        results = sorted(_result(child) for child in case if child.tag in ("failure", "error", "skipped"))
        outcome = ", ".join(results) or "passed"
        outcomes[test] = f"{outcomes[test]}; {outcome}" if test in outcomes else outcome
    return outcomes


def run_suite(project: Project, source: Path, python: Path, work: Path, traced: bool, round_: int) -> SuiteRun:
    label = f"{'otel' if traced else 'bare'}-{round_}"
    junit = work / f"{project.name}-{label}.xml"
    store = work / f"{project.name}-store-{round_}"
    command = [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={junit}", *project.args]
    if traced:
        command += ["--otel", "--otel-store", str(store)]
    measured = run_measured(
        command, cwd=source, env=child_environment(), log=work / f"{project.name}-{label}.log", timeout=900
    )
    if not junit.exists():
        raise SystemExit(
            f"{project.name} ({label}): no JUnit report, exit {measured.exit_code}:\n" + measured.output[-3000:]
        )
    spans = db_spans = 0
    if traced:
        for path in sorted(path for path in (store / "runs").iterdir() if is_run_file(path.name)):
            for _resource, span in read_spans(path):
                spans += 1
                db_spans += attributes.DB_SYSTEM_NAME in span.attributes
    found = TRACED_LINE.search(measured.output)
    counted = int(found.group(1).replace(",", "")) if found else None
    return SuiteRun(measured, _outcomes(junit), counted, spans, db_spans)


@dataclass(frozen=True)
class Comparison:
    """Every run of one project: each traced run (and each further bare run) against the first bare one."""

    project: Project
    bare: list[SuiteRun]
    otel: list[SuiteRun]

    def _outcome(self, run: SuiteRun, test: str) -> str:
        outcome = run.outcomes.get(test, "missing")
        return outcome if self.project.reasons else re.sub(r" \(.*?\)(?=;|$)", "", outcome)

    def _differences(self, run: SuiteRun, label: str) -> list[str]:
        base = self.bare[0]
        problems = [
            f"{test}: bare {self._outcome(base, test)}, {label} {self._outcome(run, test)}"
            for test in sorted(base.outcomes.keys() | run.outcomes.keys())
            if self._outcome(base, test) != self._outcome(run, test)
        ]
        if run.measured.exit_code != base.measured.exit_code:
            problems.append(f"exit status: bare {base.measured.exit_code}, {label} {run.measured.exit_code}")
        return problems

    @property
    def problems(self) -> list[str]:
        problems = [p for n, run in enumerate(self.bare[1:], 2) for p in self._differences(run, f"bare run {n}")]
        for n, run in enumerate(self.otel, 1):
            label = f"--otel run {n}"
            problems += self._differences(run, label)
            if run.traced != len(run.outcomes):
                problems.append(
                    f"{label}: the otel line says {run.traced} tests traced, the report has {len(run.outcomes)}"
                )
            if self.project.database and run.db_spans == 0:
                problems.append(f"{label}: no database spans in the store: the instrumentation did not run")
        return problems

    def median(self, traced: bool, measure: Callable[[Measured], float]) -> float:
        return statistics.median(measure(run.measured) for run in (self.otel if traced else self.bare))


def _counts(outcomes: Mapping[str, str]) -> str:
    counts = Counter(outcome.split(" (")[0] for outcome in outcomes.values())
    return ", ".join(f"{counts[kind]} {kind}" for kind in sorted(counts))


def render(comparisons: Sequence[Comparison], command: str, facts: dict[str, str], rounds: int) -> str:
    lines = [
        *section_head("Foreign suites: outcomes bare and under `--otel` (bench/foreign_suite.py)", command, facts),
        f"{rounds} round(s) of a bare run then a traced one; medians. Wall time is measured around the "
        "pytest process (start-up included), CPU (user + system) comes from `os.wait4`; the machine is "
        "shared, so read the ratios as ±10 % at best (CPU is the steadier one).",
        "",
        "| project | tests | outcomes (bare) | outcomes (--otel) | differences | spans (database) "
        "| wall s bare / --otel | wall ratio | CPU s bare / --otel | CPU ratio |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in comparisons:
        wall = c.median(False, lambda m: m.wall), c.median(True, lambda m: m.wall)
        cpu = c.median(False, lambda m: m.cpu), c.median(True, lambda m: m.cpu)
        pins = ", ".join(r for r in c.project.requirements if r.startswith(("pytest==", "SQL")))
        lines.append(
            f"| {c.project.pin} ({pins}) | {len(c.bare[0].outcomes)} | {_counts(c.bare[0].outcomes)} "
            f"| {_counts(c.otel[0].outcomes)} | {len(c.problems)} | {c.otel[0].spans} ({c.otel[0].db_spans}) "
            f"| {wall[0]:.1f} / {wall[1]:.1f} | {wall[1] / wall[0]:.2f} | {cpu[0]:.1f} / {cpu[1]:.1f} "
            f"| {cpu[1] / cpu[0]:.2f} |"
        )
    unstable = [c.project.pin for c in comparisons if not c.project.reasons]
    if unstable:
        lines += [
            "",
            f"Skip and xfail reasons are compared too, except for {', '.join(unstable)}, whose suite "
            "picks some at random (see `Project.reasons`).",
        ]
    for c in comparisons:
        if c.problems:
            lines += ["", f"Differences in {c.project.pin}:", ""] + [f"- {problem}" for problem in c.problems]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "projects", nargs="*", metavar="PROJECT", help=f"which suites, of {', '.join(PROJECTS)} (default: all)"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "otel-pytest" / "foreign",
        help="where sdists, sources and virtualenvs are kept (default: %(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="bare and traced runs of each suite (default: 1)")
    parser.add_argument("--docs", action="store_true", help=f"write the table into {DOCS.relative_to(REPO)}")
    args = parser.parse_args(argv)
    unknown = [name for name in args.projects if name not in PROJECTS]
    if unknown:
        parser.error(f"unknown project {unknown[0]!r}: choose from {', '.join(PROJECTS)}")
    chosen = [PROJECTS[name] for name in (args.projects or PROJECTS)]
    facts = machine_facts()
    comparisons = []
    with tempfile.TemporaryDirectory(prefix="otel-foreign-") as tmp:
        for project in chosen:
            source, python = prepare(project, args.cache)
            comparison = Comparison(project, [], [])
            for round_ in range(1, args.rounds + 1):
                print(f"{project.pin}: round {round_}, bare then --otel ...", file=sys.stderr, flush=True)
                comparison.bare.append(run_suite(project, source, python, Path(tmp), False, round_))
                comparison.otel.append(run_suite(project, source, python, Path(tmp), True, round_))
            comparisons.append(comparison)
    command = command_line(
        "foreign_suite",
        [
            *args.projects,
            *(["--rounds", str(args.rounds)] if args.rounds != 1 else []),
            *(["--docs"] if args.docs else []),
        ],
    )
    publish("foreign_suite", render(comparisons, command, facts, args.rounds), DOCS if args.docs else None)
    return 1 if any(c.problems for c in comparisons) else 0


if __name__ == "__main__":
    sys.exit(main())
