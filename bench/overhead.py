"""What ``pytest --otel`` costs on a suite of trivial tests, measured against bare pytest.

Generates a suite (default 20 modules x 100 tests, each test using two function-scoped
and one module-scoped yield fixture) into a temporary folder with its own ``pytest.ini``,
then runs it as separate ``python -m pytest -q -p no:cacheprovider`` processes:

* **overhead**: bare pytest, ``--otel`` (local store only) and ``--otel`` exporting over
  OTLP/HTTP to ``bench/receiver.py`` running in another process, in rotating order for
  ``--rounds`` rounds after one untimed warm-up run each. CPU (user + system) and peak
  RSS come from ``os.wait4`` on the pytest process (its CPU plus that of otel-pytest's
  detached export helper, adopted as child subreaper); wall time is measured around it.
* **memory**: a larger suite (default 200 x 100 = 20,000 tests), bare vs ``--otel``,
  peak RSS.
* **collector down**: the overhead suite with the endpoint on a closed port and on a
  black hole (accepts connections, never answers), wall time vs bare.
* **comparison** (``--compare-python``): the same suite under pytest-opentelemetry,
  installed in a separate virtualenv, bare vs its plugin.

Every ``--otel`` run is checked: all tests passed, the store holds every expected span,
and the receiver got exactly the spans the store holds. Prints Markdown and replaces the
generated section of ``docs/benchmarks.md`` (``--docs``; ``--no-docs`` to skip).

Run from the repository root with the project's virtualenv::

    .venv/bin/python bench/overhead.py --rounds 7

``--generate DIR`` only writes the suite, for profiling by hand.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.request import Request, urlopen

from runs import cpu_model, replace_section, revision  # bench/ is the script's folder: on sys.path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RECEIVER = HERE / "receiver.py"
DEFAULT_DOCS = REPO / "docs" / "benchmarks.md"
BEGIN = "<!-- bench/overhead.py: begin (generated; rerun the command below to update) -->"
END = "<!-- bench/overhead.py: end -->"

CPU_TARGET = 1.10
RSS_TARGET_MIB = 50.0
SUITE_FIXTURES = ("first", "second", "shared")
PHASES = ("setup", "call", "teardown")
PYTEST_OPENTELEMETRY = "pytest-opentelemetry"
# PYTHONDONTWRITEBYTECODE is dropped too: with it (some sandboxes set it) every run
# recompiles and assertion-rewrites every test module, which here added ~1.5 s of CPU to
# each 2,000-test run and diluted the ratios; a developer's pytest caches its bytecode.
_DROPPED_ENV_PREFIXES = ("OTEL_", "TRACEPARENT", "TRACESTATE", "PYTEST_", "PYTHONDONTWRITEBYTECODE")
_RUN_FILE = re.compile(r"\S*\.otlp\.jsonl")

INI = """\
[pytest]
# A suite of its own: no rootdir config from above, no cache shared between runs.
addopts = -p no:cacheprovider
"""

CONFTEST = """\
import pytest


@pytest.fixture
def first():
    yield 1


@pytest.fixture
def second():
    yield 2


@pytest.fixture(scope="module")
def shared():
    yield 3
"""

TEST = """

def test_{number:04d}(first, second, shared):
    assert first + second == shared
"""


class BenchError(RuntimeError):
    """Something that makes the numbers meaningless; the message is the line to print."""


# -- the generated suite ---------------------------------------------------------------


@dataclass(frozen=True)
class Suite:
    root: Path
    modules: int
    tests_per_module: int

    @property
    def tests(self) -> int:
        return self.modules * self.tests_per_module

    def expected_spans(self) -> dict[str, int]:
        """Spans of the suite itself by kind (see :func:`span_kind`): per test its root span,
        three phases, setup and teardown of two function-scoped fixtures; per module its span
        and the module fixture's setup and teardown; one session span."""
        return {
            "session": 1,
            "module": self.modules,
            "test": self.tests,
            "phase": len(PHASES) * self.tests,
            "fixture": 4 * self.tests + 2 * self.modules,
        }


def write_suite(root: Path, modules: int, tests_per_module: int) -> Suite:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text(INI, encoding="utf-8")
    (root / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    for module in range(modules):
        body = "".join(TEST.format(number=number) for number in range(tests_per_module))
        (root / f"test_mod_{module:03d}.py").write_text(body.lstrip(), encoding="utf-8")
    return Suite(root, modules, tests_per_module)


def span_kind(name: str) -> str:
    """``other`` is what installed plugins add (pytest-asyncio's session fixture, say)."""
    if name == "pytest session":
        return "session"
    if name in PHASES:
        return "phase"
    if name.startswith("fixture "):
        fixture = name.removeprefix("fixture ").removesuffix(" teardown")
        return "fixture" if fixture in SUITE_FIXTURES else "other"
    if "::" in name:
        return "test"
    if name.startswith("test_mod_") and name.endswith(".py"):
        return "module"
    return "other"


def store_spans(store: Path) -> dict[str, int]:
    """Spans by kind in every run file of a local store (one ``TracesData`` per line)."""
    kinds: Counter[str] = Counter()
    for path in sorted((store / "runs").glob("*.otlp.jsonl")):
        with path.open("rb") as lines:
            for line in lines:
                if not line.strip():
                    continue
                data = json.loads(line)
                for resource in data.get("resourceSpans", ()):
                    for scope in resource.get("scopeSpans", ()):
                        kinds.update(span_kind(span["name"]) for span in scope.get("spans", ()))
    return dict(kinds)


# -- the receiver process --------------------------------------------------------------


class Receiver:
    """``bench/receiver.py`` in its own process, started on a free loopback port."""

    def __init__(self, python: str, mode: str) -> None:
        self.mode = mode
        self._process = subprocess.Popen(
            [python, str(RECEIVER), "--mode", mode],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().split()
        if len(line) != 2 or line[0] != "READY":
            self.close()
            raise BenchError(f"the {mode} receiver did not start (it said {line!r})")
        self.port = int(line[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def _call(self, method: str, path: str) -> bytes:
        data = b"" if method == "POST" else None
        with urlopen(Request(self.url + path, data=data, method=method), timeout=10) as answer:
            body: bytes = answer.read()
            return body

    def reset(self) -> None:
        self._call("POST", "/reset")

    def stats(self) -> dict[str, int]:
        counts: dict[str, int] = json.loads(self._call("GET", "/stats"))
        return counts

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- running pytest --------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One way of running the suite; ratios are taken against ``baseline``."""

    key: str
    label: str
    baseline: str
    python: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    otel_store: bool = False
    receiver: Receiver | None = None
    source: Path | None = None


@dataclass(frozen=True)
class Sample:
    variant: str
    round: int
    user: float
    system: float
    wall: float
    max_rss_kib: int
    passed: int
    stored_spans: dict[str, int] | None
    received_spans: int | None
    otel_lines: tuple[str, ...]
    # CPU seconds the rest of the machine used during the run (receiver included), and
    # how long the run waited for a quiet machine before it started.
    others_cpu: float | None
    waited: float

    @property
    def cpu(self) -> float:
        return self.user + self.system

    @property
    def stored_total(self) -> int | None:
        return None if self.stored_spans is None else sum(self.stored_spans.values())


def child_environment(extra: Mapping[str, str], source: Path | None) -> dict[str, str]:
    """The shell's environment without OTel, trace-context or pytest settings, plus ``extra``;
    with ``source``, that copy of ``otel_pytest`` shadows the editable install."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV_PREFIXES)}
    env["PYTHONHASHSEED"] = "0"
    env.pop("PYTHONPATH", None)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    env.update(extra)
    return env


@dataclass(frozen=True)
class Quiet:
    """Before each run, wait until the whole machine was at least ``min_idle`` idle over one
    second (other sessions share these cores), but never longer than ``max_wait`` seconds."""

    min_idle: float
    max_wait: float


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


def adopt_orphans() -> None:
    """otel-pytest's export helper runs detached from pytest (a shell starts it and exits):
    with this process as the child subreaper (Linux), the helper is reparented here, and
    :func:`reap_orphans` adds its CPU to the run's."""
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


def run_pytest(variant: Variant, suite: Suite, round_number: int, log: Path, timeout: float, quiet: Quiet) -> Sample:
    store = suite.root / ".otel-pytest"
    if variant.otel_store:
        shutil.rmtree(store, ignore_errors=True)
    if variant.receiver is not None and variant.receiver.mode == "ok":
        variant.receiver.reset()
    command = [variant.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *variant.args]
    waited = wait_for_quiet(quiet)
    reap_orphans()  # a helper left from an earlier run is not this run's
    with log.open("wb") as out:
        busy_before = busy_seconds()
        start = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=suite.root,
            env=child_environment(variant.env, variant.source),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - start
        helper_user, helper_system = reap_orphans()
        busy_after = busy_seconds()
    process.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text(encoding="utf-8", errors="replace")
    passed = re.search(r"(\d+) passed", output)
    if process.returncode != 0 or passed is None or int(passed.group(1)) != suite.tests:
        tail = "\n".join(output.splitlines()[-15:])
        raise BenchError(
            f"{variant.label}: pytest exited {process.returncode} "
            f"(expected {suite.tests} passed); {shlex.join(command)}\n{tail}"
        )
    received = None
    if variant.receiver is not None and variant.receiver.mode == "ok":
        received = variant.receiver.stats()["spans"]
    if variant.otel_store and "tests traced" not in output:
        raise BenchError(f"{variant.label}: no 'otel: ... tests traced' line; is otel-pytest loaded?")
    return Sample(
        variant=variant.key,
        round=round_number,
        user=usage.ru_utime + helper_user,
        system=usage.ru_stime + helper_system,
        wall=wall,
        max_rss_kib=usage.ru_maxrss,
        others_cpu=None
        if busy_before is None or busy_after is None
        else max(0.0, busy_after - busy_before - usage.ru_utime - usage.ru_stime - helper_user - helper_system),
        waited=waited,
        passed=int(passed.group(1)),
        stored_spans=store_spans(store) if variant.otel_store else None,
        received_spans=received,
        otel_lines=tuple(_RUN_FILE.sub("<run file>", line) for line in output.splitlines() if line.startswith("otel")),
    )


def rotations(variants: Sequence[Variant], rounds: int) -> Iterator[tuple[int, list[Variant]]]:
    """Round r starts with variant r mod n, so no variant always runs first or last."""
    items = list(variants)
    for number in range(rounds):
        shift = number % len(items)
        yield number, items[shift:] + items[:shift]


def run_rounds(
    name: str,
    variants: Sequence[Variant],
    suite: Suite,
    rounds: int,
    workdir: Path,
    timeout: float,
    quiet: Quiet,
) -> list[Sample]:
    log = workdir / "pytest.log"
    for variant in variants:
        progress(f"{name}: warm-up {variant.label}")
        run_pytest(variant, suite, -1, log, timeout, Quiet(0, 0))
    samples: list[Sample] = []
    for number, order in rotations(variants, rounds):
        for variant in order:
            sample = run_pytest(variant, suite, number, log, timeout, quiet)
            samples.append(sample)
            others = "-" if sample.others_cpu is None else f"{sample.others_cpu:.2f} s"
            progress(
                f"{name}: round {number + 1}/{rounds} {variant.label}: cpu {sample.cpu:.2f} s, "
                f"wall {sample.wall:.2f} s, rss {sample.max_rss_kib / 1024:.0f} MiB, "
                f"others {others}, waited {sample.waited:.0f} s"
            )
    return samples


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- summaries -------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    key: str
    label: str
    baseline: str
    runs: int
    cpu: float
    cpu_min: float
    cpu_max: float
    wall: float
    wall_min: float
    wall_max: float
    rss_mib: float
    cpu_ratio: float
    cpu_round_ratio: float
    cpu_min_ratio: float
    cpu_us_per_test: float
    wall_ratio: float
    wall_round_ratio: float
    spans: str
    spans_ok: bool
    otel_lines: tuple[str, ...]
    others_cpu: float | None


def summarise(variants: Sequence[Variant], samples: Sequence[Sample], suite: Suite) -> list[Summary]:
    expected_spans = suite.expected_spans()
    by_key = {v.key: [s for s in samples if s.variant == v.key] for v in variants}
    by_round = {(s.variant, s.round): s for s in samples}
    summaries = []
    for variant in variants:
        own = by_key[variant.key]
        base = by_key[variant.baseline]
        cpu, wall = statistics.median(s.cpu for s in own), statistics.median(s.wall for s in own)
        base_cpu, base_wall = (
            statistics.median(s.cpu for s in base),
            statistics.median(s.wall for s in base),
        )
        pairs = [(s, by_round[(variant.baseline, s.round)]) for s in own]
        spans, spans_ok = span_check(own, expected_spans if variant.otel_store else None)
        others = [s.others_cpu for s in own if s.others_cpu is not None]
        summaries.append(
            Summary(
                key=variant.key,
                label=variant.label,
                baseline=variant.baseline,
                runs=len(own),
                cpu=cpu,
                cpu_min=min(s.cpu for s in own),
                cpu_max=max(s.cpu for s in own),
                wall=wall,
                wall_min=min(s.wall for s in own),
                wall_max=max(s.wall for s in own),
                rss_mib=statistics.median(s.max_rss_kib for s in own) / 1024,
                cpu_ratio=cpu / base_cpu,
                cpu_round_ratio=statistics.median(s.cpu / b.cpu for s, b in pairs),
                cpu_min_ratio=min(s.cpu for s in own) / min(s.cpu for s in base),
                cpu_us_per_test=(cpu - base_cpu) / suite.tests * 1e6,
                wall_ratio=wall / base_wall,
                wall_round_ratio=statistics.median(s.wall / b.wall for s, b in pairs),
                spans=spans,
                spans_ok=spans_ok,
                others_cpu=statistics.median(others) if others else None,
                otel_lines=tuple(dict.fromkeys(line for s in own for line in s.otel_lines if "warning" in line))[:3],
            )
        )
    return summaries


def span_check(samples: Sequence[Sample], expected: Mapping[str, int] | None) -> tuple[str, bool]:
    """What the store and the receiver got, and whether every run stored each expected span
    of the suite and the receiver got exactly what the store holds."""
    ok = not any("internal error" in line for s in samples for line in s.otel_lines)
    parts = []
    if expected is not None:
        want = sum(expected.values())
        for sample in samples:
            kinds = dict(sample.stored_spans or {})
            kinds.pop("other", None)
            ok = ok and kinds == dict(expected)
        totals = sorted({s.stored_total or 0 for s in samples})
        others = sorted({(s.stored_spans or {}).get("other", 0) for s in samples})
        parts.append(
            "stored "
            + "/".join(f"{n:,}" for n in totals)
            + f" (suite {want:,}"
            + (" + " + "/".join(f"{n:,}" for n in others) + " from plugins' fixtures" if any(others) else "")
            + ")"
        )
    received = [s for s in samples if s.received_spans is not None]
    if received:
        if expected is not None:
            ok = ok and all(s.received_spans == s.stored_total for s in received)
        parts.append("received " + "/".join(f"{n:,}" for n in sorted({s.received_spans or 0 for s in received})))
    return ", ".join(parts) or "-", ok


# -- the report ------------------------------------------------------------------------


@dataclass
class Results:
    command: str
    machine: dict[str, str]
    overhead_suite: str
    overhead: list[Summary] = field(default_factory=list)
    memory_suite: str = ""
    memory: list[Summary] = field(default_factory=list)
    down: list[Summary] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)


def overhead_table(rows: Sequence[Summary]) -> str:
    lines = [
        "| variant | runs | CPU s (median, min-max) | wall s (median, min-max) | CPU ratio: "
        "medians / median per round / minimums | CPU µs per test over bare (medians) "
        "| wall ratio: medians / median per round | peak RSS MiB (median) "
        "| other processes' CPU s during a run (median; the receiver's included) | spans |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        check = "" if row.spans_ok else " **MISMATCH**"
        others = "-" if row.others_cpu is None else f"{row.others_cpu:.2f}"
        lines.append(
            f"| {row.label} | {row.runs} | {row.cpu:.2f} ({row.cpu_min:.2f}-{row.cpu_max:.2f}) "
            f"| {row.wall:.2f} ({row.wall_min:.2f}-{row.wall_max:.2f}) "
            f"| {row.cpu_ratio:.3f} / {row.cpu_round_ratio:.3f} / {row.cpu_min_ratio:.3f} "
            f"| {row.cpu_us_per_test:+.0f} "
            f"| {row.wall_ratio:.3f} / {row.wall_round_ratio:.3f} "
            f"| {row.rss_mib:.1f} | {others} | {row.spans}{check} |"
        )
    return "\n".join(lines)


def down_table(rows: Sequence[Summary], by_key: Mapping[str, Summary]) -> str:
    lines = [
        "| variant | runs | wall s (median, min-max) | wall minus its bare, s | CPU s | warning printed |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        delta = row.wall - by_key[row.baseline].wall
        warning = "; ".join(row.otel_lines).replace("|", "\\|") or "-"
        lines.append(
            f"| {row.label} | {row.runs} | {row.wall:.2f} ({row.wall_min:.2f}-{row.wall_max:.2f}) "
            f"| {delta:+.2f} | {row.cpu:.2f} | {warning} |"
        )
    return "\n".join(lines)


def cpu_verdict(row: Summary, what: str) -> str:
    """Met when both median-based ratios are within the target; the ratio of minimums
    (least disturbed runs) is shown beside them."""
    met = row.cpu_ratio <= CPU_TARGET and row.cpu_round_ratio <= CPU_TARGET
    return (
        f"- CPU, {what}: {row.cpu_ratio:.3f}x bare (ratio of medians), {row.cpu_round_ratio:.3f}x "
        f"(median per round), {row.cpu_min_ratio:.3f}x (ratio of minimums), "
        f"{row.cpu_us_per_test:+.0f} µs per test; target <= {CPU_TARGET:.2f}x: "
        f"**{'met' if met else 'NOT met'}**"
    )


def verdicts(results: Results) -> list[str]:
    lines = []
    by_key = {row.key: row for row in results.overhead}
    if "otel" in by_key:
        lines.append(cpu_verdict(by_key["otel"], "`--otel` (store only)"))
    if "otel-http" in by_key:
        lines.append(cpu_verdict(by_key["otel-http"], "`--otel` + OTLP/HTTP"))
    if len(results.memory) == 2:
        bare, otel = results.memory
        extra = otel.rss_mib - bare.rss_mib
        met = extra <= RSS_TARGET_MIB
        lines.append(
            f"- Memory, {results.memory_suite}: peak RSS {otel.rss_mib:.1f} MiB with `--otel` vs "
            f"{bare.rss_mib:.1f} MiB bare, {extra:+.1f} MiB; target <= +{RSS_TARGET_MIB:.0f} MiB: "
            f"**{'met' if met else 'NOT met'}**"
        )
    spans_ok = all(r.spans_ok for r in [*results.overhead, *results.memory, *results.down])
    lines.append(
        f"- Span checks (every `--otel` run stored all expected spans; the receiver got exactly "
        f"the stored ones): **{'passed' if spans_ok else 'FAILED'}**"
    )
    return lines


def render(results: Results) -> str:
    out = [
        "## Overhead of `pytest --otel` (bench/overhead.py)",
        "",
        "Command (from the repository root):",
        "",
        "```",
        results.command,
        "```",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in results.machine.items()) + ".",
        "",
        "Each run is a separate `python -m pytest -q -p no:cacheprovider` process; CPU is user + "
        "system time (with that of otel-pytest's detached export helper, which the benchmark adopts "
        "as child subreaper) and peak RSS is `ru_maxrss`, both from `os.wait4`; wall is "
        "measured around it. Variants run in rotating order each round after one untimed warm-up "
        "each (which also writes the bytecode caches: `PYTHONDONTWRITEBYTECODE` is removed from "
        "the children's environment); the store is emptied before every `--otel` run; "
        "`otel_pytest` is a copy of the working tree taken at start (see the digest). "
        "Ratios are against the bare row "
        "of the same interpreter: the ratio of the medians, the median of the per-round "
        "ratios, and the ratio of the minimums (the least disturbed runs: on a shared machine "
        "noise only ever adds time). µs per test is the difference of the CPU medians divided "
        "by the number of tests (start-up included).",
        "",
        f"### Overhead: {results.overhead_suite}",
        "",
        overhead_table(results.overhead),
        "",
    ]
    if results.memory:
        out += [f"### Memory: {results.memory_suite}", "", overhead_table(results.memory), ""]
    if results.down:
        by_key = {row.key: row for row in [*results.overhead, *results.down]}
        out += [
            f"### Collector down: {results.overhead_suite}",
            "",
            down_table(results.down, by_key),
            "",
        ]
    out += ["### Targets", "", *verdicts(results), ""]
    for row in [*results.overhead, *results.memory]:
        results.notes += [f"{row.label} printed: `{line}`" for line in row.otel_lines]
    if results.notes:
        out += ["### Notes", "", *(f"- {note}" for note in results.notes), ""]
    return "\n".join(out)


# -- machine facts ---------------------------------------------------------------------


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _interpreter_version(python: str) -> str:
    answer = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return answer.stdout.strip()


def machine_facts(python: str) -> dict[str, str]:
    return {
        "nproc": str(os.cpu_count()),
        "CPU": cpu_model(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": _interpreter_version(python),
        "pytest": _package("pytest"),
        "otel-pytest": f"{_package('otel-pytest')} at {revision(REPO, 'otel_pytest/')}",
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def compare_version(python: str) -> str | None:
    answer = subprocess.run(
        [
            python,
            "-c",
            f"import importlib.metadata as m; print(m.version({PYTEST_OPENTELEMETRY!r}))",
        ],
        capture_output=True,
        text=True,
    )
    return answer.stdout.strip() if answer.returncode == 0 else None


# -- main ------------------------------------------------------------------------------


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--modules", type=positive, default=20, help="modules in the overhead suite")
    parser.add_argument("--tests-per-module", type=positive, default=100, help="tests per module")
    parser.add_argument(
        "--rounds",
        type=positive,
        default=7,
        help="timed rounds; each runs every variant once, in rotating order",
    )
    parser.add_argument(
        "--memory-modules",
        type=positive,
        default=200,
        help="modules in the memory suite (tests per module as above)",
    )
    parser.add_argument("--memory-rounds", type=positive, default=3, help="bare/--otel rounds on it")
    parser.add_argument(
        "--down-rounds",
        type=positive,
        default=3,
        help="rounds with the collector down (closed port, black hole)",
    )
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory suite")
    parser.add_argument("--skip-down", action="store_true", help="skip the collector-down runs")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter of the pytest runs (with otel-pytest installed)",
    )
    parser.add_argument(
        "--compare-python",
        default=None,
        metavar="PYTHON",
        help="interpreter of a separate virtualenv with pytest-opentelemetry installed",
    )
    parser.add_argument(
        "--quiet-idle",
        type=float,
        default=0.9,
        help="before each timed run, wait until the machine was this idle (0-1) over one second; 0 turns the wait off",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=300.0,
        help="longest wait for a quiet machine, in seconds, before a run starts anyway",
    )
    parser.add_argument(
        "--no-snapshot",
        action="store_true",
        help="run the installed otel_pytest as it is on disk instead of a copy taken at start",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before a pytest run is killed")
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="Markdown file to update")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave the docs alone")
    parser.add_argument("--json", type=Path, default=None, help="also write every sample as JSON here")
    parser.add_argument(
        "--generate",
        type=Path,
        default=None,
        metavar="DIR",
        help="only write the overhead suite into DIR and exit",
    )
    return parser.parse_args(argv)


def command_line(argv: Sequence[str]) -> str:
    return shlex.join([".venv/bin/python", "bench/overhead.py", *argv])


def start_receiver(stack: ExitStack, python: str, mode: str) -> Receiver:
    started = Receiver(python, mode)
    stack.callback(started.close)
    return started


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw)
    adopt_orphans()
    if args.generate is not None:
        suite = write_suite(args.generate, args.modules, args.tests_per_module)
        print(f"wrote {suite.tests} tests in {suite.modules} modules to {suite.root}")
        return 0
    try:
        results = run(args, command_line(raw))
    except BenchError as error:
        print(f"overhead: {error}", file=sys.stderr)
        return 2
    section = render(results)
    print(section)
    if not args.no_docs:
        replace_section(args.docs, BEGIN, END, section)
        progress(f"updated {args.docs}")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "command": results.command,
                    "machine": results.machine,
                    "samples": [asdict(s) for s in results.samples],
                },
                indent=1,
            ),
            encoding="utf-8",
        )
    all_spans_ok = all(r.spans_ok for r in [*results.overhead, *results.memory, *results.down])
    return 0 if all_spans_ok else 1


def snapshot_source(target: Path) -> tuple[Path, str]:
    """Copy the working tree's ``otel_pytest`` so edits made while the benchmark runs cannot
    change what it measures; returns the folder for ``PYTHONPATH`` and a digest of the copy."""
    shutil.copytree(
        REPO / "otel_pytest",
        target / "otel_pytest",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    digest = hashlib.sha256()
    for path in sorted((target / "otel_pytest").rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(target).as_posix().encode() + b"\0" + path.read_bytes())
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


def run(args: argparse.Namespace, command: str) -> Results:
    python = args.python
    quiet = Quiet(args.quiet_idle, args.quiet_wait)
    with tempfile.TemporaryDirectory(prefix="otel-pytest-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        source = None
        if not args.no_snapshot:
            source, digest = snapshot_source(workdir / "src")
            if not imported_from(python, source, workdir).is_relative_to(source):
                raise BenchError(f"the snapshot in {source} does not shadow the installed otel-pytest")
        suite = write_suite(workdir / "suite", args.modules, args.tests_per_module)
        machine = machine_facts(python)
        if quiet.min_idle > 0:
            machine["before each timed run"] = (
                f"the benchmark waited until the machine was >= {quiet.min_idle:.0%} idle "
                f"over 1 s (at most {quiet.max_wait:g} s)"
            )
        results = Results(
            command=command,
            machine=machine,
            overhead_suite=f"{suite.tests:,} tests ({suite.modules} modules x "
            f"{suite.tests_per_module}), 3 yield fixtures each "
            f"(2 function-scoped, 1 module-scoped)",
        )
        if source is not None:
            results.machine["otel-pytest"] += f", snapshot of the working tree, digest {digest}"

        def ours(
            key: str,
            label: str,
            env: Mapping[str, str] | None = None,
            receiver: Receiver | None = None,
        ) -> Variant:
            if key == "bare":
                return Variant(key, label, "bare", python, source=source)
            return Variant(
                key,
                label,
                "bare",
                python,
                ("--otel",),
                env or {},
                otel_store=True,
                receiver=receiver,
                source=source,
            )

        ok = start_receiver(stack, sys.executable, "ok")
        variants = [
            ours("bare", "bare pytest"),
            ours("otel", "`--otel` (store)"),
            ours("otel-http", "`--otel` + OTLP/HTTP", {"OTEL_EXPORTER_OTLP_ENDPOINT": ok.url}, ok),
        ]
        compare = args.compare_python
        potel_version = compare_version(compare) if compare else None
        if compare and potel_version is None:
            results.notes.append(f"{PYTEST_OPENTELEMETRY} not importable with {compare}: comparison skipped")
            compare = None
        potel = f"pytest-opentelemetry {potel_version}"
        potel_off = ("-p", "no:pytest_opentelemetry")
        potel_on = ("--trace-per-test", "--export-traces")
        potel_export = {
            "OTEL_TRACES_EXPORTER": "otlp_proto_http",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }
        if compare:
            results.machine["comparison"] = f"{potel} in {Path(compare).parent.parent}"
            variants += [
                Variant(
                    "potel-bare",
                    f"bare pytest ({potel} venv, plugin off)",
                    "potel-bare",
                    compare,
                    potel_off,
                ),
                Variant(
                    "potel",
                    f"{potel}, `--trace-per-test`, no exporter",
                    "potel-bare",
                    compare,
                    ("--trace-per-test",),
                    {"OTEL_TRACES_EXPORTER": "none"},
                ),
                Variant(
                    "potel-http",
                    f"{potel}, `{' '.join(potel_on)}` OTLP/HTTP",
                    "potel-bare",
                    compare,
                    potel_on,
                    {**potel_export, "OTEL_EXPORTER_OTLP_ENDPOINT": ok.url},
                    receiver=ok,
                ),
            ]
        samples = run_rounds("overhead", variants, suite, args.rounds, workdir, args.timeout, quiet)
        results.samples += samples
        results.overhead = summarise(variants, samples, suite)

        if not args.skip_down:
            hole = start_receiver(stack, sys.executable, "blackhole")
            closed = f"http://127.0.0.1:{closed_port()}"
            down = [
                ours("bare", "bare pytest"),
                ours(
                    "otel-closed",
                    "`--otel`, endpoint on a closed port",
                    {"OTEL_EXPORTER_OTLP_ENDPOINT": closed},
                ),
                ours(
                    "otel-hole",
                    "`--otel`, endpoint a black hole (accepts, never answers)",
                    {"OTEL_EXPORTER_OTLP_ENDPOINT": hole.url},
                    hole,
                ),
            ]
            if compare:
                down += [
                    Variant(
                        "potel-bare",
                        f"bare pytest ({potel} venv, plugin off)",
                        "potel-bare",
                        compare,
                        potel_off,
                    ),
                    Variant(
                        "potel-closed",
                        f"{potel}, `{' '.join(potel_on)}`, closed port",
                        "potel-bare",
                        compare,
                        potel_on,
                        {**potel_export, "OTEL_EXPORTER_OTLP_ENDPOINT": closed},
                    ),
                ]
            samples = run_rounds("collector down", down, suite, args.down_rounds, workdir, args.timeout, quiet)
            results.samples += samples
            results.down = summarise(down, samples, suite)

        if not args.skip_memory:
            big = write_suite(workdir / "big", args.memory_modules, args.tests_per_module)
            results.memory_suite = f"{big.tests:,} tests ({big.modules} modules x {big.tests_per_module})"
            memory = [ours("bare", "bare pytest"), ours("otel", "`--otel` (store)")]
            samples = run_rounds("memory", memory, big, args.memory_rounds, workdir, args.timeout, quiet)
            results.samples += samples
            results.memory = summarise(memory, samples, big)

        results.machine["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        return results


if __name__ == "__main__":
    sys.exit(main())
