"""What every benchmark shares: measured child processes, rounds in rotating order, ratios
against a baseline of the same rounds, the machine line, and the generated sections of
the docs. Standard library only; nothing here knows a particular suite.

A benchmark is a module of this package, run from the repository root as
``.venv/bin/python -m bench.<name>``; its docs section lies between the markers of
:func:`markers` and is rewritten by :func:`publish`.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Protocol, TypeVar

from otel_pytest.store.compression import Decoded
from otel_pytest.store.index import is_run_file

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS_DOC = REPO / "docs" / "benchmarks.md"

T = TypeVar("T")
S = TypeVar("S")
_PASSED = re.compile(r"(\d+) passed")
# The plugin's closing line; group 1 is the count of tests traced.
TRACED_LINE = re.compile(r"^otel: run [0-9a-f]{16}: ([\d,]+) tests?, [\d,]+ spans?", re.MULTILINE)
_RUN_FILE = re.compile(r"\S*\.otlp\.jsonl")
# PYTHONDONTWRITEBYTECODE is dropped too: with it (some sandboxes set it) every run
# recompiles and assertion-rewrites every test module, which added ~1.5 s of CPU to each
# 2,000-test run of bench.overhead and diluted the ratios; a developer's pytest caches its
# bytecode.
_DROPPED_ENV_PREFIXES = ("OTEL_", "TRACEPARENT", "TRACESTATE", "PYTEST_", "PYTHONDONTWRITEBYTECODE")


class BenchError(RuntimeError):
    """Something that makes the numbers meaningless; the message is the line to print."""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def positive(text: str) -> int:
    """An ``argparse`` type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


# -- child processes ------------------------------------------------------------------------


def child_environment(extra: Mapping[str, str] | None = None, source: Path | None = None) -> dict[str, str]:
    """The shell's environment without OTel, trace-context or pytest settings, with one hash
    seed (string-keyed sets then iterate alike in every run), plus ``extra``; with ``source``,
    that copy of ``otel_pytest`` shadows the installed one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV_PREFIXES)}
    env["PYTHONHASHSEED"] = "0"
    env.pop("PYTHONPATH", None)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Measured:
    """One finished child process: wall time around it, CPU and peak RSS from ``os.wait4``."""

    exit_code: int
    wall: float
    user: float
    system: float
    max_rss_kib: int
    output: str
    timed_out: bool

    @property
    def cpu(self) -> float:
        return self.user + self.system


def run_measured(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    timeout: float,
) -> Measured:
    """Run ``command`` with stdin closed and stdout + stderr to ``log``; killed after ``timeout``
    seconds. ``os.wait4`` reports the resources of that process and of its waited-for
    children only, not of servers it talks to (see :func:`reap_orphans` for detached ones)."""
    with log.open("wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            process.kill()

        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - start
    process.returncode = exit_code = os.waitstatus_to_exitcode(status)
    return Measured(
        exit_code=exit_code,
        wall=wall,
        user=usage.ru_utime,
        system=usage.ru_stime,
        max_rss_kib=usage.ru_maxrss,
        output=log.read_text(encoding="utf-8", errors="replace"),
        timed_out=killed.is_set(),
    )


def adopt_orphans() -> None:
    """otel-pytest's export helper runs detached from pytest (a shell starts it and exits):
    with this process as the child subreaper (Linux), the helper is reparented here, and
    :func:`reap_orphans` can add its CPU to the run's."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap_orphans() -> tuple[float, float]:
    """User and system CPU of the adopted processes that have ended (the helper ends
    before pytest reads the end of its report, so before pytest exits)."""
    user = system = 0.0
    while True:
        try:
            pid, _status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return user, system
        if pid == 0:
            return user, system
        user += usage.ru_utime
        system += usage.ru_stime


def passed_count(output: str) -> int | None:
    """The ``N passed`` of pytest's summary line, ``None`` when there is none."""
    found = _PASSED.search(output)
    return int(found.group(1)) if found else None


def otel_lines(output: str) -> tuple[str, ...]:
    """otel-pytest's own lines of a run's output, the run file's name masked so that the
    lines of different runs compare equal."""
    return tuple(_RUN_FILE.sub("<run file>", line) for line in output.splitlines() if line.startswith("otel"))


def check_pytest_run(label: str, command: Sequence[str], measured: Measured, tests: int, traced: bool) -> None:
    """Raise unless pytest passed exactly ``tests`` tests and, when ``traced``, otel-pytest
    said it traced them: a failed or untraced run measures nothing."""
    if measured.exit_code != 0 or passed_count(measured.output) != tests:
        tail = "\n".join(measured.output.splitlines()[-15:])
        killed = " (killed after the timeout)" if measured.timed_out else ""
        raise BenchError(
            f"{label}: pytest exited {measured.exit_code}{killed} "
            f"(expected {tests} passed); {shlex.join(command)}\n{tail}"
        )
    if traced and not TRACED_LINE.search(measured.output):
        raise BenchError(f"{label}: no 'otel: run ...: N tests, M spans' line; is otel-pytest loaded?")


def stored_spans(store: Path) -> Iterator[tuple[str, dict[str, object]]]:
    """The name and attributes of every span in the run files of a local store, in file
    order. Attribute values are unwrapped from OTLP JSON as written (an int stays a string)."""
    for path in sorted(path for path in (store / "runs").iterdir() if is_run_file(path.name)):
        with Decoded(path) as decoded:
            for line in decoded.handle:
                if not line.strip():
                    continue
                for resource in json.loads(line).get("resourceSpans", ()):
                    for scope in resource.get("scopeSpans", ()):
                        for span in scope.get("spans", ()):
                            attributes = {
                                a["key"]: next(iter(a["value"].values()), None) for a in span.get("attributes", ())
                            }
                            yield span["name"], attributes


# -- the otel_pytest measured ----------------------------------------------------------------


def snapshot_source(target: Path, python: str, cwd: Path) -> tuple[Path, str]:
    """Copy the working tree's ``otel_pytest`` so edits made while the benchmark runs cannot
    change what it measures; returns the folder for ``PYTHONPATH`` and a digest of the copy.
    Raises when ``python``, started in ``cwd``, would not import the copy."""
    shutil.copytree(REPO / "otel_pytest", target / "otel_pytest", ignore=shutil.ignore_patterns("__pycache__"))
    digest = hashlib.sha256()
    for path in sorted((target / "otel_pytest").rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(target).as_posix().encode() + b"\0" + path.read_bytes())
    if not imported_from(python, target, cwd).is_relative_to(target):
        raise BenchError(f"the snapshot in {target} does not shadow the installed otel-pytest")
    return target, digest.hexdigest()[:12]


def imported_from(python: str, source: Path | None, cwd: Path) -> Path:
    """Where the pytest runs will import ``otel_pytest`` from (``-c`` puts ``cwd`` first on
    ``sys.path``, as ``-m pytest`` does)."""
    answer = subprocess.run(
        [python, "-c", "import otel_pytest.plugin as p; print(p.__file__)"],
        cwd=cwd,
        env=child_environment({}, source),
        capture_output=True,
        text=True,
    )
    if answer.returncode != 0:
        raise BenchError(f"otel-pytest is not importable with {python}: {answer.stderr.strip()}")
    return Path(answer.stdout.strip())


def measured_source(args: argparse.Namespace, workdir: Path) -> tuple[Path | None, dict[str, str]]:
    """The ``PYTHONPATH`` folder of the runs' ``otel_pytest`` (``None`` with ``--no-snapshot``:
    the installed one) and the machine line's facts, which say which copy ran and how the
    quiet gate waited (the options of :func:`add_run_arguments`)."""
    source = digest = None
    if not args.no_snapshot:
        source, digest = snapshot_source(workdir / "src", args.python, workdir)
    machine = machine_facts(args.python, packages=("pytest",))
    if digest is not None:
        machine["otel-pytest"] += f", snapshot of the working tree, digest {digest}"
    quiet = Quiet(args.quiet_idle, args.quiet_wait)
    if quiet.min_idle > 0:
        machine["quiet gate"] = quiet.describe()
    return source, machine


# -- a quiet machine -------------------------------------------------------------------------


@dataclass(frozen=True)
class Quiet:
    """Before each run, wait until the whole machine was at least ``min_idle`` idle over one
    second (other sessions share these cores), but never longer than ``max_wait`` seconds."""

    min_idle: float
    max_wait: float

    def describe(self) -> str:
        return (
            f"each timed run waited until the machine was >= {self.min_idle:.0%} idle "
            f"over 1 s (at most {self.max_wait:g} s)"
        )


NO_WAIT = Quiet(0, 0)


def busy_seconds() -> float | None:
    """CPU seconds used since boot by everything (user, nice, system, irq, softirq, steal)."""
    try:
        fields = Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0].split()[1:9]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields)
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(quiet: Quiet) -> float:
    """Seconds spent waiting; 0 when the gate is off or /proc/stat cannot be read."""
    if quiet.min_idle <= 0:
        return 0.0
    start = time.monotonic()
    cpus = os.cpu_count() or 1
    while True:
        before, t0 = busy_seconds(), time.monotonic()
        time.sleep(1.0)
        after, t1 = busy_seconds(), time.monotonic()
        if before is None or after is None:
            return 0.0
        idle = 1 - (after - before) / ((t1 - t0) * cpus)
        if idle >= quiet.min_idle or t1 - start >= quiet.max_wait:
            return t1 - start


def _difference(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


@dataclass(frozen=True)
class PytestRun:
    """One checked pytest process and the machine around it."""

    measured: Measured
    waited: float  # seconds spent waiting for a quiet machine first
    busy: float | None  # CPU seconds the whole machine used during the run, the run's own included
    beside: float | None  # what the ``beside`` counter of :func:`run_pytest` grew by

    def others_cpu(self, own: float) -> float | None:
        """The CPU of the rest of the machine during the run, given the run's ``own``."""
        return None if self.busy is None else max(0.0, self.busy - own)


def run_pytest(
    label: str,
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    source: Path | None,
    log: Path,
    timeout: float,
    quiet: Quiet,
    tests: int,
    traced: bool,
    beside: Callable[[], float | None] = lambda: None,
    settle: float = 0.0,
) -> PytestRun:
    """Wait for a quiet machine, run ``command`` measured (:func:`run_measured`) in the
    :func:`child_environment` with ``env`` and ``source``, and check it
    (:func:`check_pytest_run`). The machine's CPU counter, and ``beside`` (another CPU
    counter, say a database server's), are read before the run and ``settle`` seconds after
    it (CPU of processes that end with the run arrives when they are reaped)."""
    waited = wait_for_quiet(quiet)
    busy_before, beside_before = busy_seconds(), beside()
    measured = run_measured(command, cwd=cwd, env=child_environment(env, source), log=log, timeout=timeout)
    if settle:
        time.sleep(settle)
    busy_after, beside_after = busy_seconds(), beside()
    check_pytest_run(label, command, measured, tests, traced)
    return PytestRun(measured, waited, _difference(busy_before, busy_after), _difference(beside_before, beside_after))


# -- rounds and ratios -------------------------------------------------------------------------


class Labelled(Protocol):
    @property
    def label(self) -> str: ...


V = TypeVar("V", bound=Labelled)


def rotations(variants: Sequence[T], rounds: int) -> Iterator[tuple[int, list[T]]]:
    """Round r starts with variant r mod n, so no variant always runs first or last."""
    items = list(variants)
    for number in range(rounds):
        shift = number % len(items)
        yield number, items[shift:] + items[:shift]


def run_rounds(
    name: str,
    variants: Sequence[V],
    rounds: int,
    run: Callable[[V, int, Quiet | None], S],
    describe: Callable[[S], str],
) -> list[S]:
    """One untimed warm-up of every variant (round -1, no quiet gate), then ``rounds`` timed
    rounds in rotating order; ``run(variant, round, quiet)`` takes ``None`` for the
    benchmark's own gate. Progress goes to stderr."""
    for variant in variants:
        progress(f"{name}: warm-up {variant.label}")
        run(variant, -1, NO_WAIT)
    samples = []
    for number, order in rotations(variants, rounds):
        for variant in order:
            sample = run(variant, number, None)
            samples.append(sample)
            progress(f"{name}: round {number + 1}/{rounds} {variant.label}: {describe(sample)}")
    return samples


@dataclass(frozen=True)
class Ratios:
    """A variant against its baseline, from samples taken in the same rounds.

    ``medians``: ratio of the medians; ``per_round``: median of the ratios within each
    round (pairs run back to back share the machine's state); ``minimums``: ratio of the
    least disturbed runs (on a shared machine noise only ever adds time).
    """

    medians: float
    per_round: float
    minimums: float

    def within(self, target: float) -> bool:
        """Met when both median-based ratios are; the minimums are shown beside them."""
        return self.medians <= target and self.per_round <= target

    def render(self) -> str:
        return f"{self.medians:.3f} / {self.per_round:.3f} / {self.minimums:.3f}"


def paired_ratios(values: Mapping[int, float], baseline: Mapping[int, float]) -> Ratios:
    """``values`` and ``baseline`` map a round number to that round's measurement."""
    rounds = sorted(values.keys() & baseline.keys())
    if not rounds:
        raise ValueError("no round has both a value and a baseline")
    own = [values[r] for r in rounds]
    base = [baseline[r] for r in rounds]
    return Ratios(
        medians=statistics.median(own) / statistics.median(base),
        per_round=statistics.median(values[r] / baseline[r] for r in rounds),
        minimums=min(own) / min(base),
    )


def median_or_none(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


# -- the machine line --------------------------------------------------------------------------


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    """The CPU's model name, for the machine line of a benchmark's section."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def revision(measured: str) -> str:
    """The commit a benchmark ran on, saying when ``measured`` (a path in the repository)
    differs from it."""
    try:

        def git(*arguments: str) -> str:
            return subprocess.run(
                ["git", *arguments], cwd=REPO, capture_output=True, text=True, check=True
            ).stdout.strip()

        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", measured)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (f" ({measured} modified)" if dirty else "")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_facts(
    python: str = sys.executable, *, measured: str = "otel_pytest/", packages: Sequence[str] = ()
) -> dict[str, str]:
    """The machine line's facts, in its order: the machine, the interpreter of the measured
    runs (and the version of each of ``packages`` beside it), the revision of ``measured``,
    the load and the time at start. Benchmarks add their own after these."""
    interpreter = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {
        "nproc": str(os.cpu_count()),
        "CPU": cpu_model(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": interpreter,
        **{name: package_version(name) for name in packages},
        "otel-pytest": f"{package_version('otel-pytest')} at {revision(measured)}",
        "load average at start": load_average(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def machine_line(facts: Mapping[str, str]) -> str:
    return "Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()) + "."


# -- the docs ----------------------------------------------------------------------------------


def command_line(benchmark: str, argv: Sequence[str]) -> str:
    """How to rerun a benchmark from the repository root (``benchmark``: the module's name)."""
    return shlex.join([".venv/bin/python", "-m", f"bench.{benchmark}", *argv])


def markers(benchmark: str) -> tuple[str, str]:
    """The lines around the benchmark's generated section."""
    return (
        f"<!-- bench/{benchmark}.py: begin (generated; rerun the command below to update) -->",
        f"<!-- bench/{benchmark}.py: end -->",
    )


def section_head(title: str, command: str, facts: Mapping[str, str]) -> list[str]:
    """The first lines of every generated section: its title, the command that wrote it and
    the machine it ran on."""
    return [
        f"## {title}",
        "",
        "Command (from the repository root):",
        "",
        "```",
        command,
        "```",
        "",
        machine_line(facts),
        "",
    ]


def publish(benchmark: str, section: str, docs: Path | None) -> None:
    """Print ``section`` and, unless ``docs`` is ``None``, put it in place of the benchmark's
    section of that file."""
    print(section)
    if docs is not None:
        begin, end = markers(benchmark)
        replace_section(docs, begin, end, section)
        progress(f"updated {docs}")


def add_run_arguments(parser: argparse.ArgumentParser, *, quiet_idle: float, quiet_wait: float, timeout: float) -> None:
    """The options of every benchmark that times pytest runs, with its own defaults."""
    parser.add_argument("--python", default=sys.executable, help="interpreter of the pytest runs (with otel-pytest)")
    parser.add_argument(
        "--quiet-idle",
        type=float,
        default=quiet_idle,
        help="before each timed run, wait until the machine was this idle (0-1) over one second; 0: no wait",
    )
    parser.add_argument("--quiet-wait", type=float, default=quiet_wait, help="longest wait for a quiet machine, s")
    parser.add_argument(
        "--no-snapshot",
        action="store_true",
        help="run the installed otel_pytest as it is on disk instead of a copy taken at start",
    )
    parser.add_argument("--timeout", type=float, default=timeout, help="seconds before a pytest run is killed")
    parser.add_argument("--docs", type=Path, default=BENCHMARKS_DOC, help="Markdown file to update")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave the docs alone")
    parser.add_argument("--json", type=Path, default=None, help="also write every sample as JSON here")


class Results(Protocol):
    """What a benchmark of pytest runs measured: the command, the machine, every sample."""

    @property
    def command(self) -> str: ...
    @property
    def machine(self) -> Mapping[str, str]: ...
    @property
    def samples(self) -> Sequence[object]: ...


R = TypeVar("R", bound=Results)


def finish(
    benchmark: str,
    args: argparse.Namespace,
    argv: Sequence[str],
    measure: Callable[[argparse.Namespace, str], R],
    render: Callable[[R], str],
    passed: Callable[[R], bool],
) -> int:
    """The end of a ``main`` with :func:`add_run_arguments`: measure, publish the section,
    write the samples (``--json``); exit 2 on a :class:`BenchError` (the numbers would mean
    nothing), 1 when ``passed`` says a check failed, else 0."""
    try:
        results = measure(args, command_line(benchmark, argv))
    except BenchError as error:
        print(f"{benchmark}: {error}", file=sys.stderr)
        return 2
    publish(benchmark, render(results), None if args.no_docs else args.docs)
    if args.json is not None:
        plain = [dataclasses.asdict(sample) for sample in results.samples]  # type: ignore[call-overload]
        document = {"command": results.command, "machine": results.machine, "samples": plain}
        args.json.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return 0 if passed(results) else 1


def replace_section(path: Path, begin: str, end: str, section: str) -> None:
    """Put ``section`` between the ``begin`` and ``end`` marker lines of ``path``, replacing
    what is there; appended (markers included) when the markers are missing. The rest of
    the file, other generated sections included, is kept as it is."""
    block = f"{begin}\n{section.rstrip()}\n{end}\n"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# Benchmarks\n\n" + block, encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    head, found, rest = text.partition(begin)
    if found and end in rest:
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip() + "\n\n" + block
    path.write_text(text, encoding="utf-8")
